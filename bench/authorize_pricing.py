"""The pricing part of bench/authorize.py (``--pricing``): a realistic rule set and the
per-card loyalty data an office snapshot would bring, written straight into the station
tables :func:`offline_db.cards.import_snapshot` fills.

What: a pricing document with every kind of discount (product, group, category, a
tier/consumption one, a volume one, a time one; stackable and not), loyalty with three
earning rules, multipliers by time, card kind and birthday, three tiers and day, week
and month caps, and two voucher batches; per card (a share each) loyalty facts
(category, groups, birthday), points lots, points earned in the current periods and
last month's office usage (the tier); and a ``pricing`` field on the journal lines of
the last :data:`HISTORY_DAYS` days, priced by the real ``core.rules.pricing``.

Why: issue 13 made every authorization of a card build its pricing facts (month
usage, fills, points lots less pending burns, points earned) and compute preset
prices, and every completion price the sale; DESIGN.md section 7's first target must
hold with that in force, on data shaped like a station's that has run pricing a while.
The generation uses its own random stream, so the rest of the store is the very one
the default run (no ``--pricing``) generates.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.formats.journal import pricing_text
from core.formats.pricing import parse_pricing
from core.formats.pricing_line import line_doc
from core.formats.vouchers import parse_batch
from core.periods import period_start_date
from core.rules.conditions import Facts
from core.rules.pricing import PricingRules, price_sale
from core.vouchers import code_for
from offline_db.cards import set_pricing

#: Journal lines of the last this many days carry a ``pricing`` field.
HISTORY_DAYS = 75
LOYALTY_SHARE = 0.6  # cards with loyalty facts (category, groups, birthday)
POINTS_SHARE = 0.4  # cards with points lots
EARNED_SHARE = 0.3  # cards with office points earned in the current periods
HISTORY_POINTS_SHARE = 0.05  # history sales that paid with points
ASK_POINTS_SHARE = 0.1  # measured authorizations that ask to pay with all points
VOUCHER_SHARE = 0.02  # measured authorizations that present a voucher with the card
VOUCHER_KEY = "5a" * 32
CATEGORIES = ("standard", "standard", "standard", "vip", "fleet")


def document(now: datetime) -> dict[str, Any]:
    """The pricing document (docs/pricing.md): every kind of discount, full loyalty,
    two voucher batches valid around ``now``."""
    valid_from = (now - timedelta(days=365)).strftime("%Y-%m-%dT00:00:00Z")
    valid_until = (now + timedelta(days=365)).strftime("%Y-%m-%dT00:00:00Z")
    night = {"from": "22:00", "to": "06:00"}
    return {
        "revision": 7,
        "holidays": [f"{now.year}-12-31", f"{now.year + 1}-01-01"],
        "discounts": [
            {"rule_id": "D-DT", "kind": "product", "percent_bp": 300,
             "when": {"products": ["DT"]}},
            {"rule_id": "D-FLEET", "kind": "group", "percent_bp": 400,
             "when": {"groups": ["G-FLEET"]}},
            {"rule_id": "D-VIP", "kind": "category", "per_litre": 150,
             "when": {"categories": ["vip"]}},
            {"rule_id": "D-HEAVY", "kind": "tier", "percent_bp": 200, "stackable": True,
             "order": 1, "when": {"consumption": {"month": "last", "unit": "volume",
                                                  "at_least": 300_000}}},
            {"rule_id": "D-BULK", "kind": "volume", "per_litre": 100, "stackable": True,
             "order": 2, "when": {"min_fill_ml": 40_000}},
            {"rule_id": "D-NIGHT", "kind": "time", "per_litre": 50, "stackable": True,
             "order": 3, "when": {"hours": night}},
        ],
        "loyalty": {
            "point_value": 100, "expiry_days": 365,
            "earn": [
                {"rule_id": "E-LITRE", "basis": "volume", "points": 1, "per": 1000},
                {"rule_id": "E-MONEY", "basis": "amount", "points": 1, "per": 10_000,
                 "stackable": True, "order": 1},
                {"rule_id": "E-DT", "basis": "volume", "points": 1, "per": 2000,
                 "stackable": True, "order": 2, "when": {"products": ["DT"]}},
            ],
            "multipliers": [
                {"rule_id": "M-NIGHT", "percent": 200, "when": {"hours": night}},
                {"rule_id": "M-WEEKEND", "percent": 150, "stackable": True, "order": 1,
                 "when": {"days": ["sat", "sun"]}},
                {"rule_id": "M-DIGITAL", "percent": 120, "stackable": True, "order": 2,
                 "when": {"card_kinds": ["digital"]}},
                {"rule_id": "M-BIRTHDAY", "percent": 300, "when": {"birthday_days": 3}},
            ],
            "tiers": [{"name": "silver", "at_least_ml": 100_000, "percent": 110},
                      {"name": "gold", "at_least_ml": 300_000, "percent": 125},
                      {"name": "platinum", "at_least_ml": 800_000, "percent": 150}],
            "caps": [{"period": "day", "points": 200}, {"period": "week", "points": 800},
                     {"period": "month", "points": 2500}],
        },
        "vouchers": [
            {"batch_id": "VB000101", "number": 101, "count": 999_999, "product": "DT",
             "volume_ml": 20_000, "valid_from": valid_from, "valid_until": valid_until,
             "key": VOUCHER_KEY},
            {"batch_id": "VB000102", "number": 102, "count": 999_999, "amount": 50_000,
             "valid_from": valid_from, "valid_until": valid_until, "key": VOUCHER_KEY},
        ],
    }


def loyalty_rules(rng: random.Random, group: str) -> dict[str, Any] | None:
    """A card's ``loyalty`` facts (the ``rules`` JSON key import_snapshot keeps them in),
    or None for a card without them."""
    if rng.random() >= LOYALTY_SHARE:
        return None
    month, day = rng.randrange(1, 13), rng.randrange(1, 29)
    return {"category": rng.choice(CATEGORIES), "groups": [group],
            "birthday": f"{month:02d}-{day:02d}"}


def card_rows(rng: random.Random, card_id: str, today: date, last_month_product: str,
              last_month_price: int, with_usage: bool) -> tuple[list[tuple[Any, ...]], ...]:
    """(card_points, card_points_earned, card_usage) rows of one card: points lots,
    points earned in the current day/week/month, and last month's office usage (the
    tier) for a card that has this month's."""
    lots: list[tuple[Any, ...]] = []
    earned: list[tuple[Any, ...]] = []
    usage: list[tuple[Any, ...]] = []
    if rng.random() < POINTS_SHARE:
        for expires in sorted(rng.sample(range(5, 366), rng.randrange(1, 4))):
            lots.append((card_id, (today + timedelta(days=expires)).isoformat(),
                         rng.randrange(20, 3001)))
    if rng.random() < EARNED_SHARE:
        month = rng.randrange(10, 1500)
        week = rng.randrange(0, min(month, 600) + 1)
        day = rng.randrange(0, min(week, 150) + 1)
        for period, points in (("day", day), ("week", week), ("month", month)):
            earned.append((card_id, period, period_start_date(period, today).isoformat(),
                           points))
    if with_usage:
        last = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        volume = rng.randrange(30_000, 1_200_001, 100)
        usage.append((card_id, "month", last.isoformat(), last_month_product, volume,
                      volume * last_month_price // 1000, rng.randrange(1, 30)))
    return lots, earned, usage


class HistoryPricer:
    """The ``pricing`` field (and amount) of a history sale, by the real engine.

    Facts are those of a daytime weekday sale of a fleet card (a constant basis: the
    figures depend on product, volume and points asked only), so results are cached
    and 10,000,000 rows cost a few thousand engine calls.
    """

    def __init__(self, doc: dict[str, Any], station_id: str) -> None:
        self.rules: PricingRules = parse_pricing(doc)
        self.facts = Facts(local=datetime(2026, 11, 4, 12, 0, tzinfo=UTC),
                           station_id=station_id, card_kind="magstripe",
                           groups=frozenset({"G-FLEET"}), points_available=10**6)
        self._cache: dict[tuple[str, int, int, int], tuple[int, str]] = {}

    def __call__(self, product: str, volume_ml: int, unit_price: int,
                 points_asked: int) -> tuple[int, str]:
        """(amount, pricing JSON text) of the sale."""
        key = (product, volume_ml, unit_price, points_asked)
        hit = self._cache.get(key)
        if hit is None:
            priced = price_sale(self.rules, product=product, volume_ml=volume_ml,
                                unit_price=unit_price, facts=self.facts,
                                points_asked=points_asked)
            hit = (priced.amount, pricing_text(line_doc(self.rules.revision, priced,
                                                        points_asked, self.facts)))
            self._cache[key] = hit
        return hit


def install_document(conn: sqlite3.Connection, doc: dict[str, Any]) -> None:
    """Keep the document where import_snapshot does (``sync_state`` key ``pricing``)."""
    set_pricing(conn, doc)


class Vouchers:
    """Fresh voucher codes of the document's batches, each used once: numbered on from
    the highest serial the store has seen (``--reuse`` measures a store again)."""

    def __init__(self, doc: dict[str, Any], conn: sqlite3.Connection) -> None:
        self.batches = [parse_batch(raw, "batch") for raw in doc["vouchers"]]
        self.next = int(conn.execute(
            "SELECT COALESCE(MAX(CAST(substr(voucher_serial, 7) AS INTEGER)), 0) "
            "FROM authorizations WHERE voucher_serial IS NOT NULL").fetchone()[0])

    def take(self) -> str:
        self.next += 1
        return code_for(self.batches[self.next % 2], self.next)


def points_of(conn: sqlite3.Connection) -> Sequence[int]:
    """(cards with loyalty, lots, earned rows, history lines priced), for the report."""
    return tuple(int(conn.execute(sql).fetchone()[0]) for sql in (
        "SELECT COUNT(*) FROM cards WHERE json_extract(rules, '$.loyalty') IS NOT NULL",
        "SELECT COUNT(*) FROM card_points", "SELECT COUNT(*) FROM card_points_earned",
        "SELECT COUNT(*) FROM journal WHERE pricing IS NOT NULL"))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
