"""The authorization engine's identity rules and reason codes, over plain data.

Status, stop list, expiry, stations, time windows, vehicle, PIN, odometer, stale
data, products and visits. Limits, requests and wallets: test_engine_caps.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.money import amount_for
from core.reasons import DESCRIPTIONS, READER_REASONS, VOUCHER_REASONS, Reason
from core.rules.authorization import (
    CardView,
    Context,
    Hold,
    Limit,
    OfficeUsage,
    Policy,
    Request,
    TimeWindow,
    VisitLimit,
    Wallet,
    authorize,
)
from tests.core.rules.engine_data import (
    CARD,
    CTX,
    MOSCOW,
    NOW,
    POLICY,
    PRICES,
    REQ,
    TODAY,
    WEEKDAYS,
    assert_approved,
    assert_denied,
    at,
    card,
    ctx,
    req,
    sale,
)

# -- every reason code has a scenario ---------------------------------------------------

SCENARIOS: dict[str, tuple[CardView | None, Request, Context, Reason]] = {
    "approved": (CARD, REQ, CTX, Reason.APPROVED),
    "unknown": (None, REQ, CTX, Reason.UNKNOWN_CARD),
    "stop_list": (CARD, REQ, ctx(stop_listed=True), Reason.ON_STOP_LIST),
    "pump_busy": (CARD, REQ, ctx(pump_busy=True), Reason.PUMP_BUSY),
    "blocked": (card(status="blocked"), REQ, CTX, Reason.CARD_BLOCKED),
    "lost": (card(status="lost"), REQ, CTX, Reason.CARD_LOST),
    "stolen": (card(status="stolen"), REQ, CTX, Reason.CARD_STOLEN),
    "withdrawn": (card(status="withdrawn"), REQ, CTX, Reason.CARD_WITHDRAWN),
    "replaced": (card(status="replaced"), REQ, CTX, Reason.CARD_REPLACED),
    "expired": (card(expires=TODAY - timedelta(days=1)), REQ, CTX, Reason.CARD_EXPIRED),
    "token_required": (card(kind="digital"), REQ, CTX, Reason.TOKEN_REQUIRED),
    "station": (card(stations=frozenset({"S-002"})), REQ, CTX, Reason.STATION_NOT_ALLOWED),
    "time": (card(time_windows=(TimeWindow(frozenset({5, 6}), 0, 1440),)), REQ, CTX,
             Reason.OUTSIDE_TIME_WINDOW),
    "vehicle_required": (card(vehicle_binding=True, vehicle_id="V-17"), REQ, CTX,
                         Reason.VEHICLE_REQUIRED),
    "vehicle_mismatch": (card(vehicle_binding=True, vehicle_id="V-17"),
                         req(vehicle_id="V-18"), CTX, Reason.VEHICLE_MISMATCH),
    "pin_required": (card(pin_required=True), REQ, CTX, Reason.PIN_REQUIRED),
    "pin_wrong": (card(pin_required=True), req(pin_ok=False), CTX, Reason.PIN_WRONG),
    "pin_locked": (card(pin_required=True, pin_failures=3), req(pin_ok=True), CTX,
                   Reason.PIN_LOCKED),
    "odometer": (card(odometer_required=True), REQ, CTX, Reason.ODOMETER_REQUIRED),
    "odometer_unreasonable": (card(last_odometer_km=100_000), req(odometer_km=99_000),
                              ctx(policy=Policy(odometer_policy="refuse")),
                              Reason.ODOMETER_UNREASONABLE),
    "stale": (CARD, REQ, ctx(data_age_s=None, policy=Policy(stale_policy="refuse")),
              Reason.DATA_STALE),
    "product": (card(products=frozenset({"DT"})), req(product="AI95"), CTX,
                Reason.PRODUCT_NOT_ALLOWED),
    "preset_too_small": (CARD, req(volume_ml=1), CTX, Reason.PRESET_TOO_SMALL),
    "visits": (card(visits=(VisitLimit("day", 1),), sales=(sale("DT", NOW, 1000),)), REQ, CTX,
               Reason.VISITS_EXHAUSTED),
    "limit": (card(limits=(Limit("day", "volume", 0),)), REQ, CTX, Reason.LIMIT_EXHAUSTED),
    "wallet": (card(wallets=(Wallet("W-1", "money", 0),)), REQ, CTX, Reason.WALLET_EMPTY),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_reason_code(name: str) -> None:
    view, request, context, reason = SCENARIOS[name]
    decision = authorize(view, request, context)
    assert decision.reason == reason
    assert decision.approved is (reason == Reason.APPROVED)


def test_the_scenarios_cover_every_engine_reason_and_every_reason_is_described() -> None:
    # Reader-layer refusals (malformed swipe, forged token ...) and voucher refusals never
    # come from the engine.
    assert {s[3] for s in SCENARIOS.values()} == set(Reason) - READER_REASONS - VOUCHER_REASONS
    assert set(DESCRIPTIONS) == set(Reason)
    # The names are a contract (issue 2, item 7): these values never change.
    for name in ("approved", "unknown_card", "card_blocked", "card_lost", "card_expired",
                 "on_stop_list", "product_not_allowed", "outside_time_window",
                 "station_not_allowed", "limit_exhausted", "visits_exhausted", "wallet_empty",
                 "pin_required", "pin_locked", "odometer_required", "data_stale"):
        assert Reason(name).value == name


# -- approved, unknown, stop list, status, expiry ---------------------------------------

def test_unrestricted_card_gets_every_product_up_to_the_station_max_fill() -> None:
    decision = authorize(CARD, REQ, CTX)
    assert_approved(decision, POLICY.max_fill_ml)
    assert decision.max_amount == amount_for(200_000, PRICES["AI92"]) == 1_018_000
    assert decision.hold_amount == amount_for(200_000, PRICES["DT"]) == 1_270_000
    assert decision.wallet_holds == {}
    assert decision.stale is False
    assert decision.pin_failed is False


def test_unknown_card_is_refused() -> None:
    assert_denied(authorize(None, req(product="AI95"), CTX), Reason.UNKNOWN_CARD)


def test_stop_list_wins_over_everything() -> None:
    assert_denied(authorize(CARD, REQ, ctx(stop_listed=True)), Reason.ON_STOP_LIST)
    assert_denied(authorize(None, REQ, ctx(stop_listed=True)), Reason.ON_STOP_LIST)
    assert_denied(authorize(card(status="blocked"), REQ, ctx(stop_listed=True)),
                  Reason.ON_STOP_LIST)


@pytest.mark.parametrize(("status", "reason"), [
    ("blocked", Reason.CARD_BLOCKED),
    ("lost", Reason.CARD_LOST),
    ("stolen", Reason.CARD_STOLEN),
    ("withdrawn", Reason.CARD_WITHDRAWN),
    ("replaced", Reason.CARD_REPLACED),
    ("expired", Reason.CARD_EXPIRED),
])
def test_every_status_but_active_is_refused(status: str, reason: Reason) -> None:
    assert_denied(authorize(card(status=status), REQ, CTX), reason)
    # The status is checked before the other rules: a PIN or stale data changes nothing.
    assert_denied(authorize(card(status=status, pin_required=True), req(pin_ok=False),
                            ctx(data_age_s=None)), reason)


def test_card_expires_at_the_end_of_its_expiry_day() -> None:
    assert_approved(authorize(card(expires=TODAY), REQ, CTX), 200_000)
    assert_approved(authorize(card(expires=TODAY + timedelta(days=400)), REQ, CTX), 200_000)
    assert_denied(authorize(card(expires=TODAY - timedelta(days=1)), REQ, CTX),
                  Reason.CARD_EXPIRED)


def test_card_expiry_uses_the_station_local_date() -> None:
    # 2026-11-18 22:30 UTC is already 2026-11-19 01:30 in Moscow.
    late = datetime(2026, 11, 18, 22, 30, tzinfo=UTC)
    view = card(expires=date(2026, 11, 18))
    assert authorize(view, REQ, ctx(now=late)).approved
    assert_denied(authorize(view, REQ, ctx(now=late, tz=MOSCOW)), Reason.CARD_EXPIRED)


# -- station and time rules -------------------------------------------------------------

@pytest.mark.parametrize(("stations", "groups", "station_groups", "approved"), [
    (frozenset({"S-001"}), None, frozenset(), True),
    (frozenset({"S-001", "S-002"}), None, frozenset(), True),
    (frozenset({"S-002"}), None, frozenset({"G-NORTH"}), False),
    (frozenset(), None, frozenset(), False),
    (None, frozenset({"G-NORTH"}), frozenset({"G-NORTH", "G-HWY"}), True),
    (None, frozenset({"G-NORTH"}), frozenset({"G-SOUTH"}), False),
    (None, frozenset({"G-NORTH"}), frozenset(), False),
    (frozenset({"S-002"}), frozenset({"G-HWY"}), frozenset({"G-HWY"}), True),  # by group
    (frozenset({"S-001"}), frozenset({"G-HWY"}), frozenset(), True),  # by id
    (frozenset({"S-002"}), frozenset({"G-HWY"}), frozenset({"G-X"}), False),
    (None, None, frozenset(), True),  # no restriction
])
def test_allowed_stations_and_station_groups(stations: frozenset[str] | None,
                                             groups: frozenset[str] | None,
                                             station_groups: frozenset[str],
                                             approved: bool) -> None:
    decision = authorize(card(stations=stations, station_groups=groups), REQ,
                         ctx(station_groups=station_groups))
    if approved:
        assert_approved(decision, 200_000)
    else:
        assert_denied(decision, Reason.STATION_NOT_ALLOWED)


WORKDAY = TimeWindow(WEEKDAYS, 5 * 60, 23 * 60)  # Mon-Fri 05:00-23:00
FRIDAY_NIGHT = TimeWindow(frozenset({4}), 22 * 60, 6 * 60)  # Fri 22:00 - Sat 06:00
SUNDAY_NIGHT = TimeWindow(frozenset({6}), 22 * 60, 2 * 60)  # Sun 22:00 - Mon 02:00


@pytest.mark.parametrize(("window", "when", "inside"), [
    (WORKDAY, "2026-11-18 12:00", True),  # Wednesday noon
    (WORKDAY, "2026-11-18 05:00", True),  # start is inclusive
    (WORKDAY, "2026-11-18 04:59", False),
    (WORKDAY, "2026-11-18 22:59", True),
    (WORKDAY, "2026-11-18 23:00", False),  # end is exclusive
    (WORKDAY, "2026-11-21 12:00", False),  # Saturday
    (WORKDAY, "2026-11-22 12:00", False),  # Sunday
    (FRIDAY_NIGHT, "2026-11-20 22:00", True),  # Friday 22:00
    (FRIDAY_NIGHT, "2026-11-20 23:59", True),
    (FRIDAY_NIGHT, "2026-11-21 00:00", True),  # Saturday, after midnight
    (FRIDAY_NIGHT, "2026-11-21 05:59", True),
    (FRIDAY_NIGHT, "2026-11-21 06:00", False),
    (FRIDAY_NIGHT, "2026-11-20 21:59", False),
    (FRIDAY_NIGHT, "2026-11-20 03:00", False),  # Friday early: Thursday is not a day
    (FRIDAY_NIGHT, "2026-11-21 23:00", False),  # Saturday night is not a day
    (SUNDAY_NIGHT, "2026-11-22 23:30", True),  # Sunday
    (SUNDAY_NIGHT, "2026-11-23 01:59", True),  # wraps into Monday (week wraps too)
    (SUNDAY_NIGHT, "2026-11-23 02:00", False),
    (SUNDAY_NIGHT, "2026-11-16 01:00", True),  # the Monday of the same week
    (SUNDAY_NIGHT, "2026-11-22 21:00", False),
])
def test_time_windows_including_overnight(window: TimeWindow, when: str, inside: bool) -> None:
    decision = authorize(card(time_windows=(window,)), REQ, ctx(now=at(when)))
    if inside:
        assert_approved(decision, 200_000)
    else:
        assert_denied(decision, Reason.OUTSIDE_TIME_WINDOW)


def test_time_window_whole_day_and_several_windows() -> None:
    whole_saturday = TimeWindow(frozenset({5}), 0, 24 * 60)
    view = card(time_windows=(WORKDAY, whole_saturday))
    assert authorize(view, REQ, ctx(now=at("2026-11-21 23:59"))).approved  # Saturday
    assert authorize(view, REQ, ctx(now=at("2026-11-18 12:00"))).approved  # Wednesday
    assert_denied(authorize(view, REQ, ctx(now=at("2026-11-22 00:00"))),
                  Reason.OUTSIDE_TIME_WINDOW)  # Sunday


def test_time_windows_use_station_local_time() -> None:
    # 2026-11-18 02:30 UTC is 05:30 in Moscow: inside 05:00-23:00 there, not in UTC.
    early = at("2026-11-18 02:30")
    view = card(time_windows=(WORKDAY,))
    assert_denied(authorize(view, REQ, ctx(now=early)), Reason.OUTSIDE_TIME_WINDOW)
    assert authorize(view, REQ, ctx(now=early, tz=MOSCOW)).approved
    # Friday 21:30 UTC is Saturday 00:30 in Moscow: outside a Mon-Fri window there.
    assert authorize(view, REQ, ctx(now=at("2026-11-20 21:30"))).approved
    assert_denied(authorize(view, REQ, ctx(now=at("2026-11-20 21:30"), tz=MOSCOW)),
                  Reason.OUTSIDE_TIME_WINDOW)


# -- vehicle, PIN, odometer -------------------------------------------------------------

def test_vehicle_binding() -> None:
    view = card(vehicle_binding=True, vehicle_id="V-17")
    assert_denied(authorize(view, REQ, CTX), Reason.VEHICLE_REQUIRED)
    assert_denied(authorize(view, req(vehicle_id="V-18"), CTX), Reason.VEHICLE_MISMATCH)
    assert_approved(authorize(view, req(vehicle_id="V-17"), CTX), 200_000)
    # Without binding the vehicle is not checked.
    assert authorize(card(vehicle_id="V-17"), req(vehicle_id="V-99"), CTX).approved


def test_pin_required_and_accepted() -> None:
    view = card(pin_required=True)
    assert_denied(authorize(view, REQ, CTX), Reason.PIN_REQUIRED)
    decision = authorize(view, req(pin_ok=True), CTX)
    assert_approved(decision, 200_000)
    assert decision.pin_failed is False


def test_wrong_pins_count_up_to_the_lock() -> None:
    """With 3 tries: wrong, wrong, wrong -> the third one locks; then even the right PIN."""
    policy = Policy(pin_max_tries=3)
    context = ctx(policy=policy)
    outcomes = []
    for failures in range(3):
        decision = authorize(card(pin_required=True, pin_failures=failures),
                             req(pin_ok=False), context)
        assert decision.approved is False
        assert decision.pin_failed is True  # the caller must count it
        assert decision.max_volume_ml == 0
        outcomes.append(decision.reason)
    assert outcomes == [Reason.PIN_WRONG, Reason.PIN_WRONG, Reason.PIN_LOCKED]
    # Counter at the maximum: locked, whatever is entered, and nothing more to count.
    for pin_ok in (True, False, None):
        decision = authorize(card(pin_required=True, pin_failures=3), req(pin_ok=pin_ok),
                             context)
        assert_denied(decision, Reason.PIN_LOCKED)
        assert decision.pin_failed is False
    # One below the maximum, the right PIN still works.
    assert authorize(card(pin_required=True, pin_failures=2), req(pin_ok=True),
                     context).approved


def test_pin_single_try_locks_at_the_first_wrong_pin() -> None:
    decision = authorize(card(pin_required=True), req(pin_ok=False),
                         ctx(policy=Policy(pin_max_tries=1)))
    assert decision.reason == Reason.PIN_LOCKED
    assert decision.pin_failed is True


def test_pin_not_required_ignores_the_pin() -> None:
    assert authorize(CARD, req(pin_ok=False), CTX).approved


def test_odometer_required() -> None:
    view = card(odometer_required=True)
    assert_denied(authorize(view, REQ, CTX), Reason.ODOMETER_REQUIRED)
    assert authorize(view, req(odometer_km=0), CTX).approved
    assert authorize(view, req(odometer_km=123_456), CTX).approved


def test_identity_rules_in_order_pin_before_odometer() -> None:
    view = card(vehicle_binding=True, vehicle_id="V-1", pin_required=True,
                odometer_required=True)
    assert authorize(view, REQ, CTX).reason == Reason.VEHICLE_REQUIRED
    assert authorize(view, req(vehicle_id="V-1"), CTX).reason == Reason.PIN_REQUIRED
    assert (authorize(view, req(vehicle_id="V-1", pin_ok=True), CTX).reason
            == Reason.ODOMETER_REQUIRED)
    assert authorize(view, req(vehicle_id="V-1", pin_ok=True, odometer_km=1), CTX).approved


# -- stale data -------------------------------------------------------------------------

def test_stale_refuse_policy() -> None:
    policy = Policy(stale_policy="refuse", max_data_age_s=3600)
    assert_denied(authorize(CARD, REQ, ctx(policy=policy, data_age_s=3601)), Reason.DATA_STALE)
    assert_denied(authorize(CARD, REQ, ctx(policy=policy, data_age_s=None)), Reason.DATA_STALE)
    fresh = authorize(CARD, REQ, ctx(policy=policy, data_age_s=3600))  # at the limit: fresh
    assert_approved(fresh, 200_000)
    assert fresh.stale is False


def test_stale_restrict_policy_caps_the_preset() -> None:
    policy = Policy(stale_policy="restrict", max_data_age_s=3600, stale_fill_cap_ml=40_000)
    decision = authorize(CARD, REQ, ctx(policy=policy, data_age_s=3601))
    assert_approved(decision, 40_000)
    assert decision.stale is True
    assert decision.hold_amount == amount_for(40_000, PRICES["DT"])
    # Never-loaded data is stale too.
    assert authorize(CARD, REQ, ctx(policy=policy, data_age_s=None)).max_volume_ml == 40_000
    # A smaller limit or request still narrows it.
    limited = card(limits=(Limit("fill", "volume", 25_000),))
    assert authorize(limited, REQ, ctx(policy=policy, data_age_s=3601)).max_volume_ml == 25_000
    assert authorize(CARD, req(volume_ml=10_000),
                     ctx(policy=policy, data_age_s=3601)).max_volume_ml == 10_000
    # Fresh data is not capped.
    fresh = authorize(CARD, REQ, ctx(policy=policy, data_age_s=10))
    assert fresh.max_volume_ml == 200_000
    assert fresh.stale is False


def test_stale_restrict_refuses_card_kinds_not_listed() -> None:
    policy = Policy(stale_policy="restrict", stale_card_kinds=frozenset({"rfid", "smart"}))
    stale = ctx(policy=policy, data_age_s=None)
    assert_denied(authorize(card(kind="magstripe"), REQ, stale), Reason.DATA_STALE)
    assert_denied(authorize(card(kind="digital"), req(token=True), stale), Reason.DATA_STALE)
    assert authorize(card(kind="rfid"), REQ, stale).max_volume_ml == 40_000
    assert authorize(card(kind="smart"), REQ, stale).max_volume_ml == 40_000
    # With fresh data the kind does not matter.
    assert authorize(card(kind="magstripe"), REQ, ctx(policy=policy)).approved


def test_stale_cap_below_the_minimum_preset_refuses_as_stale() -> None:
    policy = Policy(stale_fill_cap_ml=500, min_preset_ml=1000)
    assert_denied(authorize(CARD, REQ, ctx(policy=policy, data_age_s=None)), Reason.DATA_STALE)


# -- products ---------------------------------------------------------------------------

def test_allowed_products() -> None:
    view = card(products=frozenset({"AI95", "DT"}))
    assert_approved(authorize(view, REQ, CTX), 200_000, ("AI95", "DT"))
    assert_approved(authorize(view, req(product="DT"), CTX), 200_000, ("DT",))
    assert_denied(authorize(view, req(product="AI92"), CTX), Reason.PRODUCT_NOT_ALLOWED)
    # A product the station does not sell, asked or allowed, is never offered.
    assert_denied(authorize(CARD, req(product="LPG"), CTX), Reason.PRODUCT_NOT_ALLOWED)
    assert_denied(authorize(card(products=frozenset({"LPG"})), REQ, CTX),
                  Reason.PRODUCT_NOT_ALLOWED)
    assert_denied(authorize(card(products=frozenset()), REQ, CTX), Reason.PRODUCT_NOT_ALLOWED)
    assert_approved(authorize(card(products=frozenset({"LPG", "AI92"})), REQ, CTX), 200_000,
                    ("AI92",))


# -- visits -----------------------------------------------------------------------------

def test_visits_per_day() -> None:
    two_a_day = (VisitLimit("day", 2),)
    today1, today2 = at("2026-11-18 00:00"), at("2026-11-18 09:00")
    yesterday = at("2026-11-17 23:59")
    assert_denied(authorize(card(visits=two_a_day, sales=(sale("DT", today1, 5000),
                                                          sale("DT", today2, 5000))),
                            REQ, CTX), Reason.VISITS_EXHAUSTED)
    assert authorize(card(visits=two_a_day, sales=(sale("DT", today1, 5000),
                                                   sale("DT", yesterday, 5000),
                                                   sale("AI92", yesterday, 5000))),
                     REQ, CTX).approved
    # An open authorization is a visit.
    hold = Hold(frozenset({"DT"}), 10_000, 63_500)
    assert_denied(authorize(card(visits=two_a_day, sales=(sale("DT", today1, 5000),),
                                 holds=(hold,)), REQ, CTX), Reason.VISITS_EXHAUSTED)
    # Office counts for the current day count; for yesterday they do not.
    office_today = OfficeUsage("day", TODAY, "DT", 10_000, 63_500, 2)
    office_yesterday = OfficeUsage("day", TODAY - timedelta(days=1), "DT", 10_000, 63_500, 5)
    assert_denied(authorize(card(visits=two_a_day, office_usage=(office_today,)), REQ, CTX),
                  Reason.VISITS_EXHAUSTED)
    assert authorize(card(visits=two_a_day, office_usage=(office_yesterday,)), REQ,
                     CTX).approved


def test_visits_per_week_follow_the_week_start() -> None:
    one_a_week = (VisitLimit("week", 1),)
    sunday = at("2026-11-15 10:00")
    view = card(visits=one_a_week, sales=(sale("AI95", sunday, 20_000),))
    # Weeks from Monday: Sunday's fill was last week.
    assert authorize(view, REQ, CTX).approved
    # Weeks from Sunday: it is this week's one visit.
    assert_denied(authorize(view, REQ, ctx(week_start=6)), Reason.VISITS_EXHAUSTED)


# -- odometer reasonability (issue 10 #16) ------------------------------------------------

@pytest.mark.parametrize(("reading", "reasonable"), [
    (100_000, True), (100_001, True), (102_000, True),  # the same, a step, the largest step
    (99_999, False), (0, False),  # below the vehicle's last reading
    (102_001, False), (9_000_000, False),  # more than the largest step
])
def test_odometer_reasonability_refuse(reading: int, reasonable: bool) -> None:
    view = card(odometer_required=True, last_odometer_km=100_000)
    refuse = ctx(policy=Policy(odometer_policy="refuse", odometer_max_step_km=2_000))
    decision = authorize(view, req(odometer_km=reading), refuse)
    if reasonable:
        assert decision.approved and not decision.odometer_flag
    else:
        assert_denied(decision, Reason.ODOMETER_UNREASONABLE)


def test_odometer_reasonability_flag_approves_and_flags() -> None:
    view = card(last_odometer_km=100_000)
    flag = ctx(policy=Policy(odometer_policy="flag", odometer_max_step_km=2_000))
    flagged = authorize(view, req(odometer_km=99_000), flag)
    assert flagged.approved and flagged.odometer_flag
    assert not authorize(view, req(odometer_km=100_500), flag).odometer_flag
    # No reading, or no earlier reading of the vehicle: nothing to judge.
    assert not authorize(view, req(), flag).odometer_flag
    assert not authorize(card(), req(odometer_km=5), flag).odometer_flag
    # The default policy is flag.
    assert Policy().odometer_policy == "flag"


def test_odometer_rule_comes_after_the_odometer_prompt() -> None:
    view = card(odometer_required=True, last_odometer_km=100_000, pin_required=True)
    refuse = ctx(policy=Policy(odometer_policy="refuse"))
    assert authorize(view, req(odometer_km=1), refuse).reason == Reason.PIN_REQUIRED
    assert authorize(view, req(pin_ok=True), refuse).reason == Reason.ODOMETER_REQUIRED
    assert (authorize(view, req(pin_ok=True, odometer_km=1), refuse).reason
            == Reason.ODOMETER_UNREASONABLE)


def test_a_digital_card_needs_its_token_whatever_else_holds() -> None:
    # Issue 10 #1: only a verified QR token (Request.token) authorizes a digital card.
    digital = card(kind="digital")
    assert_denied(authorize(digital, req(volume_ml=10_000, product="DT"), CTX),
                  Reason.TOKEN_REQUIRED)
    assert_approved(authorize(digital, req(token=True), CTX), 200_000)
    # Status and expiry come first: a blocked digital card says so.
    assert_denied(authorize(card(kind="digital", status="blocked"), REQ, CTX),
                  Reason.CARD_BLOCKED)
    # Other kinds carry their medium (chip, stripe, tag): no token is asked.
    for kind in ("rfid", "magstripe", "smart"):
        assert authorize(card(kind=kind), REQ, CTX).approved
