"""How fresh the station's card data is, whatever its timestamps claim (DESIGN invariant 6).

Card data carries the office's own times: a snapshot's ``generated_at`` and
``expires_at``, a ``cards`` message's ``expires_at``, a flash reply's creation time.
None of them may keep the data fresh for longer than ``[offline] max_data_age`` by
the station's own clock:

- a ``generated_at`` further ahead of the station's clock than ``[offline]
  max_clock_skew`` is refused (one of the two clocks is wrong); within the
  allowance the data counts as made *now* (:func:`fresh_as_of`), never later;
- a snapshot whose ``expires_at`` has passed is refused on import; once the
  ``expires_at`` of the data in the store passes, the data is stale;
- a freshness mark in the store that lies ahead of the clock by more than the
  allowance (the station's clock was set back) is not trusted: the data is stale.

Every check here is pure; the callers pass the station's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import CardStoreTimeError
from core.timefmt import iso


def _show(ts: datetime) -> str:
    return iso(ts).replace(".000000", "")


def parse_time(value: object, what: str) -> datetime:
    """An ISO 8601 time with a UTC offset, or :class:`CardStoreTimeError` naming ``what``."""
    if not isinstance(value, str):
        raise CardStoreTimeError(f"{what} must be an ISO 8601 time with a UTC offset")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise CardStoreTimeError(f"{what} must be an ISO 8601 time, got {value[:40]!r}") from None
    if ts.tzinfo is None:
        raise CardStoreTimeError(f"{what} must include a UTC offset, e.g. Z")
    return ts.astimezone(UTC)


def check_generated_at(generated_at: datetime | None, *, now: datetime, skew_s: int,
                       what: str = "generated_at") -> None:
    """Refuse data claiming to be made further ahead of the station's clock than allowed."""
    if generated_at is not None and generated_at > now + timedelta(seconds=skew_s):
        raise CardStoreTimeError(
            f"{what} {_show(generated_at)} lies ahead of the station's clock "
            f"({_show(now)}) by more than [offline] max_clock_skew ({skew_s} s): "
            "check the clocks of the head office and the station; nothing changed")


def check_expires_at(expires_at: datetime | None, *, now: datetime,
                     generated_at: datetime | None = None, what: str = "expires_at") -> None:
    """Refuse data whose expiry has passed (or lies before the moment it was made)."""
    if expires_at is None:
        return
    if generated_at is not None and expires_at <= generated_at:
        raise CardStoreTimeError(f"{what} {_show(expires_at)} is not after generated_at "
                                 f"{_show(generated_at)}; nothing changed")
    if expires_at <= now:
        raise CardStoreTimeError(
            f"{what} {_show(expires_at)} has passed (station clock {_show(now)}): the head "
            "office no longer vouches for this card data; nothing changed")


def check_snapshot_times(generated_at: datetime | None, expires_at: datetime | None, *,
                         now: datetime, skew_s: int) -> None:
    """Both checks a snapshot (file, MQTT or flash) passes before it is imported."""
    check_generated_at(generated_at, now=now, skew_s=skew_s)
    check_expires_at(expires_at, now=now, generated_at=generated_at)


def fresh_as_of(claimed: datetime | None, now: datetime) -> datetime:
    """The moment data counts as fresh from: what it claims, but never after ``now``."""
    return now if claimed is None else min(claimed, now)


def trusted_mark(mark: datetime | None, *, now: datetime, skew_s: int) -> datetime | None:
    """A stored freshness mark, clamped to ``now``; None when it lies beyond the skew."""
    if mark is None or mark > now + timedelta(seconds=skew_s):
        return None
    return min(mark, now)


@dataclass(frozen=True)
class Freshness:
    """The card data's age by the station's clock and whether it must count as stale."""

    #: Seconds since the data was confirmed fresh; None when never loaded or untrustworthy.
    age_s: int | None
    #: Why the data is stale: ``never_loaded``, ``clock`` (the mark lies ahead of the
    #: clock), ``expired`` (its ``expires_at`` passed), ``age``; None when fresh.
    stale_reason: str | None

    @property
    def stale(self) -> bool:
        return self.stale_reason is not None


def assess(confirmed_at: datetime | None, expires_at: datetime | None, *, now: datetime,
           max_age_s: int, skew_s: int) -> Freshness:
    """How fresh the data is at ``now``: one rule for authorization and status alike."""
    if confirmed_at is None:
        return Freshness(None, "never_loaded")
    mark = trusted_mark(confirmed_at, now=now, skew_s=skew_s)
    if mark is None:
        return Freshness(None, "clock")
    age = int((now - mark).total_seconds())
    if expires_at is not None and now >= expires_at:
        return Freshness(age, "expired")
    return Freshness(age, "age" if age > max_age_s else None)
