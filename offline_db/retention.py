"""Retention: the oldest delivered journal rows and finished authorizations, deleted.

A station box runs for years; its journal would grow for ever. Retention deletes, in
batches (each one short transaction under the writer), the **oldest rows of the
journal** while every one of them is

* delivered: at or below the head office's last receipt, and not in the outbox;
* older than the retention cut-off (``completed_at``);
* no longer read by any decision of the station: its seq is at or below the marks of
  the office figures that already count it (``usage_as_of_seq`` and each card's
  ``card_usage_as_of`` marks), for the cards that read it (the card itself and any card
  that replaced it): its wallet debits (wallet balances subtract debits after their
  mark), its points burned (after the points mark), and, for a sale of the last 367
  days, its volume and amount (usage limits up to a year count sales after the usage
  mark).

It stops at the first row that must stay, so what is deleted is always a prefix of
the journal, and records the last deleted row's seq and hash as the **anchor**
(``offline_db.journal_checks``): ``journal verify`` walks the chain from it.

Authorizations go when they are finished (completed, cancelled, denied), older than
the cut-off and, if completed, their sale is at or below the anchor, except a completed
one holding a voucher the office has not yet reported used (it keeps the voucher from
being redeemed twice here), and one whose pump fill still needs a person. Their pump
fills and wallet holds go with them.

What this costs (docs/operations.md, "Scheduled jobs"): the deleted sales exist only at
the head office from then on. The station cannot re-send them (an office restored from
a backup can ask again only for sales after the anchor), reports of days before the
cut-off lack them, and the odometer check no longer sees readings older than the
cut-off.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.timefmt import iso
from offline_db.connection import atomic
from offline_db.journal import start_of_chain
from offline_db.journal_checks import RECEIPT_SEQ_KEY, record_anchor
from offline_db.state import get_state, set_state

#: Usage limits count sales of the current period, at most a year (and a day for the
#: time zones): a sale older than this is never counted again, whatever its mark.
USAGE_WINDOW = timedelta(days=367)
FIRST_ACTIVITY_KEY = "first_activity"
#: Journal rows per transaction: about 25 ms under the writer lock here, so a sale being
#: authorized meanwhile waits no longer than that (the whole run is slower for it).
BATCH = 500


@dataclass(frozen=True)
class Batch:
    """What one batch deleted, and where it stopped (``held``: the seq and why)."""

    sales: int
    authorizations: int
    anchor_seq: int
    held: tuple[int, str] | None = None


def replacements(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Card id -> the cards that replaced it (they count its sales as their own)."""
    out: dict[str, list[str]] = defaultdict(list)
    for card_id, replaced in conn.execute(
            "SELECT c.card_id, r.value FROM cards c, json_each(c.rules, '$.replaces') r "
            "WHERE c.rules LIKE '%\"replaces\"%'"):
        out[str(replaced)].append(str(card_id))
    return dict(out)


class _Marks:
    """The office marks of the cards a batch touches, read once per batch."""

    def __init__(self, conn: sqlite3.Connection, card_ids: set[str]) -> None:
        store = int(get_state(conn, "usage_as_of_seq", "0") or 0)
        ids = sorted(card_ids)
        self.usage = dict.fromkeys(ids, store)
        self.wallets = dict.fromkeys(ids, store)
        self.points = dict.fromkeys(ids, store)
        self.exists: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute("SELECT card_id, as_of_seq, wallets_as_of_seq, "
                                    f"points_as_of_seq FROM card_usage_as_of WHERE card_id "
                                    f"IN ({marks})", chunk):
                card = row[0]
                self.usage[card] = int(row[1])
                self.wallets[card] = store if row[2] is None else int(row[2])
                self.points[card] = store if row[3] is None else int(row[3])
            self.exists.update(r[0] for r in conn.execute(
                f"SELECT card_id FROM cards WHERE card_id IN ({marks})", chunk))


def _held(conn: sqlite3.Connection, rows: list[sqlite3.Row], readers: dict[str, list[str]],
          now: datetime, receipted: int) -> tuple[int, tuple[int, str] | None]:
    """How many of ``rows`` (in seq order) may go, and why the next one may not."""
    seqs = [int(r["seq"]) for r in rows]
    cards = {c for r in rows for c in (r["card_id"], *readers.get(r["card_id"], []))}
    debits: dict[int, list[str]] = defaultdict(list)
    marks_sql = ",".join("?" * len(seqs))
    for seq, owner in conn.execute(
            "SELECT d.seq, w.card_id FROM wallet_debits d JOIN wallets w "
            f"ON w.wallet_id = d.wallet_id WHERE d.seq IN ({marks_sql})", seqs):
        debits[int(seq)].append(str(owner))
        cards.add(str(owner))
    queued = {int(r[0]) for r in conn.execute(
        f"SELECT seq FROM outbox WHERE seq IN ({marks_sql})", seqs)}
    marks = _Marks(conn, cards)
    recent = iso(now - USAGE_WINDOW)
    for n, row in enumerate(rows):
        seq = int(row["seq"])
        if seq > receipted or seq in queued:
            return n, (seq, "undelivered")
        who = [c for c in (row["card_id"], *readers.get(row["card_id"], []))
               if c in marks.exists]
        if any(seq > marks.wallets[c] for c in debits.get(seq, []) if c in marks.exists):
            return n, (seq, "wallet_mark")
        if row["burned"] and any(seq > marks.points[c] for c in who):
            return n, (seq, "points_mark")
        if row["completed_at"] >= recent and any(seq > marks.usage[c] for c in who):
            return n, (seq, "usage_mark")
    return len(rows), None


