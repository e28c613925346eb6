"""The station store's reads for pricing: the rule set, a card's month figures and points.

The pricing facts of a card (edge/pricing_facts.py) add, like the limits do, the head
office's figures (as of a mark: the last seq of this station the office counted) and
this station's own sales after that mark, so nothing is counted twice. Points burned
and earned by a sale are inside its journal line's ``pricing`` field.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from offline_db.cards import PRICING_KEY
from offline_db.state import get_state


def pricing_document(conn: sqlite3.Connection) -> str | None:
    """The pricing document as JSON text, or None when the station has none."""
    return get_state(conn, PRICING_KEY)


def _marks(card_ids: Sequence[str]) -> str:
    return ",".join("?" * len(card_ids))


def office_month(conn: sqlite3.Connection, card_id: str, period_start: str
                 ) -> tuple[int, int, int]:
    """(ml, minor units, visits) of the office's ``month`` usage starting ``period_start``."""
    row = conn.execute(
        "SELECT COALESCE(SUM(volume_ml), 0), COALESCE(SUM(amount), 0), "
        "COALESCE(SUM(visits), 0) FROM card_usage WHERE card_id = ? AND period = 'month' "
        "AND period_start = ?", (card_id, period_start)).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def local_between(conn: sqlite3.Connection, card_ids: Sequence[str], *, since: str,
                  until: str, as_of_seq: int) -> tuple[int, int, int]:
    """(ml, minor units, sales) of this station's sales of the cards completed in
    ``[since, until)`` (UTC times) after ``as_of_seq``."""
    row = conn.execute(
        "SELECT COALESCE(SUM(volume_ml), 0), COALESCE(SUM(amount), 0), COUNT(*) FROM journal "
        f"WHERE card_id IN ({_marks(card_ids)}) AND completed_at >= ? AND completed_at < ? "
        "AND seq > ?", (*card_ids, since, until, as_of_seq)).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def points_as_of(conn: sqlite3.Connection, card_id: str, store_mark: int) -> int:
    """The last seq of this station the card's point lots include: the mark of the usage
    update that brought them, else the card store's own."""
    row = conn.execute("SELECT points_as_of_seq FROM card_usage_as_of WHERE card_id = ?",
                       (card_id,)).fetchone()
    return store_mark if row is None or row[0] is None else int(row[0])


def points_lots(conn: sqlite3.Connection, card_id: str, today: str) -> int:
    """Points of the card's lots that have not expired on ``today`` (local date)."""
    row = conn.execute("SELECT COALESCE(SUM(points), 0) FROM card_points WHERE card_id = ? "
                       "AND expires >= ?", (card_id, today)).fetchone()
    return int(row[0])


def points_burned_after(conn: sqlite3.Connection, card_ids: Sequence[str],
                        as_of_seq: int) -> int:
    """Points burned by this station's sales of the cards after ``as_of_seq``."""
    row = conn.execute(
        "SELECT COALESCE(SUM(json_extract(pricing, '$.points_burned')), 0) FROM journal "
        f"WHERE card_id IN ({_marks(card_ids)}) AND seq > ? AND pricing IS NOT NULL",
        (*card_ids, as_of_seq)).fetchone()
    return int(row[0])


def points_held(conn: sqlite3.Connection, card_id: str, *,
                exclude_sale: str | None = None) -> int:
    """Points the card's open authorizations may still burn."""
    row = conn.execute(
        "SELECT COALESCE(SUM(points_hold), 0) FROM authorizations WHERE card_id = ? "
        "AND state = 'open' AND sale_id IS NOT ?", (card_id, exclude_sale)).fetchone()
    return int(row[0])


def office_points_earned(conn: sqlite3.Connection, card_id: str, period: str,
                         period_start: str) -> int:
    row = conn.execute("SELECT points FROM card_points_earned WHERE card_id = ? AND "
                       "period = ? AND period_start = ?",
                       (card_id, period, period_start)).fetchone()
    return 0 if row is None else int(row[0])


def local_points_earned(conn: sqlite3.Connection, card_ids: Sequence[str], *, since: str,
                        as_of_seq: int) -> int:
    """Points earned by this station's sales of the cards since ``since`` after the mark."""
    row = conn.execute(
        "SELECT COALESCE(SUM(json_extract(pricing, '$.points_earned')), 0) FROM journal "
        f"WHERE card_id IN ({_marks(card_ids)}) AND completed_at >= ? AND seq > ? "
        "AND pricing IS NOT NULL", (*card_ids, since, as_of_seq)).fetchone()
    return int(row[0])


def voucher_taken(conn: sqlite3.Connection, serial: str) -> str | None:
    """The sale id of this station's open or completed authorization with the voucher."""
    row = conn.execute("SELECT sale_id FROM authorizations WHERE voucher_serial = ? AND "
                       "state IN ('open', 'completed')", (serial,)).fetchone()
    return None if row is None else str(row[0])


def voucher_used_elsewhere(conn: sqlite3.Connection, serial: str) -> bool:
    """Whether the office reported the voucher redeemed (at any station)."""
    return conn.execute("SELECT 1 FROM vouchers_used WHERE serial = ?",
                        (serial,)).fetchone() is not None
