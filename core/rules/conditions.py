"""When a pricing or loyalty rule applies: its conditions, judged on plain data.

Every discount, points rule and multiplier carries one :class:`Conditions`; a condition
left empty (``None``) does not restrict. All of them must hold. Times are the
station's local time of the authorization (the price a customer is told at the pump
does not change while the fuel runs), so the office, recomputing a sale, judges the
same instant the station judged. docs/pricing.md lists each condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

#: Which month's consumption a tier condition reads, and in what unit.
MONTHS = ("this", "last")
UNITS = ("volume", "money")


@dataclass(frozen=True)
class Consumption:
    """The card's consumption in a calendar month (before this sale) reaches ``at_least``
    (ml for volume, minor units for money)."""

    month: str  # this | last
    unit: str  # volume | money
    at_least: int


@dataclass(frozen=True)
class Conditions:
    """Every condition a rule may carry; ``None`` (or ``False``) means "any"."""

    products: frozenset[str] | None = None
    stations: frozenset[str] | None = None
    station_groups: frozenset[str] | None = None
    valid_from: date | None = None  # local date, inclusive
    valid_until: date | None = None  # local date, inclusive
    days: frozenset[int] | None = None  # 0 = Monday
    hours: tuple[int, int] | None = None  # local minutes [start, end); end <= start wraps
    holidays: bool = False  # only on the dates of the rule set's holiday calendar
    card_kinds: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    groups: frozenset[str] | None = None  # customer groups (any of them)
    tiers: frozenset[str] | None = None  # loyalty tiers
    min_fill_ml: int | None = None  # this fill is at least this volume
    consumption: Consumption | None = None
    birthday_days: int | None = None  # within this many days of the customer's birthday
    min_fills: int | None = None  # this fill is at least the n-th of the calendar month


@dataclass(frozen=True)
class Facts:
    """What the station knew about the sale's card and place when it priced the sale.

    The journal line carries these (``pricing.basis``) so the head office recomputes
    from the very same inputs: a station deciding offline on the data it had is not a
    difference; different figures from the same inputs would be.
    """

    local: datetime  # the authorization, in the station's time zone (aware)
    station_id: str
    station_groups: frozenset[str] = frozenset()
    card_kind: str = "rfid"
    category: str | None = None
    groups: frozenset[str] = frozenset()
    birthday: tuple[int, int] | None = None  # (month, day)
    month_volume_ml: int = 0  # this calendar month, before this sale
    month_amount: int = 0
    last_month_volume_ml: int = 0
    last_month_amount: int = 0
    fills_this_month: int = 0  # before this sale
    points_available: int = 0  # replicated balance, unexpired, less pending redemptions
    #: Points already earned in the current day, week and month (for the caps), as
    #: (period, points) sorted by period name.
    points_earned: tuple[tuple[str, int], ...] = ()
    #: Litres (ml) the card's litre wallets can pay for this product now.
    wallet_ml: int = 0


def in_hours(hours: tuple[int, int], local: datetime) -> bool:
    """``local`` falls in ``[start, end)`` minutes of the day; end <= start wraps midnight
    (the minutes after midnight belong to the window that began the evening before)."""
    start, end = hours
    minute = local.hour * 60 + local.minute
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def _birthday_in(year: int, month: int, day: int) -> date:
    """The birthday in ``year``; 29 February is kept on 28 February in common years."""
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, 28)


def near_birthday(birthday: tuple[int, int] | None, today: date, days: int) -> bool:
    """``today`` is within ``days`` days (either side) of the birthday."""
    if birthday is None:
        return False
    return any(abs((today - _birthday_in(y, *birthday)).days) <= days
               for y in (today.year - 1, today.year, today.year + 1))


def consumption_of(facts: Facts, month: str, unit: str) -> int:
    if month == "this":
        return facts.month_volume_ml if unit == "volume" else facts.month_amount
    return facts.last_month_volume_ml if unit == "volume" else facts.last_month_amount


def holds(cond: Conditions, *, product: str, facts: Facts, tier: str | None,
          holidays: frozenset[date], volume_ml: int | None) -> bool:
    """Whether every condition holds. ``volume_ml`` None: the volume is not known yet
    (a preset), so a rule that needs a minimum fill does not count."""
    local = facts.local
    today = local.date()
    checks = (
        cond.products is None or product in cond.products,
        cond.valid_from is None or today >= cond.valid_from,
        cond.valid_until is None or today <= cond.valid_until,
        _station_ok(cond, facts),
        _time_ok(cond, local, holidays),
        cond.card_kinds is None or facts.card_kind in cond.card_kinds,
        cond.categories is None or facts.category in cond.categories,
        cond.groups is None or bool(cond.groups & facts.groups),
        cond.tiers is None or tier in cond.tiers,
        cond.min_fill_ml is None or (volume_ml is not None and volume_ml >= cond.min_fill_ml),
        cond.consumption is None or consumption_of(
            facts, cond.consumption.month, cond.consumption.unit) >= cond.consumption.at_least,
        cond.birthday_days is None or near_birthday(facts.birthday, today, cond.birthday_days),
        cond.min_fills is None or facts.fills_this_month + 1 >= cond.min_fills,
    )
    return all(checks)


def _station_ok(cond: Conditions, facts: Facts) -> bool:
    if cond.stations is None and cond.station_groups is None:
        return True
    return (cond.stations is not None and facts.station_id in cond.stations) or (
        cond.station_groups is not None and bool(cond.station_groups & facts.station_groups))


def _time_ok(cond: Conditions, local: datetime, holidays: frozenset[date]) -> bool:
    """Weekday, hours and holiday conditions. With ``hours`` that wrap midnight the
    weekday is the one the window began on (Friday 22:00-06:00 covers Saturday 05:00)."""
    day = local.weekday()
    if cond.hours is not None:
        if not in_hours(cond.hours, local):
            return False
        start, end = cond.hours
        if end <= start and local.hour * 60 + local.minute < end:
            day = (day - 1) % 7
    if cond.days is not None and day not in cond.days:
        return False
    return not cond.holidays or local.date() in holidays
