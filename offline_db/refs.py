"""Product codes a card names must be products the card store sells (issue 10 #9).

A delta is judged against the station's store as it will be after it.
A limit scoped to a product the store does not have silently stops limiting; a
card or wallet restricted to one silently allows nothing, or less than meant. So a
snapshot whose cards name a product outside its ``products``, or a delta that would
leave the station's store in that state, is refused whole, naming the field and the
code.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from core.errors import CardStoreFormatError
from core.formats.refs import check_card_products


def check_delta_products(conn: sqlite3.Connection, ops: list[tuple[str, Any]]) -> None:
    """Refuse a parsed delta that would leave a card naming a product the store lacks.

    Judged on the store as it will be after the whole delta (one transaction): a card
    may name a product the same delta adds; a product the delta deletes must no
    longer be named by any card, stored or sent.
    """
    known = {str(r[0]) for r in conn.execute("SELECT code FROM products")}
    deleted: set[str] = set()
    touched: set[str] = set()
    for op, value in ops:
        if op == "product":
            known.add(value.code)
            deleted.discard(value.code)
        elif op == "product_delete":
            known.discard(value)
            deleted.add(value)
        elif op == "card":
            touched.add(value.card_id)
        elif op == "card_delete":
            touched.add(value)
    for i, (op, value) in enumerate(ops):
        if op == "card":
            check_card_products(value, known, f"ops[{i}].card")
    if not deleted:
        return
    marks = ",".join("?" * len(deleted))
    rows = conn.execute(
        f"""
        SELECT card_id, code FROM (
          SELECT c.card_id, j.value AS code FROM cards c, json_each(c.products) j
            WHERE c.products IS NOT NULL
          UNION ALL SELECT l.card_id, j.value FROM card_limits l, json_each(l.products) j
            WHERE l.products IS NOT NULL
          UNION ALL SELECT w.card_id, j.value FROM wallets w, json_each(w.products) j
            WHERE w.products IS NOT NULL)
        WHERE code IN ({marks}) ORDER BY card_id, code
        """, sorted(deleted)).fetchall()
    for card_id, code in rows:
        if card_id not in touched:
            raise CardStoreFormatError(
                f"the delta deletes product {code!r}, but product {code!r} is still named "
                f"by card {card_id}")
