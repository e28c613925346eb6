"""The pricing document (``pricing`` in the card store): discounts, loyalty, vouchers.

The head office publishes one revision of its rule set to every station inside the
card store (snapshot key ``pricing``, delta op ``pricing``), signed with the rest.
Parsing is strict, like the rest of the card store (core.formats.snapshot): an
unknown key, a float, a discount with two values or a rule whose kind lacks its
condition is a :class:`~core.errors.CardStoreFormatError` naming the exact place.
Every field is documented in docs/pricing.md.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from core import bounds as B
from core.cards import CARD_KINDS
from core.errors import CardStoreFormatError
from core.formats.snapshot import DAYS, POINTS_PERIODS, JsonObject, parse_hhmm
from core.formats.vouchers import parse_batch
from core.rules.conditions import MONTHS, UNITS, Conditions, Consumption
from core.rules.pricing import (
    PERCENT_SCALE,
    Cap,
    Discount,
    EarnRule,
    Loyalty,
    Multiplier,
    PricingRules,
    Tier,
)

DISCOUNT_KINDS = ("volume", "tier", "time", "product", "category", "group")
#: The condition each kind of discount must carry (its reason to exist).
KIND_NEEDS = {"volume": ("min_fill_ml",), "tier": ("consumption",),
              "time": ("days", "hours", "holidays"), "product": ("products",),
              "category": ("categories",), "group": ("groups",)}
MAX_PERCENT = 100 * 100  # a multiplier of at most 100x
MAX_POINTS = 10**12
_RULE_ID = r"[A-Za-z0-9_.-]{1,40}"
_WHEN = {"products", "stations", "station_groups", "valid_from", "valid_until", "days",
         "hours", "holidays", "card_kinds", "categories", "groups", "tiers", "min_fill_ml",
         "consumption", "birthday_days", "min_fills"}


def parse_pricing(raw: Any, where: str = "pricing") -> PricingRules:
    """The pricing document as :class:`PricingRules` (an empty one when ``raw`` is None)."""
    if raw is None:
        return PricingRules()
    top = JsonObject(raw, where, {"revision", "holidays", "discounts", "loyalty", "vouchers"})
    holidays = frozenset(_date(f"{where}.holidays[{i}]", item)
                         for i, item in enumerate(top.get_list("holidays")))
    discounts = tuple(_discount(item, f"{where}.discounts[{i}]")
                      for i, item in enumerate(top.get_list("discounts")))
    _unique([d.rule_id for d in discounts], f"{where}.discounts")
    loyalty = None if top.raw.get("loyalty") is None else _loyalty(top.raw["loyalty"],
                                                                   f"{where}.loyalty")
    batches = tuple(parse_batch(item, f"{where}.vouchers[{i}]")
                    for i, item in enumerate(top.get_list("vouchers")))
    _unique([str(b.number) for b in batches], f"{where}.vouchers (batch numbers)")
    return PricingRules(revision=top.get_int("revision", maximum=B.MAX_VERSION,
                                             what="the pricing revision"),
                        holidays=holidays, discounts=discounts, loyalty=loyalty,
                        vouchers=batches)


def parse_pricing_text(text: str | bytes) -> PricingRules:
    """The pricing document stored as JSON text (the station keeps it so)."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise CardStoreFormatError(f"the pricing document is not valid JSON: {exc}") from None
    return parse_pricing(raw)


def _unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for rule_id in ids:
        if rule_id in seen:
            raise CardStoreFormatError(f"{where}: {rule_id!r} appears twice")
        seen.add(rule_id)


def _date(where: str, value: Any) -> date:
    if not isinstance(value, str):
        raise CardStoreFormatError(f"{where} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CardStoreFormatError(f"{where} must be a date YYYY-MM-DD, got {value!r:.40}"
                                   ) from None


def _ordering(obj: JsonObject) -> dict[str, Any]:
    return {"stackable": obj.get_bool("stackable"),
            "order": obj.get_int("order", default=0, maximum=B.MAX_COUNT, what="an order")}


def _discount(item: Any, where: str) -> Discount:
    obj = JsonObject(item, where, {"rule_id", "name", "kind", "percent_bp", "per_litre",
                                   "stackable", "order", "when"})
    kind = obj.choice("kind", DISCOUNT_KINDS)
    has = [k for k in ("percent_bp", "per_litre") if obj.raw.get(k) is not None]
    if len(has) != 1:
        raise CardStoreFormatError(f"{where} must have exactly one of percent_bp and per_litre")
    value = obj.get_int(has[0], minimum=1, maximum=PERCENT_SCALE if has[0] == "percent_bp"
                        else B.MAX_UNIT_PRICE,
                        what="basis points" if has[0] == "percent_bp" else "minor units a litre")
    cond = _conditions(obj.raw.get("when"), f"{where}.when")
    needs = KIND_NEEDS[kind]
    if not any(_set(cond, k) for k in needs):
        raise CardStoreFormatError(f"{where}: a {kind} discount needs "
                                   f"{' or '.join('when.' + k for k in needs)}")
    ordering = _ordering(obj)
    return Discount(rule_id=obj.req_str("rule_id", pattern=_RULE_ID), kind=kind,
                    conditions=cond, name=obj.get_str("name", required=False) or "",
                    percent_bp=value if has[0] == "percent_bp" else None,
                    per_litre=value if has[0] == "per_litre" else None,
                    stackable=ordering["stackable"], order=ordering["order"])


def _set(cond: Conditions, key: str) -> bool:
    value = getattr(cond, key)
    return value is not None and value is not False


