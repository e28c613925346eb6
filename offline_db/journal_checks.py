"""Checks of the sale journal beyond its hash chain: well-formed rows and an anchored tail.

The hash chain proves that each row follows the one before it; it cannot see rows cut
off the end, nor a last row edited and rehashed. So the tail is anchored by what the
station writes in the same transaction as each sale:

* the station's recorded head (``sync_state`` key ``journal_head``: the seq and hash
  of the last sale, one row updated by every append),
* the outbox (every sale not yet receipted is queued there),
* the authorizations (each completed one names the seq of its sale),

and by the head office's last receipt, which names the hash at its seq (kept in
``last_receipt_seq`` and ``last_receipt_hash``). The rows themselves are checked
column by column first, so a malformed row is reported at its seq instead of
crashing the walk. docs/journal.md lists every problem and its reason code.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from offline_db.bounds import HEX64, MAX_INT64, MAX_ODOMETER_KM, TIMESTAMP
from offline_db.state import get_state, set_state

HEAD_KEY = "journal_head"
RECEIPT_SEQ_KEY = "last_receipt_seq"
RECEIPT_HASH_KEY = "last_receipt_hash"

INT_COLUMNS = ("pump", "volume_ml", "unit_price", "amount")
TEXT_COLUMNS = ("sale_id", "station_id", "card_id", "product")
TIME_COLUMNS = ("authorized_at", "completed_at")
HASH_COLUMNS = ("prev_hash", "hash")
#: The optional columns (offline_db.journal.OPTIONAL_FIELDS): NULL, or as the station writes them.
ODOMETER_FLAG_VALUES = ("odometer_unreasonable",)
_HASH = HEX64
_TIME = TIMESTAMP


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the journal: where (``seq``, if known), a code, a sentence."""

    seq: int | None
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "reason": self.reason, "message": self.message}


# -- the recorded head ---------------------------------------------------------------------

def read_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The seq and hash the station recorded as its last sale (None: no record)."""
    text = get_state(conn, HEAD_KEY)
    if text is None:
        return None
    seq, _, hash_ = text.partition(" ")
    return (int(seq), hash_) if seq.isdigit() and _HASH.fullmatch(hash_) else None


def record_head(conn: sqlite3.Connection, seq: int, hash_: str) -> None:
    """Record the last sale's seq and hash (inside the append's transaction)."""
    set_state(conn, HEAD_KEY, f"{seq} {hash_}")


def record_head_of_journal(conn: sqlite3.Connection) -> None:
    """Record the journal's current last row as the head: for bulk loaders only.

    The benches and tests that write journal rows straight into SQLite call it once
    afterwards, as the station's own append would have.
    """
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        record_head(conn, 0, "0" * 64)
    else:
        record_head(conn, int(row[0]), str(row[1]))


# -- one row ---------------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64


def _debits_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wallet_debits is not text"
    try:
        debits = json.loads(value)
    except ValueError:
        return "wallet_debits is not JSON"
    if not isinstance(debits, dict) or not all(
            isinstance(k, str) and k and _is_int(v) for k, v in debits.items()):
        return "wallet_debits is not a JSON object of wallet ids to whole numbers"
    return None


def malformed(row: dict[str, Any]) -> str | None:
    """What is wrong with a journal row's columns (naming the column), or None.

    Runs before the hash is recomputed: a rehashed row can still hold values the
    station never writes (text for a volume, a NULL, a blob, a broken timestamp).
    Columns this function does not know are left to their own checks.
    """
    for column in (*TEXT_COLUMNS, *TIME_COLUMNS, *HASH_COLUMNS, *INT_COLUMNS,
                   "wallet_debits"):
        if column not in row:
            return f"the column {column} is missing"
        if row[column] is None:
            return f"{column} is empty (NULL)"
    for column in INT_COLUMNS:
        if not _is_int(row[column]):
            return f"{column} is not a whole number from 0 to 2^63-1 ({row[column]!r:.40})"
    if row["pump"] < 1:
        return f"pump is not a pump number ({row['pump']})"
    for column in TEXT_COLUMNS:
        if not isinstance(row[column], str) or not row[column]:
            return f"{column} is not non-empty text"
    for column in TIME_COLUMNS:
        if not isinstance(row[column], str) or not _TIME.fullmatch(row[column]):
            return f"{column} is not a UTC time YYYY-MM-DDTHH:MM:SS.ffffffZ"
    for column in HASH_COLUMNS:
        if not isinstance(row[column], str) or not _HASH.fullmatch(row[column]):
            return f"{column} is not 64 lower-case hex digits"
    return _debits_problem(row["wallet_debits"]) or _optional_problem(row)


def _optional_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with the vehicle and odometer columns (NULL when a sale has none)."""
    vehicle, km, flag = (row.get(k) for k in ("vehicle_id", "odometer_km", "odometer_flag"))
    if vehicle is not None and (not isinstance(vehicle, str) or not vehicle):
        return "vehicle_id is not non-empty text"
    if km is not None and not (_is_int(km) and km <= MAX_ODOMETER_KM):
        return f"odometer_km is not a whole number from 0 to {MAX_ODOMETER_KM} ({km!r:.40})"
    if flag is not None and flag not in ODOMETER_FLAG_VALUES:
        return f"odometer_flag is not one of {', '.join(ODOMETER_FLAG_VALUES)} ({flag!r:.40})"
    return None


