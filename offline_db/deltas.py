"""Applying card-store deltas to the station's store, in one transaction.

The operations and their parser are ``core.formats.deltas`` (docs/mqtt.md, "cards"
body); a parsed delta is applied here, with the checks that need the store (an
identifier another card still holds, a product a card names) refusing the whole delta
with a :class:`~core.errors.CardStoreFormatError` naming it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from core import bounds as B
from core.errors import CardStoreFormatError
from core.formats.deltas import Op
from core.formats.snapshot import CardSpec, Product
from offline_db.cards import (
    add_vouchers_used,
    insert_cards,
    put_points,
    put_points_earned,
    set_pricing,
    usage_rows,
)


def delete_card(conn: sqlite3.Connection, card_id: str) -> None:
    for table in ("card_limits", "wallets", "card_usage", "card_usage_as_of", "card_points",
                  "card_points_earned", "cards"):
        conn.execute(f"DELETE FROM {table} WHERE card_id = ?", (card_id,))


def put_card(conn: sqlite3.Connection, c: CardSpec) -> None:
    delete_card(conn, c.card_id)
    insert_cards(conn, [c])


#: The card columns no two cards may share (unique indexes of the cards table).
IDENTIFIERS = ("pan", "rfid_uid", "token_id")


def apply_ops(conn: sqlite3.Connection, ops: list[Op], *, station_id: str = "") -> None:
    """Apply parsed operations (inside the caller's transaction).

    The card operations take effect together, as the state they leave: every card they
    name is removed first, then the cards the delta keeps are inserted. So a PAN, RFID
    UID or token id may move from one card to another within one delta, in any order
    of its operations (the office lists a version's changes card by card); one that
    another card still holds is a :class:`~core.errors.CardStoreFormatError` naming
    both, and the caller's transaction changes nothing.
    """
    final: dict[str, CardSpec | None] = {}
    for op, value in ops:
        if op == "card":
            final[value.card_id] = value
        elif op == "card_delete":
            final[value] = None
    for card_id in final:
        delete_card(conn, card_id)
    cards = [c for c in final.values() if c is not None]
    _check_identifiers(conn, cards)
    insert_cards(conn, cards)
    for op, value in ops:
        if op == "usage":
            _put_usage(conn, value, station_id)
        elif op == "product":
            product: Product = value
            conn.execute("INSERT OR REPLACE INTO products VALUES (?, ?, ?)",
                         (product.code, product.name, product.unit_price))
        elif op == "product_delete":
            conn.execute("DELETE FROM products WHERE code = ?", (value,))
        elif op == "stop_add":
            conn.execute("INSERT OR IGNORE INTO stop_list VALUES (?)", (value,))
        elif op == "stop_remove":
            conn.execute("DELETE FROM stop_list WHERE identifier = ?", (value,))
        elif op == "pricing":
            set_pricing(conn, value)
        elif op == "vouchers_used":
            add_vouchers_used(conn, value)


def _check_identifiers(conn: sqlite3.Connection, cards: list[CardSpec]) -> None:
    """Refuse a card whose PAN, RFID UID or token id another card holds."""
    held: dict[tuple[str, str], str] = {}
    for c in cards:
        for column in IDENTIFIERS:
            value = getattr(c, column)
            if value is None:
                continue
            owner = held.get((column, value))
            if owner is None:
                row = conn.execute(f"SELECT card_id FROM cards WHERE {column} = ?",
                                   (value,)).fetchone()
                owner = None if row is None else str(row[0])
            if owner is not None:
                raise CardStoreFormatError(
                    f"ops: {column} {B.escaped(value)} of card {B.escaped(c.card_id)} is "
                    f"already card {B.escaped(owner)}'s")
            held[(column, value)] = c.card_id


def _put_usage(conn: sqlite3.Connection, item: dict[str, Any], station_id: str) -> None:
    card_id = item["card_id"]
    row = conn.execute("SELECT rev, wallets_as_of_seq, points_as_of_seq FROM card_usage_as_of "
                       "WHERE card_id = ?", (card_id,)).fetchone()
    if row is not None and row["rev"] >= item["rev"]:
        return  # an older update arriving late
    row_marks = None if row is None else dict(row)
    conn.execute("DELETE FROM card_usage WHERE card_id = ?", (card_id,))
    conn.executemany("INSERT INTO card_usage VALUES (?, ?, ?, ?, ?, ?, ?)",
                     usage_rows(card_id, item["usage"]))
    mark = int(item["station_seqs"].get(station_id, 0))
    wallets: dict[str, int] | None = item.get("wallets")
    if wallets is not None:
        for wallet_id, balance in sorted(wallets.items()):
            conn.execute("UPDATE wallets SET balance = ? WHERE wallet_id = ? AND card_id = ?",
                         (balance, wallet_id, card_id))
    put_points_earned(conn, card_id, item.get("points_earned", []))
    points = item.get("points")
    if points is not None:
        put_points(conn, card_id, points)
    # Balances and point lots an update did not bring stay with the mark they came with
    # (reset, a station would subtract its own later debits or burns from them twice).
    conn.execute("INSERT OR REPLACE INTO card_usage_as_of (card_id, as_of_seq, rev, "
                 "wallets_as_of_seq, points_as_of_seq) VALUES (?, ?, ?, ?, ?)",
                 (card_id, mark, item["rev"],
                  mark if wallets is not None else _kept(row_marks, "wallets_as_of_seq"),
                  mark if points is not None else _kept(row_marks, "points_as_of_seq")))


def _kept(marks: dict[str, Any] | None, key: str) -> int | None:
    return None if marks is None else marks[key]
