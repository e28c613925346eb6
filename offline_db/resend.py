"""Sales the head office receipted and lost: queued again from the journal.

An office restored from a backup older than its last receipts no longer holds sales it
told this station it had stored; the station deleted them from its outbox long ago. The
office asks for them again (a signed ``resend`` message, docs/mqtt.md), and the station
queues them once more from its journal, which keeps delivered sales for ``[jobs]
retention`` (offline_db.retention). The receipted mark goes back to just before the
first sale queued again, so that the office's next receipts remove them as for any
sale; its hash is the journal's (or the retention anchor's), so ``journal verify`` and
``forecourt status`` still hold the journal to it. Sales retention already deleted
cannot be sent again: they are named, for the office to recover from its own backups
or a flash export.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import structlog

from offline_db.connection import atomic
from offline_db.journal import start_of_chain
from offline_db.journal_checks import RECEIPT_HASH_KEY, RECEIPT_SEQ_KEY
from offline_db.state import delete_state, get_state, set_state

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Requeued:
    """What a resend request did: ``count`` sales queued again (seqs ``first``..``last``),
    and the part of the request retention had already deleted (``gone``), if any."""

    count: int
    first: int | None
    last: int | None
    gone: tuple[int, int] | None
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"count": self.count, "first": self.first, "last": self.last,
                "gone": None if self.gone is None else list(self.gone), "reason": self.reason}


def requeue_receipted(conn: sqlite3.Connection, from_seq: int, to_seq: int, *, at: str
                      ) -> Requeued:
    """Queue receipted sales ``from_seq``..``to_seq`` again (one transaction).

    Only receipted sales are concerned (the rest are queued anyway); a request for sales
    already queued again changes nothing, so a repeated request is harmless.
    """
    with atomic(conn):
        receipted = int(get_state(conn, RECEIPT_SEQ_KEY, "0") or 0)
        anchor, anchor_hash = start_of_chain(conn)
        last = min(to_seq, receipted)
        first = max(from_seq, 1)
        if first > last:
            return Requeued(0, None, None, None, "nothing receipted in that range")
        gone = (first, min(anchor, last)) if first <= anchor else None
        first = max(first, anchor + 1)
        if first > last:
            _log_gone(gone)
            return Requeued(0, None, None, gone, "deleted by retention")
        count = conn.execute(
            "INSERT INTO outbox (seq, queued_at) SELECT seq, ? FROM journal "
            "WHERE seq BETWEEN ? AND ? AND seq NOT IN (SELECT seq FROM outbox)",
            (at, first, last)).rowcount
        mark = first - 1
        if mark == 0:
            set_state(conn, RECEIPT_SEQ_KEY, "0")
            delete_state(conn, RECEIPT_HASH_KEY)
        else:
            row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (mark,)).fetchone()
            set_state(conn, RECEIPT_SEQ_KEY, str(mark))
            set_state(conn, RECEIPT_HASH_KEY, str(row[0]) if row is not None else anchor_hash)
    log.warning("sync.resend_queued", first_seq=first, last_seq=last, sales=count,
                receipted_was=receipted, receipted_now=mark)
    _log_gone(gone)
    return Requeued(count, first, last, gone, "queued again")


def _log_gone(gone: tuple[int, int] | None) -> None:
    if gone is not None:
        log.error("sync.resend_deleted", first_seq=gone[0], last_seq=gone[1],
                  detail="deleted by journal retention: the office must recover these "
                  "sales from its own backup or a flash export")
