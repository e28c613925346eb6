"""Human formatting of money, volumes and ages (edge/display.py) and its config keys."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import load_config_dict
from core.display import Currency, age, ago, litres, pump_line, reader_event, size
from core.errors import ConfigError


@pytest.mark.parametrize(("code", "decimals", "minor", "text"), [
    ("RUB", 2, 1018000, "10,180.00 RUB"),
    ("RUB", 2, 5, "0.05 RUB"),
    ("RUB", 2, -150, "-1.50 RUB"),
    ("JPY", 0, 1018000, "1,018,000 JPY"),
    ("KWD", 3, 1234, "1.234 KWD"),
    ("EUR", 2, 2**63 - 1, "92,233,720,368,547,758.07 EUR"),
])
def test_money_in_the_currency(code: str, decimals: int, minor: int, text: str) -> None:
    assert Currency(code, decimals).money(minor) == text


@given(st.integers(min_value=-10**30, max_value=10**30), st.integers(0, 4))
def test_money_is_exact_for_every_integer(minor: int, decimals: int) -> None:
    """Integer arithmetic only: the digits always read back as the same integer."""
    number = Currency("XXX", decimals).money(minor).removesuffix(" XXX").replace(",", "")
    assert int(number.replace(".", "")) == minor


def test_price_and_unit() -> None:
    rub = Currency("RUB", 2)
    assert rub.price(5299) == "52.99 RUB/l"
    assert rub.of("volume", 15200) == "15.200 l"
    assert rub.of("money", 15200) == "152.00 RUB"
    assert litres(1_234_567) == "1,234.567 l"


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "never"), (0, "0 s"), (59, "59 s"), (60, "1 min"), (3_700, "1 h 1 min"),
    (86_400, "1 d"), (216_707, "2 d 12 h"), (90_061, "1 d 1 h"),
])
def test_age_in_two_largest_units(seconds: int | None, text: str) -> None:
    assert age(seconds) == text


@pytest.mark.parametrize(("count", "text"), [
    (0, "0 bytes"), (1, "1 byte"), (979, "979 bytes"), (48_213, "48.2 kB"),
    (999_999, "1,000.0 kB"), (3_400_000, "3.4 MB"), (2_500_000_000, "2.5 GB"),
])
def test_sizes_as_people_read_them(count: int, text: str) -> None:
    """Verification of issue 10 #15: 'flash export' said '(0.0 MB)' for a 1 kB bundle
    while 'office flash export' said '(979 bytes)'; one rule for both."""
    assert size(count) == text


def test_reader_events_as_people_read_them() -> None:
    """Verification of issue 10 #15: 'readers watch' printed raw JSON with max_volume_ml
    to a person; a line with the volume in litres (JSON stays with --json)."""
    approved = {"n": 7, "at": "2026-11-28T20:25:30.515342Z", "reader": "swipe5", "pump": 5,
                "kind": "magstripe", "card": "7800001234567893", "result": "approved",
                "reason": "approved", "sale_id": "AK6ZDN8YBV", "max_volume_ml": 38818}
    assert reader_event(approved) == ("20:25:30  swipe5  pump 5  magstripe 7800001234567893: "
                                      "APPROVED sale AK6ZDN8YBV up to 38.818 l")
    denied = {**approved, "result": "denied", "reason": "pump_busy", "sale_id": None,
              "max_volume_ml": 0}
    assert reader_event(denied).endswith("magstripe 7800001234567893: DENIED pump_busy")
    refused = {"n": 2, "at": "2026-11-28T20:25:13.410161Z", "reader": "swipe5", "pump": 5,
               "card": "****", "result": "refused", "reason": "swipe_malformed",
               "message": "the PAN on track 2 has 1 digit; a PAN has 12 to 19"}
    assert reader_event(refused) == ("20:25:13  swipe5  pump 5  card ****: REFUSED "
                                     "swipe_malformed: the PAN on track 2 has 1 digit; a PAN "
                                     "has 12 to 19")
    desk = {"n": 3, "at": "2026-11-28T20:26:00.000000Z", "reader": "desk", "pump": 0,
            "kind": "rfid", "card": "7800001234567891", "result": "read at the desk"}
    assert reader_event(desk) == "20:26:00  desk  desk  rfid 7800001234567891: read at the desk"


def test_pump_lines_as_people_read_them() -> None:
    """Verification of issue 10 #15: a pump silent since the daemon started was shown as
    'pump  1 island-1 0x50: OFFLINE None'."""
    silent = {"pump": 1, "line": "island-1", "address": "0x50", "online": False,
              "state": None, "nozzle": None, "nozzle_out": False, "sale_id": None}
    assert pump_line(silent) == "pump  1 island-1 0x50: OFFLINE state unknown"
    filling = {**silent, "online": True, "state": "FILLING", "nozzle": 3, "nozzle_out": True,
               "sale_id": "AVR0YZR5G4"}
    assert pump_line(filling) == ("pump  1 island-1 0x50: online FILLING nozzle 3 out "
                                  "sale AVR0YZR5G4")


def _station(extra: str) -> str:
    return f"[station]\n{extra}\n"


def test_currency_from_config() -> None:
    path = Path("c.toml")
    cfg = load_config_dict(tomllib.loads(_station('currency = "JPY"')), path)
    assert cfg.station.money == Currency("JPY", 0)
    cfg = load_config_dict(tomllib.loads(_station('currency = "XAU"\ncurrency_decimals = 3')),
                           path)
    assert cfg.station.money == Currency("XAU", 3)
    assert load_config_dict({}, path).station.money == Currency("RUB", 2)


@pytest.mark.parametrize(("text", "message"), [
    ('currency = "rub"', "[station] currency must be an ISO 4217 code"),
    ('currency = "XAU"', "set [station] currency_decimals"),
    ('currency_decimals = 9', "[station] currency_decimals must be at most 4"),
])
def test_bad_currency_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config_dict(tomllib.loads(_station(text)), Path("c.toml"))


def test_ago() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 28, 19, 0, 0, tzinfo=UTC)
    assert ago("2026-11-26T06:48:13.000000Z", now) == "2026-11-26T06:48:13Z (2 d 12 h ago)"
    assert ago(None, now) == "-"
    assert ago("not a time", now) == "not a time"