def prune_batch(conn: sqlite3.Connection, *, before: datetime, now: datetime,
                readers: dict[str, list[str]], limit: int = BATCH) -> Batch:
    """Delete at most ``limit`` journal rows (and the authorizations they free) completed
    before ``before``, as the module says. Runs inside the caller's transaction."""
    anchor, _ = start_of_chain(conn)
    receipted = int(get_state(conn, RECEIPT_SEQ_KEY, "0") or 0)
    rows = conn.execute(
        "SELECT seq, card_id, hash, completed_at, "
        "COALESCE(json_extract(pricing, '$.points_burned'), 0) > 0 AS burned "
        "FROM journal WHERE seq > ? AND completed_at < ? ORDER BY seq LIMIT ?",
        (anchor, iso(before), limit)).fetchall()
    held: tuple[int, str] | None = None
    take = 0
    if rows:
        # A prefix only: the first row kept breaks it (a later, older-stamped row waits).
        first = int(rows[0]["seq"])
        contiguous = next((i for i, r in enumerate(rows) if int(r["seq"]) != first + i),
                          len(rows))
        if first != anchor + 1:
            held = (anchor + 1, "not_old_enough")
        else:
            take, held = _held(conn, rows[:contiguous], readers, now, receipted)
            if held is None and contiguous < len(rows):
                held = (first + contiguous, "not_old_enough")
    sales = 0
    if take:
        last = rows[take - 1]
        top = int(last["seq"])
        conn.execute("DELETE FROM wallet_debits WHERE seq > ? AND seq <= ?", (anchor, top))
        sales = conn.execute("DELETE FROM journal WHERE seq > ? AND seq <= ?",
                             (anchor, top)).rowcount
        record_anchor(conn, top, str(last["hash"]))
        anchor = top
    auths = _prune_authorizations(conn, before=before, anchor=anchor, limit=limit)
    return Batch(sales, auths, anchor, held)


def _prune_authorizations(conn: sqlite3.Connection, *, before: datetime, anchor: int,
                          limit: int) -> int:
    ids = [r[0] for r in conn.execute(
        "SELECT a.sale_id FROM authorizations a LEFT JOIN pump_fills f "
        "ON f.sale_id = a.sale_id WHERE a.created_at < ? "
        "AND a.state IN ('completed', 'cancelled', 'denied') "
        "AND (a.state != 'completed' OR a.seq <= ?) "
        "AND NOT (a.state = 'completed' AND a.voucher_serial IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM vouchers_used v WHERE v.serial = a.voucher_serial)) "
        "AND COALESCE(f.attention, '') = '' AND COALESCE(f.state, '') != 'attention' "
        "LIMIT ?", (iso(before), anchor, limit))]
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    if get_state(conn, FIRST_ACTIVITY_KEY) is None:  # the first shift's start (shifts)
        first_at = conn.execute("SELECT MIN(created_at) FROM authorizations").fetchone()[0]
        set_state(conn, FIRST_ACTIVITY_KEY, str(first_at))
    conn.execute(f"DELETE FROM pump_fills WHERE sale_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM wallet_holds WHERE sale_id IN ({marks})", ids)
    return conn.execute(f"DELETE FROM authorizations WHERE sale_id IN ({marks})",
                        ids).rowcount


def prune(conn: sqlite3.Connection, *, before: datetime, now: datetime,
          lock: AbstractContextManager[Any] | None = None,
          readers: dict[str, list[str]] | None = None, limit: int = BATCH,
          should_stop: Callable[[], bool] = lambda: False) -> Batch:
    """Every batch until nothing more may go; the totals and where it stopped.

    Each batch is one transaction under ``lock`` (the daemon's writer lock), so sales
    are authorized between batches. ``readers``: :func:`replacements`, read beforehand
    (the daemon reads it on a connection of its own, outside the lock). ``should_stop``
    is asked between batches (the daemon is stopping: the rest waits for the next run).
    """
    if readers is None:
        readers = replacements(conn)
    sales = auths = 0
    while True:
        with lock if lock is not None else nullcontext(), atomic(conn):
            batch = prune_batch(conn, before=before, now=now, readers=readers, limit=limit)
        sales += batch.sales
        auths += batch.authorizations
        if (batch.sales < limit and batch.authorizations < limit) or should_stop():
            return Batch(sales, auths, batch.anchor_seq, batch.held)
