"""``cards show`` data (edge/views.card_show): everything that decides, on the sample store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.lifecycle import Station
from edge.views import card_show

WALLET = "7800001234567890"  # day 50 l AI95, month 20,000.00; money wallet W-1 (AI95)
FLEET = "7800001234567891"  # RFID, vehicle V-17 bound, odometer, Mon-Fri 05:00-23:00
SMART = "7800001234567892"  # PIN 1234; W-3L expires 2099-03-31
DIGITAL = "7800001234567893"  # stations S-001 and S-002
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_open_holds_are_shown_apart_from_use(station: Station) -> None:
    auth = station.authorize(card=WALLET, pump=1, product="AI95", volume_ml=10_000)
    now = station.clock()
    shown = card_show(station.conn, station.config, WALLET, now)
    assert shown is not None
    day = next(lim for lim in shown["limits"] if lim["period"] == "day")
    assert (day["used"], day["held"], day["remaining"]) == (0, 10_000, 40_000)
    month = next(lim for lim in shown["limits"] if lim["period"] == "month")
    assert (month["used"], month["held"]) == (0, auth["max_amount"])
    wallet = shown["wallets"][0]
    assert (wallet["held"], wallet["available"]) == (auth["max_amount"],
                                                     100_000 - auth["max_amount"])
    station.complete(auth["sale_id"], volume_ml=8_000)
    shown = card_show(station.conn, station.config, WALLET, station.clock())
    assert shown is not None
    day = next(lim for lim in shown["limits"] if lim["period"] == "day")
    assert (day["used"], day["held"], day["remaining"]) == (8_000, 0, 42_000)
    assert shown["wallets"][0]["held"] == 0


def test_pin_state_and_wallet_expiry(station: Station) -> None:
    for _ in range(3):
        station.authorize(card=SMART, pump=1, pin="0000")
    shown = card_show(station.conn, station.config, SMART, station.clock())
    assert shown is not None
    assert shown["pin"] == {"required": True, "failures": 3, "max_tries": 3, "locked": True}
    later = card_show(station.conn, station.config, SMART,
                      datetime(2099, 4, 1, 12, 0, tzinfo=UTC))
    assert later is not None
    expired = {w["wallet_id"]: w["expired"] for w in later["wallets"]}
    assert expired["W-3L"] is True
    now = card_show(station.conn, station.config, SMART, datetime(2099, 3, 31, 12, tzinfo=UTC))
    assert now is not None and {w["wallet_id"]: w["expired"] for w in now["wallets"]}["W-3L"] \
        is False


def test_restrictions_vehicle_and_last_odometer(station: Station,
                                                sample_store_file: Path) -> None:
    station.clock = lambda: MONDAY
    station.import_cards(sample_store_file, actor="test")
    auth = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=120_400)
    station.complete(auth["sale_id"], volume_ml=40_000)
    shown = card_show(station.conn, station.config, FLEET, MONDAY + timedelta(minutes=5))
    assert shown is not None
    assert shown["time_windows"] == [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                      "from": "05:00", "to": "23:00"}]
    assert shown["in_time_window_now"] is True
    assert shown["vehicle"] == {"vehicle_id": "V-17", "binding": True,
                                "odometer_required": True, "last_odometer_km": 120_400}
    assert (shown["stations"], shown["station_groups"], shown["allowed_here"]) == \
        (None, None, True)
    saturday = card_show(station.conn, station.config, FLEET, MONDAY + timedelta(days=5))
    assert saturday is not None and saturday["in_time_window_now"] is False
    digital = card_show(station.conn, station.config, DIGITAL, MONDAY)
    assert digital is not None
    assert (digital["stations"], digital["allowed_here"]) == (["S-001", "S-002"], True)
