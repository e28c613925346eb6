"""``consumption``: volume, amount, discount and count by period, overall or per
station, product, customer, group, card or vehicle; per vehicle also the distance
driven and litres per 100 km from the odometer readings.

Litres per 100 km follow the fill-to-fill method fleet managers use: between a
vehicle's first and last reading in the period it drove ``last - first`` km and
burned the fuel of every fill after the first (the first fill's fuel was burned
before the first reading). Readings the station flagged (odometer_flag) are left out.
"""

from __future__ import annotations

from typing import Any

from office.reports import localtime, rollup_reads, sql
from office.reports.base import Chart, Column, Report
from office.reports.filters import sales_where
from office.reports.params import FILTERS, Params
from office.reports.registry import report
from office.store import OfficeConnection

PER = ("none", "station", "product", "customer", "group", "card", "vehicle")
#: Per dimension: the SQL of its key, the join it needs, and the SQL of its name.
_KEYS: dict[str, tuple[str, str]] = {
    "station": ("s.station_id", ""),
    "product": ("s.product", ""),
    "card": ("s.card_id", ""),
    "customer": ("c.customer_id", "LEFT JOIN cards c ON c.card_id = s.card_id"),
    "group": ("m.group_id", "LEFT JOIN cards c ON c.card_id = s.card_id "
                            "LEFT JOIN group_members m ON m.customer_id = c.customer_id"),
    "vehicle": ("COALESCE(s.vehicle_id, c.vehicle_id)",
                "LEFT JOIN cards c ON c.card_id = s.card_id"),
}
_NAMES = {"customer": ("customers", "customer_id", "name"),
          "group": ("customer_groups", "group_id", "name"),
          "vehicle": ("vehicles", "vehicle_id", "plate")}
FIGURES = (Column("sales", "Sales", "count"), Column("volume_ml", "Volume", "ml"),
           Column("amount", "Amount", "money"), Column("discount", "Discount", "money"))


@report("consumption", "Consumption",
        "Volume, amount, discount and sales by period; --per a station, product, "
        "customer, group, card or vehicle (with litres per 100 km).",
        options=("from", "to", *FILTERS, "by", "per"), per=PER)
def consumption(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    per = p.per or "none"
    key, join = _KEYS.get(per, ("NULL", ""))
    where, args = sales_where(p)
    if rollup_reads.usable(conn, p, per):  # the same figures from the daily roll-ups
        rows = rollup_reads.by_period(conn, p, per)
    else:
        rows = conn.execute(
            f"SELECT {sql.bucket(vendor, p)} AS period, {key} AS k, COUNT(*) AS sales, "
            f"SUM(s.volume_ml) AS volume_ml, SUM(s.amount) AS amount, "
            f"SUM({sql.discount(vendor)}) AS discount"
            f"{_economy(vendor) if per == 'vehicle' else ''} FROM sales s {join} "
            f"WHERE {where} GROUP BY 1, 2", args).fetchall()
    names = _names(conn, per, {r["k"] for r in rows})
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rows:
        period = localtime.day_text(r["period"])
        seen.add(period)
        row: dict[str, Any] = {"period": period}
        if per != "none":
            row[per] = r["k"]
            if per in _NAMES:
                row["name"] = names.get(r["k"], "")
        row.update(sales=int(r["sales"]), volume_ml=int(r["volume_ml"]),
                   amount=int(r["amount"]), discount=int(r["discount"]))
        if per == "vehicle":
            km, used = _distance(r)
            row["km"] = km
            row["l_per_100km"] = round(used / km / 10, 2) if km and used is not None else None
        out.append(row)
    if per == "none":
        out += [{"period": d, "sales": 0, "volume_ml": 0, "amount": 0, "discount": 0}
                for d in sql.periods(p) if d not in seen]
    out.sort(key=lambda row: (row["period"], str(row.get(per) or "")))
    columns = [Column("period", "Period", "date")]
    if per != "none":
        columns.append(Column(per, per.capitalize()))
        if per in _NAMES:
            columns.append(Column("name", "Name"))
    columns += FIGURES
    if per == "vehicle":
        columns += [Column("km", "Distance", "km"), Column("l_per_100km", "l/100 km", "ratio")]
    return Report("consumption", f"Consumption by {p.by}", tuple(columns), out,
                  Chart("bar" if p.by == "month" else "line", "period", "volume_ml",
                        None if per == "none" else per),
                  subtitle=p.words(), totals=totals(out))


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sums of the figure columns."""
    return {c.key: sum(r.get(c.key) or 0 for r in rows) for c in FIGURES}


def _names(conn: OfficeConnection, per: str, keys: set[Any]) -> dict[Any, str]:
    if per not in _NAMES:
        return {}
    table, id_column, name = _NAMES[per]
    return {r[0]: r[1] for r in sql.rows_in(conn, f"SELECT {id_column}, {name} FROM {table}",
                                            id_column, keys)}


#: A reading counts when the sale has one and the station did not flag it.
_READ = "s.odometer_km IS NOT NULL AND s.odometer_flag IS NULL"


def _economy(vendor: str) -> str:
    """The columns of a (period, vehicle) group that give its distance and fuel, in the
    same pass as the sums: the first and last unflagged reading, the ml of the fills
    with a reading, and the first such fill (in sale order: completed_at, station,
    seq) with its ml at the end, as one text whose smallest value is that fill."""
    if vendor == "postgresql":
        first = ("s.completed_at || rpad(s.station_id, 64) || lpad(s.seq::text, 20, '0') "
                 "|| lpad(s.volume_ml::text, 12, '0')")
    else:
        first = "printf('%s%-64s%020d%012d', s.completed_at, s.station_id, s.seq, s.volume_ml)"
    return (f", MAX(CASE WHEN {_READ} THEN s.odometer_km END) "
            f"- MIN(CASE WHEN {_READ} THEN s.odometer_km END) AS km, "
            f"SUM(CASE WHEN {_READ} THEN s.volume_ml END) AS read_ml, "
            f"MIN(CASE WHEN {_READ} THEN {first} END) AS first_fill")


def _distance(r: Any) -> tuple[int | None, int | None]:
    """(km between the first and last reading, ml of the fills after the first) of a
    (period, vehicle) row; (None, None) when no fill had a reading."""
    if r["k"] is None or r["km"] is None:
        return None, None
    return int(r["km"]), int(r["read_ml"]) - int(str(r["first_fill"])[-12:])
