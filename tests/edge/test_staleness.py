"""Issue 10 #2: no timestamp keeps card data fresh beyond [offline] max_data_age.

DESIGN invariant 6 holds whatever the card data's own times say: a ``generated_at``
in the future, an ``expires_at`` that has passed, a freshness mark ahead of the
station's clock. Every source of card data is covered: the card-store file, an
office snapshot or delta message (MQTT and flash replies share apply_cards_message).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import CardStoreFormatError
from core.timefmt import iso
from edge.lifecycle import Station
from edge.views import status
from offline_db.replication import apply_cards_message
from offline_db.state import get_state, set_state

T = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CARD = "7800001234567893"  # digital, no limits: the stale cap (40 l) is what binds


def store_file(tmp_path: Path, sample: Path, **times: datetime) -> Path:
    doc = json.loads(sample.read_text())
    doc["version"] = 18
    doc.update({k: iso(v) for k, v in times.items()})
    path = tmp_path / "cards.json"
    path.write_text(json.dumps(doc))
    return path


def at(station: Station, moment: datetime) -> None:
    station.clock = lambda: moment


def fill(station: Station) -> dict[str, Any]:
    auth = station.authorize(card=CARD, pump=1, product="AI92")
    if auth["approved"]:
        station.cancel(auth["sale_id"])
    return auth


def test_a_card_store_made_in_the_future_is_refused(station: Station, tmp_path: Path,
                                                     sample_store_file: Path) -> None:
    at(station, T)
    path = store_file(tmp_path, sample_store_file, generated_at=T + timedelta(days=365))
    with pytest.raises(CardStoreFormatError, match=r"generated_at .* ahead of the station's"):
        station.import_cards(path, actor="test")
    assert get_state(station.conn, "card_store_version") == "17"  # nothing changed


def test_generated_at_within_the_skew_counts_from_the_station_clock(
        station: Station, tmp_path: Path, sample_store_file: Path) -> None:
    at(station, T)
    station.import_cards(store_file(tmp_path, sample_store_file,
                                    generated_at=T + timedelta(minutes=4)), actor="test")
    assert status(station.conn, station.config, T)["card_data_age_s"] == 0
    at(station, T + timedelta(hours=24, minutes=1))  # 24 h 1 min by the station's clock
    auth = fill(station)
    assert (auth["stale_data"], auth["max_volume_ml"]) == (True, 40_000)


def test_an_expired_card_store_is_refused(station: Station, tmp_path: Path,
                                          sample_store_file: Path) -> None:
    at(station, T)
    path = store_file(tmp_path, sample_store_file, generated_at=T - timedelta(days=2),
                      expires_at=T - timedelta(minutes=1))
    with pytest.raises(CardStoreFormatError, match=r"expires_at .* has passed"):
        station.import_cards(path, actor="test")
    assert get_state(station.conn, "card_store_version") == "17"


def test_expires_at_before_generated_at_is_refused(station: Station, tmp_path: Path,
                                                   sample_store_file: Path) -> None:
    at(station, T)
    path = store_file(tmp_path, sample_store_file, generated_at=T,
                      expires_at=T - timedelta(hours=1))
    with pytest.raises(CardStoreFormatError, match=r"expires_at .* is not after generated_at"):
        station.import_cards(path, actor="test")


def test_data_is_stale_once_its_expires_at_passes(station: Station, tmp_path: Path,
                                                  sample_store_file: Path) -> None:
    at(station, T)
    station.import_cards(store_file(tmp_path, sample_store_file, generated_at=T,
                                    expires_at=T + timedelta(hours=1)), actor="test")
    assert fill(station)["stale_data"] is False
    at(station, T + timedelta(hours=2))  # 2 h old: young, but past its expiry
    auth = fill(station)
    assert (auth["approved"], auth["stale_data"], auth["max_volume_ml"]) == (True, True, 40_000)
    shown = status(station.conn, station.config, T + timedelta(hours=2))
    assert (shown["card_data_stale"], shown["card_data_stale_reason"]) == (True, "expired")


def test_a_freshness_mark_ahead_of_the_clock_is_not_trusted(station: Station) -> None:
    """The station's clock was set back (or an old release stored a future mark)."""
    at(station, T)
    set_state(station.conn, "card_store_confirmed_at", iso(T + timedelta(days=365)))
    station.card_data_changed()
    auth = fill(station)
    assert (auth["stale_data"], auth["max_volume_ml"]) == (True, 40_000)
    shown = status(station.conn, station.config, T)
    assert (shown["card_data_stale"], shown["card_data_stale_reason"]) == (True, "clock")


