"""Issue 10 #3: identifiers are matched in one form, however they are written.

A UID in any case or with separators, a PAN with spaces or dashes: the same card and
the same stop-list entry, on import, on delta apply and on every lookup (the reader
path and ``--card`` both call Station.authorize; ``cards show`` calls card_show).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import CardStoreFormatError
from core.timefmt import iso, utc_now
from edge.lifecycle import Station
from edge.views import card_show
from offline_db.replication import apply_cards_message

STOPPED_TAG = {"card_id": "RF-STOP", "kind": "rfid", "status": "active",
               "rfid_uid": "04C0FFEE112233"}
MAGSTRIPE = "7800001234567890"  # PAN 7800001234567890
FLEET = "7800001234567891"  # RFID 04A1B2C3D4E5F6


def load(station: Station, tmp_path: Path, sample: Path, **changes: Any) -> None:
    doc = json.loads(sample.read_text())
    doc["version"] = 18
    doc["cards"].append(dict(STOPPED_TAG))
    for key, value in changes.items():
        doc[key] = value(doc) if callable(value) else value
    path = tmp_path / "cards.json"
    path.write_text(json.dumps(doc))
    station.import_cards(path, actor="test")


def reason(station: Station, card: str, **extra: Any) -> str:
    result = station.authorize(card=card, pump=1, **extra)
    if result["approved"]:
        station.cancel(result["sale_id"])
    return str(result["reason"])


def test_a_lower_case_uid_on_the_stop_list_stops_the_upper_case_read(
        station: Station, tmp_path: Path, sample_store_file: Path) -> None:
    load(station, tmp_path, sample_store_file, stop_list=["04c0ffee112233"])
    assert reason(station, "04C0FFEE112233") == "on_stop_list"
    assert reason(station, "RF-STOP") == "on_stop_list"  # by its card id too
    assert reason(station, "04:c0:ff:ee:11:22:33") == "on_stop_list"


def test_a_pan_on_the_stop_list_in_groups_stops_the_plain_read(
        station: Station, tmp_path: Path, sample_store_file: Path) -> None:
    load(station, tmp_path, sample_store_file, stop_list=["7800 0012 3456 7890"])
    assert reason(station, MAGSTRIPE) == "on_stop_list"
    assert reason(station, "7800-0012-3456-7890") == "on_stop_list"


@pytest.mark.parametrize("written", ["7800 0012 3456 7890", "7800-0012-3456-7890",
                                     " 7800001234567890 "])
def test_a_pan_however_written_is_the_card(station: Station, written: str) -> None:
    result = station.authorize(card=written, pump=1, product="AI95")
    assert (result["approved"], result["card_id"]) == (True, MAGSTRIPE)


@pytest.mark.parametrize("written", ["04a1b2c3d4e5f6", "04:A1:B2:C3:D4:E5:F6",
                                     "04 a1 b2 c3 d4 e5 f6", "04-a1-b2-c3-d4-e5-f6"])
def test_a_uid_however_written_is_the_card(station: Station, written: str) -> None:
    result = station.authorize(card=written, pump=1)
    assert result["card_id"] == FLEET and result["reason"] != "unknown_card"


def test_a_presented_tag_uid_however_written_is_the_cards_own(station: Station) -> None:
    result = station.authorize(card=FLEET, pump=1, presented=["04:a1:b2:c3:d4:e5:f6"])
    assert result["reason"] != "card_not_genuine"


def test_card_ids_and_token_ids_stay_as_issued(station: Station) -> None:
    assert reason(station, "t-8f2k9q") == "unknown_card"
    assert station.authorize(card="T-8F2K9Q", pump=1)["card_id"] == "7800001234567897"


def test_the_card_store_keeps_one_form(station: Station, tmp_path: Path,
                                       sample_store_file: Path) -> None:
    def respell(doc: dict[str, Any]) -> list[dict[str, Any]]:
        for card in doc["cards"]:
            if card.get("pan") == MAGSTRIPE:
                card["pan"] = "7800 0012 3456 7890"
            if card.get("rfid_uid") == "04A1B2C3D4E5F6":
                card["rfid_uid"] = "04:a1:b2:c3:d4:e5:f6"
        return list(doc["cards"])

    load(station, tmp_path, sample_store_file, cards=respell)
    stored = dict(station.conn.execute(
        "SELECT card_id, COALESCE(pan, rfid_uid) FROM cards WHERE card_id IN (?, ?)",
        (MAGSTRIPE, FLEET)).fetchall())
    assert stored == {MAGSTRIPE: MAGSTRIPE, FLEET: "04A1B2C3D4E5F6"}


def test_the_same_uid_written_twice_is_a_duplicate(station: Station, tmp_path: Path,
                                                   sample_store_file: Path) -> None:
    twin = {"card_id": "RF-TWIN", "kind": "rfid", "rfid_uid": "04c0ffee112233"}
    with pytest.raises(CardStoreFormatError, match="rfid_uid '04C0FFEE112233' is already used"):
        load(station, tmp_path, sample_store_file,
             cards=lambda doc: [*doc["cards"], twin])
    assert station.conn.execute("SELECT value FROM sync_state "
                                "WHERE key = 'card_store_version'").fetchone()[0] == "17"


@pytest.mark.parametrize(("field", "value"), [("pan", "7800 0012 34x6"),
                                              ("rfid_uid", "04:a1:zz:c3")])
def test_an_identifier_of_the_wrong_shape_is_refused_naming_it(
        station: Station, tmp_path: Path, sample_store_file: Path, field: str,
        value: str) -> None:
    bad = {"card_id": "BAD", "kind": "rfid", field: value}
    with pytest.raises(CardStoreFormatError, match=rf"cards\[10\]\.{field}"):
        load(station, tmp_path, sample_store_file, cards=lambda doc: [*doc["cards"], bad])


def delta(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"mode": "delta", "from_version": 17, "to_version": 18, "ops": ops,
            "expires_at": iso(utc_now() + timedelta(hours=1))}


def test_delta_stop_list_entries_are_normalised(station: Station) -> None:
    tag = dict(STOPPED_TAG, rfid_uid="04:c0:ff:ee:11:22:33")
    update = apply_cards_message(station, delta([
        {"op": "card", "card": tag}, {"op": "stop_add", "identifier": "04c0ffee112233"},
        {"op": "stop_add", "identifier": "7800 0012 3456 7890"}]))
    assert update.outcome == "applied"
    assert reason(station, "04C0FFEE112233") == "on_stop_list"
    assert reason(station, MAGSTRIPE) == "on_stop_list"
    removed = {"mode": "delta", "from_version": 18, "to_version": 19,
               "expires_at": iso(utc_now() + timedelta(hours=1)),
               "ops": [{"op": "stop_remove", "identifier": "04:C0:FF:EE:11:22:33"}]}
    assert apply_cards_message(station, removed).outcome == "applied"
    assert reason(station, "04c0ffee112233") != "on_stop_list"


def test_cards_show_finds_the_card_however_written(station: Station, tmp_path: Path,
                                                   sample_store_file: Path) -> None:
    load(station, tmp_path, sample_store_file, stop_list=["04c0ffee112233"])
    shown = card_show(station.conn, station.config, "04:C0:FF:EE:11:22:33", utc_now())
    assert shown is not None and shown["card_id"] == "RF-STOP" and shown["on_stop_list"]
    by_pan = card_show(station.conn, station.config, "7800 0012 3456 7890", utc_now())
    assert by_pan is not None and by_pan["card_id"] == MAGSTRIPE
