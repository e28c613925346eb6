"""Shared plain-data fixtures for the authorization-engine tests (no database, no clock).

The base situation: station S-001 sells AI92 (50.90/l), AI95 (52.99/l) and DT
(63.50/l); it is Wednesday 2026-11-18 12:00 UTC; the card is an active magstripe
card with no restriction, so it may take any product up to ``max_fill_ml``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from core.money import amount_for
from core.reasons import Reason
from core.rules.authorization import (
    CardView,
    Context,
    Decision,
    Policy,
    Request,
    UsedSale,
)

PRICES = {"AI92": 5090, "AI95": 5299, "DT": 6350}
ALL = ("AI92", "AI95", "DT")
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday
TODAY = NOW.date()
MOSCOW = ZoneInfo("Europe/Moscow")
CTX = Context(now=NOW, station_id="S-001", prices=dict(PRICES))
CARD = CardView(card_id="7800001234567890", kind="magstripe")
REQ = Request(pump=1)
POLICY = Policy()
WEEKDAYS = frozenset(range(5))

#: Where each period began at NOW (UTC, weeks from Monday), and where the previous began.
STARTS = {
    "day": (datetime(2026, 11, 18, tzinfo=UTC), date(2026, 11, 17)),
    "week": (datetime(2026, 11, 16, tzinfo=UTC), date(2026, 11, 9)),
    "month": (datetime(2026, 11, 1, tzinfo=UTC), date(2026, 10, 1)),
    "year": (datetime(2026, 1, 1, tzinfo=UTC), date(2025, 1, 1)),
}
PERIODS = tuple(STARTS)


def card(**changes: object) -> CardView:
    return replace(CARD, **changes)  # type: ignore[arg-type]


def ctx(**changes: object) -> Context:
    return replace(CTX, **changes)  # type: ignore[arg-type]


def req(**changes: object) -> Request:
    return replace(REQ, **changes)  # type: ignore[arg-type]


def at(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sale(product: str, when: datetime, volume_ml: int, amount: int | None = None) -> UsedSale:
    return UsedSale(product, when, volume_ml,
                    amount_for(volume_ml, PRICES[product]) if amount is None else amount)


def assert_denied(decision: Decision, reason: Reason) -> None:
    assert decision.reason == reason
    assert decision.approved is False
    assert decision.products == ()
    assert decision.max_volume_ml == 0
    assert decision.max_amount == 0
    assert decision.hold_amount == 0
    assert decision.wallet_holds == {}


def assert_approved(decision: Decision, max_volume_ml: int,
                    products: tuple[str, ...] = ALL) -> None:
    assert decision.reason == Reason.APPROVED
    assert decision.approved is True
    assert decision.products == products
    assert decision.max_volume_ml == max_volume_ml


def assert_exact_money_cap(volume_ml: int, money_left: int, price: int) -> None:
    """``volume_ml`` is the largest volume whose amount fits in ``money_left``."""
    assert amount_for(volume_ml, price) <= money_left
    assert amount_for(volume_ml + 1, price) > money_left
