"""The sale lifecycle on the sample card store: holds, debits, PIN tries, refusals."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import tokens
from core.config import Config
from core.errors import ForecourtError, SaleError
from core.keys import public_text
from edge.lifecycle import Station
from offline_db.journal import verify
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore
from tests.conftest import SAMPLE

SMART = "7800001234567892"  # PIN 1234; litre wallet W-3L (DT, 200 l), money wallet W-3M
FLEET = "7800001234567891"  # RFID, DT only, vehicle V-17, odometer, 2 visits a day


def test_smart_card_pin_tries_lock_the_card(station: Station) -> None:
    assert station.authorize(card=SMART, pump=1)["reason"] == "pin_required"
    assert station.authorize(card=SMART, pump=1, pin="0000")["reason"] == "pin_wrong"
    assert station.authorize(card=SMART, pump=1, pin="1111")["reason"] == "pin_wrong"
    # A correct PIN before the limit resets the count.
    ok = station.authorize(card=SMART, pump=1, pin="1234", product="DT")
    assert ok["approved"]
    station.cancel(ok["sale_id"])
    for reason in ("pin_wrong", "pin_wrong", "pin_locked"):
        assert station.authorize(card=SMART, pump=1, pin="9999")["reason"] == reason
    assert station.authorize(card=SMART, pump=1, pin="1234")["reason"] == "pin_locked"


def test_litre_wallet_pays_first_then_money(station: Station) -> None:
    auth = station.authorize(card=SMART, pump=2, pin="1234", product="DT")
    # 200 l in W-3L plus what 250000 minor units buy at 6350 per litre.
    assert auth["max_volume_ml"] == 200_000  # capped by [authorization] max_fill_ml
    done = station.complete(auth["sale_id"], volume_ml=150_000)
    assert done["wallet_debits"] == {"W-3L": 150_000}
    auth = station.authorize(card=SMART, pump=2, pin="1234", product="DT")
    assert auth["max_volume_ml"] == 50_000 + (1000 * 250_000 + 499) // 6350
    done = station.complete(auth["sale_id"], volume_ml=60_000)
    assert done["wallet_debits"] == {"W-3L": 50_000, "W-3M": (10_000 * 6350 + 500) // 1000}
    assert verify(station.conn).ok


def test_open_hold_counts_against_a_second_pump(station: Station) -> None:
    first = station.authorize(card="7800001234567890", pump=1, product="AI95")
    assert first["approved"]
    second = station.authorize(card="7800001234567890", pump=2, product="AI95")
    assert (second["approved"], second["reason"]) == (False, "wallet_empty")
    station.complete(first["sale_id"], volume_ml=10_000)
    third = station.authorize(card="7800001234567890", pump=2, product="AI95")
    left = 100_000 - (10_000 * 5299 + 500) // 1000
    assert third["max_volume_ml"] == (1000 * left + 499) // 5299


def test_fleet_card_prompts_and_visits(station: Station, sample_store_file: Path) -> None:
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    station.clock = lambda: monday
    station.import_cards(sample_store_file, actor="test")  # fresh as of Monday 09:00
    assert station.authorize(card=FLEET, pump=1)["reason"] == "vehicle_required"
    assert station.authorize(card=FLEET, pump=1, vehicle="V-18")["reason"] == "vehicle_mismatch"
    assert station.authorize(card=FLEET, pump=1, vehicle="V-17")["reason"] == "odometer_required"
    for _ in range(2):
        auth = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=120_400)
        assert auth["approved"] and auth["products"] == ["DT"]
        station.complete(auth["sale_id"], volume_ml=80_000)
    third = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=120_900)
    assert third["reason"] == "visits_exhausted"
    station.clock = lambda: monday + timedelta(hours=23)  # Tuesday 08:00, data still fresh
    auth = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=121_000)
    # Weekly limit 900 l minus the 160 l already taken this week.
    assert auth["approved"] and auth["max_volume_ml"] == 200_000
    station.cancel(auth["sale_id"])  # pump 1 is free again
    station.clock = lambda: monday + timedelta(days=5)  # Saturday: outside the window
    assert station.authorize(card=FLEET, pump=1, vehicle="V-17",
                             odometer_km=1)["reason"] == "outside_time_window"


def test_completion_refusals_change_nothing(station: Station) -> None:
    auth = station.authorize(card="7800001234567893", pump=4)
    assert auth["products"] == ["AI92", "AI95", "DT"]
    with pytest.raises(SaleError, match="say which product"):
        station.complete(auth["sale_id"], volume_ml=1000)
    with pytest.raises(SaleError, match="does not allow product GAS"):
        station.complete(auth["sale_id"], volume_ml=1000, product="GAS")
    with pytest.raises(SaleError, match="more than the"):
        station.complete(auth["sale_id"], volume_ml=auth["max_volume_ml"] + 1, product="DT")
    with pytest.raises(SaleError, match="at least 1 ml"):
        station.complete(auth["sale_id"], volume_ml=0, product="DT")
    with pytest.raises(SaleError, match="there is no authorization NOPE"):
        station.complete("NOPE", volume_ml=1000)
    assert station.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
    done = station.complete(auth["sale_id"], volume_ml=auth["max_volume_ml"], product="DT")
    assert done["seq"] == 1
    denied = station.authorize(card="7800001234567894", pump=4)
    with pytest.raises(SaleError, match="was denied"):
        station.complete(denied["decision_id"], volume_ml=1000)


def test_stale_data_restricts(station: Station, tmp_path: Path,
                              sample_store_file: Path) -> None:
    doc = json.loads(sample_store_file.read_text())
    doc["version"] = 18
    doc["generated_at"] = "2026-01-01T00:00:00Z"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    station.import_cards(path, actor="test")
    station.clock = lambda: datetime(2026, 1, 3, 12, tzinfo=UTC)  # 60 h later, limit 24 h
    auth = station.authorize(card="7800001234567893", pump=1, product="AI92")
    assert (auth["approved"], auth["stale_data"], auth["max_volume_ml"]) == (True, True, 40_000)


def test_tag_uid_under_an_ndef_card_number_is_checked(station: Station,
                                                      sample_store_file: Path) -> None:
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # inside the card's time window
    station.clock = lambda: monday
    station.import_cards(sample_store_file, actor="test")
    # The card number was copied onto another tag: its UID is not the card's.
    copied = station.authorize(card=FLEET, pump=1, presented=["DEADBEEF0001"])
    assert (copied["approved"], copied["reason"]) == (False, "card_not_genuine")
    # The card's own tag passes on to the card's rules (here: a vehicle is needed).
    own = station.authorize(card=FLEET, pump=1, presented=["04a1b2c3d4e5f6"])
    assert own["reason"] == "vehicle_required"
    # A presented identifier on the stop list refuses the card.
    listed = station.authorize(card="7800001234567893", pump=1,
                               presented=["7800009999999999"])
    assert listed["reason"] == "on_stop_list"


# -- the vehicle and odometer of each sale (issue 10 #16) ---------------------------------

def _fleet_sale(station: Station, odometer_km: int, volume_ml: int = 40_000) -> dict[str, object]:
    auth = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=odometer_km)
    assert auth["approved"], auth
    return station.complete(auth["sale_id"], volume_ml=volume_ml)


def _journal(station: Station) -> list[dict[str, object]]:
    return [dict(r) for r in station.conn.execute("SELECT * FROM journal ORDER BY seq")]


def test_journal_records_vehicle_and_odometer(station: Station, sample_store_file: Path) -> None:
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    station.clock = lambda: monday
    station.import_cards(sample_store_file, actor="test")
    _fleet_sale(station, 120_400)
    # A card without a vehicle prompt records the card's own vehicle when it has one,
    # and nothing when neither the request nor the card names one.
    other = station.authorize(card="7800001234567890", pump=2, product="AI95")
    station.complete(other["sale_id"], volume_ml=1_000)
    rows = _journal(station)
    assert (rows[0]["vehicle_id"], rows[0]["odometer_km"], rows[0]["odometer_flag"]) == \
        ("V-17", 120_400, None)
    assert (rows[1]["vehicle_id"], rows[1]["odometer_km"]) == (None, None)
    assert verify(station.conn).ok


def test_unreasonable_odometer_is_flagged_in_the_journal(station: Station,
                                                         sample_store_file: Path) -> None:
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    station.clock = lambda: monday
    station.import_cards(sample_store_file, actor="test")
    _fleet_sale(station, 120_400)
    done = _fleet_sale(station, 119_000)  # below the last reading: flagged, not refused
    assert done["odometer_flag"] == "odometer_unreasonable"
    rows = _journal(station)
    assert (rows[1]["odometer_km"], rows[1]["odometer_flag"]) == (119_000,
                                                                 "odometer_unreasonable")
    # A flagged reading is not the new reference: a typo does not flag every later sale.
    station.clock = lambda: monday + timedelta(hours=23)  # two more visits on Tuesday
    typo = _fleet_sale(station, 1_204_000)
    assert typo["odometer_flag"] == "odometer_unreasonable"
    assert _fleet_sale(station, 120_900)["odometer_flag"] is None
    assert verify(station.conn).ok


def test_unreasonable_odometer_refused_by_policy(station: Station, sample_store_file: Path
                                                 ) -> None:
    import dataclasses

    from edge.cardview import policy_of

    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    station.clock = lambda: monday
    station.import_cards(sample_store_file, actor="test")
    _fleet_sale(station, 120_400)
    config = station.config
    station.config = dataclasses.replace(config, odometer=dataclasses.replace(
        config.odometer, policy="refuse", max_step_km=1_500))
    station.policy = policy_of(station.config)
    for reading in (120_399, 121_901):
        denied = station.authorize(card=FLEET, pump=1, vehicle="V-17", odometer_km=reading)
        assert (denied["approved"], denied["reason"]) == (False, "odometer_unreasonable")
    assert station.authorize(card=FLEET, pump=1, vehicle="V-17",
                             odometer_km=121_900)["approved"]
    assert len(_journal(station)) == 1


@pytest.mark.parametrize(("args", "message"), [
    ({"vehicle": "V-17\n"}, "vehicle must be 1-64 printable characters"),
    ({"vehicle": ""}, "vehicle must be 1-64 printable characters"),
    ({"vehicle": "V" * 65}, "vehicle must be 1-64 printable characters"),
    ({"vehicle": "V-17", "odometer_km": 10_000_001}, "odometer_km must be 0-10000000"),
    ({"vehicle": "V-17", "odometer_km": -1}, "odometer_km must be 0-10000000"),
])
def test_bad_vehicle_or_odometer_is_one_sentence(station: Station, args: dict[str, object],
                                                 message: str) -> None:
    before = station.conn.execute("SELECT COUNT(*) FROM authorizations").fetchone()[0]
    with pytest.raises(SaleError, match=message):
        station.authorize(card=FLEET, pump=1, **args)  # type: ignore[arg-type]
    assert station.conn.execute("SELECT COUNT(*) FROM authorizations").fetchone()[0] == before


def test_a_pump_holds_one_open_authorization(station: Station) -> None:
    # Issue 10 #6: three authorizations were open on pump 1 at once, two for one card.
    card, other = "7800001234567893", "7800001234567890"
    first = station.authorize(card=card, pump=1, product="AI92", volume_ml=10_000)
    assert first["approved"]
    for again in (card, other):
        busy = station.authorize(card=again, pump=1)
        assert (busy["approved"], busy["reason"], busy["sale_id"]) == (False, "pump_busy", None)
    assert station.conn.execute("SELECT COUNT(*) FROM authorizations WHERE pump = 1 AND "
                                "state = 'open'").fetchone()[0] == 1
    denied = station.conn.execute("SELECT state, reason FROM authorizations WHERE sale_id = ?",
                                  (busy["decision_id"],)).fetchone()
    assert tuple(denied) == ("denied", "pump_busy")  # recorded like every decision
    assert station.authorize(card=other, pump=2, product="AI95")["approved"]  # another pump
    station.cancel(first["sale_id"])
    second = station.authorize(card=card, pump=1, product="AI92")
    assert second["approved"]
    station.complete(second["sale_id"], volume_ml=5_000)
    assert station.authorize(card=card, pump=1, product="AI92")["approved"]


DIGITAL = "7800001234567897"  # the sample's digital card, token id T-8F2K9Q


@pytest.fixture
def office_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def qr_station(config: Config, office_key: Ed25519PrivateKey) -> Iterator[Station]:
    """The sample station with the head office's public key pinned (QR tokens checked)."""
    pinned = replace(config, station=replace(config.station,
                                             office_public_key=public_text(office_key)))
    store, _ = StationStore.create(pinned.station.data_dir)
    station = Station(store, pinned)
    station.import_cards(SAMPLE, actor="test")
    try:
        yield station
    finally:
        store.close()


