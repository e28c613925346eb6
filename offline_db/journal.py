"""The sale journal: gap-free station sequence numbers and a SHA-256 hash chain.

Each row's ``hash`` is ``sha256(prev_hash + "\\n" + canonical JSON of the sale)``
in lower-case hex, where the canonical JSON holds exactly :data:`HASHED_FIELDS`, plus
those of :data:`OPTIONAL_FIELDS` that are present (not None), with sorted keys and no
spaces; the first row's ``prev_hash`` is 64 zeros. The head office recomputes the
same chain (docs/journal.md), so never change this layout: a row without the optional
fields (every row written before they existed) hashes as it always did.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import structlog

from core.errors import JournalError
from core.formats.journal import (
    GENESIS,
    OPTIONAL_FIELDS,
    Problem,
    chain_hash,
    malformed,
    pricing_text,
)
from offline_db.journal_checks import read_anchor, read_head, record_head, tail_problems

log = structlog.get_logger(__name__)

def start_of_chain(conn: sqlite3.Connection) -> tuple[int, str]:
    """The seq and hash the first row kept follows: the anchor retention left, or the
    genesis (seq 0, 64 zeros) while nothing was deleted."""
    anchor = read_anchor(conn)
    return anchor if anchor is not None and anchor[0] > 0 else (0, GENESIS)


def last_entry(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row["seq"]), str(row["hash"])) if row else start_of_chain(conn)


def next_position(conn: sqlite3.Connection) -> tuple[int, str]:
    """The seq and hash the next sale follows: the journal's last row or the recorded head.

    The higher of the two wins, so a seq the station once gave out is never given
    again (the office already holds it): after a cut tail the next sale continues
    after the recorded head, and ``verify`` keeps reporting the missing rows.
    """
    last = last_entry(conn)
    head = read_head(conn)
    if head != last:
        log.error("journal.head_mismatch", journal_last_seq=last[0],
                  recorded_head_seq=None if head is None else head[0])
    return head if head is not None and head[0] >= last[0] else last


def append_sale(conn: sqlite3.Connection, sale: dict[str, Any], *,
                queued_at: str) -> dict[str, Any]:
    """Append a sale with the next seq, chain it, queue it in the outbox, record debits.

    Must run inside the caller's transaction. ``sale`` has every hashed field except
    ``seq``; ``wallet_debits`` is a dict of wallet id -> value; the optional fields may
    be given (None or absent: not recorded); ``pricing`` is a dict (pricing_line.line_doc),
    stored as JSON text.
    """
    seq, prev = next_position(conn)
    row = {**dict.fromkeys(OPTIONAL_FIELDS), **sale, "seq": seq + 1, "prev_hash": prev}
    if row["pricing"] is not None and not isinstance(row["pricing"], str):
        row["pricing"] = pricing_text(row["pricing"])
    debits: dict[str, int] = row["wallet_debits"]
    row["hash"] = chain_hash(prev, row)
    conn.execute(
        "INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, volume_ml, "
        "unit_price, amount, authorized_at, completed_at, wallet_debits, vehicle_id, "
        "odometer_km, odometer_flag, pricing, prev_hash, hash) "
        "VALUES (:seq, :sale_id, :station_id, :card_id, :pump, :product, :volume_ml, "
        ":unit_price, :amount, :authorized_at, :completed_at, :wallet_debits_json, "
        ":vehicle_id, :odometer_km, :odometer_flag, :pricing, :prev_hash, :hash)",
        dict(row, wallet_debits_json=json.dumps(debits, sort_keys=True, separators=(",", ":"))))
    conn.executemany("INSERT INTO wallet_debits (seq, wallet_id, value) VALUES (?, ?, ?)",
                     [(row["seq"], w, v) for w, v in sorted(debits.items())])
    conn.execute("INSERT INTO outbox (seq, queued_at) VALUES (?, ?)", (row["seq"], queued_at))
    record_head(conn, row["seq"], row["hash"])
    return row


@dataclass(frozen=True)
class VerifyResult:
    """``last_seq`` and ``rows``: how far the chain walk got; ``problems``: all found;
    ``anchor_seq``: where the walk started (the last row deleted after delivery, or 0)."""

    ok: bool
    rows: int
    last_seq: int
    first_bad_seq: int | None = None
    problem: str = ""
    problems: tuple[Problem, ...] = field(default=())
    anchor_seq: int = 0


def _walk(conn: sqlite3.Connection, start: tuple[int, str]) -> tuple[int, Problem | None]:
    """Seq 1, 2, 3 ... (or from the anchor ``start`` on) without gaps, every row
    well-formed and its hash recomputed.

    Stops at the first broken row (nothing after it is anchored); returns the last seq
    intact and the problem, if any.
    """
    expected_seq = start[0] + 1
    prev = start[1]
    for raw in conn.execute("SELECT * FROM journal WHERE seq IS NULL OR seq > ? ORDER BY seq",
                            (start[0],)):
        row = dict(raw)
        seq = row["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            return expected_seq - 1, Problem(expected_seq, "malformed", f"a row after seq "
                                             f"{expected_seq - 1} has no whole-number seq")
        if seq != expected_seq:
            return expected_seq - 1, Problem(expected_seq, "sequence_gap", "sequence gap: "
                                             f"seq {expected_seq} is missing (next is {seq})")
        what = malformed(row)
        if what is not None:
            return seq - 1, Problem(seq, "malformed", f"seq {seq} is malformed: {what}")
        if row["prev_hash"] != prev:
            return seq - 1, Problem(seq, "bad_link", f"seq {seq} does not link to the hash "
                                    f"of seq {seq - 1}")
        if chain_hash(prev, row) != row["hash"]:
            return seq - 1, Problem(seq, "altered", f"seq {seq} was altered: its content does "
                                    "not match its hash")
        prev = row["hash"]
        expected_seq += 1
    return expected_seq - 1, None


def verify(conn: sqlite3.Connection) -> VerifyResult:
    """Walk the whole journal, then check its end against every anchor (journal_checks).

    Never raises on a bad row: each problem is one sentence with its seq and reason.
    """
    start = start_of_chain(conn)
    good, broken = _walk(conn, start)
    found = ([broken] if broken else []) + tail_problems(conn)
    before = conn.execute("SELECT MIN(seq) FROM journal WHERE seq <= ?", (start[0],)
                          ).fetchone()[0] if start[0] else None
    if before is not None:  # rows retention deleted are back (a restored backup?)
        found.append(Problem(int(before), "before_anchor", f"seq {before} lies at or "
                             f"before seq {start[0]}, the last sale deleted after delivery"))
    problems = tuple(sorted(found, key=lambda p: (p.seq is None, p.seq or 0)))
    rows = good - start[0]
    if not problems:
        return VerifyResult(True, rows, good, anchor_seq=start[0])
    first = problems[0]
    # info: the CLI prints the problems itself; the daemon log keeps the event
    log.info("journal.verify_failed", first_bad_seq=first.seq, reasons=[
        p.reason for p in problems], problem=first.message)
    return VerifyResult(False, rows, good, first.seq, first.message, problems, start[0])


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
        what = malformed(row)
        if what is not None:
            log.info("journal.malformed_row", seq=row["seq"], problem=what)
            raise JournalError(f"journal row seq {row['seq']} is malformed ({what}); run "
                               "'forecourt journal verify'")
        row["wallet_debits"] = json.loads(row["wallet_debits"])
        for k in OPTIONAL_FIELDS:  # as in the journal line: present only when recorded
            if row[k] is None:
                del row[k]
        if "pricing" in row:
            row["pricing"] = json.loads(row["pricing"])
        out.append(row)
    return out
