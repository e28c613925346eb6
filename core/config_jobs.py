"""``[jobs]`` (the station daemon's scheduled work) and ``[office_jobs]`` (the office's).

Durations are written like every other (``90s``, ``15m``, ``24h``, ``400d``); times of
day as ``HH:MM`` in the side's time zone (``[station] timezone``). docs/operations.md,
"Scheduled jobs", says what each job does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
#: The shortest retention: the day reports of a month, the re-send window the office
#: may ask for after restoring a backup, and a margin for a station's clock.
MIN_RETENTION_S = 30 * 86400


def _seconds(section: str, key: str, text: str, *, low: int, high: int | None = None,
             off: bool = False) -> int:
    from core.config import parse_duration  # core.config imports this module

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"[{section}] {key} {exc}") from None
    if off and value == 0:
        return 0
    if value < low or (high is not None and value > high):
        from core.display import age

        span = f"at least {age(low)}" if high is None else f"{age(low)} to {age(high)}"
        raise ValueError(f"[{section}] {key} must be {'0s (off) or ' if off else ''}{span}, "
                         f"got {text!r}")
    return value


def _clock(section: str, key: str, text: str) -> None:
    if not _HHMM.fullmatch(text):
        raise ValueError(f"[{section}] {key} must be a time of day HH:MM (00:00-23:59), "
                         f"got {text!r}")


@dataclass(frozen=True, kw_only=True)
class JobsConfig:
    """``[jobs]``: what the station daemon does by itself, and when."""

    #: Delivered journal rows and finished authorizations older than this are deleted
    #: (never an undelivered sale, never an open authorization); "0s": kept for ever.
    retention: str = "400d"
    retention_at: str = "03:30"
    #: The card-data staleness alarm: raised when the data is stale (``[offline]``) or
    #: older than this ("": ``[offline] max_data_age``); checked this often.
    stale_alarm_after: str = ""
    stale_check_every: str = "1m"
    #: A card-data request the office has not answered is sent again this often.
    sync_retry_every: str = "5s"
    #: Offline this long and a stick labelled ``[flash] label`` mounted: export the
    #: undelivered sales onto it ("0s": never by itself); looked for this often.
    flash_export_after: str = "1h"
    flash_check_every: str = "1m"

    def validate(self) -> None:
        _seconds("jobs", "retention", self.retention, low=MIN_RETENTION_S, off=True)
        _clock("jobs", "retention_at", self.retention_at)
        if self.stale_alarm_after:
            _seconds("jobs", "stale_alarm_after", self.stale_alarm_after, low=60)
        _seconds("jobs", "stale_check_every", self.stale_check_every, low=5, high=3600)
        _seconds("jobs", "sync_retry_every", self.sync_retry_every, low=1, high=3600)
        _seconds("jobs", "flash_export_after", self.flash_export_after, low=60, off=True)
        _seconds("jobs", "flash_check_every", self.flash_check_every, low=5, high=3600)

    def seconds(self, key: str) -> int:
        """A duration key in seconds (``retention``, ``sync_retry_every``, ...)."""
        from core.config import parse_duration

        return parse_duration(getattr(self, key))


@dataclass(frozen=True, kw_only=True)
class OfficeJobsConfig:
    """``[office_jobs]``: what ``forecourt office serve`` does by itself, and when."""

    #: On the 1st of each month: every loyalty card's tier for the month, recorded and
    #: its last month's consumption sent to every station.
    tiers_at: str = "00:30"
    #: Every day: points of lots whose last day has passed are booked as expired.
    points_expiry_at: str = "00:45"

    def validate(self) -> None:
        _clock("office_jobs", "tiers_at", self.tiers_at)
        _clock("office_jobs", "points_expiry_at", self.points_expiry_at)
