"""The authorization engine's caps: limits, requested volume or amount, wallets.

Over plain data; the shared situation is in engine_data.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import amount_for
from core.reasons import Reason
from core.rules.authorization import (
    CardView,
    Context,
    Decision,
    Hold,
    Limit,
    OfficeUsage,
    Policy,
    UsedSale,
    Wallet,
    authorize,
    plan_wallet_debits,
    wallet_shortfall,
)
from tests.core.rules.engine_data import (
    ALL,
    CARD,
    CTX,
    MOSCOW,
    NOW,
    PERIODS,
    POLICY,
    PRICES,
    REQ,
    STARTS,
    TODAY,
    assert_approved,
    assert_denied,
    assert_exact_money_cap,
    at,
    card,
    ctx,
    req,
    sale,
)

# -- limits -----------------------------------------------------------------------------

@pytest.mark.parametrize("period", PERIODS)
def test_volume_limit_counts_sales_of_the_current_period_only(period: str) -> None:
    start, _ = STARTS[period]
    view = card(limits=(Limit(period, "volume", 50_000),),
                sales=(sale("AI92", start, 30_000),  # first instant of the period: counts
                       sale("DT", start - timedelta(microseconds=1), 40_000)))  # before
    decision = authorize(view, REQ, CTX)
    assert_approved(decision, 20_000)
    assert decision.hold_amount == amount_for(20_000, PRICES["DT"])


@pytest.mark.parametrize("period", PERIODS)
def test_money_limit_counts_sales_of_the_current_period_only(period: str) -> None:
    start, _ = STARTS[period]
    view = card(limits=(Limit(period, "money", 300_000),),
                sales=(sale("AI92", start, 30_000, amount=152_700),
                       sale("DT", start - timedelta(seconds=1), 40_000, amount=254_000)))
    decision = authorize(view, REQ, CTX)
    left = 300_000 - 152_700
    assert decision.approved
    # The dearest product binds; its amount is exactly within what is left.
    assert_exact_money_cap(decision.max_volume_ml, left, PRICES["DT"])
    assert decision.hold_amount == amount_for(decision.max_volume_ml, PRICES["DT"]) <= left
    assert decision.max_amount == amount_for(decision.max_volume_ml, PRICES["AI92"])


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("unit", ["volume", "money"])
def test_limit_exhausted_by_sales_in_the_period(period: str, unit: str) -> None:
    start, _ = STARTS[period]
    value = 50_000 if unit == "volume" else 254_500
    view = card(limits=(Limit(period, unit, value),),
                sales=(sale("AI95", start + timedelta(hours=1), 25_000),
                       sale("DT", NOW, 25_000, amount=127_000 if unit == "money" else 0)))
    assert_denied(authorize(view, REQ, CTX), Reason.LIMIT_EXHAUSTED)
    assert_denied(authorize(view, req(product="AI92"), CTX), Reason.LIMIT_EXHAUSTED)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("unit", ["volume", "money"])
def test_office_usage_counts_for_the_current_period_start_only(period: str, unit: str) -> None:
    start, previous = STARTS[period]
    value = 50_000 if unit == "volume" else 254_000
    current = OfficeUsage(period, start.date(), "AI92", 30_000, 152_700, 1)
    old = OfficeUsage(period, previous, "AI92", 50_000, 254_500, 9)
    other_period = OfficeUsage("year" if period != "year" else "month",
                               date(2026, 11, 1) if period == "year" else date(2026, 1, 1),
                               "AI92", 50_000, 254_500, 9)
    view = card(products=frozenset({"AI92"}), limits=(Limit(period, unit, value),),
                office_usage=(current, old, other_period))
    decision = authorize(view, REQ, CTX)
    assert decision.approved
    if unit == "volume":
        assert decision.max_volume_ml == 20_000
    else:
        assert_exact_money_cap(decision.max_volume_ml, 254_000 - 152_700, PRICES["AI92"])
    # Without the current row only the station's own bound remains.
    alone = authorize(replace(view, office_usage=(old, other_period)), REQ, CTX)
    expected_volume = 50_000 if unit == "volume" else 49_901  # 254 000 / 50.90 per litre
    assert alone.max_volume_ml == expected_volume


def test_office_usage_and_local_sales_add_up() -> None:
    view = card(limits=(Limit("day", "volume", 60_000),),
                office_usage=(OfficeUsage("day", TODAY, "DT", 20_000, 127_000, 1),),
                sales=(sale("AI95", at("2026-11-18 08:00"), 15_000),))
    assert authorize(view, REQ, CTX).max_volume_ml == 25_000


@pytest.mark.parametrize("period", PERIODS)
def test_open_holds_count_against_period_limits(period: str) -> None:
    holds = (Hold(frozenset({"AI92", "DT"}), 15_000, 95_250),
             Hold(frozenset({"AI95"}), 5_000, 26_495))
    view = card(limits=(Limit(period, "volume", 50_000),), holds=holds)
    assert authorize(view, REQ, CTX).max_volume_ml == 30_000
    money = card(limits=(Limit(period, "money", 200_000),), holds=holds)
    decision = authorize(money, REQ, CTX)
    assert_exact_money_cap(decision.max_volume_ml, 200_000 - 95_250 - 26_495, PRICES["DT"])


def test_holds_count_only_against_limits_of_their_products() -> None:
    hold = Hold(frozenset({"AI92"}), 45_000, 229_050)
    view = card(limits=(Limit("day", "volume", 50_000, frozenset({"AI95"})),), holds=(hold,))
    assert authorize(view, REQ, CTX).max_volume_ml == 50_000
    shared = card(limits=(Limit("day", "volume", 50_000, frozenset({"AI92", "AI95"})),),
                  holds=(hold,))
    assert_approved(authorize(shared, REQ, CTX), 5_000)
    assert_approved(authorize(shared, req(product="DT"), CTX), 200_000, ("DT",))


def test_holds_beyond_the_limit_refuse_without_negative_presets() -> None:
    hold = Hold(frozenset(ALL), 80_000, 508_000)
    view = card(limits=(Limit("week", "volume", 50_000),
                        Limit("week", "money", 100_000)), holds=(hold,))
    assert_denied(authorize(view, REQ, CTX), Reason.LIMIT_EXHAUSTED)


def test_fill_limits_ignore_sales_and_holds() -> None:
    view = card(limits=(Limit("fill", "volume", 30_000),),
                sales=(sale("DT", NOW, 150_000),),
                holds=(Hold(frozenset(ALL), 100_000, 635_000),))
    decision = authorize(view, REQ, CTX)
    assert_approved(decision, 30_000)
    money = authorize(card(limits=(Limit("fill", "money", 100_000),),
                           sales=(sale("DT", NOW, 150_000),)), REQ, CTX)
    assert_exact_money_cap(money.max_volume_ml, 100_000, PRICES["DT"])
    assert money.max_volume_ml == 15_748
    assert money.hold_amount == 100_000
    assert money.max_amount == amount_for(15_748, PRICES["AI92"]) == 80_157


def test_per_product_limit_caps_the_preset_of_every_allowed_product() -> None:
    """The preset is the smallest cap across the allowed products (any nozzle is safe)."""
    view = card(limits=(Limit("day", "volume", 50_000, frozenset({"AI95"})),),
                sales=(sale("AI95", at("2026-11-18 07:00"), 20_000),
                       sale("DT", at("2026-11-18 08:00"), 25_000)))  # DT is not limited
    assert_approved(authorize(view, REQ, CTX), 30_000)
    assert_approved(authorize(view, req(product="AI95"), CTX), 30_000, ("AI95",))
    assert_approved(authorize(view, req(product="DT"), CTX), 200_000, ("DT",))


def test_exhausted_product_drops_out_and_the_others_keep_their_preset() -> None:
    view = card(limits=(Limit("day", "volume", 50_000, frozenset({"AI95"})),),
                sales=(sale("AI95", at("2026-11-18 07:00"), 49_500),))
    assert_approved(authorize(view, REQ, CTX), 200_000, ("AI92", "DT"))
    assert_denied(authorize(view, req(product="AI95"), CTX), Reason.LIMIT_EXHAUSTED)


def test_per_product_money_limit_with_all_products_limit() -> None:
    view = card(limits=(Limit("month", "money", 100_000, frozenset({"DT"})),
                        Limit("month", "volume", 60_000)),
                sales=(sale("DT", at("2026-11-02 10:00"), 10_000),  # 63 500
                       sale("AI92", at("2026-11-03 10:00"), 20_000)))
    decision = authorize(view, REQ, CTX)
    dt_left = 100_000 - 63_500
    assert_exact_money_cap(decision.max_volume_ml, dt_left, PRICES["DT"])
    assert decision.products == ALL
    # Asking for AI92 only: the DT money limit does not apply, the volume limit does.
    assert authorize(view, req(product="AI92"), CTX).max_volume_ml == 30_000


def test_limit_remaining_versus_the_minimum_preset() -> None:
    def with_used(used: int, policy: Policy = POLICY) -> Decision:
        view = card(limits=(Limit("day", "volume", 50_000),),
                    sales=(sale("AI92", at("2026-11-18 01:00"), used),))
        return authorize(view, REQ, ctx(policy=policy))

    assert_approved(with_used(49_000), 1_000)  # exactly the minimum preset
    assert_denied(with_used(49_001), Reason.LIMIT_EXHAUSTED)  # 999 ml left
    assert_denied(with_used(50_000), Reason.LIMIT_EXHAUSTED)
    no_minimum = Policy(min_preset_ml=0)
    assert_approved(with_used(49_999, no_minimum), 1)
    assert_denied(with_used(50_000, no_minimum), Reason.LIMIT_EXHAUSTED)  # never a 0 preset


def test_limits_in_the_station_time_zone() -> None:
    # 2026-11-17 21:30 UTC is 2026-11-18 00:30 in Moscow: today's sale there, not in UTC.
    view = card(limits=(Limit("day", "volume", 50_000),),
                sales=(sale("AI92", at("2026-11-17 21:30"), 30_000),))
    assert authorize(view, REQ, CTX).max_volume_ml == 50_000
    assert authorize(view, REQ, ctx(tz=MOSCOW)).max_volume_ml == 20_000


def test_week_limit_with_week_starting_on_sunday() -> None:
    view = card(limits=(Limit("week", "volume", 100_000),),
                sales=(sale("DT", at("2026-11-15 12:00"), 70_000),),  # Sunday
                office_usage=(OfficeUsage("week", date(2026, 11, 15), "AI92", 10_000,
                                          50_900, 1),
                              OfficeUsage("week", date(2026, 11, 16), "AI92", 20_000,
                                          101_800, 1)))
    # Monday weeks: only the office row of Monday 16th counts.
    assert authorize(view, REQ, CTX).max_volume_ml == 80_000
    # Sunday weeks: the Sunday sale and the Sunday-15th office row count.
    assert authorize(view, REQ, ctx(week_start=6)).max_volume_ml == 20_000


def test_the_smallest_of_several_limits_wins() -> None:
    view = card(limits=(Limit("fill", "volume", 60_000), Limit("day", "volume", 45_000),
                        Limit("month", "money", 10_000_000), Limit("year", "volume", 47_000)))
    assert authorize(view, REQ, CTX).max_volume_ml == 45_000


# -- requested volume and amount --------------------------------------------------------

def test_requested_volume_narrows_the_preset() -> None:
    assert_approved(authorize(CARD, req(volume_ml=25_000), CTX), 25_000)
    assert_approved(authorize(CARD, req(volume_ml=500_000), CTX), 200_000)  # station max
    limited = card(limits=(Limit("fill", "volume", 20_000),))
    assert authorize(limited, req(volume_ml=25_000), CTX).max_volume_ml == 20_000
    assert_approved(authorize(CARD, req(volume_ml=1_000), CTX), 1_000)  # the minimum itself
    # A limit that leaves less than the minimum preset refuses as a limit problem.
    nearly = card(limits=(Limit("fill", "volume", 999),))
    assert authorize(nearly, req(), CTX).reason == Reason.LIMIT_EXHAUSTED
    assert authorize(nearly, req(volume_ml=1_000), CTX).reason == Reason.LIMIT_EXHAUSTED


def test_a_request_below_the_minimum_preset_is_a_request_problem() -> None:
    # Issue 10 #11: --volume 1 was approved up to 1 ml, --amount 1 said limit_exhausted.
    for request in (req(volume_ml=999), req(volume_ml=1), req(volume_ml=0), req(amount=1),
                    req(product="AI92", amount=amount_for(999, PRICES["AI92"]))):
        assert_denied(authorize(CARD, request, CTX), Reason.PRESET_TOO_SMALL)
    # The request is judged before the card's limits: a small request on an exhausted
    # card is still the request's problem.
    spent = card(limits=(Limit("day", "volume", 0),))
    assert_denied(authorize(spent, req(volume_ml=1), CTX), Reason.PRESET_TOO_SMALL)
    # An amount that buys the minimum of the cheaper product only keeps that product.
    amount = amount_for(1_000, PRICES["AI92"])
    decision = authorize(CARD, req(amount=amount), CTX)
    assert decision.approved and decision.products == ("AI92",)
    assert decision.max_volume_ml == 1_000
    # Without a minimum (min_preset_ml = 0) any positive request goes, never a 0 preset.
    none = ctx(policy=Policy(min_preset_ml=0))
    assert_approved(authorize(CARD, req(volume_ml=1), none), 1)
    assert_denied(authorize(CARD, req(volume_ml=0), none), Reason.PRESET_TOO_SMALL)


def test_requested_amount_narrows_the_preset_exactly() -> None:
    decision = authorize(CARD, req(product="AI95", amount=10_000), CTX)
    assert_approved(decision, decision.max_volume_ml, ("AI95",))
    assert_exact_money_cap(decision.max_volume_ml, 10_000, PRICES["AI95"])
    assert decision.max_amount == decision.hold_amount <= 10_000
    # Without a product the dearest binds, and no product's amount exceeds the request.
    any_product = authorize(CARD, req(amount=10_000), CTX)
    assert_exact_money_cap(any_product.max_volume_ml, 10_000, PRICES["DT"])
    assert all(amount_for(any_product.max_volume_ml, p) <= 10_000 for p in PRICES.values())
    both = authorize(CARD, req(product="AI92", amount=100_000, volume_ml=5_000), CTX)
    assert both.max_volume_ml == 5_000


# -- wallets ----------------------------------------------------------------------------

def test_money_wallet_caps_the_preset_exactly() -> None:
    view = card(wallets=(Wallet("W-1", "money", 100_000),))
    decision = authorize(view, REQ, CTX)
    assert decision.approved
    assert_exact_money_cap(decision.max_volume_ml, 100_000, PRICES["DT"])
    assert decision.wallet_holds == {"W-1": amount_for(decision.max_volume_ml, PRICES["DT"])}
    assert decision.wallet_holds["W-1"] <= 100_000


def test_litre_and_money_wallets_add_up() -> None:
    view = card(wallets=(Wallet("L", "volume", 20_000, frozenset({"DT"})),
                         Wallet("M", "money", 50_000)))
    decision = authorize(view, req(product="DT"), CTX)
    assert decision.approved
    money_volume = decision.max_volume_ml - 20_000
    assert_exact_money_cap(money_volume, 50_000, PRICES["DT"])
    assert decision.wallet_holds == {"L": 20_000, "M": amount_for(money_volume, PRICES["DT"])}
    # Without a product: AI92 and AI95 only have the money wallet; the smallest cap wins.
    every = authorize(view, REQ, CTX)
    assert every.products == ALL
    assert_exact_money_cap(every.max_volume_ml, 50_000, PRICES["AI95"])


def test_wallet_holds_take_the_worst_case_per_wallet() -> None:
    view = card(wallets=(Wallet("L", "volume", 5_000, frozenset({"DT"})),
                         Wallet("M", "money", 500_000)))
    decision = authorize(view, req(volume_ml=30_000), CTX)
    assert decision.max_volume_ml == 30_000
    # DT: 5 l from the litre wallet + 25 l of money; AI95 (dearest besides): 30 l of money.
    assert decision.wallet_holds == {"L": 5_000,
                                     "M": max(amount_for(25_000, PRICES["DT"]),
                                              amount_for(30_000, PRICES["AI95"]))}


@pytest.mark.parametrize("wallet", [
    Wallet("W", "money", 100_000, expires=TODAY - timedelta(days=1)),  # expired
    Wallet("W", "money", 100_000, frozenset({"DT"})),  # another product
    Wallet("W", "money", 0),  # empty
    Wallet("W", "money", -500),  # overdrawn
    Wallet("W", "volume", 0),
    Wallet("W", "money", 3),  # less than the minimum preset's worth
])
def test_wallet_empty(wallet: Wallet) -> None:
    assert_denied(authorize(card(wallets=(wallet,)), req(product="AI95"), CTX),
                  Reason.WALLET_EMPTY)


def test_wallet_usable_on_its_expiry_day_in_local_time() -> None:
    wallet = Wallet("W", "volume", 30_000, expires=date(2026, 11, 18))
    assert authorize(card(wallets=(wallet,)), REQ, CTX).max_volume_ml == 30_000
    late = datetime(2026, 11, 18, 22, 0, tzinfo=UTC)  # 01:00 on the 19th in Moscow
    assert authorize(card(wallets=(wallet,)), REQ, ctx(now=late)).approved
    assert_denied(authorize(card(wallets=(wallet,)), REQ, ctx(now=late, tz=MOSCOW)),
                  Reason.WALLET_EMPTY)


def test_wallet_for_one_product_restricts_the_products() -> None:
    view = card(wallets=(Wallet("W", "volume", 30_000, frozenset({"DT"})),))
    decision = authorize(view, REQ, CTX)
    assert_approved(decision, 30_000, ("DT",))
    assert decision.wallet_holds == {"W": 30_000}


def test_wallet_and_limit_the_smaller_binds() -> None:
    wallet = Wallet("W", "volume", 30_000)
    assert authorize(card(wallets=(wallet,), limits=(Limit("day", "volume", 20_000),)),
                     REQ, CTX).max_volume_ml == 20_000
    decision = authorize(card(wallets=(wallet,), limits=(Limit("day", "volume", 90_000),)),
                         REQ, CTX)
    assert decision.max_volume_ml == 30_000
    # When both leave nothing, the limit is named.
    assert_denied(authorize(card(wallets=(Wallet("W", "volume", 0),),
                                 limits=(Limit("day", "volume", 0),)), REQ, CTX),
                  Reason.LIMIT_EXHAUSTED)


# -- plan_wallet_debits / wallet_shortfall ----------------------------------------------

def test_plan_wallet_debits_litres_first_then_money() -> None:
    wallets = [Wallet("M-early", "money", 1_000_000, expires=date(2026, 11, 20)),
               Wallet("L-late", "volume", 8_000, expires=date(2027, 6, 1)),
               Wallet("L-early", "volume", 5_000, expires=date(2026, 12, 1)),
               Wallet("L-never", "volume", 50_000)]
    # 30 l of DT: 5 l (early), then 8 l (late), then 17 l (no expiry): no money.
    assert plan_wallet_debits(wallets, "DT", 30_000, 6350, TODAY) == {
        "L-early": 5_000, "L-late": 8_000, "L-never": 17_000}
    # 70 l: all litres (63 l), then 7 l of money.
    assert plan_wallet_debits(wallets, "DT", 70_000, 6350, TODAY) == {
        "L-early": 5_000, "L-late": 8_000, "L-never": 50_000,
        "M-early": amount_for(7_000, 6350)}
    assert wallet_shortfall(wallets, "DT", 70_000, 6350, TODAY) == 0


def test_plan_wallet_debits_money_wallets_by_expiry_and_skips_unusable() -> None:
    wallets = [Wallet("M-b", "money", 100_000),
               Wallet("M-a", "money", 30_000, expires=date(2027, 1, 1)),
               Wallet("M-expired", "money", 999_999, expires=TODAY - timedelta(days=1)),
               Wallet("M-dt", "money", 999_999, frozenset({"DT"})),
               Wallet("L-dt", "volume", 999_999, frozenset({"DT"})),
               Wallet("M-empty", "money", 0)]
    due = amount_for(20_000, 5299)  # 105 980
    plan = plan_wallet_debits(wallets, "AI95", 20_000, 5299, TODAY)
    assert plan == {"M-a": 30_000, "M-b": due - 30_000}
    assert sum(plan.values()) == due
    assert wallet_shortfall(wallets, "AI95", 20_000, 5299, TODAY) == 0


def test_plan_wallet_debits_without_wallets_or_volume() -> None:
    assert plan_wallet_debits([], "DT", 10_000, 6350, TODAY) == {}
    assert wallet_shortfall([], "DT", 10_000, 6350, TODAY) == 0  # pays on account
    wallets = [Wallet("M", "money", 1_000)]
    assert plan_wallet_debits(wallets, "DT", 0, 6350, TODAY) == {}


def test_wallet_shortfall_when_the_wallets_cannot_cover() -> None:
    wallets = [Wallet("L", "volume", 1_000), Wallet("M", "money", 100)]
    # 5 l at 50.00: 1 l from litres, 4 l = 20 000 due, 100 paid -> 19 900 short.
    assert plan_wallet_debits(wallets, "AI92", 5_000, 5000, TODAY) == {"L": 1_000, "M": 100}
    assert wallet_shortfall(wallets, "AI92", 5_000, 5000, TODAY) == 19_900
    # Only expired wallets: everything is short.
    expired = [Wallet("M", "money", 10**9, expires=TODAY - timedelta(days=1))]
    assert plan_wallet_debits(expired, "AI92", 5_000, 5000, TODAY) == {}
    assert wallet_shortfall(expired, "AI92", 5_000, 5000, TODAY) == 25_000


# -- properties: the preset is safe, maximal, and wallets can always pay it --------------

products_st = st.sampled_from(ALL)
scope_st = st.one_of(st.none(), st.frozensets(products_st, min_size=1))
limit_st = st.builds(Limit, period=st.sampled_from(("fill", *PERIODS)),
                     unit=st.sampled_from(("volume", "money")),
                     value=st.integers(min_value=0, max_value=400_000), products=scope_st)
sale_st = st.builds(
    lambda product, minutes, volume: sale(product, NOW - timedelta(minutes=minutes), volume),
    products_st, st.integers(min_value=0, max_value=60 * 24 * 400),
    st.integers(min_value=1, max_value=80_000))
wallet_st = st.builds(
    Wallet, wallet_id=st.sampled_from(("W1", "W2", "W3", "W4")),
    unit=st.sampled_from(("volume", "money")),
    available=st.integers(min_value=-1000, max_value=300_000), products=scope_st,
    expires=st.one_of(st.none(), st.dates(min_value=TODAY - timedelta(days=2),
                                          max_value=TODAY + timedelta(days=2))))
prices_st = st.fixed_dictionaries({p: st.integers(min_value=1, max_value=20_000) for p in ALL})


def _remaining(view: CardView, limit: Limit) -> int:
    """Independent reference: what is left of ``limit`` (UTC calendar, weeks from Monday)."""
    if limit.period == "fill":
        return limit.value
    start = STARTS[limit.period][0]
    volume = limit.unit == "volume"
    used = sum(s.volume_ml if volume else s.amount for s in view.sales
               if s.at >= start and (limit.products is None or s.product in limit.products))
    used += sum(h.volume_ml if volume else h.amount for h in view.holds
                if limit.products is None or h.products & limit.products)
    return limit.value - used


def _fits(volume: int, product: str, view: CardView, context: Context) -> bool:
    """Whether ``volume`` of ``product`` respects every limit of the card."""
    for limit in view.limits:
        if limit.products is not None and product not in limit.products:
            continue
        left = _remaining(view, limit)
        cost = volume if limit.unit == "volume" else amount_for(volume,
                                                                 context.prices[product])
        if cost > left:
            return False
    return volume <= context.policy.max_fill_ml


@given(st.lists(limit_st, max_size=4), st.lists(sale_st, max_size=6), prices_st,
       st.lists(st.builds(Hold, products=st.frozensets(products_st, min_size=1),
                          volume_ml=st.integers(min_value=0, max_value=50_000),
                          amount=st.integers(min_value=0, max_value=300_000)), max_size=2))
def test_preset_is_safe_and_maximal_for_limits(limits: list[Limit], sales: list[UsedSale],
                                               prices: dict[str, int],
                                               holds: list[Hold]) -> None:
    context = ctx(prices=prices)
    view = card(limits=tuple(limits), sales=tuple(sales), holds=tuple(holds))
    decision = authorize(view, REQ, context)
    minimum = context.policy.min_preset_ml
    usable = [p for p in ALL if _fits(minimum, p, view, context)]
    if not usable:
        assert_denied(decision, Reason.LIMIT_EXHAUSTED)
        return
    assert decision.approved
    assert decision.products == tuple(usable)
    volume = decision.max_volume_ml
    assert volume >= minimum
    # Safe whichever allowed nozzle is lifted ...
    assert all(_fits(volume, p, view, context) for p in usable)
    # ... and the largest such preset (the smallest cap across the products).
    assert not all(_fits(volume + 1, p, view, context) for p in usable)
    assert decision.max_amount == min(amount_for(volume, prices[p]) for p in usable)
    assert decision.hold_amount == max(amount_for(volume, prices[p]) for p in usable)


@given(st.lists(wallet_st, min_size=1, max_size=4, unique_by=lambda w: w.wallet_id), prices_st,
       st.one_of(st.none(), products_st))
def test_wallets_always_cover_the_preset(wallets: list[Wallet], prices: dict[str, int],
                                         product: str | None) -> None:
    context = ctx(prices=prices)
    view = card(wallets=tuple(wallets))
    decision = authorize(view, req(product=product), context)
    if not decision.approved:
        assert decision.reason == Reason.WALLET_EMPTY
        # No product can get even the minimum preset paid by the wallets.
        for p in ([product] if product else list(ALL)):
            assert wallet_shortfall(wallets, p, context.policy.min_preset_ml, prices[p],
                                    TODAY) > 0
        return
    volume = decision.max_volume_ml
    for p in decision.products:
        plan = plan_wallet_debits(wallets, p, volume, prices[p], TODAY)
        assert wallet_shortfall(wallets, p, volume, prices[p], TODAY) == 0
        by_id = {w.wallet_id: w for w in wallets}
        for wallet_id, value in plan.items():
            assert 0 < value <= by_id[wallet_id].available
            assert value <= decision.wallet_holds[wallet_id]  # the hold covers it
        litres = sum(v for w, v in plan.items() if by_id[w].unit == "volume")
        money = sum(v for w, v in plan.items() if by_id[w].unit == "money")
        assert money == amount_for(volume - litres, prices[p])
    for wallet_id, held in decision.wallet_holds.items():
        assert 0 <= held <= next(w.available for w in wallets if w.wallet_id == wallet_id)
    # Maximal: one more millilitre is short for at least one allowed product, or the
    # station maximum binds.
    if volume < context.policy.max_fill_ml:
        assert any(wallet_shortfall(wallets, p, volume + 1, prices[p], TODAY) > 0
                   for p in decision.products)
