"""The station's shift and day reports (``forecourt report shift|day``).

A report covers a half-open period ``[start, end)``: a shift (from the previous
shift's close, the first from the station's first decision, to its close or now), or
a local calendar day in ``[station] timezone`` (midnight to midnight, so 23 or 25
hours on the days the clocks change). It holds the sales by pump, product and card
kind, the refusals by reason, and the pumps' totalizers at the start and the end with
their difference next to the volume sold between the same two readings: a mismatch
is fuel that left a pump without a sale, or a sale no pump delivered, and the
operator handing over the shift must see it.

Totalizer readings come from the store (the snapshot of a shift close or of the
scheduled day report) or live from the running daemon over its control socket. A pump
that could not be read shows why, never a guess (docs/station-reports.md).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.clikit import actor
from core.config import Config
from core.errors import ControlError, ForecourtError, InputError
from core.periods import local_midnight_utc
from core.timefmt import iso, parse_iso, utc_now
from edge.control import DaemonNotRunning, call
from offline_db import reports as figures
from offline_db import shifts
from offline_db.shifts import Readings, readings_of

DAEMON_NOT_RUNNING = "daemon not running"
MANUAL_PUMP = "manual pump (not on a pump line)"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class Plan:
    """What a report covers and the readings the store already has for it.

    ``end_readings`` None: the end readings are taken live (the period runs to now, or
    no snapshot was taken after its end). ``start_missing``: why there are no start
    readings when ``start_readings`` is None.
    """

    kind: str
    start: str
    end: str
    header: dict[str, Any] = field(default_factory=dict)
    start_readings: Readings | None = None
    end_readings: Readings | None = None
    start_missing: str = "no totalizer reading was recorded before this period"

    @property
    def needs_live(self) -> bool:
        return self.end_readings is None


def parse_day(text: str) -> date:
    """``--date``: a calendar date written YYYY-MM-DD."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date must be a calendar date like 2026-03-29, got {text!r}"
                         ) from None


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight starting ``day`` and the next day.

    Wall-clock midnight in the zone, converted: a spring-forward day is 23 hours long
    and an autumn one 25. (Where a zone skips midnight itself, the day starts at the
    first instant it has.)
    """
    return local_midnight_utc(day, tz), local_midnight_utc(day + timedelta(days=1), tz)


def day_plan(conn: sqlite3.Connection, config: Config, day: date, now: datetime) -> Plan:
    """The report of local calendar ``day``; a day that has not begun is refused."""
    start, end = day_bounds(day, config.station.tz)
    if start > now:
        raise InputError(f"{day.isoformat()} has not begun yet in {config.station.timezone}; "
                         "there is nothing to report")
    start_at, end_at = iso(start), iso(end)
    after = shifts.snapshot_near(conn, end_at, before=False) if end <= now else None
    return Plan("day", start_at, end_at, {"date": day.isoformat(), "complete": end <= now},
                shifts.snapshot_near(conn, start_at, before=True), after)


def shift_plan(conn: sqlite3.Connection, now: datetime, number: int | None = None) -> Plan:
    """The open shift (``number`` None) or closed shift ``number``."""
    last = shifts.last_shift(conn)
    first = shifts.first_activity(conn)
    if number is None:
        start = last["closed_at"] if last else (first or iso(now))
        header = {"number": 1 if last is None else last["shift_no"] + 1, "closed": False,
                  "closed_at": None, "closed_by": None}
        before = None if last is None else shifts.snapshot(
            conn, last["snapshot_id"], f"shift {last['shift_no']} close")
        return Plan("shift", start, iso(now), header, before, None,
                    "no totalizer reading before the first shift close")
    row = shifts.shift(conn, number)
    if row is None:
        open_no = 1 if last is None else last["shift_no"] + 1
        raise InputError(f"there is no closed shift {number} (the open shift is {open_no})")
    prev = shifts.shift(conn, number - 1)
    before = None if prev is None else shifts.snapshot(
        conn, prev["snapshot_id"], f"shift {prev['shift_no']} close")
    start = row["opened_at"] or min(first or row["closed_at"], row["closed_at"])
    header = {"number": number, "closed": True, "closed_at": row["closed_at"],
              "closed_by": row["closed_by"]}
    return Plan("shift", start, row["closed_at"], header, before,
                shifts.snapshot(conn, row["snapshot_id"], f"shift {number} close"),
                "no totalizer reading before the first shift close")


def live_readings(config: Config, *, timeout: float = 20.0) -> Readings:
    """The pumps' totalizers now, from the running daemon (or why there are none)."""
    try:
        return readings_of(call(config.station.socket_path, "pump.totals", {},
                                actor=actor(), timeout=timeout))
    except DaemonNotRunning:
        return Readings(iso(utc_now()), "live", DAEMON_NOT_RUNNING)
    except ControlError as exc:
        return Readings(iso(utc_now()), "live", str(exc))
    except ForecourtError as exc:  # the daemon refused: say why
        return Readings(iso(utc_now()), "live", str(exc))


