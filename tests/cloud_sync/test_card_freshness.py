"""Issue 10 #2 over the wire: an office message is fresh only as of when it was signed.

A heartbeat or delta over MQTT vouches for the card data as of its envelope's ``at``
(a replayed one does not make the data fresh again); a message or a flash reply
signed further in the future than ``[offline] max_clock_skew`` is refused.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import envelope
from cloud_sync.bundle import BundleError
from cloud_sync.envelope import EVERYONE, OFFICE, seal
from cloud_sync.station_sync import StationSync
from core.timefmt import iso, utc_now
from edge.lifecycle import Station
from office.cards import master as card_master
from offline_db.replication import CardsUpdate, apply_cards_message
from offline_db.state import get_state, set_state
from tests.cloud_sync.flash_desk import Desk, card_store


@pytest.fixture
def office_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sync(station: Station, office_key: Ed25519PrivateKey) -> StationSync:
    """The station's uplink (not connected): its card-message handler, as the daemon wires it."""

    def apply(body: dict[str, Any], made: datetime | None = None) -> CardsUpdate:
        return apply_cards_message(station, body, vouched_at=made)

    return StationSync(station.config, station.conn, threading.Lock(),
                       Ed25519PrivateKey.generate(), office_key.public_key(),
                       apply_cards=apply)


def heartbeat(office_key: Ed25519PrivateKey, signed_at: datetime,
              monkeypatch: pytest.MonkeyPatch) -> bytes:
    body = {"mode": "delta", "from_version": 17, "to_version": 17, "ops": [],
            "expires_at": iso(utc_now() + timedelta(hours=1))}
    with monkeypatch.context() as m:
        m.setattr(envelope, "utc_now", lambda: signed_at)
        return seal("cards", OFFICE, EVERYONE, body, office_key)


def test_a_replayed_heartbeat_is_fresh_only_as_of_its_signing(
        station: Station, sync: StationSync, office_key: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = utc_now()
    set_state(station.conn, "card_store_confirmed_at", iso(now - timedelta(days=2)))
    signed = now - timedelta(hours=30)  # captured 30 h ago, still inside its expiry
    sync._on_cards(heartbeat(office_key, signed, monkeypatch))
    assert sync.card_updates == 1
    assert get_state(station.conn, "card_store_confirmed_at") == iso(signed)
    station.card_data_changed()
    auth = station.authorize(card="7800001234567893", pump=1, product="AI92")
    assert auth["stale_data"] is True


def test_a_message_signed_in_the_future_changes_nothing(
        station: Station, sync: StationSync, office_key: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = iso(utc_now() - timedelta(days=2))
    set_state(station.conn, "card_store_confirmed_at", before)
    sync._on_cards(heartbeat(office_key, utc_now() + timedelta(days=1), monkeypatch))
    assert get_state(station.conn, "card_store_confirmed_at") == before


def test_a_flash_reply_made_in_the_future_is_refused(desk: Desk) -> None:
    """Replayed, a reply from the future would mark the data fresh for as long as it is valid."""
    card_master.import_file(desk.office, card_store(desk.root).read_bytes(), actor="test")
    desk.sell(1)
    desk.office_import(desk.export())
    desk.clock.now += timedelta(days=365)  # the office's clock is a year ahead
    reply = desk.office_export()
    desk.clock.now -= timedelta(days=365)
    before = desk.station_state()
    with pytest.raises(BundleError) as err:
        desk.station_import(reply)
    assert err.value.reason == "cards_refused" and "creation time" in str(err.value)
    assert desk.station_state() == before
