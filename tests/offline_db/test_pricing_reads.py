"""The station's pricing reads (offline_db.pricing) over a real station database.

The journal rows here are written straight into the table: these reads only sum
columns, so the chain does not matter to them. Each sum is checked against the same
sum done in Python over the very rows, and the points-burned read against the plan
SQLite picks for it (the partial index of migration 0013).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from offline_db import pricing as db
from offline_db.store import StationStore

CARD, OTHER, OLD = "C-1", "C-2", "C-0"  # OLD: the card C-1 replaced


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    store, _ = StationStore.create(tmp_path / "d")
    try:
        yield store.conn
    finally:
        store.close()


@dataclass(frozen=True)
class Sale:
    seq: int
    card_id: str
    volume_ml: int
    amount: int
    completed_at: str
    burned: int | None  # None: no pricing field
    earned: int


def _rows(conn: sqlite3.Connection, n: int, seed: int) -> list[Sale]:
    """``n`` sales over November and December 2026 of three cards; some unpriced, some
    priced without burning, some burning points."""
    rng = random.Random(seed)
    rows = []
    for seq in range(1, n + 1):
        day = rng.randrange(1, 62)
        month, dom = (11, day) if day <= 30 else (12, day - 30)
        completed = f"2026-{month:02d}-{dom:02d}T{rng.randrange(24):02d}:00:00.000000Z"
        kind = rng.random()
        pricing = None if kind < 0.3 else {
            "points_burned": 0 if kind < 0.8 else rng.randrange(1, 500),
            "points_earned": rng.randrange(0, 90)}
        row = Sale(seq, rng.choice((CARD, CARD, OTHER, OLD)), rng.randrange(1000, 80_000),
                   rng.randrange(100, 500_000), completed,
                   None if pricing is None else pricing["points_burned"],
                   0 if pricing is None else pricing["points_earned"])
        conn.execute(
            "INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, volume_ml, "
            "unit_price, amount, authorized_at, completed_at, wallet_debits, pricing, "
            "prev_hash, hash) VALUES (?, ?, 'S-001', ?, 1, 'DT', ?, 6350, ?, ?, ?, '{}', ?, "
            "'', '')",
            (seq, f"A{seq:09d}", row.card_id, row.volume_ml, row.amount, completed,
             completed, None if pricing is None else json.dumps(pricing)))
        rows.append(row)
    return rows


def test_local_figures_are_the_sums_of_the_cards_sales_after_the_mark(
        conn: sqlite3.Connection) -> None:
    rows = _rows(conn, 400, seed=1)
    windows = [("2026-11-01T00:00:00.000000Z", "2026-12-01T00:00:00.000000Z"),
               ("2026-12-01T00:00:00.000000Z", "2027-01-01T00:00:00.000000Z")]
    since = ["2026-12-20T00:00:00.000000Z", "2026-12-14T00:00:00.000000Z",
             "2026-12-01T00:00:00.000000Z"]
    for mark in (0, 150, 390, 400):
        got = db.local_figures(conn, [CARD, OLD], windows=windows, earned_since=since,
                               as_of_seq=mark)
        mine = [r for r in rows if r.card_id in (CARD, OLD) and r.seq > mark]
        expected = [(sum(r.volume_ml for r in inside), sum(r.amount for r in inside),
                     len(inside))
                    for a, b in windows
                    for inside in [[r for r in mine if a <= r.completed_at < b]]]
        earned = [sum(r.earned for r in mine if r.completed_at >= s) for s in since]
        assert got.windows == expected
        assert got.earned == earned
    assert db.local_figures(conn, ["C-none"], windows=windows, earned_since=since,
                            as_of_seq=0).windows == [(0, 0, 0), (0, 0, 0)]


def test_points_burned_after_reads_only_the_sales_that_burned(
        conn: sqlite3.Connection) -> None:
    rows = _rows(conn, 400, seed=2)
    for mark in (0, 100, 399):
        expected = sum(r.burned or 0 for r in rows
                       if r.card_id in (CARD, OLD) and r.seq > mark)
        assert db.points_burned_after(conn, [CARD, OLD], mark) == expected
    assert expected > 0
    plan = " ".join(str(r[3]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(json_extract(pricing, '$.points_burned')), 0) "
        "FROM journal WHERE card_id IN (?) AND seq > ? "
        "AND json_extract(pricing, '$.points_burned') > 0", (CARD, 0)))
    assert "journal_points_burned" in plan


def test_office_reads(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO card_usage VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (CARD, "month", "2026-11-01", "DT", 100, 10, 1),
        (CARD, "month", "2026-11-01", "AI95", 50, 5, 2),
        (CARD, "month", "2026-12-01", "DT", 7, 3, 1),
        (CARD, "week", "2026-11-30", "DT", 999, 999, 9),
        (OTHER, "month", "2026-11-01", "DT", 1000, 1000, 1)])
    assert db.office_months(conn, CARD, ["2026-10-01", "2026-11-01", "2026-12-01"]) == [
        (0, 0, 0), (150, 15, 3), (7, 3, 1)]
    conn.executemany("INSERT INTO card_points_earned VALUES (?, ?, ?, ?)", [
        (CARD, "day", "2026-12-03", 4), (CARD, "month", "2026-12-01", 40),
        (OTHER, "day", "2026-12-03", 9)])
    assert db.office_points_earned(conn, CARD) == {("day", "2026-12-03"): 4,
                                                   ("month", "2026-12-01"): 40}
    assert db.marks(conn, CARD, 17) == (17, 17)
    conn.execute("INSERT INTO card_usage_as_of (card_id, as_of_seq, rev) VALUES (?, 5, 1)",
                 (CARD,))
    assert db.marks(conn, CARD, 17) == (5, 17)
    conn.execute("UPDATE card_usage_as_of SET points_as_of_seq = 3")
    assert db.marks(conn, CARD, 17) == (5, 3)
