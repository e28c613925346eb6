"""Local calendar buckets of the store's UTC timestamps, computed in the database.

The store keeps times as fixed-width ISO UTC text (``2026-11-29T07:12:58.123456Z``).
A report by day, week or month must cut at the office's local midnight, daylight
saving included (a 23-hour day in March, a 25-hour one in October). PostgreSQL does
that itself (``AT TIME ZONE``). SQLite knows only fixed offsets, so the expression is
a ``CASE`` over the offsets in force during the report's range, each branch a fixed
shift; with one offset (a zone without DST, or a range between two changes) it is a
single shift, and with offset zero a plain ``substr``. Either way the grouping runs in
the database: no row travels to Python to be bucketed.

Every function returns SQL text with no parameters (timestamps and offsets are
written as literals made here, never taken from input).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from core.timefmt import iso, parse_iso
from office.db import Vendor


def _offset_minutes(tz: tzinfo, at: datetime) -> int:
    offset = at.astimezone(tz).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def offsets(tz: tzinfo, lo: datetime, hi: datetime) -> list[tuple[datetime | None, int]]:
    """The offsets in force from ``lo`` to ``hi`` (UTC): ``[(until, minutes), ...]``,
    the last one's ``until`` None. Changes are found hour by hour and then to the
    minute (zones change on whole minutes)."""
    spans: list[tuple[datetime | None, int]] = []
    at = lo.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    current = _offset_minutes(tz, at)
    while at < hi:
        following = at + timedelta(hours=1)
        if _offset_minutes(tz, following) != current:
            low, high = 0, 60  # minutes after ``at``: the change lies in (low, high]
            while high - low > 1:
                mid = (low + high) // 2
                if _offset_minutes(tz, at + timedelta(minutes=mid)) == current:
                    low = mid
                else:
                    high = mid
            change = at + timedelta(minutes=high)
            spans.append((change, current))
            current = _offset_minutes(tz, change)
        at = following
    spans.append((None, current))
    return spans



def _zone_name(tz: tzinfo) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    raise ValueError(f"time zone {tz!r} has no IANA name")


def local(vendor: Vendor, column: str, tz: tzinfo, lo: datetime, hi: datetime) -> str:
    """``column`` as local wall-clock time: on SQLite text ``YYYY-MM-DD HH:MM:SS``
    (or the column itself at offset zero: the same positions), on PostgreSQL a
    ``timestamp``."""
    if vendor == "postgresql":
        return f"({column}::timestamptz AT TIME ZONE '{_zone_name(tz)}')"
    spans = offsets(tz, lo, hi)
    if len(spans) == 1:
        return _shift(column, spans[0][1])
    branches = " ".join(f"WHEN {column} < '{iso(until)}' THEN {_shift(column, minutes)}"
                        for until, minutes in spans[:-1] if until is not None)
    return f"(CASE {branches} ELSE {_shift(column, spans[-1][1])} END)"


def _shift(column: str, minutes: int) -> str:
    # The seconds' fraction is cut first: datetime() would round 23:59:59.9999 up to
    # the next day.
    return column if minutes == 0 else \
        f"datetime(substr({column}, 1, 19), '{minutes:+d} minutes')"


def bucket(vendor: Vendor, column: str, *, by: str, tz: tzinfo, week_start: int,
           lo: datetime, hi: datetime) -> str:
    """The first local day of the ``by`` period (day, week, month) ``column`` falls in:
    text ``YYYY-MM-DD`` on SQLite, a ``date`` on PostgreSQL (:func:`day_text` reads
    both)."""
    when = local(vendor, column, tz, lo, hi)
    if vendor == "postgresql":
        if by == "day":
            return f"{when}::date"
        if by == "month":
            return f"date_trunc('month', {when})::date"
        return (f"({when}::date - ((extract(isodow from {when})::int - 1 - {week_start} + 7)"
                " % 7))")
    if by == "day":
        return f"substr({when}, 1, 10)"
    if by == "month":
        return f"(substr({when}, 1, 7) || '-01')"
    sqlite_weekday = (week_start + 1) % 7  # SQLite counts from Sunday = 0
    return f"date(substr({when}, 1, 10), '-6 days', 'weekday {sqlite_weekday}')"


def hour(vendor: Vendor, column: str, tz: tzinfo, lo: datetime, hi: datetime) -> str:
    """The local hour of day, 0-23, as an integer."""
    when = local(vendor, column, tz, lo, hi)
    if vendor == "postgresql":
        return f"extract(hour from {when})::int"
    return f"CAST(substr({when}, 12, 2) AS INTEGER)"


def weekday(vendor: Vendor, column: str, tz: tzinfo, lo: datetime, hi: datetime) -> str:
    """The local day of the week as an integer, 0 Monday ... 6 Sunday."""
    when = local(vendor, column, tz, lo, hi)
    if vendor == "postgresql":
        return f"(extract(isodow from {when})::int - 1)"
    return f"((CAST(strftime('%w', substr({when}, 1, 19)) AS INTEGER) + 6) % 7)"


def day_text(value: object) -> str:
    """A bucket as ``YYYY-MM-DD`` whichever database gave it."""
    return str(value)[:10]


def date_bucket(vendor: Vendor, column: str, *, by: str, week_start: int) -> str:
    """The first day of the ``by`` period of a local date column (``YYYY-MM-DD`` text,
    such as a points lot's expiry or a birthday): text on SQLite, a date on PostgreSQL."""
    if vendor == "postgresql":
        day = f"CAST({column} AS date)"
        if by == "day":
            return day
        if by == "month":
            return f"date_trunc('month', {day})::date"
        return f"({day} - ((extract(isodow from {day})::int - 1 - {week_start} + 7) % 7))"
    if by == "day":
        return column
    if by == "month":
        return f"(substr({column}, 1, 7) || '-01')"
    return f"date({column}, '-6 days', 'weekday {(week_start + 1) % 7}')"


def text(stored: str, tz: tzinfo) -> str:
    """A stored UTC time as local ``YYYY-MM-DD HH:MM`` in zone ``tz`` (for people)."""
    at = parse_iso(stored).astimezone(tz)
    return at.strftime("%Y-%m-%d %H:%M")