# -- the tail ----------------------------------------------------------------------------------

def _last_row(conn: sqlite3.Connection) -> tuple[int, str | None]:
    row = conn.execute("SELECT seq, hash FROM journal WHERE typeof(seq) = 'integer' "
                       "ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1] if isinstance(row[1], str) else None) if row else (0, None)


def _head_migrated(conn: sqlite3.Connection) -> bool:
    try:
        return conn.execute("SELECT 1 FROM _sqlite_migrations WHERE migration_set = "
                            "'forecourt-station' AND name = '0009_journal_head'"
                            ).fetchone() is not None
    except sqlite3.OperationalError:  # no migrations table at all
        return False


def head_problems(conn: sqlite3.Connection) -> list[Problem]:
    """The journal's last row against the head the station recorded with it."""
    last, last_hash = _last_row(conn)
    head = read_head(conn)
    if head is None and not _head_migrated(conn):
        return []  # a database from before the head was recorded, not yet opened to write
    if head is None:
        return [Problem(None, "head_missing", "the station's record of its last sale "
                        f"(sync_state '{HEAD_KEY}') is missing or unreadable, so the end of "
                        "the journal cannot be checked")]
    seq, hash_ = head
    if seq > last:
        what = f"seq {seq} is" if seq == last + 1 else f"seq {last + 1} to {seq} are"
        return [Problem(last + 1, "tail_missing", f"{what} missing from the end: the station "
                        f"recorded seq {seq} as its last sale")]
    if seq < last:
        return [Problem(seq + 1, "tail_unrecorded", f"seq {seq + 1} to {last} were not "
                        f"written by the station: its last recorded sale is seq {seq}")]
    if last and hash_ != last_hash:
        return [Problem(last, "head_mismatch", f"seq {last} was altered: its hash is not the "
                        "one the station recorded when the sale was written")]
    return []


def receipt_problems(conn: sqlite3.Connection) -> list[Problem]:
    """The journal against the head office's last receipt (its seq and that sale's hash)."""
    text = get_state(conn, RECEIPT_SEQ_KEY, "0") or "0"
    receipted = int(text) if text.isdigit() else 0
    if receipted == 0:
        return []
    row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (receipted,)).fetchone()
    if row is None:
        return [Problem(receipted, "receipted_missing", f"seq {receipted} is missing, though "
                        "the head office receipted it")]
    expected = get_state(conn, RECEIPT_HASH_KEY)
    if expected is not None and row[0] != expected:
        return [Problem(receipted, "receipt_mismatch", f"seq {receipted} is not the sale the "
                        "head office receipted: its hash differs from the receipt's")]
    return []


def outbox_problems(conn: sqlite3.Connection) -> list[Problem]:
    """Every sale after the last receipt is queued, and every queued sale exists."""
    out: list[Problem] = []
    orphan = conn.execute("SELECT MIN(o.seq) FROM outbox o LEFT JOIN journal j "
                          "ON j.seq = o.seq WHERE j.seq IS NULL").fetchone()[0]
    if orphan is not None:
        out.append(Problem(int(orphan), "queued_missing", f"seq {orphan} is queued for the "
                           "head office but missing from the journal"))
    text = get_state(conn, RECEIPT_SEQ_KEY, "0") or "0"
    receipted = int(text) if text.isdigit() else 0
    unqueued = conn.execute("SELECT MIN(j.seq) FROM journal j LEFT JOIN outbox o "
                            "ON o.seq = j.seq WHERE j.seq > ? AND o.seq IS NULL "
                            "AND typeof(j.seq) = 'integer'",
                            (receipted,)).fetchone()[0]
    if unqueued is not None:
        out.append(Problem(int(unqueued), "not_queued", f"seq {unqueued} is neither in the "
                           "outbox nor receipted by the head office, so it would never "
                           "reach it"))
    return out


def authorization_problems(conn: sqlite3.Connection) -> list[Problem]:
    """Every completed authorization's sale is in the journal at the seq it names."""
    row = conn.execute(
        "SELECT a.seq, a.sale_id, j.seq IS NULL FROM authorizations a "
        "LEFT JOIN journal j ON j.seq = a.seq WHERE a.state = 'completed' "
        "AND (j.seq IS NULL OR j.sale_id IS NOT a.sale_id) ORDER BY a.seq LIMIT 1").fetchone()
    if row is None:
        return []
    seq, sale_id, missing = row[0], row[1], row[2]
    if not isinstance(seq, int):
        return [Problem(None, "sale_missing", f"sale {sale_id} was completed but names "
                        "no seq")]
    return [Problem(int(seq), "sale_missing", f"sale {sale_id} was completed as seq {seq}, "
                    + ("which is missing from the journal" if missing
                       else "but the journal holds another sale there"))]


def tail_problems(conn: sqlite3.Connection) -> list[Problem]:
    """Every anchor of the journal's end, checked independently of the chain walk."""
    return [*head_problems(conn), *receipt_problems(conn), *outbox_problems(conn),
            *authorization_problems(conn)]
