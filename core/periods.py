"""Where limit periods start, in the station's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

PERIODS = ("fill", "day", "week", "month", "year")


def period_start_date(period: str, today: date, week_start: int = 0) -> date:
    """First calendar day of the ``period`` that contains ``today``.

    ``week_start`` is 0 for Monday ... 6 for Sunday.
    """
    if period == "day":
        return today
    if period == "week":
        return today - timedelta(days=(today.weekday() - week_start) % 7)
    if period == "month":
        return today.replace(day=1)
    if period == "year":
        return today.replace(month=1, day=1)
    raise ValueError(f"period {period!r} has no start")


def local_midnight_utc(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which local calendar ``day`` begins in ``tz`` (wall-clock
    midnight converted; where a zone skips midnight, the first instant it has)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def period_start_utc(period: str, now: datetime, tz: ZoneInfo, week_start: int = 0) -> datetime:
    """The UTC instant at which the local ``period`` containing ``now`` began."""
    local_day = now.astimezone(tz).date()
    start = period_start_date(period, local_day, week_start)
    return local_midnight_utc(start, tz)
