"""The sale journal: gap-free station sequence numbers and a SHA-256 hash chain.

Each row's ``hash`` is ``sha256(prev_hash + "\\n" + canonical JSON of the sale)``
in lower-case hex, where the canonical JSON holds exactly :data:`HASHED_FIELDS`, plus
those of :data:`OPTIONAL_FIELDS` that are present (not None), with sorted keys and no
spaces; the first row's ``prev_hash`` is 64 zeros. The head office recomputes the
same chain (docs/journal.md), so never change this layout: a row without the optional
fields (every row written before they existed) hashes as it always did.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
                 "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits")
#: Hashed only when present: the sale's vehicle, its odometer reading (km) and the
#: reasonability flag (``odometer_unreasonable``) when the policy flags instead of refusing.
OPTIONAL_FIELDS = ("vehicle_id", "odometer_km", "odometer_flag")
ODOMETER_FLAGS = ("odometer_unreasonable",)


def present(sale: dict[str, Any]) -> dict[str, Any]:
    """The optional fields ``sale`` carries (those not None)."""
    return {k: sale[k] for k in OPTIONAL_FIELDS if sale.get(k) is not None}


def canonical_sql(column: Callable[[str], str], wallet_debits: str | None = None) -> str:
    """A SQLite expression making :func:`canonical` of a row from its columns.

    ``column(name)`` is the SQL for a field; ``wallet_debits`` overrides the SQL of that
    (JSON text) field. SQLite escapes non-ASCII text differently from Python, so for
    such rows the result differs and the caller falls back to :func:`canonical`.
    """
    keys = sorted((*HASHED_FIELDS, *OPTIONAL_FIELDS))
    values = {k: column(k) for k in keys}
    values["wallet_debits"] = wallet_debits or f"json({column('wallet_debits')})"
    obj = "json_object(" + ", ".join(f"'{k}', {values[k]}" for k in keys) + ")"
    absent = ", ".join(f"CASE WHEN {column(k)} IS NULL THEN '$.{k}' ELSE '$.absent' END"
                       for k in OPTIONAL_FIELDS)
    return f"json_remove({obj}, {absent})"


def canonical(sale: dict[str, Any]) -> bytes:
    body = {k: sale[k] for k in HASHED_FIELDS}
    body.update(present(sale))
    if isinstance(body["wallet_debits"], str):
        body["wallet_debits"] = json.loads(body["wallet_debits"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(prev_hash: str, sale: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(sale)).hexdigest()


def last_entry(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row["seq"]), str(row["hash"])) if row else (0, GENESIS)


def append_sale(conn: sqlite3.Connection, sale: dict[str, Any], *,
                queued_at: str) -> dict[str, Any]:
    """Append a sale with the next seq, chain it, queue it in the outbox, record debits.

    Must run inside the caller's transaction. ``sale`` has every hashed field except
    ``seq``; ``wallet_debits`` is a dict of wallet id -> value; the optional fields may
    be given (None or absent: not recorded).
    """
    seq, prev = last_entry(conn)
    row = {**dict.fromkeys(OPTIONAL_FIELDS), **sale, "seq": seq + 1, "prev_hash": prev}
    debits: dict[str, int] = row["wallet_debits"]
    row["hash"] = chain_hash(prev, row)
    conn.execute(
        "INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, volume_ml, "
        "unit_price, amount, authorized_at, completed_at, wallet_debits, vehicle_id, "
        "odometer_km, odometer_flag, prev_hash, hash) "
        "VALUES (:seq, :sale_id, :station_id, :card_id, :pump, :product, :volume_ml, "
        ":unit_price, :amount, :authorized_at, :completed_at, :wallet_debits_json, "
        ":vehicle_id, :odometer_km, :odometer_flag, :prev_hash, :hash)",
        dict(row, wallet_debits_json=json.dumps(debits, sort_keys=True, separators=(",", ":"))))
    conn.executemany("INSERT INTO wallet_debits (seq, wallet_id, value) VALUES (?, ?, ?)",
                     [(row["seq"], w, v) for w, v in sorted(debits.items())])
    conn.execute("INSERT INTO outbox (seq, queued_at) VALUES (?, ?)", (row["seq"], queued_at))
    return row


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    last_seq: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(conn: sqlite3.Connection) -> VerifyResult:
    """Walk the whole journal: seq 1, 2, 3 ... without gaps, and every hash recomputed."""
    expected_seq = 1
    prev = GENESIS
    count = 0
    cursor = conn.execute("SELECT * FROM journal ORDER BY seq")
    for raw in cursor:
        row = dict(raw)
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq - 1, expected_seq,
                                f"sequence gap: seq {expected_seq} is missing (next is {seq})")
        if row["prev_hash"] != prev:
            return VerifyResult(False, count, seq - 1, seq,
                                f"seq {seq} does not link to the hash of seq {seq - 1}")
        if chain_hash(prev, row) != row["hash"]:
            return VerifyResult(False, count, seq - 1, seq,
                                f"seq {seq} was altered: its content does not match its hash")
        prev = row["hash"]
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, expected_seq - 1)


def list_sales(conn: sqlite3.Connection, *, limit: int | None = None, since_seq: int = 0
               ) -> list[dict[str, Any]]:
    sql = "SELECT * FROM journal WHERE seq > ? ORDER BY seq"
    params: list[Any] = [since_seq]
    if limit is not None:
        sql = "SELECT * FROM (SELECT * FROM journal WHERE seq > ? ORDER BY seq DESC LIMIT ?) "\
              "ORDER BY seq"
        params.append(limit)
    out = []
    for raw in conn.execute(sql, params):
        row = dict(raw)
        row["wallet_debits"] = json.loads(row["wallet_debits"])
        for k in OPTIONAL_FIELDS:  # as in the journal line: present only when recorded
            if row[k] is None:
                del row[k]
        out.append(row)
    return out
