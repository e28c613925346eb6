"""Redeemed vouchers reach every station (issue 13), on SQLite and PostgreSQL: an ingest
that settles voucher sales records one card-master version with a ``vouchers_used``
operation (winners and exceptions alike), the same batch again records none, snapshots
carry every redeemed serial, and a second real station that applies the version refuses
the voucher it never saw.

The sales come from real station stores whose card store is the office's own snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, StationConfig
from core.formats.journal import GENESIS, canonical
from core.formats.snapshot import parse_snapshot
from core.timefmt import utc_now
from edge.lifecycle import Station
from office.cards import master as card_master
from office.customers.service import Who
from office.ledger.ingest import IngestResult, ingest_batch
from office.ledger.ingest_bulk import ingest_lines
from office.store import OfficeConnection
from office.vouchers import service
from office.vouchers.models import VoucherException
from offline_db.journal import list_sales
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore

ANNA = Who("anna", "cli")
STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 1}


@pytest.fixture
def office(office_conn: OfficeConnection) -> OfficeConnection:
    """An office with AI95, two enrolled stations and a batch of five 20 l vouchers."""
    office_conn.execute("INSERT INTO cm_products VALUES ('AI95', ?)", (json.dumps(
        {"code": "AI95", "name": "AI-95", "unit_price": 5000}),))
    for station_id in ("S-001", "S-002"):
        office_conn.execute("INSERT INTO stations VALUES (?, 'ed25519:x', '2026-11-01')",
                            (station_id,))
    return office_conn


@pytest.fixture
def codes(office: OfficeConnection) -> list[str]:
    _batch, made = service.issue_batch(office, ANNA, product="AI95", volume_ml=20_000,
                                       count=5, valid=timedelta(days=30),
                                       now=utc_now() - timedelta(hours=1))
    return made


class Stations:
    """Real station stores loaded with the office's snapshot."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open: list[StationStore] = []

    def __call__(self, conn: OfficeConnection, station_id: str) -> Station:
        data_dir = self.root / station_id
        store, _ = StationStore.create(data_dir)
        self.open.append(store)
        station = Station(store, Config(station=StationConfig(id=station_id,
                                                              data_dir=data_dir)))
        path = self.root / f"{station_id}.json"
        path.write_text(json.dumps(card_master.snapshot(conn)))
        station.import_cards(path, actor="test")
        return station


@pytest.fixture
def stations(tmp_path: Path) -> Iterator[Stations]:
    made = Stations(tmp_path)
    try:
        yield made
    finally:
        for store in made.open:
            store.close()


def sell(station: Station, *codes: str) -> list[dict[str, Any]]:
    """Each voucher alone (a talon) fills its 20 l; the station's journal lines."""
    for code in codes:
        auth = station.authorize(voucher=code, pump=1)
        assert auth["approved"], auth
        station.complete(auth["sale_id"], volume_ml=20_000)
    return list_sales(station.conn)


def by_mqtt(conn: OfficeConnection, station_id: str, rows: list[dict[str, Any]]
            ) -> IngestResult:
    body = {"station_id": station_id, "first_seq": 1, "last_seq": len(rows), "sales": rows,
            "status": STATUS}
    return ingest_batch(conn, body, via="mqtt", envelope_id="e" * 32, now=utc_now(),
                        sender=station_id)


def ops_of(conn: OfficeConnection, version: int) -> tuple[str, list[dict[str, Any]]]:
    row = conn.one("SELECT actor, ops FROM cm_versions WHERE version = ?", (version,))
    return row["actor"], json.loads(row["ops"])


def test_an_ingest_of_voucher_sales_records_one_version_once(
        office: OfficeConnection, codes: list[str], stations: Stations) -> None:
    s1 = stations(office, "S-001")
    s2 = stations(office, "S-002")
    before = card_master.latest_version(office)
    rows = sell(s1, codes[0], codes[1])
    result = by_mqtt(office, "S-001", rows)
    assert result.stored == 2 and result.card_version == before + 1
    assert card_master.latest_version(office) == before + 1
    assert ops_of(office, before + 1) == ("sync:S-001", [
        {"op": "vouchers_used", "serials": [codes[0][:12], codes[1][:12]]}])
    # The same batch again (a resend, or the flash drive): no second version.
    again = by_mqtt(office, "S-001", rows)
    assert (again.stored, again.duplicates, again.card_version) == (0, 2, None)
    assert card_master.latest_version(office) == before + 1
    # S-002, one version behind, applies the version the daemon publishes: the voucher
    # it never saw is refused, another one of the batch still pays.
    applied = apply_cards_message(s2, card_master.delta_of(office, before + 1))
    assert (applied.outcome, applied.version) == ("applied", before + 1), applied.detail
    refused = s2.authorize(voucher=codes[0], pump=2)
    assert (refused["approved"], refused["reason"]) == (False, "voucher_used")
    assert "redeemed at another station" in refused["detail"]
    assert s2.authorize(voucher=codes[2], pump=3)["approved"]


def test_an_exception_is_told_too_and_the_snapshot_carries_every_serial(
        office: OfficeConnection, codes: list[str], stations: Stations) -> None:
    s1, s2 = stations(office, "S-001"), stations(office, "S-002")
    # Offline, both stations take voucher 0; S-002 also takes voucher 3.
    first = by_mqtt(office, "S-001", sell(s1, codes[0]))
    rows = sell(s2, codes[0], codes[3])
    meta = {"station_id": "S-002", "first_seq": 1, "last_seq": 2, "sales": 2,
            "first_prev_hash": GENESIS, "last_hash": rows[-1]["hash"], "volume_ml": 0,
            "amount": 0, "status": STATUS}
    lines = [canonical(r) for r in rows]
    second = ingest_lines(office, "S-002", meta, lines, via="flash", source="b", now=utc_now())
    assert second.quarantined is None and second.stored == 2, second.detail
    assert first.card_version is not None and second.card_version == first.card_version + 1
    assert ops_of(office, second.card_version)[1] == [
        {"op": "vouchers_used", "serials": sorted([codes[0][:12], codes[3][:12]])}]
    assert [e.serial for e in VoucherException.objects.all()] == [codes[0][:12]]
    # A station that syncs by snapshot learns every redeemed serial.
    doc = card_master.snapshot(office)
    assert doc["vouchers_used"] == sorted([codes[0][:12], codes[3][:12]])
    assert parse_snapshot(json.dumps(doc)).vouchers_used == doc["vouchers_used"]
    # ... and a station behind by delta gets both versions' operations.
    message = card_master.message_for(office, first.card_version - 1)
    assert [op for op in message["ops"] if op["op"] == "vouchers_used"] == [
        {"op": "vouchers_used", "serials": [codes[0][:12]]},
        {"op": "vouchers_used", "serials": sorted([codes[0][:12], codes[3][:12]])}]


def test_an_expired_batch_leaves_the_snapshot(office: OfficeConnection, codes: list[str],
                                              stations: Stations) -> None:
    by_mqtt(office, "S-001", sell(stations(office, "S-001"), codes[4]))
    assert card_master.snapshot(office)["vouchers_used"] == [codes[4][:12]]
    later = utc_now() + timedelta(days=31)
    assert "vouchers_used" not in card_master.snapshot(office, later)
