"""Card-store messages from the office: in order, atomically, never older, never expired."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.timefmt import iso, utc_now
from edge.lifecycle import Station
from offline_db.replication import apply_cards_message
from offline_db.state import get_state

FUTURE = iso(utc_now() + timedelta(hours=1))


def delta(first: int, last: int, ops: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"mode": "delta", "from_version": first, "to_version": last, "ops": ops,
            "expires_at": FUTURE, **extra}


def status_of(station: Station, card: str) -> str:
    row = station.conn.execute("SELECT status FROM cards WHERE card_id = ?", (card,)).fetchone()
    return str(row[0]) if row else "absent"


def test_delta_applies_in_order_and_blocks_at_once(station: Station) -> None:
    card = {"card_id": "7800001234567893", "kind": "magstripe", "status": "blocked",
            "pan": "7800001234567893", "customer_id": "C-2"}
    result = apply_cards_message(station, delta(17, 18, [{"op": "card", "card": card},
                                                         {"op": "stop_add",
                                                          "identifier": "X-1"}]))
    assert (result.outcome, result.version) == ("applied", 18)
    assert get_state(station.conn, "card_store_version") == "18"
    assert status_of(station, "7800001234567893") == "blocked"
    assert station.authorize(card="7800001234567893", pump=1)["reason"] == "card_blocked"
    assert station.authorize(card="X-1", pump=1)["reason"] == "on_stop_list"


def test_older_duplicate_gap_and_heartbeat(station: Station) -> None:
    assert apply_cards_message(station, delta(16, 17, [])).outcome == "ignored"
    assert apply_cards_message(station, delta(10, 12, [])).outcome == "ignored"
    assert apply_cards_message(station, delta(18, 19, [])).outcome == "need_sync"
    station.conn.execute("UPDATE sync_state SET value = '2000-01-01T00:00:00.000000Z' "
                         "WHERE key = 'card_store_confirmed_at'")
    assert apply_cards_message(station, delta(17, 17, [])).outcome == "confirmed"
    assert get_state(station.conn, "card_store_confirmed_at") != "2000-01-01T00:00:00.000000Z"
    assert get_state(station.conn, "card_store_version") == "17"


def test_expired_or_malformed_changes_nothing(station: Station) -> None:
    card = {"card_id": "7800001234567893", "kind": "magstripe", "status": "lost"}
    old = delta(17, 18, [{"op": "card", "card": card}], expires_at="2020-01-01T00:00:00Z")
    assert apply_cards_message(station, old).outcome == "refused"
    bad_ops = [{"op": "card", "card": card}, {"op": "card", "card": {"card_id": "x",
                                                                     "kind": "chip"}}]
    result = apply_cards_message(station, delta(17, 18, bad_ops))
    assert result.outcome == "refused" and "kind" in result.detail
    assert status_of(station, "7800001234567893") == "active"  # nothing half-applied
    assert get_state(station.conn, "card_store_version") == "17"
    assert apply_cards_message(station, {"mode": "delta"}).outcome == "refused"


def test_snapshot_for_a_station_far_behind(station: Station, sample_store_file: Path) -> None:
    doc = json.loads(sample_store_file.read_text())
    doc["version"] = 40
    doc["cards"] = doc["cards"][:3]
    result = apply_cards_message(station, {"mode": "snapshot", "snapshot": doc,
                                           "expires_at": FUTURE})
    assert (result.outcome, result.version) == ("applied", 40)
    assert station.conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 3
    doc["version"] = 39
    assert apply_cards_message(station, {"mode": "snapshot", "snapshot": doc,
                                         "expires_at": FUTURE}).outcome == "ignored"


def pan_of(station: Station, card: str) -> str | None:
    row = station.conn.execute("SELECT pan FROM cards WHERE card_id = ?", (card,)).fetchone()
    return None if row is None else row[0]


def test_a_pan_moving_between_cards_in_one_delta_applies(station: Station) -> None:
    # Found verifying issue 10: the office's delta put a card with the PAN of a card it
    # deleted later in the same delta (office cards import of a store where the PAN
    # moved). The station hit SQLite's UNIQUE constraint: an IntegrityError traceback in
    # the MQTT callback, never counted as refused, and the same delta again on every
    # sync, so the station's card data stopped at that version for good.
    moved = {"card_id": "NEW-1", "kind": "magstripe", "status": "active",
             "pan": "7800001234567893"}
    result = apply_cards_message(station, delta(17, 18, [
        {"op": "card", "card": moved}, {"op": "card_delete", "card_id": "7800001234567893"}]))
    assert (result.outcome, result.version) == ("applied", 18)
    assert pan_of(station, "NEW-1") == "7800001234567893"
    assert pan_of(station, "7800001234567893") is None
    # Two cards swapping their PANs in one delta: no order of the two puts works alone.
    a = {"card_id": "7800001234567890", "kind": "magstripe", "status": "active",
         "pan": "7800001234567896"}
    b = {"card_id": "7800001234567896", "kind": "magstripe", "status": "active",
         "pan": "7800001234567890"}
    result = apply_cards_message(station, delta(18, 19, [{"op": "card", "card": a},
                                                         {"op": "card", "card": b}]))
    assert (result.outcome, result.version) == ("applied", 19)
    assert pan_of(station, "7800001234567890") == "7800001234567896"
    # A card put and deleted in one delta ends deleted; deleted and put, ends put.
    result = apply_cards_message(station, delta(19, 20, [
        {"op": "card", "card": {"card_id": "GONE", "kind": "rfid", "status": "active"}},
        {"op": "card_delete", "card_id": "GONE"},
        {"op": "card_delete", "card_id": "NEW-1"}, {"op": "card", "card": moved}]))
    assert result.outcome == "applied"
    assert status_of(station, "GONE") == "absent" and status_of(station, "NEW-1") == "active"


def test_a_delta_whose_identifier_clashes_is_refused_in_one_sentence(station: Station) -> None:
    # The same, when the clash is real (a card the delta does not touch holds the PAN):
    # refused with one sentence naming the card and its identifier, nothing changed.
    clash = {"card_id": "NEW-2", "kind": "magstripe", "status": "active",
             "pan": "7800 0012 3456 7893"}
    result = apply_cards_message(station, delta(17, 18, [
        {"op": "card", "card": {**clash, "card_id": "NEW-3", "pan": "7800000000000001"}},
        {"op": "card", "card": clash}]))
    assert result.outcome == "refused"
    assert "pan 7800001234567893 of card NEW-2 is already card 7800001234567893's" \
        in result.detail
    assert status_of(station, "NEW-3") == "absent"
    assert get_state(station.conn, "card_store_version") == "17"
