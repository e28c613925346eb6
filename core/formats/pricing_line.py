"""The ``pricing`` field of a journal line: what was priced, how, and from what.

A sale priced by the rules (docs/pricing.md) carries one JSON object: the rule-set
revision, the list amount, each discount, the voucher, litres paid by litre wallets,
points burned and earned, and ``basis``, the facts the station priced from. The head
office rebuilds the same inputs from it (:func:`parse_line`) and prices the sale
again with the same code; any difference is flagged. Station and office use these
functions and nothing else to write and read the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import bounds as B
from core.errors import CardStoreFormatError
from core.formats.snapshot import BIRTHDAY, POINTS_PERIODS, JsonObject, month_day
from core.rules.conditions import Facts
from core.rules.pricing import Priced

_INTS = ("list_amount", "voucher_ml", "voucher_value", "wallet_ml", "wallet_value",
         "points_asked", "points_burned", "points_value", "money_due", "points_earned")
_BASIS_INTS = ("month_volume_ml", "month_amount", "last_month_volume_ml", "last_month_amount",
               "fills_this_month", "points_available", "wallet_ml")


@dataclass(frozen=True)
class PricingLine:
    """A journal line's ``pricing`` field, read back."""

    revision: int
    priced: Priced
    points_asked: int
    basis: Facts


def basis_doc(facts: Facts) -> dict[str, Any]:
    """``facts`` as JSON (the station id is the line's own ``station_id``)."""
    doc: dict[str, Any] = {
        "local": facts.local.isoformat(), "card_kind": facts.card_kind,
        "station_groups": sorted(facts.station_groups), "groups": sorted(facts.groups),
        "points_earned": dict(sorted(facts.points_earned)),
        **{k: getattr(facts, k) for k in _BASIS_INTS}}
    if facts.category is not None:
        doc["category"] = facts.category
    if facts.birthday is not None:
        doc["birthday"] = f"{facts.birthday[0]:02d}-{facts.birthday[1]:02d}"
    return doc


def line_doc(revision: int, priced: Priced, points_asked: int, facts: Facts) -> dict[str, Any]:
    """The ``pricing`` field for a sale priced as ``priced`` from ``facts``."""
    doc: dict[str, Any] = {"revision": revision,
                           "discounts": [[rule, value] for rule, value in priced.discounts],
                           "earn_rules": list(priced.earn_rules), "basis": basis_doc(facts),
                           "points_asked": points_asked,
                           **{k: getattr(priced, k) for k in _INTS if k != "points_asked"}}
    if priced.voucher is not None:
        doc["voucher"] = priced.voucher
    if priced.tier is not None:
        doc["tier"] = priced.tier
    return doc


def parse_line(raw: Any, *, station_id: str, amount: int, where: str = "pricing"
               ) -> PricingLine:
    """Read a journal line's ``pricing`` field; ``amount`` is the line's own amount."""
    obj = JsonObject(raw, where, {"revision", "discounts", "earn_rules", "basis", "voucher",
                                  "tier", "amount", *_INTS})
    ints = {k: obj.get_int(k, maximum=B.MAX_AMOUNT if k != "points_asked" else B.MAX_SAFE_INT,
                           what="a whole number") for k in _INTS}
    discounts = []
    for i, item in enumerate(obj.get_list("discounts")):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and not isinstance(item[1], bool)
                and 0 <= item[1] <= B.MAX_AMOUNT):
            raise CardStoreFormatError(f"{where}.discounts[{i}] must be [rule id, minor units]")
        discounts.append((item[0], item[1]))
    earn_rules = obj.str_list("earn_rules") or []
    priced = Priced(list_amount=ints["list_amount"], discounts=tuple(discounts), amount=amount,
                    voucher=obj.get_str("voucher", required=False),
                    voucher_ml=ints["voucher_ml"], voucher_value=ints["voucher_value"],
                    wallet_ml=ints["wallet_ml"], wallet_value=ints["wallet_value"],
                    points_burned=ints["points_burned"], points_value=ints["points_value"],
                    money_due=ints["money_due"], points_earned=ints["points_earned"],
                    tier=obj.get_str("tier", required=False), earn_rules=tuple(earn_rules))
    return PricingLine(revision=obj.get_int("revision", maximum=B.MAX_VERSION,
                                            what="the pricing revision"),
                       priced=priced, points_asked=ints["points_asked"],
                       basis=parse_basis(obj.raw.get("basis"), station_id, f"{where}.basis"))


def parse_basis(raw: Any, station_id: str, where: str = "basis") -> Facts:
    obj = JsonObject(raw, where, {"local", "card_kind", "station_groups", "groups",
                                  "points_earned", "category", "birthday", *_BASIS_INTS})
    text = obj.req_str("local")
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise CardStoreFormatError(f"{where}.local must be an ISO 8601 local time") from None
    if local.tzinfo is None:
        raise CardStoreFormatError(f"{where}.local must carry its UTC offset")
    earned_raw = obj.raw.get("points_earned", {})
    earned = JsonObject(earned_raw, f"{where}.points_earned", set(POINTS_PERIODS))
    birthday = obj.get_str("birthday", required=False, pattern=BIRTHDAY)
    return Facts(
        local=local, station_id=station_id, card_kind=obj.req_str("card_kind"),
        station_groups=frozenset(obj.str_list("station_groups") or ()),
        groups=frozenset(obj.str_list("groups") or ()),
        category=obj.get_str("category", required=False),
        birthday=None if birthday is None else month_day(birthday),
        points_earned=tuple(sorted((p, earned.get_int(p, maximum=B.MAX_SAFE_INT,
                                                      what="points"))
                                   for p in POINTS_PERIODS if p in earned.raw)),
        **{k: obj.get_int(k, maximum=B.MAX_AMOUNT, what="a whole number")
           for k in _BASIS_INTS})
