"""The ``pump_fills`` table: what the station recorded about a line pump's fill.

Before a pump is authorized, the totals of its allowed nozzles are committed here: the
proof a later recovery settles the sale from (edge.forecourt, edge.pump_settle). The
fill's state follows its authorization's (``authorizing``, ``authorized``,
``completed``, ``cancelled``), or is ``attention`` with the reason the operator must
settle it by hand.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from core.timefmt import iso, utc_now
from offline_db.connection import atomic


def record_fill(conn: sqlite3.Connection, sale_id: str, pump: int, nozzles: tuple[int, ...],
                totals: dict[int, tuple[int, int]], *, state: str) -> None:
    """Commit the fill of ``sale_id`` with its nozzles' totals before the pump is told."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO pump_fills (sale_id, pump, nozzles, totals_before, state, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sale_id) DO UPDATE SET "
            "totals_before = excluded.totals_before, state = excluded.state, "
            "updated_at = excluded.updated_at",
            (sale_id, pump, json.dumps(list(nozzles)),
             json.dumps({str(k): list(v) for k, v in totals.items()}), state,
             iso(utc_now())))


def set_fill_state(conn: sqlite3.Connection, sale_id: str, state: str,
                   attention: str | None = None) -> None:
    """Commit the fill's new state (and, for ``attention``, why)."""
    with atomic(conn):
        conn.execute("UPDATE pump_fills SET state = ?, attention = ?, updated_at = ? "
                     "WHERE sale_id = ?", (state, attention, iso(utc_now()), sale_id))


def get_fill(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any] | None:
    """The fill recorded for ``sale_id``, or None (its pump was never authorized)."""
    row = conn.execute("SELECT * FROM pump_fills WHERE sale_id = ?", (sale_id,)).fetchone()
    return dict(row) if row else None


def unsettled_sales(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The open authorizations (sale id, pump) oldest first, but those already left to
    the operator (``attention``)."""
    return [dict(r) for r in conn.execute(
        "SELECT a.sale_id, a.pump FROM authorizations a LEFT JOIN pump_fills f "
        "ON f.sale_id = a.sale_id WHERE a.state = 'open' "
        "AND COALESCE(f.state, '') != 'attention' ORDER BY a.created_at")]