def _local(at: str, tz: ZoneInfo) -> dict[str, str]:
    local = parse_iso(at).astimezone(tz)
    return {"utc": at, "local": local.isoformat(timespec="seconds"),
            "text": local.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _rows(groups: dict[Any, list[int]], key: str) -> list[dict[str, Any]]:
    return [{key: k, "count": v[0], "volume_ml": v[1], "amount": v[2]}
            for k, v in sorted(groups.items())]


def sales_section(conn: sqlite3.Connection, start: str, end: str) -> dict[str, Any]:
    """Sales by pump, product and card kind (count, ml, minor units), and the total."""
    by: dict[str, dict[Any, list[int]]] = {"pump": {}, "product": {}, "card_kind": {}}
    total = [0, 0, 0]
    for pump, product, kind, n, ml, amount in figures.sales_groups(conn, start, end):
        for name, k in (("pump", pump), ("product", product), ("card_kind", kind)):
            acc = by[name].setdefault(k, [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + ml, acc[2] + amount
        total = [total[0] + n, total[1] + ml, total[2] + amount]
    return {"by_pump": _rows(by["pump"], "pump"), "by_product": _rows(by["product"], "product"),
            "by_card_kind": _rows(by["card_kind"], "card_kind"),
            "total": {"count": total[0], "volume_ml": total[1], "amount": total[2]}}


def _problem(number: int, label: str, readings: Readings | None, missing: str) -> str | None:
    """Why pump ``number`` has no ``label`` (start or end) readings, or None."""
    if readings is None:
        return f"{label}: {missing}"
    if readings.unavailable:
        return f"{label}: {readings.unavailable}"
    pump = readings.pumps.get(number)
    if pump is None:
        return f"{label}: not read (not on a pump line at {readings.source})"
    return f"{label}: {pump.unavailable}" if pump.unavailable else None


def totalizer_section(conn: sqlite3.Connection, config: Config, plan: Plan,
                      end: Readings, sales_pumps: set[int]) -> dict[str, Any]:
    """Start and end readings per pump and nozzle, their difference and the volume sold.

    The volume sold is counted between the same two readings (not the report's period,
    when a day's readings were taken near its boundaries); nozzles of one pump that
    carry the same product are compared together (``mismatch_ml`` of the product).
    """
    start, tz = plan.start_readings, config.station.tz
    line_pumps = {p.number for line in config.pump_lines for p in line.pumps}
    numbers = sorted(line_pumps | sales_pumps | set(end.pumps)
                     | (set(start.pumps) if start else set()))
    sold: dict[tuple[int, str], int] = {}
    if start is not None and not start.unavailable and not end.unavailable:
        sold = figures.sold_by_pump_product(conn, start.taken_at, end.taken_at)
    pumps: list[dict[str, Any]] = []
    for number in numbers:
        if number not in line_pumps and number not in end.pumps and \
                (start is None or number not in start.pumps):
            pumps.append({"pump": number, "unavailable": MANUAL_PUMP, "nozzles": []})
            continue
        problems = [_problem(number, "start", start, plan.start_missing),
                    _problem(number, "end", end, "")]
        a = start.pumps[number].nozzles if start is not None and problems[0] is None else {}
        b = end.pumps[number].nozzles if problems[1] is None else {}
        rises: dict[str | None, int] = {}
        nozzles = []
        for n in sorted(set(a) | set(b)):
            product = (b.get(n) or a[n])[0]
            row: dict[str, Any] = {"nozzle": n, "product": product,
                                   "start_ml": a[n][1] if n in a else None,
                                   "end_ml": b[n][1] if n in b else None,
                                   "start_amount": a[n][2] if n in a else None,
                                   "end_amount": b[n][2] if n in b else None,
                                   "difference_ml": None}
            if n in a and n in b:
                row["difference_ml"] = b[n][1] - a[n][1]
                rises[product] = rises.get(product, 0) + row["difference_ml"]
            nozzles.append(row)
        for row in nozzles:
            row["sold_ml"] = sold.get((number, row["product"]), 0)
            row["mismatch_ml"] = rises[row["product"]] - row["sold_ml"] \
                if row["product"] in rises else None
        why = "; ".join(p for p in problems if p is not None) or None
        pumps.append({"pump": number, "unavailable": why, "nozzles": nozzles})
    return {"start": None if start is None else {**_local(start.taken_at, tz),
                                                  "source": start.source,
                                                  "unavailable": start.unavailable},
            "end": {**_local(end.taken_at, tz), "source": end.source,
                    "unavailable": end.unavailable},
            "pumps": pumps,
            "mismatches": sum(1 for p in pumps for r in p["nozzles"]
                              if r["mismatch_ml"] not in (None, 0))}


def build_report(conn: sqlite3.Connection, config: Config, plan: Plan, now: datetime,
                 live: Readings | None = None) -> dict[str, Any]:
    """The whole report as one JSON-ready document (integers: ml, minor units)."""
    st, tz = config.station, config.station.tz
    end_readings = plan.end_readings or live or Readings(iso(now), "live", DAEMON_NOT_RUNNING)
    sales = sales_section(conn, plan.start, plan.end)
    refused = figures.refusals_by_reason(conn, plan.start, plan.end)
    hours_s = int((parse_iso(plan.end) - parse_iso(plan.start)).total_seconds())
    return {
        "report": plan.kind, **({"shift": plan.header} if plan.kind == "shift" else plan.header),
        "station_id": st.id, "station_name": st.name, "timezone": st.timezone,
        "currency": st.currency,
        "period": {"start": _local(plan.start, tz), "end": _local(plan.end, tz),
                   "seconds": hours_s},
        "printed_at": _local(iso(now), tz),
        "sales": sales,
        "refusals": {"by_reason": [{"reason": r, "count": n} for r, n in refused],
                     "total": sum(n for _r, n in refused)},
        "totalizers": totalizer_section(conn, config, plan, end_readings,
                                        {r["pump"] for r in sales["by_pump"]}),
    }
