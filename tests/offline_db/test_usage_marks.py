"""The marks a station keeps per card: wallet balances and point lots stay with the mark
of the usage update that brought them, when a later update brings only usage."""

from __future__ import annotations

from pathlib import Path

from core.formats.deltas import parse_ops
from offline_db.cards import wallets_as_of
from offline_db.connection import atomic
from offline_db.deltas import apply_ops
from offline_db.pricing import marks
from offline_db.store import StationStore


def usage(rev: int, mark: int, **extra: object) -> dict[str, object]:
    return {"op": "usage", "card_id": "C-1", "rev": rev, "station_seqs": {"S-001": mark},
            "usage": [], **extra}


def test_balances_and_lots_keep_the_mark_they_came_with(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path / "station")
    try:
        conn = store.conn
        card = {"card_id": "C-1", "kind": "smart",
                "wallets": [{"wallet_id": "W-1", "unit": "money", "balance": 1000}]}
        with atomic(conn):
            apply_ops(conn, parse_ops([{"op": "card", "card": card}]), station_id="S-001")
            apply_ops(conn, parse_ops([usage(1, 5, wallets=[{"wallet_id": "W-1",
                                                              "balance": 900}],
                                              points=[{"expires": "2030-01-01",
                                                       "points": 10}])]),
                      station_id="S-001")
            apply_ops(conn, parse_ops([usage(2, 7)]), station_id="S-001")
        assert wallets_as_of(conn, "C-1", 0) == 5
        assert marks(conn, "C-1", 0) == (7, 5)  # usage as of 7, lots still as of 5
        with atomic(conn):
            apply_ops(conn, parse_ops([usage(3, 9, wallets=[{"wallet_id": "W-1",
                                                              "balance": 800}])]),
                      station_id="S-001")
        assert (wallets_as_of(conn, "C-1", 0), marks(conn, "C-1", 0)[1]) == (9, 5)
    finally:
        store.close()
