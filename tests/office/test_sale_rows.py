"""An MQTT batch stores the same rows on PostgreSQL (``COPY``) as on SQLite (``executemany``).

``office.ledger.sale_rows`` writes a batch's new sales and wallet debits with a COPY on
PostgreSQL: each value goes as COPY text, typed by its column. This holds that nothing
changes on the way — optional fields present or NULL, JSON text (wallet debits,
pricing), texts with characters COPY escapes (a backslash, ``\\N``, quotes, non-ASCII) —
by ingesting the same batches into both databases and reading every table back.

The sales come from a real station (``Station.authorize`` / ``complete``): without a
pricing document (vehicles, odometer readings, a flagged reading, wallet debits), then
with one (priced sales), as the uplink ships them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.config import Config, StationConfig
from edge.lifecycle import Station
from office.ledger.ingest import ingest_batch
from office.store import OfficeConnection, open_office
from offline_db.outbox import pending_batch
from offline_db.store import StationStore
from tests import pg
from tests.edge.pricing_support import DAY_LIMIT, WALLET, card_store
from tests.office_fixtures import OfficeDb

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
#: Vehicle ids an operator may type that COPY's text format must escape or keep as they are.
ODD_VEHICLES = ("\\N", "V\\17", 'Ж-"17", {a,b}', "NULL")
#: Each table read back in full, in key order.
TABLES = {"sales": "station_id, seq", "wallet_debits": "station_id, seq, wallet_id",
          "sales_daily": "day, station_id, product", "card_monthly": "month, card_id",
          "station_chain": "station_id",
          "chain_problems": "id", "quarantine": "id"}


class Clock:
    """An hour per reading, so timestamps differ and day limits renew."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def sell(station: Station, card: str, product: str, *, vehicle: str | None = None,
         km: int | None = None) -> None:
    auth = station.authorize(card=card, pump=1, product=product, volume_ml=5_000,
                             vehicle=vehicle, odometer_km=km)
    assert auth["approved"], auth
    station.complete(auth["sale_id"], volume_ml=5_000)


@pytest.fixture(scope="module")
def sales(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sale-rows")
    store, _ = StationStore.create(root / "station")
    try:
        station = Station(store, Config(station=StationConfig(id="S-001",
                                                              data_dir=root / "station")),
                          clock=Clock())
        station.import_cards(card_store(root / "plain.json", doc=None, version=17),
                             actor="test")
        sell(station, WALLET, "AI95", vehicle="V-1", km=120_400)
        sell(station, DAY_LIMIT, "DT")
        sell(station, WALLET, "AI95", vehicle="V-1", km=99_000)  # lower: flagged
        for vehicle in ODD_VEHICLES:
            sell(station, DAY_LIMIT, "AI95", vehicle=vehicle)
        station.import_cards(card_store(root / "priced.json", version=18), actor="test")
        sell(station, DAY_LIMIT, "DT", vehicle="V-2", km=5)
        sell(station, WALLET, "AI95")
        sell(station, DAY_LIMIT, "DT")
        return pending_batch(store.conn, max_sales=100, max_bytes=1_000_000)
    finally:
        store.close()


def batch(rows: list[dict[str, Any]], first: int, last: int) -> dict[str, Any]:
    return {"station_id": "S-001", "first_seq": first, "last_seq": last,
            "sales": copy.deepcopy(rows[first - 1:last]),
            "status": {"outbox_depth": 0, "oldest_undelivered_at": None,
                       "card_store_version": 18}}


def read_back(conn: OfficeConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {table: [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {key}")]
            for table, key in TABLES.items()}


@pytest.fixture
def both(make_office_db: Callable[[str], OfficeDb]) -> Iterator[list[OfficeConnection]]:
    """An office store on SQLite and one on PostgreSQL, S-001 enrolled at each."""
    if pg.pg_skipped():
        pytest.skip("no PostgreSQL here")
    conns = [open_office(make_office_db(backend).config) for backend in ("sqlite",
                                                                         "postgresql")]
    for conn in conns:
        conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-11-01')")
    yield conns
    for conn in conns:
        conn.close()


def test_a_batch_stores_the_same_rows_on_both_databases(
        both: list[OfficeConnection], sales: list[dict[str, Any]]) -> None:
    assert {r.get("odometer_flag") for r in sales} == {None, "odometer_unreasonable"}
    assert any("pricing" in r for r in sales) and any("pricing" not in r for r in sales)
    assert any(r["wallet_debits"] for r in sales) and any(not r["wallet_debits"] for r in sales)
    held = []
    for conn in both:
        # Overlapping batches: the second stores only its new rows (what insert_sales is
        # given is the dedupe's output), the third (no optional field) is all new.
        plan = [(1, 4), (2, 7), (8, 10)]
        results = [ingest_batch(conn, batch(sales, a, b), via="mqtt", envelope_id=f"{a:032x}",
                                now=NOW) for a, b in plan]
        assert [(r.quarantined, r.stored, r.duplicates) for r in results] == [
            (None, 4, 0), (None, 3, 3), (None, 3, 0)]
        assert conn.one("SELECT COUNT(*) FROM sales")[0] == len(sales) == 10
        held.append(read_back(conn))
    on_sqlite, on_postgresql = held
    for table in TABLES:
        assert on_postgresql[table] == on_sqlite[table], table
    vehicles = [r[0] for r in both[1].execute("SELECT vehicle_id FROM sales ORDER BY seq")]
    assert vehicles == [r.get("vehicle_id") for r in sales]
    assert set(ODD_VEHICLES) <= set(vehicles) and None in vehicles
    assert len(on_postgresql["wallet_debits"]) == sum(len(r["wallet_debits"]) for r in sales)
    pricing = [r[0] for r in both[1].execute("SELECT pricing FROM sales ORDER BY seq")]
    assert [p is not None for p in pricing] == ["pricing" in r for r in sales]