def test_a_digital_card_is_authorized_only_by_its_token(qr_station: Station,
                                                        office_key: Ed25519PrivateKey) -> None:
    # Issue 10 #1: --card <a digital card's card_id or token id> was approved, no token.
    station = qr_station
    soon = station.clock() + timedelta(minutes=10)
    for identifier in (DIGITAL, "T-8F2K9Q"):
        refused = station.authorize(card=identifier, pump=1)
        assert (refused["approved"], refused["reason"]) == (False, "token_required")
    token = tokens.issue(office_key, DIGITAL, soon)
    ok = station.authorize(token=token, pump=1, product="AI92", volume_ml=10_000)
    assert (ok["approved"], ok["card_id"]) == (True, DIGITAL)
    assert station.authorize(token=token, pump=2)["reason"] == "token_replayed"
    # Tokens the office never signed, or signed for a card that is not digital.
    forged = tokens.issue(Ed25519PrivateKey.generate(), DIGITAL, soon)
    expired = tokens.issue(office_key, DIGITAL, station.clock() - timedelta(seconds=1))
    plastic = tokens.issue(office_key, "7800001234567890", soon)
    for bad, reason in ((forged, "token_invalid"), (expired, "token_expired"),
                        (plastic, "token_invalid"), ("not a token", "token_invalid")):
        answer = station.authorize(token=bad, pump=2)
        assert (answer["approved"], answer["reason"]) == (False, reason)
    # A token whose authorization was denied for another reason may be shown again.
    fresh = tokens.issue(office_key, DIGITAL, soon)
    assert station.authorize(token=fresh, pump=1)["reason"] == "pump_busy"
    assert station.authorize(token=fresh, pump=2, product="AI92", volume_ml=10_000)["approved"]
    with pytest.raises(SaleError, match="a card identifier or by a QR token: one of them"):
        station.authorize(card=DIGITAL, token=fresh, pump=3)
    assert station.conn.execute("SELECT COUNT(*) FROM authorizations WHERE state = 'open'"
                                ).fetchone()[0] == 2


