"""SQL pieces several reports share: a sale's discount, the periods of a range."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from core.periods import local_midnight_utc
from office.db import Row, Vendor
from office.reports import localtime
from office.reports.params import Params
from office.store import OfficeConnection


def discount(vendor: Vendor, alias: str = "s") -> str:
    """A sale's discount in minor units: its list amount less what it cost (0 when the
    pricing rules did not price it)."""
    from office.ledger.rollups import discount_sql

    return discount_sql(vendor, f"{alias}.pricing", f"{alias}.amount")


def rows_in(conn: OfficeConnection, select: str, column: str, ids: Iterable[Any]
            ) -> list[Row]:
    """``select ... WHERE column IN (ids)``, in chunks of 500 (a bound list of any length
    stays within both databases' parameter limits); None ids are left out."""
    wanted = sorted(i for i in set(ids) if i is not None)
    out: list[Row] = []
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        out += conn.execute(f"{select} WHERE {column} IN ({', '.join('?' * len(chunk))})",
                            chunk).fetchall()
    return out


def bounds(p: Params) -> tuple[datetime, datetime]:
    """The report's range as UTC instants (for the local-time expressions)."""
    return (local_midnight_utc(p.start, p.tz),
            local_midnight_utc(p.end + timedelta(days=1), p.tz))


def bucket(vendor: Vendor, p: Params, column: str = "s.completed_at") -> str:
    lo, hi = bounds(p)
    return localtime.bucket(vendor, column, by=p.by, tz=p.tz, week_start=p.week_start,
                           lo=lo, hi=hi)


def periods(p: Params) -> list[str]:
    """Every period of the range by ``p.by``, as its first day (``YYYY-MM-DD``): a
    report lists a period with no sales too, with zeros."""
    out: list[str] = []
    if p.by == "day":
        first = p.start
    elif p.by == "week":
        first = p.start - timedelta(days=(p.start.weekday() - p.week_start) % 7)
    else:
        first = p.start.replace(day=1)
    day = first
    while day <= p.end:
        out.append(day.isoformat())
        day = _next(day, p.by)
    return out


def _next(day: date, by: str) -> date:
    if by == "day":
        return day + timedelta(days=1)
    if by == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)

