"""The cases bench/reports.py times: a report with a typical set of options, and its
FLOOR, the bare SQL aggregate a DBA would write for the same question on the same
tables (no names, no formatting, no zero rows), plus the figures both must agree on.

The floors bucket local days, months and hours with the same expression the reports
use (office.reports.localtime): on PostgreSQL that is ``AT TIME ZONE``, which a DBA
would write; on SQLite, which knows no time zones, a ``CASE`` over the year's fixed
offsets is the only way, so the floor pays for it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import reports_floors_accounts as accounts

from core.timefmt import iso
from office.reports import localtime, sql
from office.reports.base import Report
from office.reports.params import Params
from office.store import OfficeConnection

Floor = Callable[[OfficeConnection, Params], Any]
#: (the report's figures, the floor's figures): what must be equal.
Agree = Callable[[Report, Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Case:
    """One report run: its name, options (``{year}`` ranges filled in by the bench),
    floor and the check that both answered the same."""

    report: str
    options: dict[str, str]
    floor: Floor | None
    agree: Agree | None

    @property
    def label(self) -> str:
        return " ".join(f"--{k} {v}" for k, v in self.options.items()
                        if k not in ("from", "to"))


def _rows(conn: OfficeConnection, text: str, args: list[Any]) -> list[Any]:
    return list(conn.execute(text, args).fetchall())


def _range(p: Params) -> list[Any]:
    return [p.utc_start, p.utc_end]


_SUMS = "COUNT(*), SUM(s.volume_ml), SUM(s.amount)"


def _disc(conn: OfficeConnection) -> str:
    return f"SUM({sql.discount(conn.vendor)})"


def _figures(rows: list[dict[str, Any]], keys: tuple[str, ...] = (
        "sales", "volume_ml", "amount", "discount")) -> tuple[int, ...]:
    return tuple(sum(int(r.get(k) or 0) for r in rows) for k in keys)


def _floor_sums(rows: list[Any], first: int) -> tuple[int, ...]:
    width = len(rows[0]) - first if rows else 4
    return tuple(sum(int(r[first + i] or 0) for r in rows) for i in range(width))


def _grouped(cols: tuple[str, ...], joins: str = "", *, by: str | None = None,
             counted: int = 4) -> Floor:
    """SELECT [period,] keys, the sums FROM sales [joins] in the range GROUP BY them."""
    def floor(conn: OfficeConnection, p: Params) -> Any:
        lead = f"{sql.bucket(conn.vendor, p)}, " if by else ""
        width = len(cols) + (1 if by else 0)
        group = ", ".join(str(i + 1) for i in range(width)) or "()"
        disc = f", {_disc(conn)}" if counted == 4 else ""
        return _rows(conn, f"SELECT {lead}{', '.join(cols) + ', ' if cols else ''}{_SUMS}"
                           f"{disc} FROM sales s {joins} WHERE s.completed_at >= ? "
                           f"AND s.completed_at < ? GROUP BY {group}", _range(p))
    return floor


def _daily(cols: tuple[str, ...], *, by: str | None = None) -> Floor:
    """What the report asks of the daily roll-ups, as a DBA would ask it of
    ``sales_daily`` (the reports read it when it counts in the report's zone)."""
    def floor(conn: OfficeConnection, p: Params) -> Any:
        lead = [localtime.date_bucket(conn.vendor, "day", by=by,
                                      week_start=p.week_start)] if by else []
        keys = [*lead, *cols]
        return _rows(conn, f"SELECT {', '.join(keys)}, SUM(sales), SUM(volume_ml), "
                           "SUM(amount), SUM(discount) FROM sales_daily WHERE day >= ? AND "
                           f"day <= ? GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}",
                     [p.start.isoformat(), p.end.isoformat()])
    return floor


def _vehicles(conn: OfficeConnection, p: Params) -> Any:
    """Per month and vehicle: the sums, and the distance and fuel for litres per 100 km
    (first and last unflagged reading; the ml of the fills with a reading and the
    first such fill's) in the same pass, as a DBA would write it."""
    read = "s.odometer_km IS NOT NULL AND s.odometer_flag IS NULL"
    if conn.vendor == "postgresql":
        first = ("s.completed_at || rpad(s.station_id, 64) || lpad(s.seq::text, 20, '0') "
                 "|| lpad(s.volume_ml::text, 12, '0')")
    else:
        first = "printf('%s%-64s%020d%012d', s.completed_at, s.station_id, s.seq, s.volume_ml)"
    return _rows(conn, f"SELECT {sql.bucket(conn.vendor, p)}, "
                       "COALESCE(s.vehicle_id, c.vehicle_id), "
                       f"{_SUMS}, {_disc(conn)}, MAX(CASE WHEN {read} THEN s.odometer_km END) "
                       f"- MIN(CASE WHEN {read} THEN s.odometer_km END), "
                       f"SUM(CASE WHEN {read} THEN s.volume_ml END), "
                       f"MIN(CASE WHEN {read} THEN {first} END) FROM sales s LEFT JOIN cards c "
                       "ON c.card_id = s.card_id WHERE s.completed_at >= ? "
                       "AND s.completed_at < ? GROUP BY 1, 2", _range(p))


def _vehicles_agree(report: Report, rows: Any) -> tuple[Any, Any]:
    km = sum(int(r[6]) for r in rows if r[1] is not None and r[6] is not None)
    return ((*_figures(report.rows), _figures(report.rows, ("km",))[0]),
            (*_floor_sums([r[:6] for r in rows], 2), km))


def _sums_agree(first_figure: int, keys: tuple[str, ...] = (
        "sales", "volume_ml", "amount", "discount")) -> Agree:
    def agree(report: Report, rows: Any) -> tuple[Any, Any]:
        return _figures(report.rows, keys), _floor_sums(rows, first_figure)
    return agree


# -- customers -------------------------------------------------------------------------------

def _top(order: str, *, until_only: bool) -> Floor:
    """The top customers with the figures the report shows: top-customers the sums and
    the discount, customer-value the sums and the first and last sale."""
    def floor(conn: OfficeConnection, p: Params) -> Any:
        where = "s.completed_at < ?" if until_only else "s.completed_at >= ? AND " \
                                                         "s.completed_at < ?"
        args = [p.utc_end] if until_only else _range(p)
        more = ("MIN(s.completed_at), MAX(s.completed_at)" if until_only
                else _disc(conn))
        return _rows(conn, f"SELECT c.customer_id, SUM(s.{order}), COUNT(*), "
                           f"SUM(s.amount), {more} FROM sales s JOIN cards c "
                           f"ON c.card_id = s.card_id WHERE {where} GROUP BY c.customer_id "
                           f"ORDER BY 2 DESC, 1 LIMIT ?", [*args, p.limit])
    return floor


def _top_agree(order: str) -> Agree:
    def agree(report: Report, rows: Any) -> tuple[Any, Any]:
        return ([(r["customer"], r[order]) for r in report.rows],
                [(r[0], int(r[1])) for r in rows])
    return agree


def _acquisition(conn: OfficeConnection, p: Params) -> Any:
    out = []
    for column in ("created_at", "closed_at"):
        bucket = sql.bucket(conn.vendor, p, column)
        out.append(_rows(conn, f"SELECT {bucket}, COUNT(*) FROM customers WHERE {column} >= ? "
                               f"AND {column} < ? AND merged_into IS NULL GROUP BY 1",
                         _range(p)))
    return out


def _churn(conn: OfficeConnection, p: Params) -> Any:
    cutoff = iso(sql.bounds(p)[1] - timedelta(days=p.days))
    back = ("(l.last_at::timestamptz - interval '90 days') AT TIME ZONE 'UTC'"
            if conn.vendor == "postgresql" else
            "strftime('%Y-%m-%dT%H:%M:%S', substr(l.last_at, 1, 19), '-90 days')")
    if conn.vendor == "postgresql":
        back = f"to_char({back}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    return _rows(conn,
                 "WITH last AS (SELECT c.customer_id, MAX(s.completed_at) AS last_at "
                 "FROM sales s JOIN cards c ON c.card_id = s.card_id WHERE s.completed_at < ? "
                 "GROUP BY c.customer_id HAVING MAX(s.completed_at) < ?) "
                 "SELECT l.customer_id, l.last_at, COUNT(*), SUM(s.volume_ml), SUM(s.amount) "
                 "FROM last l JOIN cards c ON c.customer_id = l.customer_id JOIN sales s "
                 f"ON s.card_id = c.card_id AND s.completed_at <= l.last_at "
                 f"AND s.completed_at > {back} GROUP BY l.customer_id, l.last_at",
                 [p.utc_end, cutoff])


