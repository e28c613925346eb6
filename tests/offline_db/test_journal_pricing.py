"""The journal's optional hashed ``pricing`` field: chained, checked, and absent lines
hash exactly as they did before the field existed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud_sync.flash_station import CANONICAL_SQL
from core.config import Config
from core.formats.journal import GENESIS, canonical, chain_hash, malformed
from edge.lifecycle import Station
from offline_db.journal import list_sales, verify
from offline_db.outbox import pending_batch
from offline_db.store import StationStore
from tests.edge.pricing_support import DAY_LIMIT, NOW, card_store, voucher

OLD_FIELDS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
              "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits")


def old_hash(prev: str, row: dict[str, Any]) -> str:
    """The chain hash as written before the pricing field existed (docs/journal.md)."""
    body = {k: row[k] for k in OLD_FIELDS}
    body.update({k: row[k] for k in ("vehicle_id", "odometer_km", "odometer_flag")
                 if row.get(k) is not None})
    if isinstance(body["wallet_debits"], str):
        body["wallet_debits"] = json.loads(body["wallet_debits"])
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev.encode() + b"\n" + text.encode()).hexdigest()


@pytest.fixture
def station(config: Config, tmp_path: Path) -> Iterator[Station]:
    store, _ = StationStore.create(config.station.data_dir)
    st = Station(store, config, clock=lambda: NOW)
    st.import_cards(card_store(tmp_path / "cs.json"), actor="test")
    try:
        yield st
    finally:
        store.close()


def sell(station: Station) -> None:
    """A discounted card sale, a talon, and a discounted sale a litre wallet pays."""
    sales: list[tuple[dict[str, Any], int]] = [
        ({"card": DAY_LIMIT, "product": "DT"}, 10_000), ({"voucher": voucher(1, 3)}, 15_000),
        ({"card": "7800001234567892", "pin": "1234", "product": "DT"}, 5_000)]
    for args, volume in sales:
        auth = station.authorize(pump=1, **args)
        assert auth["approved"], auth
        station.complete(auth["sale_id"], volume_ml=volume)


def test_priced_lines_chain_and_verify(station: Station) -> None:
    sell(station)
    rows = [dict(r) for r in station.conn.execute("SELECT * FROM journal ORDER BY seq")]
    assert all(r["pricing"] is not None for r in rows)  # each was priced or earned points
    assert verify(station.conn).ok
    prev = GENESIS
    for row in rows:
        assert malformed(row) is None
        assert chain_hash(prev, row) == row["hash"]
        assert json.loads(canonical(row))["pricing"] == json.loads(row["pricing"])
        prev = row["hash"]
    # SQLite makes the same canonical text (the flash export's fast path).
    made = [r[0].encode() for r in station.conn.execute(CANONICAL_SQL, (1,))]
    assert made == [canonical(r) for r in rows]
    # The uplink sends the field as a JSON object.
    batch = pending_batch(station.conn, max_sales=10, max_bytes=10**6)
    assert all(isinstance(r["pricing"], dict) for r in batch)
    assert [chain_hash(r["prev_hash"], r) for r in batch] == [r["hash"] for r in batch]


def test_an_altered_pricing_field_breaks_the_chain(station: Station) -> None:
    sell(station)
    doc = json.loads(station.conn.execute("SELECT pricing FROM journal WHERE seq = 1"
                                          ).fetchone()[0])
    doc["discounts"] = []
    station.conn.execute("UPDATE journal SET pricing = ? WHERE seq = 1",
                         (json.dumps(doc, sort_keys=True, separators=(",", ":")),))
    result = verify(station.conn)
    assert not result.ok and result.first_bad_seq == 1 and "altered" in result.problem
    station.conn.execute("UPDATE journal SET pricing = '{\"revision\": 1.5}' WHERE seq = 2")
    problem = malformed(dict(station.conn.execute("SELECT * FROM journal WHERE seq = 2"
                                                  ).fetchone()))
    assert problem is not None and "pricing" in problem


def test_a_line_without_pricing_hashes_as_before(config: Config, tmp_path: Path) -> None:
    store, _ = StationStore.create(config.station.data_dir)
    try:
        station = Station(store, config, clock=lambda: NOW)
        station.import_cards(card_store(tmp_path / "cs.json", doc=None), actor="test")
        sales: list[tuple[str, dict[str, Any]]] = [
            (DAY_LIMIT, {}), ("7800001234567891", {"vehicle": "V-17", "odometer_km": 1000})]
        for card, extra in sales:
            auth = station.authorize(card=card, pump=1, product="DT", **extra)
            assert auth["approved"], auth
            station.complete(auth["sale_id"], volume_ml=3_000)
        prev = GENESIS
        for row in (dict(r) for r in store.conn.execute("SELECT * FROM journal ORDER BY seq")):
            assert row["pricing"] is None
            assert row["hash"] == old_hash(prev, row) == chain_hash(prev, row)
            prev = row["hash"]
        assert all("pricing" not in r for r in list_sales(store.conn))
        assert verify(store.conn).ok
    finally:
        store.close()
