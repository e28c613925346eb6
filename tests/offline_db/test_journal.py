"""The sale journal: gap-free seqs, the SHA-256 hash chain, tamper detection."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, StationConfig
from core.errors import SaleError
from core.formats import journal as jformat
from edge.lifecycle import Station
from offline_db import journal
from offline_db.store import StationStore

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "card-store.json"
CARD = "7800001234567893"  # magstripe card, day money limit 3 000.00, stations S-001/S-002
FIELDS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
          "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits")
SALES = 5


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    store, _ = StationStore.create(tmp_path / "data")
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data"))
    st = Station(store, config, clock=Clock())
    st.import_cards(SAMPLE, actor="test")
    try:
        yield st
    finally:
        store.close()


def sell(station: Station, volume_ml: int, product: str = "AI95",
         card: str = CARD) -> dict[str, Any]:
    auth = station.authorize(card=card, pump=2, product=product)
    assert auth["approved"], auth
    return station.complete(auth["sale_id"], volume_ml=volume_ml)


@pytest.fixture
def filled(station: Station) -> Station:
    """The station after five sales (seq 1..5)."""
    for i in range(SALES):
        sell(station, 3_000 + 1_111 * i, product=("AI92", "AI95", "DT")[i % 3])
    return station


def rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute("SELECT * FROM journal ORDER BY seq")]


def expected_hash(prev: str, row: dict[str, Any]) -> str:
    """The documented chain (docs/journal.md), computed independently."""
    body = {k: row[k] for k in FIELDS}
    body["wallet_debits"] = json.loads(row["wallet_debits"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev.encode() + b"\n" + canonical.encode()).hexdigest()


# -- intact chain -----------------------------------------------------------------------

def test_empty_journal_verifies(station: Station) -> None:
    result = journal.verify(station.conn)
    assert result.ok
    assert (result.rows, result.last_seq, result.first_bad_seq) == (0, 0, None)


def test_intact_chain_verifies_and_follows_the_documented_layout(filled: Station) -> None:
    result = journal.verify(filled.conn)
    assert result.ok, result.problem
    assert (result.rows, result.last_seq, result.first_bad_seq) == (SALES, SALES, None)
    prev = "0" * 64
    for i, row in enumerate(rows(filled.conn), start=1):
        assert row["seq"] == i
        assert row["prev_hash"] == prev
        assert row["hash"] == expected_hash(prev, row)
        assert len(row["hash"]) == 64
        prev = row["hash"]


def test_every_journal_row_has_its_outbox_row(filled: Station) -> None:
    outbox = [r[0] for r in filled.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert outbox == list(range(1, SALES + 1))


def test_completion_returns_the_chained_row(station: Station) -> None:
    first = sell(station, 10_000, product="DT")
    second = sell(station, 1_000, product="AI92")
    assert (first["seq"], second["seq"]) == (1, 2)
    stored = rows(station.conn)
    assert [r["hash"] for r in stored] == [first["hash"], second["hash"]]
    assert stored[1]["prev_hash"] == first["hash"]
    assert stored[0]["amount"] == 63_500 and stored[1]["amount"] == 5_090


# -- tampering --------------------------------------------------------------------------

@pytest.mark.parametrize("seq", [1, 3, SALES])
def test_changed_volume_is_caught_at_its_seq(filled: Station, seq: int) -> None:
    filled.conn.execute("UPDATE journal SET volume_ml = volume_ml + 1 WHERE seq = ?", (seq,))
    result = journal.verify(filled.conn)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert result.last_seq == seq - 1
    assert result.rows == seq - 1
    assert "altered" in result.problem


@pytest.mark.parametrize(("column", "value"), [
    ("amount", 1),
    ("card_id", "7800001234567890"),
    ("product", "DT"),
    ("unit_price", 1),
    ("pump", 9),
    ("station_id", "S-002"),
    ("completed_at", "2026-11-18T09:00:00.000000Z"),
    ("wallet_debits", '{"W-1":1}'),
    ("sale_id", "AXXXXXXXXX"),
])
def test_any_hashed_field_changed_is_caught(filled: Station, column: str, value: Any) -> None:
    filled.conn.execute(f"UPDATE journal SET {column} = ? WHERE seq = 2", (value,))
    result = journal.verify(filled.conn)
    assert not result.ok
    assert result.first_bad_seq == 2
    assert "altered" in result.problem


def test_rehashed_row_breaks_the_link_of_the_next_one(filled: Station) -> None:
    conn = filled.conn
    row = rows(conn)[2]  # seq 3
    row["volume_ml"] += 5_000
    forged = expected_hash(row["prev_hash"], row)
    conn.execute("UPDATE journal SET volume_ml = ?, hash = ? WHERE seq = 3",
                 (row["volume_ml"], forged))
    result = journal.verify(conn)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "does not link" in result.problem


def test_changed_prev_hash_is_caught(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET prev_hash = ? WHERE seq = 4", ("f" * 64,))
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "does not link" in result.problem


@pytest.mark.parametrize("seq", [1, 3, SALES - 1])
def test_deleted_row_is_caught_as_a_gap(filled: Station, seq: int) -> None:
    conn = filled.conn
    conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
    conn.execute("DELETE FROM wallet_debits WHERE seq = ?", (seq,))
    conn.execute("DELETE FROM journal WHERE seq = ?", (seq,))
    result = journal.verify(conn)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert result.last_seq == seq - 1
    assert "gap" in result.problem


def test_journal_rows_cannot_be_deleted_while_queued(filled: Station) -> None:
    # The outbox (and wallet debits) reference the journal: a plain DELETE is refused.
    with pytest.raises(sqlite3.IntegrityError):
        filled.conn.execute("DELETE FROM journal WHERE seq = 2")
    assert journal.verify(filled.conn).ok


def test_verify_reports_the_first_of_several_problems(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET amount = amount + 1 WHERE seq = 4")
    filled.conn.execute("UPDATE journal SET amount = amount + 1 WHERE seq = 2")
    assert journal.verify(filled.conn).first_bad_seq == 2


# -- completing twice -------------------------------------------------------------------

def snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("journal", "outbox", "authorizations", "wallet_debits", "wallet_holds",
              "audit_log")
    return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
            for t in tables}


def test_completing_twice_is_refused_and_changes_nothing(station: Station) -> None:
    auth = station.authorize(card=CARD, pump=1, product="DT")
    first = station.complete(auth["sale_id"], volume_ml=20_000)
    before = snapshot(station.conn)
    for volume in (20_000, 1_000):
        with pytest.raises(SaleError, match="already completed"):
            station.complete(auth["sale_id"], volume_ml=volume)
    with pytest.raises(SaleError):
        station.cancel(auth["sale_id"])
    assert snapshot(station.conn) == before
    assert journal.verify(station.conn).ok
    assert [r["seq"] for r in rows(station.conn)] == [first["seq"]] == [1]


def test_wallet_card_completed_twice_is_debited_once(station: Station) -> None:
    card = "7800001234567890"  # money wallet W-1 (100 000) for AI95
    auth = station.authorize(card=card, pump=1, product="AI95")
    done = station.complete(auth["sale_id"], volume_ml=10_000)
    assert done["wallet_debits"] == {"W-1": 52_990}
    with pytest.raises(SaleError):
        station.complete(auth["sale_id"], volume_ml=10_000)
    debits = station.conn.execute("SELECT wallet_id, value FROM wallet_debits").fetchall()
    assert [tuple(d) for d in debits] == [("W-1", 52_990)]


def test_cancelled_denied_and_unknown_sales_cannot_be_completed(station: Station) -> None:
    auth = station.authorize(card=CARD, pump=1, product="DT")
    station.cancel(auth["sale_id"])
    denied = station.authorize(card="7800001234567894", pump=1)  # blocked card
    assert denied["approved"] is False
    before = snapshot(station.conn)
    with pytest.raises(SaleError, match="cancelled"):
        station.complete(auth["sale_id"], volume_ml=1_000)
    with pytest.raises(SaleError, match="denied"):
        station.complete(denied["decision_id"], volume_ml=1_000)
    with pytest.raises(SaleError, match="no authorization"):
        station.complete("A000000000", volume_ml=1_000)
    assert snapshot(station.conn) == before
    assert journal.verify(station.conn).rows == 0


# -- vehicle and odometer in the journal line (issue 10 #16) ------------------------------

def test_rows_without_vehicle_hash_as_before() -> None:
    """Rows written before the vehicle fields existed keep their canonical form and hash."""
    sale = {"seq": 1, "sale_id": "A1", "station_id": "S-001", "card_id": "C", "pump": 1,
            "product": "DT", "volume_ml": 1000, "unit_price": 6350, "amount": 6350,
            "authorized_at": "2026-11-18T09:00:00.000000Z",
            "completed_at": "2026-11-18T09:05:00.000000Z", "wallet_debits": "{}"}
    old = json.dumps({**sale, "wallet_debits": {}}, sort_keys=True, separators=(",", ":"))
    none = {**sale, "vehicle_id": None, "odometer_km": None, "odometer_flag": None}
    assert jformat.canonical(sale) == jformat.canonical(none) == old.encode()
    assert jformat.chain_hash(jformat.GENESIS, none) == hashlib.sha256(
        jformat.GENESIS.encode() + b"\n" + old.encode()).hexdigest()
    full = {**sale, "vehicle_id": "V-17", "odometer_km": 120_400,
            "odometer_flag": "odometer_unreasonable"}
    assert json.loads(jformat.canonical(full)) == {
        **json.loads(old), "vehicle_id": "V-17", "odometer_km": 120_400,
        "odometer_flag": "odometer_unreasonable"}
