"""A voucher the office reports redeemed elsewhere is refused at this station, on a real
SQLite store: the ``vouchers_used`` delta operation adds to the station's list, a snapshot
replaces it, a pricing document without the batch drops its serials; each refusal is
journaled like every other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from edge.lifecycle import Station
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore
from tests.edge.pricing_support import DAY_LIMIT, NOW, card_store, pricing, voucher


def delta(ops: list[dict[str, Any]], first: int, last: int) -> dict[str, Any]:
    return {"mode": "delta", "from_version": first, "to_version": last, "ops": ops,
            "expires_at": (NOW + timedelta(days=1)).isoformat()}


def used(*serials: str) -> dict[str, Any]:
    return {"op": "vouchers_used", "serials": list(serials)}


@pytest.fixture
def station(config: Config, tmp_path: Path) -> Iterator[Station]:
    """A station (version 17) whose card store carries the pricing document."""
    store, _ = StationStore.create(config.station.data_dir)
    st = Station(store, config, clock=lambda: NOW)
    st.import_cards(card_store(tmp_path / "cs.json"), actor="test")
    try:
        yield st
    finally:
        store.close()


def listed(station: Station) -> list[str]:
    return [r[0] for r in station.conn.execute("SELECT serial FROM vouchers_used ORDER BY 1")]


def refusals(station: Station) -> list[tuple[str, str, str]]:
    return [(r[0], r[1], r[2]) for r in station.conn.execute(
        "SELECT card_id, state, reason FROM authorizations WHERE state = 'denied' "
        "ORDER BY rowid")]


def test_a_voucher_redeemed_elsewhere_is_refused_and_journaled(station: Station) -> None:
    code, other = voucher(1, 42), voucher(1, 43)
    result = apply_cards_message(station, delta([used("000001000042", "000002000007")], 17, 18))
    assert (result.outcome, result.version) == ("applied", 18), result.detail
    assert listed(station) == ["000001000042", "000002000007"]
    # A fresh voucher (never seen at this station): refused, as a talon and with a card.
    talon = station.authorize(voucher=code, pump=1)
    assert (talon["approved"], talon["reason"]) == (False, "voucher_used")
    assert talon["detail"] == "voucher 000001000042 was redeemed at another station"
    with_card = station.authorize(card=DAY_LIMIT, voucher=code, pump=2, product="DT")
    assert (with_card["approved"], with_card["reason"]) == (False, "voucher_used")
    assert refusals(station) == [("V000001000042", "denied", "voucher_used"),
                                 (DAY_LIMIT, "denied", "voucher_used")]
    audit = [json.loads(r[0]) for r in station.conn.execute(
        "SELECT details FROM audit_log WHERE action = 'sale.refuse'")]
    assert audit[0]["reason"] == "voucher_used" and "another station" in audit[0]["detail"]
    # Another voucher of the batch is not on the list: it still pays.
    assert station.authorize(voucher=other, pump=3)["approved"]
    # The same serials again (another version) change nothing; the list survives.
    again = apply_cards_message(station, delta([used("000001000042")], 18, 19))
    assert again.outcome == "applied" and listed(station) == ["000001000042", "000002000007"]


def test_a_bad_op_changes_nothing(station: Station) -> None:
    bad = apply_cards_message(station, delta(
        [{"op": "stop_add", "identifier": "X-1"}, used("000001000042", "42")], 17, 18))
    assert bad.outcome == "refused" and "ops[1].serials[1]" in bad.detail
    assert listed(station) == []
    assert station.authorize(voucher=voucher(1, 42), pump=1)["approved"]


def test_a_snapshot_replaces_the_list_and_a_new_document_drops_gone_batches(
        station: Station, tmp_path: Path) -> None:
    apply_cards_message(station, delta([used("000001000042", "000002000007")], 17, 18))

    def with_used(doc: dict[str, Any]) -> None:
        doc["vouchers_used"] = ["000001000050", "000002000008"]

    station.import_cards(card_store(tmp_path / "cs19.json", version=19, edit=with_used),
                         actor="test")
    assert listed(station) == ["000001000050", "000002000008"]
    assert station.authorize(voucher=voucher(1, 42), pump=1)["approved"]
    assert station.authorize(voucher=voucher(1, 50), pump=2)["reason"] == "voucher_used"
    # The office stops sending batch 2 (expired): its serials are forgotten with it.
    doc = pricing(vouchers=pricing()["vouchers"][:1])
    assert apply_cards_message(station, delta([{"op": "pricing", "pricing": doc}], 19, 20)
                               ).outcome == "applied"
    assert listed(station) == ["000001000050"]
    # A snapshot without the key clears the list.
    station.import_cards(card_store(tmp_path / "cs21.json", version=21), actor="test")
    assert listed(station) == []
