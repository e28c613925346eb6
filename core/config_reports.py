"""``[office_reports]``: the head office's report calendar, thresholds and schedule.

Reports count days, weeks and months in the office's own time zone (a network may
span zones; the office's accountants close the month in one). The thresholds are the
defaults of ``forecourt office report`` options; the schedule and mail settings drive
the scheduled reports (docs/reports.md).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import tzinfo

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class OfficeReportsConfig:
    """``[office_reports]``: calendar, thresholds, schedule and mail of office reports."""

    timezone: str = "UTC"
    week_start: str = "monday"
    #: ``exceptions``: one card at two stations within this time.
    two_stations_within: str = "20m"
    #: ``exceptions``: an odometer reading more than this above the vehicle's last one
    #: (at any station) is flagged as too far.
    odometer_max_step_km: int = 2000
    #: ``churn``: customers with no sale for this many days.
    churn_days: int = 90
    #: Accounts: a credit customer's charge is overdue this many days after its sale.
    credit_due_days: int = 30
    #: Scheduled reports: where they are written, which run daily (for the day before)
    #: and monthly (for the month before, on the 1st), at what local time.
    folder: str = "var/office/reports"
    daily: list[str] = field(default_factory=list)
    monthly: list[str] = field(default_factory=list)
    run_at: str = "06:00"
    #: Mail the scheduled reports (empty ``mail_to`` or ``smtp_host``: no mail).
    mail_to: list[str] = field(default_factory=list)
    mail_from: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password_file: str = ""

    def validate(self) -> None:
        from core.config import WEEKDAYS, parse_duration  # core.config imports this module

        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"[office_reports] timezone {self.timezone!r} is not a known "
                             "time zone") from None
        if self.week_start not in WEEKDAYS:
            raise ValueError(f"[office_reports] week_start must be one of {', '.join(WEEKDAYS)}")
        try:
            within = parse_duration(self.two_stations_within)
        except ValueError as exc:
            raise ValueError(f"[office_reports] two_stations_within {exc}") from None
        if not 60 <= within <= 7 * 86400:
            raise ValueError("[office_reports] two_stations_within must be 1m-7d")
        if not _HHMM.fullmatch(self.run_at):
            raise ValueError("[office_reports] run_at must be HH:MM (00:00-23:59)")
        for address in (*self.mail_to, *([self.mail_from] if self.mail_from else [])):
            if not _EMAIL.fullmatch(address):
                raise ValueError(f"[office_reports] {address!r} is not a mail address")
        if self.mail_to and self.smtp_host and not self.mail_from:
            raise ValueError("[office_reports] mail_from is needed to mail reports")
        if not 1 <= self.smtp_port <= 65535:
            raise ValueError("[office_reports] smtp_port must be 1-65535")

    @property
    def tz(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def week_start_index(self) -> int:
        """0 for Monday ... 6 for Sunday."""
        from core.config import WEEKDAYS

        return WEEKDAYS.index(self.week_start)

    @property
    def two_stations_within_s(self) -> int:
        from core.config import parse_duration

        return parse_duration(self.two_stations_within)
