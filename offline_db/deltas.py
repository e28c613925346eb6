"""Card-store deltas: the operations that take the station from version N to M.

A delta is a list of operations, applied in one transaction together with the new
version (docs/mqtt.md, "cards" body):

- ``card`` with ``card`` (a card object of the snapshot format): insert or replace the
  card with its limits, wallets and usage;
- ``card_delete`` with ``card_id``; ``product`` with ``product`` (``{code, name,
  unit_price}``); ``product_delete`` with ``code``;
- ``stop_add`` / ``stop_remove`` with ``identifier``;
- ``usage`` with ``card_id``, ``rev``, ``station_seqs`` (station id -> the last seq of
  that station counted) and ``usage`` (entries of the snapshot format): network-wide
  use of the card in the current periods; not a card-store version of its own.

Every operation is validated before anything is written; a bad one refuses the
whole delta with a :class:`~edge.errors.CardStoreFormatError` naming it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from edge.errors import CardStoreFormatError
from offline_db import bounds as B
from offline_db import identifiers
from offline_db.cards import insert_cards, usage_rows
from offline_db.snapshot import CardSpec, Product, parse_card, parse_product

Op = tuple[str, Any]


def parse_ops(raw: Any) -> list[Op]:
    if not isinstance(raw, list):
        raise CardStoreFormatError("ops must be a JSON array")
    out: list[Op] = []
    for i, item in enumerate(raw):
        where = f"ops[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise CardStoreFormatError(f"{where} must be an object with an 'op'")
        op = item["op"]
        if op == "card" and set(item) == {"op", "card"}:
            out.append((op, parse_card(item["card"], f"{where}.card")))
        elif op == "product" and set(item) == {"op", "product"}:
            out.append((op, parse_product(item["product"], f"{where}.product")))
        elif op == "usage" and set(item) == {"op", "card_id", "rev", "station_seqs", "usage"}:
            out.append((op, _usage(item, where)))
        elif op in ("card_delete", "product_delete", "stop_add", "stop_remove"):
            key = {"card_delete": "card_id", "product_delete": "code"}.get(op, "identifier")
            value = item.get(key)
            if set(item) != {"op", key} or not isinstance(value, str) or not value:
                raise CardStoreFormatError(f"{where}: {op} needs a non-empty {key!r}")
            _check_text(value, f"{where}.{key}")
            out.append((op, _stop_entry(value) if key == "identifier" else value))
        else:
            raise CardStoreFormatError(f"{where}: unknown or malformed operation {op!r}")
    return out


def _stop_entry(identifier: str) -> str:
    """A stop-list entry in the form the station keeps and matches (identifiers.canonical)."""
    return identifiers.canonical(identifier)


def _usage(item: dict[str, Any], where: str) -> dict[str, Any]:
    card_id, rev, seqs = item["card_id"], item["rev"], item["station_seqs"]
    if not isinstance(card_id, str) or not card_id or not isinstance(rev, int) \
            or isinstance(rev, bool) or not isinstance(seqs, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in seqs.items()):
        raise CardStoreFormatError(f"{where}: usage needs card_id, an integer rev and "
                                   "station_seqs of integers")
    _check_text(card_id, f"{where}.card_id")
    _check_int(rev, f"{where}.rev", B.MAX_USAGE_REV)
    for station, seq in seqs.items():
        _check_text(station, f"{where}.station_seqs key {B.safe_key(station)}")
        _check_int(seq, f"{where}.station_seqs.{B.safe_key(station)}", B.MAX_SEQ)
    entries = parse_card({"card_id": card_id, "kind": "rfid", "usage": item["usage"]},
                         f"{where}").usage
    return {"card_id": card_id, "rev": rev, "station_seqs": seqs, "usage": entries}


def _check_text(value: str, where: str) -> None:
    """Refuse text that cannot be stored or shown (issue 10 #10; bounds.text_problem)."""
    problem = B.text_problem(value)
    if problem:
        raise CardStoreFormatError(f"{where} {problem}")


def _check_int(value: int, where: str, maximum: int) -> None:
    """Refuse an integer outside ``0..maximum`` (issue 10 #8)."""
    problem = B.int_problem(value, 0, maximum)
    if problem:
        raise CardStoreFormatError(f"{where} {problem}")


def delete_card(conn: sqlite3.Connection, card_id: str) -> None:
    for table in ("card_limits", "wallets", "card_usage", "card_usage_as_of", "cards"):
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
    another card still holds is a :class:`~edge.errors.CardStoreFormatError` naming
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
    row = conn.execute("SELECT rev FROM card_usage_as_of WHERE card_id = ?",
                       (card_id,)).fetchone()
    if row is not None and row["rev"] >= item["rev"]:
        return  # an older update arriving late
    conn.execute("DELETE FROM card_usage WHERE card_id = ?", (card_id,))
    conn.executemany("INSERT INTO card_usage VALUES (?, ?, ?, ?, ?, ?, ?)",
                     usage_rows(card_id, item["usage"]))
    conn.execute("INSERT OR REPLACE INTO card_usage_as_of VALUES (?, ?, ?)",
                 (card_id, int(item["station_seqs"].get(station_id, 0)), item["rev"]))