def _mix(per: str) -> Floor:
    def floor(conn: OfficeConnection, p: Params) -> Any:
        key = "cu.birthday" if per == "age" else f"cu.{per}"
        people = _rows(conn, f"SELECT {key}, COUNT(*) FROM customers cu WHERE cu.closed_at "
                             "IS NULL AND cu.merged_into IS NULL GROUP BY 1", [])
        bought = _rows(conn, f"SELECT {key}, COUNT(DISTINCT cu.customer_id), {_SUMS} "
                             "FROM sales s JOIN cards c ON c.card_id = s.card_id JOIN "
                             "customers cu ON cu.customer_id = c.customer_id WHERE "
                             "s.completed_at >= ? AND s.completed_at < ? GROUP BY 1", _range(p))
        return people, bought
    return floor


def _mix_agree(report: Report, found: Any) -> tuple[Any, Any]:
    people, bought = found
    mine = _figures(report.rows, ("customers", "sales", "volume_ml", "amount"))
    return mine, (sum(int(r[1]) for r in people), *_floor_sums(bought, 2))


# -- stations, loyalty, vouchers, exceptions --------------------------------------------------

def _hours(conn: OfficeConnection, p: Params) -> Any:
    lo, hi = sql.bounds(p)
    hour = localtime.hour(conn.vendor, "s.completed_at", p.tz, lo, hi)
    return _rows(conn, f"SELECT {hour}, {_SUMS}, {_disc(conn)} FROM sales s WHERE "
                       "s.completed_at >= ? AND s.completed_at < ? GROUP BY 1", _range(p))


