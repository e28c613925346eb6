"""The station's outbox: what is sent up, and what a head-office receipt removes.

A sale stays in the outbox until a signed receipt from the head office says it is
durably stored there: ``apply_receipt`` is the only way out (never a PUBACK, never a
timeout). A receipt names the highest contiguous seq the office holds and that
sale's hash; the station checks the hash against its own journal, so a receipt for
another history (a fork, a forged office) removes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import structlog

from core.formats.journal import HASHED_FIELDS, malformed, present
from offline_db.connection import atomic
from offline_db.journal_checks import RECEIPT_HASH_KEY
from offline_db.state import get_state, set_state

log = structlog.get_logger(__name__)

ROW_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")


def pending_batch(conn: sqlite3.Connection, *, max_sales: int, max_bytes: int,
                  after_seq: int = 0) -> list[dict[str, Any]]:
    """The oldest undelivered sales after ``after_seq``, in seq order, within the caps."""
    rows = conn.execute(
        "SELECT j.* FROM outbox o JOIN journal j ON j.seq = o.seq WHERE o.seq > ? "
        "ORDER BY o.seq LIMIT ?", (after_seq, max_sales)).fetchall()
    out: list[dict[str, Any]] = []
    size = 0
    for raw in rows:
        row = {k: raw[k] for k in ROW_FIELDS}
        row.update(present(dict(raw)))  # vehicle and odometer only when the sale has them
        try:
            row["wallet_debits"] = json.loads(row["wallet_debits"])
            if "pricing" in row:
                row["pricing"] = json.loads(row["pricing"])
            size += len(json.dumps(row)) + 1
        except (TypeError, ValueError):  # never crash the uplink: 'journal verify' names it
            log.error("sync.journal_malformed", seq=raw["seq"],
                      problem=malformed(dict(raw)) or "not JSON")
            break
        if out and (size > max_bytes or row["seq"] != out[-1]["seq"] + 1):
            break  # a batch is consecutive and under the size cap
        out.append(row)
    return out


def oldest_undelivered_at(conn: sqlite3.Connection) -> str | None:
    """When the oldest sale still in the outbox (the lowest seq) was completed.

    The lowest seq, not the least ``completed_at``: one indexed lookup instead of a join
    over the whole outbox (1.3 s with a million undelivered sales), and the same answer
    unless the clock was set back between two sales.
    """
    row = conn.execute("SELECT completed_at FROM journal WHERE seq = "
                       "(SELECT MIN(seq) FROM outbox)").fetchone()
    return None if row is None else str(row[0])


def newest_undelivered_seq(conn: sqlite3.Connection) -> int | None:
    """The highest seq still in the outbox (None: everything delivered)."""
    row = conn.execute("SELECT MAX(seq) FROM outbox").fetchone()
    return None if row[0] is None else int(row[0])


def outbox_status(conn: sqlite3.Connection) -> dict[str, Any]:
    depth = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return {"outbox_depth": depth, "oldest_undelivered_at": oldest_undelivered_at(conn)}


@dataclass(frozen=True)
class ReceiptResult:
    accepted: bool
    removed: int
    last_receipt_seq: int
    reason: str = ""


def apply_receipt(conn: sqlite3.Connection, *, up_to_seq: int, hash_: str) -> ReceiptResult:
    """Remove every outbox row up to ``up_to_seq`` if the receipt matches our journal."""
    with atomic(conn):
        last = int(get_state(conn, "last_receipt_seq", "0") or 0)
        if up_to_seq <= last:
            return ReceiptResult(True, 0, last, "already receipted")
        row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (up_to_seq,)).fetchone()
        if row is None:
            return ReceiptResult(False, 0, last, f"the receipt names seq {up_to_seq}, which "
                                 "this station never recorded")
        if row["hash"] != hash_:
            return ReceiptResult(False, 0, last, f"the receipt's hash for seq {up_to_seq} is "
                                 "not this station's: another history")
        removed = conn.execute("DELETE FROM outbox WHERE seq <= ?", (up_to_seq,)).rowcount
        set_state(conn, "last_receipt_seq", str(up_to_seq))
        set_state(conn, RECEIPT_HASH_KEY, hash_)  # an anchor of the journal (verify)
        problem = office_problem(conn)
        if problem is not None and up_to_seq >= problem["through_seq"]:
            # The office has stored the sales it refused: its problem is settled.
            conn.execute("DELETE FROM sync_state WHERE key = ?", (OFFICE_PROBLEM_KEY,))
            log.info("sync.office_problem_settled", up_to_seq=up_to_seq)
    return ReceiptResult(True, removed, up_to_seq)


#: What the head office last reported wrong with this station's sales (a batch it
#: quarantined: a fork, a chain that does not link, a malformed batch), kept until a
#: receipt covers the refused sales: ``forecourt status`` shows it as an alarm.
OFFICE_PROBLEM_KEY = "office_chain_problem"


def note_office_problem(conn: sqlite3.Connection, problems: list[str], *,
                        through_seq: int | None, at: str) -> None:
    """Record that the office refused our sales up to ``through_seq`` and why.

    ``through_seq`` None: up to the last sale recorded so far. A problem already
    recorded keeps its first ``at`` (since when) and grows to the higher
    ``through_seq``; the sentences are the office's latest.
    """
    with atomic(conn):
        known = office_problem(conn)
        if through_seq is None:
            through_seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal"
                                           ).fetchone()[0])
        body = {"at": known["at"] if known else at,
                "through_seq": max(through_seq, known["through_seq"] if known else 0),
                "problems": [str(p)[:500] for p in problems[:10]]}
        set_state(conn, OFFICE_PROBLEM_KEY, json.dumps(body))


def office_problem(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The office's reported problem (``at``, ``through_seq``, ``problems``), or None."""
    text = get_state(conn, OFFICE_PROBLEM_KEY)
    if not text:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("through_seq"), int):
        return None
    return body
