"""The pricing engine: discounts, a voucher, litre wallets, points burned and earned.

One pure function, :func:`price_sale`, decides the money of a sale line for the
station (when the sale completes) and for the head office (when it ingests the sale
and recomputes it); :func:`preset_price` gives the price per litre the authorization
uses for its preset, so a discount lets a money limit or a wallet buy more litres.
Arithmetic is exact (:class:`fractions.Fraction` over integers) with the roundings
docs/pricing.md names, each once per sale line:

1. discounts: the best single applicable discount, plus every applicable stackable
   one in order, each on the list amount, never below zero; the net amount is
   rounded half up once;
2. a voucher pays on the discounted amount (a volume voucher: its litres' share);
3. litre wallets pay the litres left; points pay from the money left; money wallets
   and the account pay the rest (the caller allocates those);
4. points are earned on what was paid in money (never on a voucher or on points),
   rounded down once, then capped per day, week and month.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from math import ceil, floor
from typing import Protocol, TypeVar

from core.errors import ForecourtError
from core.formats.vouchers import VoucherBatch
from core.money import amount_for
from core.rules.conditions import Conditions, Facts, holds

PERCENT_SCALE = 10_000  # discount percentages are basis points: 500 = 5 %


class PricingError(ForecourtError):
    """The pricing engine was asked something it cannot price (a bug, not a customer's)."""

    code = "pricing_error"


@dataclass(frozen=True)
class Discount:
    """Money off a sale line: ``percent_bp`` of the list amount or ``per_litre`` minor units
    off each litre (exactly one is set)."""

    rule_id: str
    kind: str  # volume, tier, time, product, category, group (a label; conditions decide)
    conditions: Conditions
    percent_bp: int | None = None
    per_litre: int | None = None
    stackable: bool = False
    order: int = 0
    name: str = ""


@dataclass(frozen=True)
class EarnRule:
    """``points`` points per ``per`` ml (basis volume) or per ``per`` minor units (amount)."""

    rule_id: str
    basis: str  # volume | amount
    points: int
    per: int
    conditions: Conditions = field(default_factory=Conditions)
    stackable: bool = False
    order: int = 0


@dataclass(frozen=True)
class Multiplier:
    """Points earned are multiplied by ``percent`` / 100 (200 = double points)."""

    rule_id: str
    percent: int
    conditions: Conditions = field(default_factory=Conditions)
    stackable: bool = False
    order: int = 0


@dataclass(frozen=True)
class Tier:
    """A loyalty tier held for a calendar month when the previous month's volume of the
    card reached ``at_least_ml``; its points are multiplied by ``percent`` / 100."""

    name: str
    at_least_ml: int
    percent: int = 100


@dataclass(frozen=True)
class Cap:
    """At most ``points`` points earned per calendar ``period`` (day, week or month)."""

    period: str
    points: int


@dataclass(frozen=True)
class Loyalty:
    point_value: int  # minor units a point pays
    expiry_days: int  # each earning expires this many days after the day it was earned
    earn: tuple[EarnRule, ...] = ()
    multipliers: tuple[Multiplier, ...] = ()
    tiers: tuple[Tier, ...] = ()
    caps: tuple[Cap, ...] = ()


@dataclass(frozen=True)
class PricingRules:
    """One revision of the rule set, as the office publishes it and stations hold it."""

    revision: int = 0
    holidays: frozenset[date] = frozenset()
    discounts: tuple[Discount, ...] = ()
    loyalty: Loyalty | None = None
    #: The voucher batches stations accept.
    vouchers: tuple[VoucherBatch, ...] = ()

    def batches(self) -> dict[int, VoucherBatch]:
        """The voucher batches by batch number (the first six digits of a serial)."""
        return {b.number: b for b in self.vouchers}


@dataclass(frozen=True)
class Voucher:
    """The voucher presented with the sale (already verified as genuine and unused):
    for ``volume_ml`` of ``product``, or for ``amount`` (of ``product``, or of any)."""

    serial: str
    product: str | None
    volume_ml: int | None = None
    amount: int | None = None

    @classmethod
    def of(cls, batch: VoucherBatch, serial: str) -> Voucher:
        """Voucher ``serial`` as its batch describes it."""
        return cls(serial=serial, product=batch.product, volume_ml=batch.volume_ml,
                   amount=batch.amount)


@dataclass(frozen=True)
class Priced:
    """The money of one sale line. ``amount`` is what the fuel costs this customer (the
    journal line's amount, counted by money limits); the parts after it say who pays."""

    list_amount: int
    discounts: tuple[tuple[str, int], ...]  # (rule id, minor units), in the order applied
    amount: int
    voucher: str | None = None  # serial
    voucher_ml: int = 0
    voucher_value: int = 0
    wallet_ml: int = 0  # litres paid by litre wallets
    wallet_value: int = 0  # their share of the amount
    points_burned: int = 0
    points_value: int = 0
    money_due: int = 0  # for money wallets, then the account
    points_earned: int = 0
    tier: str | None = None
    earn_rules: tuple[str, ...] = ()  # earn rules and multipliers applied

    @property
    def discount(self) -> int:
        return self.list_amount - self.amount


class _Rule(Protocol):
    @property
    def rule_id(self) -> str: ...
    @property
    def stackable(self) -> bool: ...
    @property
    def order(self) -> int: ...


_R = TypeVar("_R", bound=_Rule)


def round_half_up(value: Fraction) -> int:
    """The one rounding of money (as core.money.amount_for): half a minor unit goes up."""
    if value < 0:
        raise PricingError("a negative amount cannot be rounded as money")
    return floor(value + Fraction(1, 2))


def tier_of(loyalty: Loyalty | None, last_month_volume_ml: int) -> str | None:
    """The tier a card holds this month: the highest whose threshold last month's volume
    reached (None below every tier, or without tiers)."""
    if loyalty is None:
        return None
    reached = [t for t in loyalty.tiers if last_month_volume_ml >= t.at_least_ml]
    return max(reached, key=lambda t: (t.at_least_ml, t.name)).name if reached else None


def _tier_percent(loyalty: Loyalty, tier: str | None) -> int:
    return next((t.percent for t in loyalty.tiers if t.name == tier), 100)


def _choose(rules: list[tuple[_R, Fraction]]) -> list[tuple[_R, Fraction]]:
    """The combination rule: the best single non-stackable rule (largest value; a tie
    goes to the lower ``order``, then the lower rule id), then every stackable rule by
    ``order`` and rule id."""
    single = [r for r in rules if not r[0].stackable]
    stack = sorted((r for r in rules if r[0].stackable), key=lambda r: (r[0].order, r[0].rule_id))
    if not single:
        return stack
    best = min(single, key=lambda r: (-r[1], r[0].order, r[0].rule_id))
    return [best, *stack]


def _discount_value(d: Discount, list_exact: Fraction, volume_ml: int) -> Fraction:
    if d.percent_bp is not None:
        return list_exact * d.percent_bp / PERCENT_SCALE
    assert d.per_litre is not None
    return Fraction(volume_ml * d.per_litre, 1000)


def _applied_discounts(rules: PricingRules, product: str, volume_ml: int | None, *,
                       measure_ml: int, unit_price: int, facts: Facts, tier: str | None
                       ) -> list[tuple[Discount, Fraction]]:
    """Discounts that apply, combined and capped at the list amount (last ones cut first)."""
    list_exact = Fraction(measure_ml * unit_price, 1000)
    found = [(d, _discount_value(d, list_exact, measure_ml)) for d in rules.discounts
             if holds(d.conditions, product=product, facts=facts, tier=tier,
                      holidays=rules.holidays, volume_ml=volume_ml)]
    out = []
    left = list_exact
    for d, value in _choose(found):
        take = min(value, left)
        left -= take
        if take > 0:
            out.append((d, take))
    return out


def preset_price(rules: PricingRules, product: str, unit_price: int, facts: Facts) -> int:
    """The customer's price per litre for the preset, rounded up (so the preset's amount
    is never below what the sale will cost): every discount that applies whatever the
    volume. Discounts for a minimum fill are left out; they can only lower the cost."""
    tier = tier_of(rules.loyalty, facts.last_month_volume_ml)
    applied = _applied_discounts(rules, product, None, measure_ml=1000, unit_price=unit_price,
                                 facts=facts, tier=tier)
    return ceil(Fraction(unit_price) - sum((v for _, v in applied), Fraction(0)))


def _apportion(total: int, weights: list[Fraction]) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights`` (largest remainder; a tie
    goes to the earlier one), so the parts add up to the total exactly."""
    whole = sum(weights, Fraction(0))
    if whole == 0:
        return [0] * len(weights)
    shares = [total * w / whole for w in weights]
    parts = [floor(s) for s in shares]
    rest = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def price_sale(rules: PricingRules, *, product: str, volume_ml: int, unit_price: int,
               facts: Facts, voucher: Voucher | None = None, points_asked: int = 0) -> Priced:
    """Price one sale line (see the module docstring and docs/pricing.md)."""
    if volume_ml < 0 or unit_price < 0 or points_asked < 0:
        raise PricingError("volume, price and points asked must not be negative")
    tier = tier_of(rules.loyalty, facts.last_month_volume_ml)
    list_amount = amount_for(volume_ml, unit_price)
    applied = _applied_discounts(rules, product, volume_ml, measure_ml=volume_ml,
                                 unit_price=unit_price, facts=facts, tier=tier)
    net = Fraction(volume_ml * unit_price, 1000) - sum((v for _, v in applied), Fraction(0))
    amount = round_half_up(net)
    parts = _apportion(list_amount - amount, [v for _, v in applied])
    discounts = tuple((d.rule_id, p) for (d, _), p in zip(applied, parts, strict=True))

    voucher_ml, voucher_value = _voucher(voucher, product, volume_ml, amount)
    unpaid_ml = volume_ml - voucher_ml
    if voucher is not None and voucher.amount is not None:
        unpaid_ml = (volume_ml * (amount - voucher_value)) // amount if amount else 0
    wallet_ml = min(facts.wallet_ml, unpaid_ml)
    left = amount - voucher_value
    if wallet_ml == unpaid_ml:
        wallet_value = left if wallet_ml else 0
    else:
        wallet_value = min(left, round_half_up(Fraction(amount * wallet_ml, volume_ml)))
    payable = left - wallet_value

    result = Priced(list_amount=list_amount, discounts=discounts, amount=amount,
                    voucher=voucher.serial if voucher else None, voucher_ml=voucher_ml,
                    voucher_value=voucher_value, wallet_ml=wallet_ml,
                    wallet_value=wallet_value, money_due=payable, tier=tier)
    loyalty = rules.loyalty
    if loyalty is None:
        return result
    burned = min(points_asked, max(facts.points_available, 0), payable // loyalty.point_value)
    points_value = burned * loyalty.point_value
    paid_money = amount - voucher_value - points_value
    earned, used = _earn(rules, loyalty, product, volume_ml=volume_ml, amount=amount,
                         paid_money=paid_money, facts=facts, tier=tier)
    return replace(result, points_burned=burned, points_value=points_value,
                   money_due=payable - points_value, points_earned=earned, earn_rules=used)


def _voucher(voucher: Voucher | None, product: str, volume_ml: int, amount: int
             ) -> tuple[int, int]:
    """(litres covered, value) of the voucher on this line: a volume voucher pays its
    litres' share of the discounted amount; an amount voucher pays up to its amount.
    What a single-use voucher does not cover on this sale is not kept."""
    if voucher is None:
        return 0, 0
    if voucher.product is not None and voucher.product != product:
        raise PricingError(f"voucher {voucher.serial} is for {voucher.product}, not {product}")
    if voucher.volume_ml is not None:
        covered = min(voucher.volume_ml, volume_ml)
        value = round_half_up(Fraction(amount * covered, volume_ml)) if volume_ml else 0
        return covered, value
    if voucher.amount is None:
        raise PricingError(f"voucher {voucher.serial} has neither a volume nor an amount")
    return 0, min(voucher.amount, amount)


def _earn(rules: PricingRules, loyalty: Loyalty, product: str, *, volume_ml: int, amount: int,
          paid_money: int, facts: Facts, tier: str | None) -> tuple[int, tuple[str, ...]]:
    """Points earned on the part paid in money: rules and multipliers combined like
    discounts, the tier's factor on top, rounded down once, then capped."""
    if paid_money <= 0 or amount <= 0:
        return 0, ()
    paid_ml = Fraction(volume_ml * paid_money, amount)

    def ok(cond: Conditions) -> bool:
        return holds(cond, product=product, facts=facts, tier=tier, holidays=rules.holidays,
                     volume_ml=volume_ml)

    earn = [(r, (paid_ml if r.basis == "volume" else Fraction(paid_money)) * r.points / r.per)
            for r in loyalty.earn if ok(r.conditions)]
    chosen = _choose(earn)
    if not chosen:
        return 0, ()
    base = sum((v for _, v in chosen), Fraction(0))
    mults = _choose([(m, Fraction(m.percent)) for m in loyalty.multipliers if ok(m.conditions)])
    factor = Fraction(100 + sum(m.percent - 100 for m, _ in mults), 100)
    factor = max(factor, Fraction(0)) * Fraction(_tier_percent(loyalty, tier), 100)
    earned = floor(base * factor)
    so_far = dict(facts.points_earned)
    for cap in loyalty.caps:
        earned = min(earned, max(cap.points - so_far.get(cap.period, 0), 0))
    return earned, tuple(r.rule_id for r, _ in chosen) + tuple(m.rule_id for m, _ in mults)