def _loyalty(conn: OfficeConnection, p: Params) -> Any:
    bucket = sql.bucket(conn.vendor, p, "at")
    entries = _rows(conn, f"SELECT {bucket}, kind, SUM(points) FROM points_entries WHERE "
                          "at >= ? AND at < ? GROUP BY 1, 2", _range(p))
    last = min(p.end, p.today - timedelta(days=1))
    expired = _rows(conn, "SELECT substr(expires, 1, 7), SUM(remaining) FROM points_lots "
                          "WHERE expires >= ? AND expires <= ? AND remaining > 0 GROUP BY 1",
                    [p.start.isoformat(), last.isoformat()])
    return entries, expired


def _loyalty_agree(report: Report, found: Any) -> tuple[Any, Any]:
    entries, expired = found
    earned = sum(int(r[2]) for r in entries if r[1] in ("earn", "void_earn"))
    burned = -sum(int(r[2]) for r in entries if r[1] in ("burn", "void_burn"))
    return (_figures(report.rows, ("earned", "burned", "expired")),
            (earned, burned, sum(int(r[1]) for r in expired)))


def _vouchers(conn: OfficeConnection, p: Params) -> Any:
    redeemed = _rows(conn, "SELECT batch_id, COUNT(*), SUM(value) FROM voucher_redemptions "
                           "WHERE redeemed_at < ? GROUP BY batch_id", [p.utc_end])
    doubled = _rows(conn, "SELECT batch_id, COUNT(*) FROM voucher_exceptions "
                          "WHERE redeemed_at < ? GROUP BY batch_id", [p.utc_end])
    batches = {str(r[0]) for r in _rows(conn, "SELECT batch_id FROM voucher_batches "
                                              "WHERE valid_from < ? AND valid_until >= ?",
                                        [p.utc_end, p.utc_start])}
    return ([r for r in redeemed if r[0] in batches], [r for r in doubled if r[0] in batches])


