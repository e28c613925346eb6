"""What a report is asked: one parser for the CLI's options and the console's form.

Both hand over text; :func:`parse` checks every value and answers a wrong one with one
sentence naming the option (:class:`~office.reports.base.ReportError`). Dates are the
office's local calendar days (``[office_reports] timezone``), ``--to`` included.
Without ``--from``/``--to`` a report covers the current month to today.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from core.config_reports import OfficeReportsConfig
from core.periods import local_midnight_utc
from core.timefmt import iso
from office.reports.base import ReportError

BY = ("day", "week", "month")
ORDERS = ("volume", "amount")
FILTERS = ("station", "customer", "group", "product", "card", "vehicle")
#: Every option a report may take (``Spec.options`` names its own).
OPTIONS = ("from", "to", *FILTERS, "by", "per", "order", "limit", "days", "month", "within")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")
_DURATION = re.compile(r"(\d{1,6})\s*(m|h|d)", re.ASCII)
_LONGEST_RANGE_DAYS = 3700  # ten years and some


@dataclass(frozen=True)
class Params:
    """A report's question, checked."""

    start: date
    end: date  # included
    tz: tzinfo
    week_start: int  # 0 Monday ... 6 Sunday
    today: date
    filters: dict[str, str] = field(default_factory=dict)
    by: str = "month"
    per: str | None = None
    order: str = "volume"
    limit: int = 20
    days: int = 90
    month: int = 1
    within_s: int = 1200
    max_step_km: int = 2000
    given: tuple[str, ...] = ()
    #: Accounts: a charge falls due this many days after its sale.
    credit_due_days: int = 30

    @property
    def utc_start(self) -> str:
        """The first instant of ``start`` (local midnight) as the store's ISO UTC text."""
        return _utc_iso(self.start, self.tz)

    @property
    def utc_end(self) -> str:
        """The first instant after ``end``."""
        return _utc_iso(self.end + timedelta(days=1), self.tz)

    def words(self) -> str:
        """The question in words, for headings: ``2026-11-01 to 2026-11-28, station S-001``."""
        parts = [f"{self.start.isoformat()} to {self.end.isoformat()}"]
        parts += [f"{k} {v}" for k, v in self.filters.items()]
        return ", ".join(parts)


def _utc_iso(day: date, tz: tzinfo) -> str:
    return iso(local_midnight_utc(day, tz))


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"--{option} must be a date like 2026-11-30, not {text!r}") from None


def _int(option: str, text: str, low: int, high: int) -> int:
    value = text.strip()
    if not re.fullmatch(r"[0-9]{1,9}", value) or not low <= int(value) <= high:
        raise ReportError(f"--{option} must be a whole number {low}-{high}, not {text!r}")
    return int(value)


def _choice(option: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise ReportError(f"--{option} must be one of {', '.join(choices)}, not {text!r}")
    return text


def _month(text: str) -> int:
    value = text.strip()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
        value = value[5:]
    if not re.fullmatch(r"[0-9]{1,2}", value) or not 1 <= int(value) <= 12:
        raise ReportError(f"--month must be a month 1-12 (or YYYY-MM), not {text!r}")
    return int(value)


def _within(text: str) -> int:
    match = _DURATION.fullmatch(text.strip())
    seconds = int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)] \
        if match else 0
    if not 60 <= seconds <= 7 * 86400:
        raise ReportError(f"--within must be a time like 20m, 2h or 1d (1m-7d), not {text!r}")
    return seconds


def parse(options: Mapping[str, str | None], config: OfficeReportsConfig, *,
          accepted: tuple[str, ...], per: tuple[str, ...] = (),
          now: datetime | None = None) -> Params:
    """Check ``options`` (empty or None: not given) for a report that takes ``accepted``
    options, with ``per`` its dimensions (the first is the default)."""
    given = {k: v.strip() for k, v in options.items() if v is not None and v.strip() != ""}
    for key in given:
        if key not in OPTIONS:
            raise ReportError(f"unknown option --{key}")
        if key not in accepted:
            raise ReportError(f"this report takes no --{key} (it takes "
                              f"{', '.join('--' + a for a in accepted) or 'no options'})")
    tz = config.tz
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    start = _date("from", given["from"]) if "from" in given else today.replace(day=1)
    end = _date("to", given["to"]) if "to" in given else today
    if "from" in given and "to" not in given and start > today:
        end = start
    if "from" not in accepted:  # an "as of" report (churn, lifetime value): up to --to
        start = min(start, end)
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    if (end - start).days > _LONGEST_RANGE_DAYS:
        raise ReportError("a report covers at most ten years (--from to --to)")
    filters = {}
    for key in FILTERS:
        if key in given:
            if not _ID.fullmatch(given[key]):
                raise ReportError(f"--{key} {given[key]!r} is not an identifier")
            filters[key] = given[key]
    return Params(
        start=start, end=end, tz=tz, week_start=config.week_start_index, today=today,
        filters=filters,
        by=_choice("by", given["by"], BY) if "by" in given else "month",
        per=_choice("per", given["per"], per) if "per" in given else (per[0] if per else None),
        order=_choice("order", given["order"], ORDERS) if "order" in given else "volume",
        limit=_int("limit", given["limit"], 1, 100_000) if "limit" in given else 20,
        days=_int("days", given["days"], 1, 3650) if "days" in given else config.churn_days,
        month=_month(given["month"]) if "month" in given else today.month,
        within_s=_within(given["within"]) if "within" in given
        else config.two_stations_within_s,
        max_step_km=config.odometer_max_step_km,
        given=tuple(sorted(given)), credit_due_days=config.credit_due_days)
