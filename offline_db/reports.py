"""The figures of the station's shift and day reports, read from the station database.

Every period is half-open, ``[start, end)``, in the stored UTC text form
(core.timefmt.iso): a sale belongs to the period its completion falls in, a refusal
to the period of its decision. Read-only: these run on the CLI's read-only
connection while the daemon writes.
"""

from __future__ import annotations

import sqlite3

#: A sale's card kind: the card store's, ``voucher`` for a talon sale (card id ``V`` +
#: the voucher's serial), ``unknown`` for a card no longer in the card store.
_KIND = ("COALESCE(c.kind, CASE WHEN a.voucher_serial IS NOT NULL "
         "AND j.card_id = 'V' || a.voucher_serial THEN 'voucher' ELSE 'unknown' END)")


def sales_groups(conn: sqlite3.Connection, start: str, end: str
                 ) -> list[tuple[int, str, str, int, int, int]]:
    """(pump, product, card kind, count, volume ml, amount) per group of the period."""
    rows = conn.execute(
        f"SELECT j.pump, j.product, {_KIND} AS kind, COUNT(*) AS n, SUM(j.volume_ml) AS ml, "
        "SUM(j.amount) AS amount FROM journal j "
        "LEFT JOIN cards c ON c.card_id = j.card_id "
        "LEFT JOIN authorizations a ON a.sale_id = j.sale_id "
        "WHERE j.completed_at >= ? AND j.completed_at < ? "
        "GROUP BY j.pump, j.product, kind ORDER BY j.pump, j.product, kind", (start, end))
    return [(r["pump"], r["product"], r["kind"], r["n"], r["ml"], r["amount"]) for r in rows]


def sold_by_pump_product(conn: sqlite3.Connection, start: str, end: str
                         ) -> dict[tuple[int, str], int]:
    """Volume sold (ml) per (pump, product) in ``[start, end)``: what totalizers compare to."""
    rows = conn.execute("SELECT pump, product, SUM(volume_ml) AS ml FROM journal "
                        "WHERE completed_at >= ? AND completed_at < ? GROUP BY pump, product",
                        (start, end))
    return {(r["pump"], r["product"]): r["ml"] for r in rows}


def refusals_by_reason(conn: sqlite3.Connection, start: str, end: str) -> list[tuple[str, int]]:
    """(reason code, count) of the refused authorizations decided in the period."""
    rows = conn.execute("SELECT reason, COUNT(*) AS n FROM authorizations "
                        "WHERE state = 'denied' AND created_at >= ? AND created_at < ? "
                        "GROUP BY reason ORDER BY n DESC, reason", (start, end))
    return [(r["reason"], r["n"]) for r in rows]