def test_a_future_mark_does_not_outlive_an_old_reply(station: Station) -> None:
    """A week-old confirmation cannot be lifted by a mark that lies in the future."""
    at(station, T)
    set_state(station.conn, "card_store_confirmed_at", iso(T + timedelta(days=365)))
    body = {"mode": "delta", "from_version": 17, "to_version": 17, "ops": [],
            "expires_at": iso(T + timedelta(days=7))}
    made = T - timedelta(days=3)
    assert apply_cards_message(station, body, vouched_at=made).outcome == "confirmed"
    assert get_state(station.conn, "card_store_confirmed_at") == iso(made)
    assert fill(station)["stale_data"] is True


def office_snapshot(sample: Path, **times: datetime) -> dict[str, Any]:
    doc = json.loads(sample.read_text())
    doc["version"] = 30
    doc.update({k: iso(v) for k, v in times.items()})
    return {"mode": "snapshot", "snapshot": doc, "expires_at": iso(T + timedelta(hours=24))}


@pytest.mark.parametrize(("times", "detail"), [
    ({"generated_at": T + timedelta(days=30)}, "ahead of the station's clock"),
    ({"generated_at": T - timedelta(days=3), "expires_at": T - timedelta(days=1)},
     "has passed"),
])
def test_an_office_snapshot_in_the_future_or_expired_is_refused(
        station: Station, sample_store_file: Path, times: dict[str, datetime],
        detail: str) -> None:
    at(station, T)
    result = apply_cards_message(station, office_snapshot(sample_store_file, **times))
    assert result.outcome == "refused" and detail in result.detail
    assert get_state(station.conn, "card_store_version") == "17"


def test_an_office_snapshot_is_fresh_only_as_of_its_making(station: Station,
                                                          sample_store_file: Path) -> None:
    at(station, T)
    made = T - timedelta(hours=30)
    result = apply_cards_message(station, office_snapshot(sample_store_file, generated_at=made))
    assert result.outcome == "applied"
    assert get_state(station.conn, "card_store_confirmed_at") == iso(made)
    assert fill(station)["stale_data"] is True


def test_an_office_message_replaces_a_file_expiry(station: Station, tmp_path: Path,
                                                  sample_store_file: Path) -> None:
    """The office's master carries no expiry: its heartbeat vouches for the data anew."""
    at(station, T)
    station.import_cards(store_file(tmp_path, sample_store_file, generated_at=T,
                                    expires_at=T + timedelta(hours=1)), actor="test")
    at(station, T + timedelta(minutes=30))
    beat = {"mode": "delta", "from_version": 18, "to_version": 18, "ops": [],
            "expires_at": iso(T + timedelta(hours=24))}
    assert apply_cards_message(station, beat).outcome == "confirmed"
    at(station, T + timedelta(hours=2))
    assert fill(station)["stale_data"] is False


@pytest.mark.parametrize("expires", ["2099-01-01T00:00:00", "soon", 17, None])
def test_a_message_expiry_without_offset_or_malformed_is_refused(station: Station,
                                                                 expires: object) -> None:
    body = {"mode": "delta", "from_version": 17, "to_version": 17, "ops": [],
            "expires_at": expires}
    result = apply_cards_message(station, body)
    assert result.outcome == "refused" and "expires_at" in result.detail