def _loyalty(raw: Any, where: str) -> Loyalty:
    obj = JsonObject(raw, where, {"point_value", "expiry_days", "earn", "multipliers", "tiers",
                                  "caps"})
    earn = []
    for i, item in enumerate(obj.get_list("earn")):
        e = JsonObject(item, f"{where}.earn[{i}]", {"rule_id", "basis", "points", "per",
                                                    "stackable", "order", "when"})
        earn.append(EarnRule(rule_id=e.req_str("rule_id", pattern=_RULE_ID),
                             basis=e.choice("basis", ("volume", "amount")),
                             points=e.get_int("points", minimum=1, maximum=MAX_POINTS,
                                              what="points"),
                             per=e.get_int("per", minimum=1, maximum=B.MAX_AMOUNT,
                                           what="ml or minor units"),
                             conditions=_conditions(e.raw.get("when"), f"{where}.earn[{i}].when"),
                             **_ordering(e)))
    mults = []
    for i, item in enumerate(obj.get_list("multipliers")):
        m = JsonObject(item, f"{where}.multipliers[{i}]", {"rule_id", "percent", "stackable",
                                                           "order", "when"})
        mults.append(Multiplier(rule_id=m.req_str("rule_id", pattern=_RULE_ID),
                                percent=m.get_int("percent", maximum=MAX_PERCENT,
                                                  what="percent"),
                                conditions=_conditions(m.raw.get("when"),
                                                       f"{where}.multipliers[{i}].when"),
                                **_ordering(m)))
    _unique([r.rule_id for r in earn] + [m.rule_id for m in mults], f"{where} rule ids")
    tiers = []
    for i, item in enumerate(obj.get_list("tiers")):
        t = JsonObject(item, f"{where}.tiers[{i}]", {"name", "at_least_ml", "percent"})
        tiers.append(Tier(name=t.req_str("name", pattern=_RULE_ID),
                          at_least_ml=t.get_int("at_least_ml", maximum=B.MAX_VOLUME_ML,
                                                what="ml"),
                          percent=t.get_int("percent", default=100, maximum=MAX_PERCENT,
                                            what="percent")))
    _unique([t.name for t in tiers], f"{where}.tiers")
    _unique([str(t.at_least_ml) for t in tiers], f"{where}.tiers (thresholds)")
    caps = []
    for i, item in enumerate(obj.get_list("caps")):
        c = JsonObject(item, f"{where}.caps[{i}]", {"period", "points"})
        caps.append(Cap(period=c.choice("period", POINTS_PERIODS),
                        points=c.get_int("points", maximum=MAX_POINTS, what="points")))
    _unique([c.period for c in caps], f"{where}.caps")
    return Loyalty(point_value=obj.get_int("point_value", minimum=1, maximum=B.MAX_AMOUNT,
                                           what="minor units a point"),
                   expiry_days=obj.get_int("expiry_days", minimum=1, maximum=36_600,
                                           what="days"),
                   earn=tuple(earn), multipliers=tuple(mults), tiers=tuple(tiers),
                   caps=tuple(caps))


def _conditions(raw: Any, where: str) -> Conditions:
    if raw is None:
        return Conditions()
    obj = JsonObject(raw, where, _WHEN)

    def names(key: str) -> frozenset[str] | None:
        items = obj.str_list(key)
        return None if items is None else frozenset(items)

    days = obj.str_list("days")
    for i, day in enumerate(days or ()):
        if day not in DAYS:
            raise CardStoreFormatError(f"{where}.days[{i}] must be one of {', '.join(DAYS)}")
    hours = None
    if obj.raw.get("hours") is not None:
        h = JsonObject(obj.raw["hours"], f"{where}.hours", {"from", "to"})
        start, end = parse_hhmm(h, "from"), parse_hhmm(h, "to")
        if start == end:
            raise CardStoreFormatError(f"{where}.hours: from and to are the same time")
        hours = (start, end)
    kinds = names("card_kinds")
    if kinds is not None and not kinds <= set(CARD_KINDS):
        raise CardStoreFormatError(f"{where}.card_kinds must be among {', '.join(CARD_KINDS)}")
    consumption = None
    if obj.raw.get("consumption") is not None:
        c = JsonObject(obj.raw["consumption"], f"{where}.consumption",
                       {"month", "unit", "at_least"})
        unit = c.choice("unit", UNITS)
        consumption = Consumption(
            month=c.choice("month", MONTHS), unit=unit,
            at_least=c.get_int("at_least", maximum=B.MAX_VOLUME_ML if unit == "volume"
                               else B.MAX_AMOUNT, what="ml" if unit == "volume"
                               else "minor units"))
    valid_from, valid_until = obj.get_date("valid_from"), obj.get_date("valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        raise CardStoreFormatError(f"{where}.valid_until is before valid_from")

    def count(key: str, maximum: int, what: str) -> int | None:
        return None if obj.raw.get(key) is None else obj.get_int(key, maximum=maximum,
                                                                 what=what)

    return Conditions(
        products=names("products"), stations=names("stations"),
        station_groups=names("station_groups"),
        valid_from=date.fromisoformat(valid_from) if valid_from else None,
        valid_until=date.fromisoformat(valid_until) if valid_until else None,
        days=None if days is None else frozenset(DAYS.index(d) for d in days),
        hours=hours, holidays=obj.get_bool("holidays"), card_kinds=kinds,
        categories=names("categories"), groups=names("groups"), tiers=names("tiers"),
        min_fill_ml=count("min_fill_ml", B.MAX_VOLUME_ML, "ml"), consumption=consumption,
        birthday_days=count("birthday_days", 183, "days"),
        min_fills=count("min_fills", B.MAX_COUNT, "fills"))
