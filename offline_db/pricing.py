"""The station store's reads for pricing: the rule set, a card's month figures and points.

The pricing facts of a card (edge/pricing_facts.py) add, like the limits do, the head
office's figures (as of a mark: the last seq of this station the office counted) and
this station's own sales after that mark, so nothing is counted twice. Points burned
and earned by a sale are inside its journal line's ``pricing`` field.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offline_db.cards import PRICING_KEY
from offline_db.state import get_state


def pricing_document(conn: sqlite3.Connection) -> str | None:
    """The pricing document as JSON text, or None when the station has none."""
    return get_state(conn, PRICING_KEY)


def _marks(card_ids: Sequence[str]) -> str:
    return ",".join("?" * len(card_ids))


def marks(conn: sqlite3.Connection, card_id: str, store_mark: int) -> tuple[int, int]:
    """(usage mark, points mark): the last seq of this station the office's usage figures
    and the card's point lots include, from the card's usage update, else the card
    store's own mark (one read of ``card_usage_as_of`` for both)."""
    row = conn.execute("SELECT as_of_seq, points_as_of_seq FROM card_usage_as_of "
                       "WHERE card_id = ?", (card_id,)).fetchone()
    if row is None:
        return store_mark, store_mark
    return int(row[0]), store_mark if row[1] is None else int(row[1])


def office_months(conn: sqlite3.Connection, card_id: str, starts: Sequence[str]
                  ) -> list[tuple[int, int, int]]:
    """(ml, minor units, visits) of the office's ``month`` usage of the card for each
    month in ``starts`` (its first day), in one read."""
    found = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(
        "SELECT period_start, SUM(volume_ml), SUM(amount), SUM(visits) FROM card_usage "
        f"WHERE card_id = ? AND period = 'month' AND period_start IN ({_marks(starts)}) "
        "GROUP BY period_start", (card_id, *starts))}
    return [found.get(start, (0, 0, 0)) for start in starts]


@dataclass(frozen=True)
class LocalFigures:
    """This station's own sales of a card after a mark (see :func:`local_figures`)."""

    #: (ml, minor units, sales) completed in each ``[since, until)`` window asked.
    windows: list[tuple[int, int, int]]
    #: Points earned by the sales completed since each instant asked.
    earned: list[int]


def local_figures(conn: sqlite3.Connection, card_ids: Sequence[str], *,
                  windows: Sequence[tuple[str, str]], earned_since: Sequence[str],
                  as_of_seq: int) -> LocalFigures:
    """Sums over this station's sales of the cards after ``as_of_seq``: volume, amount
    and count in each ``[since, until)`` window and points earned since each instant
    (UTC times as the journal writes them), in one pass over the card's index range.

    One statement instead of one per figure: each would read the same journal rows
    (scattered over the table, a page each), and a priced authorization asks for five.
    """
    sums: list[str] = []
    params: list[Any] = []
    for since, until in windows:
        inside = "completed_at >= ? AND completed_at < ?"
        sums += [f"COALESCE(SUM(CASE WHEN {inside} THEN volume_ml END), 0)",
                 f"COALESCE(SUM(CASE WHEN {inside} THEN amount END), 0)",
                 f"COUNT(CASE WHEN {inside} THEN 1 END)"]
        params += [since, until] * 3
    for since in earned_since:
        sums.append("COALESCE(SUM(CASE WHEN completed_at >= ? AND pricing IS NOT NULL "
                    "THEN json_extract(pricing, '$.points_earned') END), 0)")
        params.append(since)
    lowest = min([since for since, _ in windows] + list(earned_since))
    row = conn.execute(
        f"SELECT {', '.join(sums)} FROM journal WHERE card_id IN ({_marks(card_ids)}) "
        "AND completed_at >= ? AND seq > ?", (*params, *card_ids, lowest, as_of_seq)
    ).fetchone()
    values = [int(v) for v in row]
    n = 3 * len(windows)
    return LocalFigures([(values[i], values[i + 1], values[i + 2]) for i in range(0, n, 3)],
                        values[n:])


def points_lots(conn: sqlite3.Connection, card_id: str, today: str) -> int:
    """Points of the card's lots that have not expired on ``today`` (local date)."""
    row = conn.execute("SELECT COALESCE(SUM(points), 0) FROM card_points WHERE card_id = ? "
                       "AND expires >= ?", (card_id, today)).fetchone()
    return int(row[0])


def points_burned_after(conn: sqlite3.Connection, card_ids: Sequence[str],
                        as_of_seq: int) -> int:
    """Points burned by this station's sales of the cards after ``as_of_seq``.

    The condition on the points burned is the one of the partial index
    ``journal_points_burned`` (migration 0013), which lets SQLite read only the sales
    that burned points; the sum is the same (the others add 0).
    """
    row = conn.execute(
        "SELECT COALESCE(SUM(json_extract(pricing, '$.points_burned')), 0) FROM journal "
        f"WHERE card_id IN ({_marks(card_ids)}) AND seq > ? "
        "AND json_extract(pricing, '$.points_burned') > 0", (*card_ids, as_of_seq)).fetchone()
    return int(row[0])


def points_held(conn: sqlite3.Connection, card_id: str, *,
                exclude_sale: str | None = None) -> int:
    """Points the card's open authorizations may still burn."""
    row = conn.execute(
        "SELECT COALESCE(SUM(points_hold), 0) FROM authorizations WHERE card_id = ? "
        "AND state = 'open' AND sale_id IS NOT ?", (card_id, exclude_sale)).fetchone()
    return int(row[0])


def office_points_earned(conn: sqlite3.Connection, card_id: str) -> dict[tuple[str, str], int]:
    """The card's network-wide points earned, by (period, period start), in one read."""
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(
        "SELECT period, period_start, points FROM card_points_earned WHERE card_id = ?",
        (card_id,))}


def voucher_taken(conn: sqlite3.Connection, serial: str) -> str | None:
    """The sale id of this station's open or completed authorization with the voucher."""
    row = conn.execute("SELECT sale_id FROM authorizations WHERE voucher_serial = ? AND "
                       "state IN ('open', 'completed')", (serial,)).fetchone()
    return None if row is None else str(row[0])


def voucher_used_elsewhere(conn: sqlite3.Connection, serial: str) -> bool:
    """Whether the office reported the voucher redeemed (at any station)."""
    return conn.execute("SELECT 1 FROM vouchers_used WHERE serial = ?",
                        (serial,)).fetchone() is not None