def test_a_signed_token_with_an_absurd_expiry_is_refused(qr_station: Station,
                                                         office_key: Ed25519PrivateKey) -> None:
    # Signed, so past the signature check, but its expiry is no date: refused, no traceback.
    for expiry in (10**20, -(10**20)):
        payload = json.dumps({"c": DIGITAL, "e": expiry, "n": "0" * 24}).encode()
        signed = "FC1." + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        token = signed + "." + base64.urlsafe_b64encode(
            office_key.sign(signed.encode())).rstrip(b"=").decode()
        answer = qr_station.authorize(token=token, pump=1)
        assert (answer["approved"], answer["reason"]) == (False, "token_invalid")


def test_without_an_office_key_every_token_is_refused(station: Station) -> None:
    token = tokens.issue(Ed25519PrivateKey.generate(), DIGITAL,
                         station.clock() + timedelta(minutes=10))
    answer = station.authorize(token=token, pump=1)
    assert (answer["approved"], answer["reason"]) == (False, "token_invalid")


def _lock_smart_pin(station: Station) -> None:
    for reason in ("pin_wrong", "pin_wrong", "pin_locked"):
        assert station.authorize(card=SMART, pump=1, pin="9999")["reason"] == reason
    assert station.authorize(card=SMART, pump=1, pin="1234")["reason"] == "pin_locked"


