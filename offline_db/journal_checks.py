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

Retention (offline_db.retention) deletes the oldest delivered rows and keeps the last
deleted row's seq and hash as the journal's **anchor** (``journal_anchor``): the chain
walk starts from it instead of from seq 1 and the genesis hash, and every check of the
end treats it as the row before the first one kept.
"""

from __future__ import annotations

import sqlite3

from core.bounds import HEX64 as _HASH
from core.formats.journal import Problem
from offline_db.state import get_state, set_state

HEAD_KEY = "journal_head"
RECEIPT_SEQ_KEY = "last_receipt_seq"
RECEIPT_HASH_KEY = "last_receipt_hash"
ANCHOR_KEY = "journal_anchor"



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


# -- the anchor (retention) -------------------------------------------------------------

def read_anchor(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The seq and hash of the last row retention deleted (None: nothing deleted)."""
    text = get_state(conn, ANCHOR_KEY)
    if text is None:
        return None
    seq, _, hash_ = text.partition(" ")
    return (int(seq), hash_) if seq.isdigit() and _HASH.fullmatch(hash_) else (-1, "")


def record_anchor(conn: sqlite3.Connection, seq: int, hash_: str) -> None:
    """Record the last deleted row (inside retention's transaction)."""
    set_state(conn, ANCHOR_KEY, f"{seq} {hash_}")


def anchor_seq(conn: sqlite3.Connection) -> int:
    """The anchor's seq (0 without one, or when it is unreadable)."""
    anchor = read_anchor(conn)
    return max(anchor[0], 0) if anchor is not None else 0


def _receipted(conn: sqlite3.Connection) -> int:
    text = get_state(conn, RECEIPT_SEQ_KEY, "0") or "0"
    return int(text) if text.isdigit() else 0


def anchor_problems(conn: sqlite3.Connection) -> list[Problem]:
    """The anchor is readable and lies within what the head office has receipted."""
    anchor = read_anchor(conn)
    if anchor is None:
        return []
    if anchor[0] < 0:
        return [Problem(None, "anchor_unreadable", "the record of the last sale deleted after "
                        f"delivery (sync_state '{ANCHOR_KEY}') is unreadable, so the journal "
                        "cannot be checked from it")]
    receipted = _receipted(conn)
    if anchor[0] > receipted:
        return [Problem(receipted + 1, "anchor_undelivered", f"sales up to seq {anchor[0]} "
                        f"were deleted, but the head office has receipted only up to seq "
                        f"{receipted}")]
    return []


# -- the tail ----------------------------------------------------------------------------------

def _last_row(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """The journal's last row, else the anchor (every row deleted after delivery)."""
    row = conn.execute("SELECT seq, hash FROM journal WHERE typeof(seq) = 'integer' "
                       "ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        return int(row[0]), row[1] if isinstance(row[1], str) else None
    anchor = read_anchor(conn)
    return (anchor[0], anchor[1]) if anchor is not None and anchor[0] > 0 else (0, None)


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
    receipted = _receipted(conn)
    if receipted == 0:
        return []
    row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (receipted,)).fetchone()
    anchor = read_anchor(conn)
    if row is None and anchor is not None and 0 < receipted <= anchor[0]:
        if receipted < anchor[0]:
            return []  # anchor_problems says it: the anchor lies beyond the receipt
        row = (anchor[1],)  # the receipted sale was deleted; its hash is the anchor's
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
    receipted = _receipted(conn)
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
        "AND (j.seq IS NULL OR j.sale_id IS NOT a.sale_id) AND (a.seq IS NULL OR a.seq > ?) "
        "ORDER BY a.seq LIMIT 1", (anchor_seq(conn),)).fetchone()
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
    return [*anchor_problems(conn), *head_problems(conn), *receipt_problems(conn),
            *outbox_problems(conn), *authorization_problems(conn)]