def _vouchers_agree(report: Report, found: Any) -> tuple[Any, Any]:
    redeemed, doubled = found
    return (_figures(report.rows, ("redeemed", "redeemed_value", "doubled")),
            (sum(int(r[1]) for r in redeemed), sum(int(r[2]) for r in redeemed),
             sum(int(r[1]) for r in doubled)))


def _seconds(vendor: str, later: str, earlier: str) -> str:
    if vendor == "postgresql":
        return f"extract(epoch from ({later}::timestamptz - {earlier}::timestamptz))"
    return f"((julianday(substr({later}, 1, 26)) - julianday(substr({earlier}, 1, 26))) * 86400.0)"


def _exceptions(conn: OfficeConnection, p: Params) -> Any:
    over = _rows(conn, "SELECT COUNT(*) FROM sales s LEFT JOIN cards c ON c.card_id = s.card_id "
                       "JOIN vehicles v ON v.vehicle_id = COALESCE(s.vehicle_id, c.vehicle_id) "
                       "WHERE s.completed_at >= ? AND s.completed_at < ? "
                       "AND s.volume_ml > v.tank_capacity_ml", _range(p))[0][0]
    odo = _rows(conn, "SELECT SUM(CASE WHEN odometer_km < prev THEN 1 ELSE 0 END), "
                      "SUM(CASE WHEN odometer_km > prev + ? THEN 1 ELSE 0 END) FROM ("
                      "SELECT completed_at, odometer_km, LAG(odometer_km) OVER (PARTITION BY "
                      "vehicle_id ORDER BY completed_at, station_id, seq) AS prev FROM sales "
                      "WHERE vehicle_id IS NOT NULL AND odometer_km IS NOT NULL "
                      "AND completed_at < ?) t WHERE completed_at >= ?",
                [p.max_step_km, p.utc_end, p.utc_start])[0]
    lo = iso(sql.bounds(p)[0] - timedelta(seconds=p.within_s))
    gap = _seconds(conn.vendor, "completed_at", "prev_at")
    two = _rows(conn, "SELECT COUNT(*) FROM (SELECT station_id, completed_at, "
                      "LAG(station_id) OVER w AS prev_station, LAG(completed_at) OVER w AS "
                      "prev_at FROM sales WHERE completed_at >= ? AND completed_at < ? "
                      "WINDOW w AS (PARTITION BY card_id ORDER BY completed_at, station_id, "
                      f"seq)) t WHERE completed_at >= ? AND prev_station <> station_id "
                      f"AND {gap} < ?", [lo, p.utc_end, p.utc_start, p.within_s])[0][0]
    overdrawn = _rows(conn, "SELECT COUNT(*) FROM (SELECT w.wallet_id FROM wallets w "
                            "JOIN wallet_entries e ON e.wallet_id = w.wallet_id GROUP BY "
                            "w.wallet_id HAVING SUM(e.value) < COALESCE((SELECT SUM(d.value) "
                            "FROM wallet_debits d WHERE d.wallet_id = w.wallet_id), 0)) t",
                      [])[0][0]
    repriced = _rows(conn, "SELECT COUNT(*) FROM pricing_differences d JOIN sales s ON "
                           "s.station_id = d.station_id AND s.seq = d.seq WHERE "
                           "s.completed_at >= ? AND s.completed_at < ?", _range(p))[0][0]
    return (int(over), int(odo[0] or 0), int(odo[1] or 0), int(two), int(overdrawn),
            int(repriced))


def _exceptions_agree(report: Report, found: Any) -> tuple[Any, Any]:
    kinds = ("over_tank", "odometer_backwards", "odometer_too_far", "two_stations",
             "overdraft", "repriced")
    return tuple(sum(1 for r in report.rows if r["kind"] == k) for k in kinds), found


