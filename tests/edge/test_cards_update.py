"""Card-store messages from the office: in order, atomically, never older, never expired."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge.lifecycle import Station, apply_cards_message
from offline_db.connection import iso, utc_now
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