def _store_with_pin(sample: Path, tmp_path: Path, version: int, **pin: Any) -> Path:
    doc = json.loads(sample.read_text())
    doc["version"] = version
    smart = next(c for c in doc["cards"] if c["card_id"] == SMART)
    smart["pin"].update(pin)
    path = tmp_path / f"v{version}.json"
    path.write_text(json.dumps(doc))
    return path


def _pin_opens(station: Station, pin: str = "1234") -> bool:
    auth = station.authorize(card=SMART, pump=1, pin=pin, product="DT")
    if auth["approved"]:
        station.cancel(auth["sale_id"])
    return bool(auth["approved"])


def test_a_locked_pin_is_unlocked_by_an_office_reset(station: Station, tmp_path: Path,
                                                     sample_store_file: Path) -> None:
    # Issue 10 #5: re-import, a new version, a new PIN hash: the card stayed pin_locked.
    _lock_smart_pin(station)
    station.import_cards(sample_store_file, actor="test")  # the same data: still locked
    station.import_cards(_store_with_pin(sample_store_file, tmp_path, 18), actor="test")
    assert not _pin_opens(station)
    # The head office's PIN reset travels in the card data (pin.reset, a generation).
    station.import_cards(_store_with_pin(sample_store_file, tmp_path, 19, reset=19),
                         actor="test")
    assert _pin_opens(station)
    _lock_smart_pin(station)  # counted under generation 19 now
    station.import_cards(_store_with_pin(sample_store_file, tmp_path, 20, reset=19),
                         actor="test")
    assert not _pin_opens(station)
    # A delta from the office with a newer generation unlocks too.
    smart = json.loads(station.conn.execute("SELECT rules FROM cards WHERE card_id = ?",
                                            (SMART,)).fetchone()[0])
    card = {"card_id": SMART, "kind": "smart", "pan": SMART, "pin": {**smart["pin"],
                                                                    "reset": 21}}
    result = apply_cards_message(station, {"mode": "delta", "from_version": 20,
                                           "to_version": 21,
                                           "ops": [{"op": "card", "card": card}],
                                           "expires_at": "2099-01-01T00:00:00Z"})
    assert result.outcome == "applied"
    assert _pin_opens(station)


