"""Shifts and totalizer snapshots in the station database (migration 0014)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import StoreError
from offline_db.shifts import (
    PumpTotals,
    Readings,
    close_shift,
    last_shift,
    readings_of,
    snapshot_near,
)
from offline_db.store import StationStore

T1, T2, T3 = ("2026-03-28T23:00:00.000000Z", "2026-03-29T22:00:00.000000Z",
              "2026-03-30T06:00:00.000000Z")


def sample(taken: str) -> Readings:
    return Readings(taken, "live", None, {
        1: PumpTotals(None, {1: ("AI92", 1_000_000, 5_090_000), 2: ("DT", 5, 32)}),
        2: PumpTotals("pump offline (not answering on line island-1)")})


def test_shift_close_stores_readings_and_numbers_shifts(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path)
    try:
        conn = store.conn
        first = close_shift(conn, sample(T1), actor="cli:alice")
        assert first == {"shift_no": 1, "opened_at": None, "closed_at": T1,
                         "closed_by": "cli:alice"}
        second = close_shift(conn, Readings(T2, "live", "daemon not running"), actor="cli:bob")
        assert (second["shift_no"], second["opened_at"]) == (2, T1)
        assert last_shift(conn) == {**second, "snapshot_id": 2}
        # The readings of shift 1 come back as they were recorded, pump 2's reason too.
        back = snapshot_near(conn, T1, before=True)
        assert back is not None and back.source == "shift 1 close"
        assert back.pumps == sample(T1).pumps
        later = snapshot_near(conn, "2026-03-29T00:00:00.000000Z", before=False)
        assert later is not None and (later.source, later.unavailable, later.pumps) == (
            "shift 2 close", "daemon not running", {})
        assert snapshot_near(conn, T3, before=False) is None
        with pytest.raises(StoreError, match="is before the close of shift 2"):
            close_shift(conn, sample("2026-03-29T21:00:00.000000Z"), actor="cli:eve")
        still = last_shift(conn)
        assert still is not None and still["shift_no"] == 2
        audit = [(a, json.loads(d)["shift_no"]) for a, d in conn.execute(
            "SELECT actor, details FROM audit_log WHERE action = 'shift.close'")]
        assert audit == [("cli:alice", 1), ("cli:bob", 2)]
    finally:
        store.close()


def test_readings_round_trip_through_json() -> None:
    readings = sample(T1)
    assert readings_of(json.loads(json.dumps(readings.as_json()))) == readings
