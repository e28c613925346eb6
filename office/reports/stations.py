"""``stations``: turnover per station and product, per pump, per hour of the day or per
day of the week (local, in the office's time zone)."""

from __future__ import annotations

from typing import Any

from office.reports import localtime, rollup_reads, sql
from office.reports.base import Chart, Column, Report
from office.reports.consumption import FIGURES, totals
from office.reports.filters import sales_where
from office.reports.params import FILTERS, Params
from office.reports.registry import report
from office.store import OfficeConnection

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@report("stations", "Station turnover",
        "Turnover per station and product, per pump, per hour of the day or per weekday.",
        options=("from", "to", *FILTERS, "per"), per=("station", "pump", "hour", "weekday"))
def stations(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    per = p.per or "station"
    lo, hi = sql.bounds(p)
    keys = {"station": ("s.station_id", "s.product"), "pump": ("s.station_id", "s.pump"),
            "hour": (localtime.hour(vendor, "s.completed_at", p.tz, lo, hi),),
            "weekday": (localtime.weekday(vendor, "s.completed_at", p.tz, lo, hi),)}[per]
    names = {"station": ("station", "product"), "pump": ("station", "pump"),
             "hour": ("hour",), "weekday": ("weekday",)}[per]
    where, args = sales_where(p)
    selected = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    groups = ", ".join(str(i + 1) for i in range(len(keys)))
    rows = rollup_reads.by_station_product(conn, p) if per == "station" and \
        rollup_reads.usable(conn, p, "station+product") else conn.execute(
        f"SELECT {selected}, COUNT(*) AS sales, SUM(s.volume_ml) AS volume_ml, "
        f"SUM(s.amount) AS amount, SUM({sql.discount(vendor)}) AS discount "
        f"FROM sales s WHERE {where} GROUP BY {groups}", args).fetchall()
    out: list[dict[str, Any]] = []
    for r in rows:
        row: dict[str, Any] = {name: r[f"k{i}"] for i, name in enumerate(names)}
        row.update(sales=int(r["sales"]), volume_ml=int(r["volume_ml"]),
                   amount=int(r["amount"]), discount=int(r["discount"]))
        out.append(row)
    if per in ("hour", "weekday"):
        have = {int(r[per]) for r in out}
        out += [{per: k, "sales": 0, "volume_ml": 0, "amount": 0, "discount": 0}
                for k in range(24 if per == "hour" else 7) if k not in have]
        out.sort(key=lambda r: int(r[per]))
        if per == "weekday":
            for line in out:
                line["weekday"] = WEEKDAYS[int(line["weekday"])]
    else:
        out.sort(key=lambda r: tuple(str(r[n]).zfill(3) if n == "pump" else str(r[n])
                                     for n in names))
    columns = [Column(n, n.capitalize(), "count" if n in ("pump", "hour") else "text")
               for n in names]
    title = {"station": "Turnover per station and product", "pump": "Turnover per pump",
             "hour": "Turnover per hour of the day", "weekday": "Turnover per weekday"}[per]
    chart = Chart("bar", names[0], "amount", "product" if per == "station" else None)
    return Report("stations", title, (*columns, *FIGURES), out, chart, subtitle=p.words(),
                  totals=totals(out))
