"""Where limit periods start: local calendar of the station, any week start day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.periods import period_start_date, period_start_utc

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3, no DST
NEW_YORK = ZoneInfo("America/New_York")  # DST 2026: 8 March 02:00 EST, 1 November 02:00 EDT
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- period_start_date ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("period", "today", "week_start", "expected"),
    [
        ("day", date(2026, 11, 18), MON, date(2026, 11, 18)),
        ("week", date(2026, 11, 18), MON, date(2026, 11, 16)),  # Wednesday -> Monday
        ("week", date(2026, 11, 16), MON, date(2026, 11, 16)),  # Monday itself
        ("week", date(2026, 11, 15), MON, date(2026, 11, 9)),  # Sunday -> previous Monday
        ("week", date(2026, 11, 15), SUN, date(2026, 11, 15)),  # Sunday itself
        ("week", date(2026, 11, 18), SUN, date(2026, 11, 15)),
        ("week", date(2026, 11, 14), SUN, date(2026, 11, 8)),  # Saturday -> Sunday before
        ("week", date(2026, 11, 18), SAT, date(2026, 11, 14)),
        ("week", date(2026, 11, 18), WED, date(2026, 11, 18)),
        ("week", date(2026, 11, 17), WED, date(2026, 11, 11)),  # Tuesday -> Wed before
        ("week", date(2027, 1, 1), MON, date(2026, 12, 28)),  # across the year end
        ("month", date(2026, 11, 18), MON, date(2026, 11, 1)),
        ("month", date(2024, 2, 29), MON, date(2024, 2, 1)),
        ("year", date(2026, 11, 18), MON, date(2026, 1, 1)),
        ("year", date(2026, 1, 1), MON, date(2026, 1, 1)),
    ],
)
def test_period_start_date(period: str, today: date, week_start: int, expected: date) -> None:
    assert period_start_date(period, today, week_start) == expected


@pytest.mark.parametrize("period", ["fill", "hour", ""])
def test_period_start_date_refuses_periods_without_a_start(period: str) -> None:
    with pytest.raises(ValueError):
        period_start_date(period, date(2026, 11, 18))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
       st.integers(min_value=0, max_value=6))
def test_week_starts_on_the_configured_day_within_the_last_seven(today: date,
                                                                 week_start: int) -> None:
    start = period_start_date("week", today, week_start)
    assert start.weekday() == week_start
    assert 0 <= (today - start).days <= 6


# -- period_start_utc -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("period", "now", "week_start", "expected"),
    [
        # 2027-01-01 00:30 in Moscow is still 2026-12-31 in UTC.
        ("day", utc(2026, 12, 31, 21, 30), MON, utc(2026, 12, 31, 21)),
        ("month", utc(2026, 12, 31, 21, 30), MON, utc(2026, 12, 31, 21)),
        ("year", utc(2026, 12, 31, 21, 30), MON, utc(2026, 12, 31, 21)),
        ("week", utc(2026, 12, 31, 21, 30), MON, utc(2026, 12, 27, 21)),  # Mon 28 Dec MSK
        ("week", utc(2026, 12, 31, 21, 30), SUN, utc(2026, 12, 26, 21)),  # Sun 27 Dec MSK
        ("week", utc(2026, 12, 31, 21, 30), SAT, utc(2026, 12, 25, 21)),  # Sat 26 Dec MSK
        ("week", utc(2026, 12, 31, 21, 30), FRI, utc(2026, 12, 31, 21)),  # Fri 1 Jan MSK
        # One minute before local midnight: still the old day, month and year.
        ("day", utc(2026, 12, 31, 20, 59), MON, utc(2026, 12, 30, 21)),
        ("month", utc(2026, 12, 31, 20, 59), MON, utc(2026, 11, 30, 21)),
        ("year", utc(2026, 12, 31, 20, 59), MON, utc(2025, 12, 31, 21)),
        # Exactly local midnight belongs to the new day.
        ("day", utc(2026, 12, 31, 21), MON, utc(2026, 12, 31, 21)),
    ],
)
def test_period_start_utc_moscow(period: str, now: datetime, week_start: int,
                                 expected: datetime) -> None:
    start = period_start_utc(period, now, MOSCOW, week_start)
    assert start == expected
    assert start.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("period", "now", "week_start", "expected"),
    [
        # Sunday 8 March 2026, 12:00 EDT: the day began at 00:00 EST (UTC-5), not UTC-4.
        ("day", utc(2026, 3, 8, 16), MON, utc(2026, 3, 8, 5)),
        ("week", utc(2026, 3, 8, 16), SUN, utc(2026, 3, 8, 5)),
        ("week", utc(2026, 3, 8, 16), MON, utc(2026, 3, 2, 5)),
        ("month", utc(2026, 3, 8, 16), MON, utc(2026, 3, 1, 5)),
        ("year", utc(2026, 3, 8, 16), MON, utc(2026, 1, 1, 5)),
        # Monday 9 March: the first whole day of summer time starts at 04:00 UTC.
        ("day", utc(2026, 3, 9, 12), MON, utc(2026, 3, 9, 4)),
        ("week", utc(2026, 3, 9, 12), MON, utc(2026, 3, 9, 4)),
        ("week", utc(2026, 3, 9, 12), SUN, utc(2026, 3, 8, 5)),
        # Sunday 1 November 2026, 07:00 EST: the day began at 00:00 EDT (UTC-4).
        ("day", utc(2026, 11, 1, 12), MON, utc(2026, 11, 1, 4)),
        ("month", utc(2026, 11, 1, 12), MON, utc(2026, 11, 1, 4)),
        ("week", utc(2026, 11, 1, 12), MON, utc(2026, 10, 26, 4)),
        ("week", utc(2026, 11, 1, 12), SUN, utc(2026, 11, 1, 4)),
        ("week", utc(2026, 11, 2, 12), SUN, utc(2026, 11, 1, 4)),
        ("day", utc(2026, 11, 2, 12), MON, utc(2026, 11, 2, 5)),
        ("year", utc(2026, 11, 2, 12), MON, utc(2026, 1, 1, 5)),
        # 2026-01-01 03:00 UTC is still New Year's Eve in New York.
        ("day", utc(2026, 1, 1, 3), MON, utc(2025, 12, 31, 5)),
        ("year", utc(2026, 1, 1, 3), MON, utc(2025, 1, 1, 5)),
        ("month", utc(2026, 1, 1, 3), MON, utc(2025, 12, 1, 5)),
    ],
)
def test_period_start_utc_new_york_across_dst(period: str, now: datetime, week_start: int,
                                              expected: datetime) -> None:
    assert period_start_utc(period, now, NEW_YORK, week_start) == expected


def test_days_around_dst_changes_are_23_and_25_hours_long() -> None:
    spring = (period_start_utc("day", utc(2026, 3, 9, 12), NEW_YORK)
              - period_start_utc("day", utc(2026, 3, 8, 12), NEW_YORK))
    autumn = (period_start_utc("day", utc(2026, 11, 2, 12), NEW_YORK)
              - period_start_utc("day", utc(2026, 11, 1, 12), NEW_YORK))
    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)


def test_now_in_another_zone_gives_the_same_instant() -> None:
    now_utc = utc(2026, 3, 8, 16)
    now_tokyo = now_utc.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (period_start_utc("week", now_tokyo, NEW_YORK, SUN)
            == period_start_utc("week", now_utc, NEW_YORK, SUN))


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                    timezones=st.just(UTC)),
       st.sampled_from(["day", "week", "month", "year"]),
       st.sampled_from([MOSCOW, NEW_YORK, ZoneInfo("Australia/Sydney")]),
       st.integers(min_value=0, max_value=6))
def test_period_start_utc_is_local_midnight_of_the_period_start(
        now: datetime, period: str, tz: ZoneInfo, week_start: int) -> None:
    start = period_start_utc(period, now, tz, week_start)
    local_start = start.astimezone(tz)
    assert start <= now
    assert (local_start.hour, local_start.minute, local_start.second) == (0, 0, 0)
    assert local_start.date() == period_start_date(period, now.astimezone(tz).date(),
                                                   week_start)
    # No earlier instant of the same local day: it is the first moment of the period.
    assert (start - timedelta(seconds=1)).astimezone(tz).date() < local_start.date()