YEAR = {"from": "{start}", "to": "{end}"}
CASES: tuple[Case, ...] = (
    # These three read the daily roll-ups (office/reports/rollup_reads.py): so do their
    # floors.
    Case("consumption", {**YEAR, "by": "month"}, _daily((), by="month"), _sums_agree(1)),
    Case("consumption", {**YEAR, "by": "day", "per": "station"},
         _daily(("station_id",), by="day"), _sums_agree(2)),
    Case("consumption", {**YEAR, "by": "month", "per": "customer"},
         _grouped(("c.customer_id",), "LEFT JOIN cards c ON c.card_id = s.card_id", by="month"),
         _sums_agree(2)),
    Case("consumption", {**YEAR, "by": "month", "per": "vehicle"}, _vehicles,
         _vehicles_agree),
    Case("top-customers", {**YEAR, "limit": "20"}, _top("volume_ml", until_only=False),
         _top_agree("volume_ml")),
    Case("acquisition", {**YEAR, "by": "month"}, _acquisition,
         lambda r, f: (_figures(r.rows, ("new", "closed")),
                       tuple(sum(int(x[1]) for x in part) for part in f))),
    Case("churn", {"to": "{end}"}, _churn,
         lambda r, f: ((len(r.rows), sum(x["amount_90d"] for x in r.rows)),
                       (len(f), sum(int(x[4]) for x in f)))),
    Case("birthdays", {"month": "12"},
         lambda conn, p: _rows(conn, "SELECT customer_id, name, birthday, phones, emails "
                                     "FROM customers WHERE birthday IS NOT NULL AND "
                                     "substr(birthday, 6, 2) = ? AND closed_at IS NULL AND "
                                     "merged_into IS NULL ORDER BY substr(birthday, 9, 2), "
                                     "name, customer_id", [f"{p.month:02d}"]),
         lambda r, f: (len(r.rows), len(f))),
    Case("customer-mix", {**YEAR, "per": "age"}, _mix("age"), _mix_agree),
    Case("customer-mix", {**YEAR, "per": "region"}, _mix("region"), _mix_agree),
    Case("customer-value", {"to": "{end}", "limit": "20"}, _top("volume_ml", until_only=True),
         _top_agree("volume_ml")),
    Case("stations", {**YEAR, "per": "station"}, _daily(("station_id", "product")),
         _sums_agree(2)),
    # ... and over the sales, as a product filter on a card would make them.
    Case("stations", {**YEAR, "per": "station", "customer": "C0000000"},
         _grouped(("s.station_id", "s.product"), "JOIN cards c ON c.card_id = s.card_id "
                  "AND c.customer_id = 'C0000000'"), _sums_agree(2)),
    Case("stations", {**YEAR, "per": "pump"}, _grouped(("s.station_id", "s.pump")),
         _sums_agree(2)),
    Case("stations", {**YEAR, "per": "hour"}, _hours, _sums_agree(1)),
    Case("loyalty", {**YEAR, "by": "month"}, _loyalty, _loyalty_agree),
    Case("vouchers", YEAR, _vouchers, _vouchers_agree),
    Case("exceptions", YEAR, _exceptions, _exceptions_agree),
    # Accounts: C0000000 is the biggest fleet company (about 6 % of all sales).
    Case("statement", {"from": "{month}", "to": "{end}", "customer": "C0000000"},
         accounts.statement, accounts.statement_agree),
    Case("credit", {"to": "{end}"}, accounts.credit, accounts.credit_agree),
    Case("payments", YEAR, accounts.payments, accounts.payments_agree),
)


def cases(registered: list[str]) -> list[Case]:
    """The cases of the registered reports, and a floorless case for any report the
    bench has no floor for yet (timed, not compared)."""
    out = [c for c in CASES if c.report in registered]
    known = {c.report for c in CASES}
    out += [Case(name, dict(YEAR), None, None) for name in registered if name not in known]
    return out
