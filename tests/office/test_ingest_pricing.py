"""The office stores a sale line's ``pricing`` field on every ingest path and verifies
the chain with it (SQLite and PostgreSQL; the MQTT batch and the flash bulk path).

The lines come from a real station with a pricing document (tests/edge/pricing_support).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, StationConfig
from core.formats.journal import GENESIS, canonical, chain_hash, pricing_text
from edge.lifecycle import Station
from office.ledger.ingest import ingest_batch
from office.ledger.ingest_bulk import ingest_lines
from office.store import OfficeConnection
from offline_db.journal import list_sales
from offline_db.store import StationStore
from tests.edge.pricing_support import DAY_LIMIT, NOW, card_store, voucher

STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 17}
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows() -> Iterator[list[dict[str, Any]]]:
    """Four priced sales (discounted, a talon, AI95 earning points, discounted again), as
    the uplink sends them."""
    root = Path(tempfile.mkdtemp(prefix="pricing-ingest-"))
    try:
        store, _ = StationStore.create(root / "station")
        station = Station(store, Config(station=StationConfig(id="S-001",
                                                              data_dir=root / "station")),
                          clock=lambda: NOW)
        station.import_cards(card_store(root / "cs.json"), actor="test")
        sales: list[dict[str, Any]] = [
            {"card": DAY_LIMIT, "product": "DT"}, {"voucher": voucher(1, 4)},
            {"card": DAY_LIMIT, "product": "AI95"}, {"card": DAY_LIMIT, "product": "DT"}]
        for args in sales:
            auth = station.authorize(pump=1, **args)
            assert auth["approved"], auth
            station.complete(auth["sale_id"], volume_ml=7_000)
        out = list_sales(store.conn)
        store.close()
    finally:
        shutil.rmtree(root)
    assert all(isinstance(r.get("pricing"), dict) for r in out)
    yield out


def enrolled(conn: OfficeConnection) -> OfficeConnection:
    conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-11-01')")
    return conn


def stored_pricing(conn: OfficeConnection) -> list[Any]:
    return [r[0] for r in conn.execute("SELECT pricing FROM sales ORDER BY seq")]


def counted_discount(conn: OfficeConnection, rows: list[dict[str, Any]]) -> None:
    """The roll-ups count each priced sale's discount (list amount less amount) once."""
    want = sum(r["pricing"]["list_amount"] - r["amount"] for r in rows)
    assert want > 0
    assert conn.one("SELECT SUM(discount), SUM(sales) FROM sales_daily")[:] == (want, len(rows))
    assert conn.one("SELECT SUM(discount) FROM card_monthly")[0] == want


def meta(sales: list[dict[str, Any]]) -> dict[str, Any]:
    return {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
            "sales": len(sales), "first_prev_hash": GENESIS, "last_hash": sales[-1]["hash"],
            "volume_ml": 0, "amount": 0, "status": STATUS}


def test_the_mqtt_path_stores_the_field(office_conn: OfficeConnection,
                                        rows: list[dict[str, Any]]) -> None:
    conn = enrolled(office_conn)
    body = {"station_id": "S-001", "first_seq": 1, "last_seq": len(rows),
            "sales": copy.deepcopy(rows), "status": STATUS}
    result = ingest_batch(conn, body, via="mqtt", envelope_id="e" * 32, now=AT)
    assert result.quarantined is None and result.stored == len(rows)
    assert result.contiguous_hash == rows[-1]["hash"]
    texts = stored_pricing(conn)
    assert texts == [pricing_text(r["pricing"]) for r in rows]
    assert json.loads(texts[1])["voucher"] == "000001000004"
    counted_discount(conn, rows)
    again = ingest_batch(conn, body, via="mqtt", envelope_id="f" * 32, now=AT)
    assert again.stored == 0
    counted_discount(conn, rows)  # a replay is not counted twice
    # The stored text rebuilds the line's hash (the lead's recompute reads it so).
    prev = GENESIS
    for r, text in zip(rows, texts, strict=True):
        assert chain_hash(prev, {**r, "pricing": text}) == r["hash"]
        prev = r["hash"]


def test_the_flash_path_stores_the_same(office_conn: OfficeConnection,
                                        rows: list[dict[str, Any]]) -> None:
    conn = enrolled(office_conn)
    lines = [canonical(r) for r in rows]
    result = ingest_lines(conn, "S-001", meta(rows), lines, via="flash", source="b", now=AT)
    assert result.quarantined is None and result.stored == len(rows)
    assert stored_pricing(conn) == [pricing_text(r["pricing"]) for r in rows]
    counted_discount(conn, rows)
    again = ingest_lines(conn, "S-001", meta(rows), lines, via="flash", source="b", now=AT)
    assert again.stored == 0
    counted_discount(conn, rows)


def test_a_malformed_pricing_field_is_quarantined_both_ways(
        office_conn: OfficeConnection, rows: list[dict[str, Any]]) -> None:
    conn = enrolled(office_conn)
    bad = copy.deepcopy(rows)
    bad[1]["pricing"]["voucher_value"] = 1.5  # a station that signs what it sends
    prev = GENESIS
    for r in bad:
        r["prev_hash"] = prev
        r["hash"] = prev = chain_hash(prev, r)
    body = {"station_id": "S-001", "first_seq": 1, "last_seq": len(bad),
            "sales": copy.deepcopy(bad), "status": STATUS}
    by_mqtt = ingest_batch(conn, body, via="mqtt", envelope_id="e" * 32, now=AT)
    assert by_mqtt.quarantined == "malformed" and "sale seq 2" in by_mqtt.detail
    assert "voucher_value" in by_mqtt.detail
    for table in ("sales", "wallet_debits", "station_chain", "chain_problems", "quarantine"):
        conn.execute(f"DELETE FROM {table}")
    by_flash = ingest_lines(conn, "S-001", meta(bad), [canonical(r) for r in bad],
                            via="flash", source="b", now=AT)
    assert by_flash.quarantined == "malformed" and by_flash.detail == by_mqtt.detail
    assert stored_pricing(conn) == []
