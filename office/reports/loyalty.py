"""``loyalty``: points earned, burned, adjusted and expired per period.

From the points ledger (office.pricing.points): ``earn`` entries less their voids are
earned, ``burn`` entries less their voids burned (shown positive), ``adjust`` entries
by hand; expired are the points still left in lots whose last day fell in the period
and has passed (a lot expires at the end of its ``expires`` day).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from office.reports import localtime, sql
from office.reports.base import Chart, Column, Report
from office.reports.params import Params
from office.reports.registry import report
from office.store import OfficeConnection

_KINDS = {"earn": "earned", "void_earn": "earned", "burn": "burned", "void_burn": "burned",
          "adjust": "adjusted"}


@report("loyalty", "Loyalty points",
        "Points earned, burned, adjusted and expired per period.",
        options=("from", "to", "station", "card", "by"))
def loyalty(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    rows: dict[str, dict[str, Any]] = {
        d: {"period": d, "earned": 0, "burned": 0, "adjusted": 0, "expired": 0, "net": 0}
        for d in sql.periods(p)}
    extra, args = "", []
    for key in ("station", "card"):
        if key in p.filters:
            extra += f" AND {'station_id' if key == 'station' else 'card_id'} = ?"
            args.append(p.filters[key])
    bucket = sql.bucket(vendor, p, "e.at")
    for r in conn.execute(
            f"SELECT {bucket} AS period, e.kind, SUM(e.points) AS points FROM points_entries e "
            f"WHERE e.at >= ? AND e.at < ?{extra} GROUP BY 1, 2",
            [p.utc_start, p.utc_end, *args]):
        row = rows.setdefault(localtime.day_text(r["period"]),
                              {"period": localtime.day_text(r["period"]), "earned": 0,
                               "burned": 0, "adjusted": 0, "expired": 0, "net": 0})
        column = _KINDS.get(r["kind"])
        if column is not None:
            points = int(r["points"])
            row[column] += -points if column == "burned" else points
    last = min(p.end, p.today - timedelta(days=1))  # a lot expires when its day is over
    expiry = localtime.date_bucket(vendor, "expires", by=p.by, week_start=p.week_start)
    for r in conn.execute(
            f"SELECT {expiry} AS period, SUM(remaining) AS points FROM points_lots "
            f"WHERE expires >= ? AND expires <= ? AND remaining > 0{extra} GROUP BY 1",
            [p.start.isoformat(), last.isoformat(), *args]):
        period = localtime.day_text(r["period"])
        if period in rows:
            rows[period]["expired"] += int(r["points"])
    out = sorted(rows.values(), key=lambda r: r["period"])
    for line in out:
        line["net"] = line["earned"] - line["burned"] + line["adjusted"] - line["expired"]
    figures = ("earned", "burned", "adjusted", "expired", "net")
    return Report("loyalty", f"Loyalty points by {p.by}",
                  (Column("period", "Period", "date"),
                   *(Column(f, f.capitalize(), "points") for f in figures)), out,
                  Chart("bar", "period", "earned"), subtitle=p.words(),
                  totals={f: sum(r[f] for r in out) for f in figures})
