"""The pricing engine: the combination rule's worked examples (docs/pricing.md) and its
invariants over random rule sets and sales (Hypothesis)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.formats.pricing import parse_pricing
from core.formats.pricing_line import line_doc, parse_line
from core.money import amount_for
from core.rules.conditions import Facts
from core.rules.pricing import PricingError, PricingRules, Voucher, preset_price, price_sale

MSK = ZoneInfo("Europe/Moscow")
NIGHT = {"hours": {"from": "22:00", "to": "06:00"}}
EXAMPLE: dict[str, Any] = {
    "revision": 3,
    "discounts": [
        {"rule_id": "D-VIP", "kind": "group", "percent_bp": 500, "when": {"groups": ["G-VIP"]}},
        {"rule_id": "D-NIGHT", "kind": "time", "per_litre": 200, "when": NIGHT},
        {"rule_id": "D-VOL", "kind": "volume", "percent_bp": 300,
         "when": {"min_fill_ml": 30000}},
    ],
    "loyalty": {"point_value": 100, "expiry_days": 365,
                "earn": [{"rule_id": "P-LITRE", "basis": "volume", "points": 1, "per": 1000}],
                "multipliers": [{"rule_id": "M-NIGHT", "percent": 200, "when": NIGHT}],
                "tiers": [{"name": "silver", "at_least_ml": 100000, "percent": 120},
                          {"name": "gold", "at_least_ml": 500000, "percent": 150}],
                "caps": [{"period": "day", "points": 100}]},
}


def facts(hour: int = 12, **kw: object) -> Facts:
    base: dict[str, object] = {"local": datetime(2026, 12, 5, hour, 0, tzinfo=MSK),
                               "station_id": "S1"}
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def rules(**changes: object) -> PricingRules:
    return parse_pricing({**EXAMPLE, **changes})


def test_the_best_single_discount_wins() -> None:
    # 40 l at 50.00: VIP 5 % = 100.00, night 2.00 a litre = 80.00, volume 3 % = 60.00.
    p = price_sale(rules(), product="AI95", volume_ml=40000, unit_price=5000,
                   facts=facts(23, groups=frozenset({"G-VIP"})))
    assert (p.list_amount, p.amount, p.discounts) == (200000, 190000, (("D-VIP", 10000),))


def test_stackable_rules_add_in_order_on_the_list_amount() -> None:
    doc = {**EXAMPLE, "discounts": [
        {**EXAMPLE["discounts"][0]},
        {**EXAMPLE["discounts"][1], "stackable": True, "order": 2},
        {**EXAMPLE["discounts"][2], "stackable": True, "order": 1}]}
    p = price_sale(parse_pricing(doc), product="AI95", volume_ml=40000, unit_price=5000,
                   facts=facts(23, groups=frozenset({"G-VIP"})))
    assert p.discounts == (("D-VIP", 10000), ("D-VOL", 6000), ("D-NIGHT", 8000))
    assert p.amount == 176000


def test_one_rounding_per_line_and_the_parts_add_up() -> None:
    # 33.333 l at 49.99 = 1666.31667 -> list 1666.32; 5 % off the exact amount:
    # 1583.00083 -> 1583.00; the discount shown is the difference, 83.32.
    p = price_sale(rules(), product="AI95", volume_ml=33333, unit_price=4999,
                   facts=facts(groups=frozenset({"G-VIP"})))
    assert (p.list_amount, p.amount, p.discounts) == (166632, 158300, (("D-VIP", 8332),))


def test_discounts_never_go_below_zero_the_last_is_cut() -> None:
    doc = {"revision": 1, "discounts": [
        {"rule_id": "A", "kind": "product", "per_litre": 3000, "stackable": True, "order": 1,
         "when": {"products": ["AI95"]}},
        {"rule_id": "B", "kind": "product", "per_litre": 3000, "stackable": True, "order": 2,
         "when": {"products": ["AI95"]}}]}
    p = price_sale(parse_pricing(doc), product="AI95", volume_ml=10000, unit_price=5000,
                   facts=facts())
    assert p.amount == 0 and p.discounts == (("A", 30000), ("B", 20000))


def test_voucher_points_and_earning_order() -> None:
    # Night, gold (600 l last month), VIP: 190000 after the discount; a 20 l voucher pays
    # half (95000); 500 points (of 1000 asked) pay 50000; 45000 is left for wallets or the
    # account. Points are earned on the 45000 paid in money only: 40 l x 45000/190000 =
    # 9.47 l x 1 point x 2 (night) x 1.5 (gold) = 28.42 -> 28.
    p = price_sale(rules(), product="AI95", volume_ml=40000, unit_price=5000,
                   facts=facts(23, groups=frozenset({"G-VIP"}), last_month_volume_ml=600000,
                               points_available=500),
                   voucher=Voucher("000001000001", "AI95", volume_ml=20000), points_asked=1000)
    assert (p.voucher_ml, p.voucher_value) == (20000, 95000)
    assert (p.points_burned, p.points_value, p.money_due) == (500, 50000, 45000)
    assert (p.tier, p.points_earned) == ("gold", 28)


def test_points_caps_count_what_was_earned_already() -> None:
    p = price_sale(rules(), product="AI95", volume_ml=80000, unit_price=5000,
                   facts=facts(points_earned=(("day", 95),)))
    assert p.points_earned == 5


def test_litre_wallets_pay_the_litres_left_and_all_the_money_when_they_cover_it() -> None:
    p = price_sale(rules(), product="AI95", volume_ml=33333, unit_price=4999,
                   facts=facts(groups=frozenset({"G-VIP"}), wallet_ml=50000))
    assert (p.wallet_ml, p.wallet_value, p.money_due) == (33333, p.amount, 0)
    assert p.points_earned == 33  # litre wallets were bought with money: they earn


def test_a_voucher_for_another_product_is_a_bug_not_a_price() -> None:
    with pytest.raises(PricingError):
        price_sale(rules(), product="DT", volume_ml=1000, unit_price=5000, facts=facts(),
                   voucher=Voucher("000001000001", "AI95", volume_ml=20000))


def test_tier_comes_from_last_month_volume() -> None:
    assert price_sale(rules(), product="AI95", volume_ml=1000, unit_price=5000,
                      facts=facts(last_month_volume_ml=99999)).tier is None
    assert price_sale(rules(), product="AI95", volume_ml=1000, unit_price=5000,
                      facts=facts(last_month_volume_ml=100000)).tier == "silver"


# -- properties ----------------------------------------------------------------------------
conditions = st.fixed_dictionaries({}, optional={
    "products": st.sampled_from([["AI95"], ["DT"], ["AI95", "DT"]]),
    "min_fill_ml": st.integers(0, 60000),
    "hours": st.sampled_from([{"from": "22:00", "to": "06:00"}, {"from": "08:00", "to": "20:00"}]),
    "groups": st.just(["G-VIP"]),
    "consumption": st.fixed_dictionaries({"month": st.sampled_from(["this", "last"]),
                                          "unit": st.sampled_from(["volume", "money"]),
                                          "at_least": st.integers(0, 10**6)}),
})


@st.composite
def discount_docs(draw: st.DrawFn, i: int) -> dict[str, object]:
    when = draw(conditions)
    kind = {"min_fill_ml": "volume", "consumption": "tier", "hours": "time",
            "products": "product", "groups": "group"}
    have = [k for k in kind if k in when] or ["products"]
    when.setdefault("products", ["AI95", "DT"])
    value = draw(st.one_of(st.fixed_dictionaries({"percent_bp": st.integers(1, 10000)}),
                           st.fixed_dictionaries({"per_litre": st.integers(1, 8000)})))
    return {"rule_id": f"D{i}", "kind": kind[have[0]], **value, "when": when,
            "stackable": draw(st.booleans()), "order": draw(st.integers(0, 3))}


@st.composite
def rule_sets(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(0, 5))
    doc: dict[str, object] = {"revision": 1, "discounts": [draw(discount_docs(i))
                                                           for i in range(n)]}
    if draw(st.booleans()):
        doc["loyalty"] = {
            "point_value": draw(st.integers(1, 500)), "expiry_days": 365,
            "earn": [{"rule_id": f"E{i}", "basis": draw(st.sampled_from(["volume", "amount"])),
                      "points": draw(st.integers(1, 10)), "per": draw(st.integers(1, 5000)),
                      "stackable": draw(st.booleans())} for i in range(draw(st.integers(0, 3)))],
            "multipliers": [{"rule_id": f"M{i}", "percent": draw(st.integers(0, 500)),
                             "stackable": draw(st.booleans()), "when": draw(conditions)}
                            for i in range(draw(st.integers(0, 3)))],
            "tiers": [{"name": "gold", "at_least_ml": 500000, "percent": 150}],
            "caps": draw(st.lists(st.fixed_dictionaries({
                "period": st.sampled_from(["day", "week", "month"]),
                "points": st.integers(0, 1000)}), max_size=3, unique_by=lambda c: c["period"]))}
    return doc


sale_facts = st.builds(
    Facts, local=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                              timezones=st.just(MSK)),
    station_id=st.just("S1"), groups=st.sampled_from([frozenset(), frozenset({"G-VIP"})]),
    month_volume_ml=st.integers(0, 10**6), month_amount=st.integers(0, 10**7),
    last_month_volume_ml=st.integers(0, 10**6), last_month_amount=st.integers(0, 10**7),
    points_available=st.integers(0, 10**5), wallet_ml=st.integers(0, 80000),
    points_earned=st.lists(st.tuples(st.sampled_from(["day", "week", "month"]),
                                     st.integers(0, 2000)), max_size=3,
                           unique_by=lambda t: t[0]).map(sorted).map(tuple))
vouchers = st.one_of(st.none(),
                     st.builds(Voucher, serial=st.just("000001000001"), product=st.just("AI95"),
                               volume_ml=st.integers(1, 60000)),
                     st.builds(Voucher, serial=st.just("000001000002"), product=st.none(),
                               amount=st.integers(1, 10**6)))


@settings(max_examples=300, deadline=None)
@given(doc=rule_sets(), f=sale_facts, volume=st.integers(0, 150000),
       price=st.integers(0, 20000), voucher=vouchers, asked=st.integers(0, 10**5),
       product=st.sampled_from(["AI95", "DT"]))
def test_priced_lines_always_add_up(doc: dict[str, object], f: Facts, volume: int, price: int,
                                    voucher: Voucher | None, asked: int, product: str) -> None:
    r = parse_pricing(doc)
    if voucher is not None and voucher.product not in (None, product):
        voucher = None
    p = price_sale(r, product=product, volume_ml=volume, unit_price=price, facts=f,
                   voucher=voucher, points_asked=asked)
    assert p.list_amount == amount_for(volume, price)
    assert 0 <= p.amount <= p.list_amount
    assert sum(v for _, v in p.discounts) == p.list_amount - p.amount
    assert all(v >= 0 for _, v in p.discounts)
    assert p.voucher_value + p.wallet_value + p.points_value + p.money_due == p.amount
    assert min(p.voucher_value, p.wallet_value, p.points_value, p.money_due) >= 0
    assert p.points_burned <= min(asked, f.points_available)
    assert p.wallet_ml <= f.wallet_ml and p.voucher_ml <= volume
    assert p.points_earned >= 0
    for cap in (r.loyalty.caps if r.loyalty else ()):
        assert p.points_earned <= max(cap.points - dict(f.points_earned).get(cap.period, 0), 0)
    # The preset price is never below what the sale costs, whatever the volume.
    assert p.amount <= amount_for(volume, preset_price(r, product, price, f))
    # The office reads the station's line back and gets the very same inputs and figures.
    line = parse_line(line_doc(r.revision, p, asked, f), station_id="S1", amount=p.amount)
    assert line.basis == f and line.priced == p
    again = price_sale(r, product=product, volume_ml=volume, unit_price=price, facts=line.basis,
                       voucher=voucher, points_asked=line.points_asked)
    assert again == p


@settings(max_examples=150, deadline=None)
@given(doc=rule_sets(), f=sale_facts, volume=st.integers(1, 150000), price=st.integers(1, 20000))
def test_the_order_of_rules_in_the_document_does_not_matter(
        doc: dict[str, object], f: Facts, volume: int, price: int) -> None:
    reordered = {**doc, "discounts": list(reversed(doc["discounts"]))}  # type: ignore[call-overload]
    a = price_sale(parse_pricing(doc), product="AI95", volume_ml=volume, unit_price=price,
                   facts=f)
    b = price_sale(parse_pricing(reordered), product="AI95", volume_ml=volume,
                   unit_price=price, facts=f)
    assert a == b