def test_a_new_pin_starts_the_count_over(station: Station, tmp_path: Path,
                                         sample_store_file: Path) -> None:
    _lock_smart_pin(station)
    salt = "00112233445566778899"
    digest = hashlib.pbkdf2_hmac("sha256", b"4321", bytes.fromhex(salt), 100_000).hex()
    station.import_cards(_store_with_pin(sample_store_file, tmp_path, 18, salt=salt,
                                         hash=digest, iterations=100_000), actor="test")
    assert not _pin_opens(station, "1234")  # the old PIN is wrong now (one try used)
    assert _pin_opens(station, "4321")


def test_the_station_resets_a_locked_pin_and_records_who(station: Station) -> None:
    _lock_smart_pin(station)
    result = station.pin_reset(SMART, actor="cli:alice")
    assert result == {"card_id": SMART, "failures_cleared": 3}
    row = station.conn.execute("SELECT actor, details FROM audit_log WHERE action = "
                               "'cards.pin_reset'").fetchone()
    assert row["actor"] == "cli:alice" and json.loads(row["details"])["card_id"] == SMART
    assert _pin_opens(station)
    assert station.pin_reset("7800001234567892", actor="cli:alice")["failures_cleared"] == 0
    with pytest.raises(ForecourtError, match="card nobody is not in the card store"):
        station.pin_reset("nobody", actor="cli:alice")
