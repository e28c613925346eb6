"""``exceptions``: what a fleet manager must look at.

* ``over_tank``: a fill larger than its vehicle's tank (the sale's vehicle, else the
  card's);
* ``odometer_backwards`` / ``odometer_too_far``: a reading below the vehicle's
  previous one, or more than ``[office_reports] odometer_max_step_km`` above it, at
  whichever stations they were taken (a station checks only its own readings);
* ``two_stations``: one card used at two stations within ``--within`` (a cloned card
  or a shared PIN);
* ``overdraft``: a wallet below zero now (stations spent it offline);
* ``repriced``: a priced sale whose figures the office's recomputation did not
  reproduce (office.pricing.settle).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.timefmt import iso, parse_iso
from office.reports import localtime, sql
from office.reports.base import Column, Report
from office.reports.filters import sales_where
from office.reports.params import Params
from office.reports.registry import report
from office.store import OfficeConnection

KINDS = ("over_tank", "odometer_backwards", "odometer_too_far", "two_stations", "overdraft",
         "repriced")


def _seconds_between(vendor: str, later: str, earlier: str) -> str:
    if vendor == "postgresql":
        return f"extract(epoch from ({later}::timestamptz - {earlier}::timestamptz))"
    return f"((julianday(substr({later}, 1, 26)) - julianday(substr({earlier}, 1, 26))) * 86400.0)"


def _row(kind: str, r: Any, p: Params, detail: str) -> dict[str, Any]:
    return {"kind": kind, "at": localtime.text(r["completed_at"], p.tz), "station": r["station_id"],
            "seq": int(r["seq"]), "card": r["card_id"], "vehicle": r["vehicle"], "detail": detail}


@report("exceptions", "Exceptions",
        "Fills above tank capacity, odometers backwards or too far, a card at two stations "
        "within --within, wallets overdrawn, sales the office repriced.",
        options=("from", "to", "station", "customer", "group", "card", "vehicle", "within"))
def exceptions(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    where, args = sales_where(p)
    out: list[dict[str, Any]] = []
    for r in conn.execute(
            "SELECT s.station_id, s.seq, s.card_id, s.completed_at, s.volume_ml, "
            "v.vehicle_id AS vehicle, v.tank_capacity_ml FROM sales s "
            "LEFT JOIN cards c ON c.card_id = s.card_id JOIN vehicles v "
            "ON v.vehicle_id = COALESCE(s.vehicle_id, c.vehicle_id) "
            f"WHERE {where} AND v.tank_capacity_ml IS NOT NULL "
            "AND s.volume_ml > v.tank_capacity_ml", args):
        out.append(_row("over_tank", r, p, f"{r['volume_ml'] / 1000:.3f} l into a "
                                           f"{r['tank_capacity_ml'] / 1000:.3f} l tank"))
    # Readings: each against the vehicle's previous one, wherever and whenever it was.
    reading_where, reading_args = sales_where(p, dated=False)
    for r in conn.execute(
            "SELECT * FROM (SELECT s.station_id, s.seq, s.card_id, s.completed_at, "
            "s.vehicle_id AS vehicle, s.odometer_km, LAG(s.odometer_km) OVER ("
            "PARTITION BY s.vehicle_id ORDER BY s.completed_at, s.station_id, s.seq) AS prev "
            f"FROM sales s WHERE s.vehicle_id IS NOT NULL AND s.odometer_km IS NOT NULL "
            f"AND s.completed_at < ? AND {reading_where}) t WHERE t.completed_at >= ? "
            "AND (t.odometer_km < t.prev OR t.odometer_km > t.prev + ?)",
            [p.utc_end, *reading_args, p.utc_start, p.max_step_km]):
        back = r["odometer_km"] < r["prev"]
        out.append(_row("odometer_backwards" if back else "odometer_too_far", r, p,
                        f"{r['odometer_km']} km after {r['prev']} km"))
    # One card at two stations: each sale against the card's previous one.
    lo = iso(sql.bounds(p)[0] - timedelta(seconds=p.within_s))
    card_where, card_args = sales_where(p, dated=False)
    gap = _seconds_between(vendor, "t.completed_at", "t.prev_at")
    for r in conn.execute(
            "SELECT * FROM (SELECT s.station_id, s.seq, s.card_id, s.completed_at, "
            "s.vehicle_id AS vehicle, "
            "LAG(s.station_id) OVER (PARTITION BY s.card_id ORDER BY s.completed_at, "
            "s.station_id, s.seq) AS prev_station, "
            "LAG(s.completed_at) OVER (PARTITION BY s.card_id ORDER BY s.completed_at, "
            "s.station_id, s.seq) AS prev_at FROM sales s "
            f"WHERE s.completed_at >= ? AND s.completed_at < ? AND {card_where}) t "
            f"WHERE t.completed_at >= ? AND t.prev_station <> t.station_id AND {gap} < ?",
            [lo, p.utc_end, *card_args, p.utc_start, p.within_s]):
        minutes = _minutes(r["prev_at"], r["completed_at"])
        out.append(_row("two_stations", r, p,
                        f"{minutes} min after a sale at {r['prev_station']}"))
    out += _overdrafts(conn, p)
    for r in conn.execute(
            "SELECT s.station_id, s.seq, s.card_id, s.completed_at, s.vehicle_id AS vehicle, "
            "d.field, d.station_value, d.office_value FROM pricing_differences d "
            "JOIN sales s ON s.station_id = d.station_id AND s.seq = d.seq "
            f"WHERE {where} ORDER BY d.id", args):
        out.append(_row("repriced", r, p, f"{r['field']}: station {r['station_value']}, "
                                          f"office {r['office_value']}"))
    out.sort(key=lambda row: (KINDS.index(row["kind"]), row["at"], row["station"],
                              row["seq"] or 0))
    return Report("exceptions", "Exceptions", (
        Column("kind", "Kind"), Column("at", "When", "datetime"), Column("station", "Station"),
        Column("seq", "Seq", "count"), Column("card", "Card"), Column("vehicle", "Vehicle"),
        Column("detail", "Detail")), out, subtitle=p.words())


def _minutes(earlier: str, later: str) -> int:
    return int((parse_iso(later) - parse_iso(earlier)).total_seconds() // 60)


def _overdrafts(conn: OfficeConnection, p: Params) -> list[dict[str, Any]]:
    """Wallets below zero now (not bound to the range: an overdraft is open until
    topped up), of the report's card or customer when it names one."""
    from office.cards.wallets import overdrawn

    balances = dict(overdrawn())
    wallets = {r["wallet_id"]: r for r in sql.rows_in(
        conn, "SELECT w.wallet_id, w.card_id, c.customer_id, c.vehicle_id, w.unit "
        "FROM wallets w JOIN cards c ON c.card_id = w.card_id", "w.wallet_id", balances)}
    out = []
    for wallet_id, balance in balances.items():  # worst first, as overdrawn() gives them
        r = wallets.get(wallet_id)
        if r is None:
            continue
        if "card" in p.filters and r["card_id"] != p.filters["card"]:
            continue
        if "customer" in p.filters and r["customer_id"] != p.filters["customer"]:
            continue
        amount = (f"{-balance / 1000:.3f} l" if r["unit"] == "volume"
                  else f"{-balance} minor units")
        out.append({"kind": "overdraft", "at": "", "station": "", "seq": None,
                    "card": r["card_id"], "vehicle": r["vehicle_id"],
                    "detail": f"wallet {wallet_id} overdrawn by {amount}"})
    return out
