"""Retention on a real station store: delivered old sales go, undelivered ones never, and
the journal verifies from the anchor the last deleted row leaves; Hypothesis mixes
delivered and undelivered sales at random."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Config, StationConfig
from edge.lifecycle import Station
from offline_db import journal
from offline_db.journal_checks import read_anchor
from offline_db.outbox import apply_receipt, pending_batch
from offline_db.retention import prune
from offline_db.shifts import first_activity
from offline_db.state import set_state
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock, sell

START = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
LATER = START + timedelta(days=500)
CUT = LATER - timedelta(days=400)  # every test sale is older than this
WALLET_CARD = "7800001234567892"  # PIN 1234; litre wallet W-3L (DT), money wallet W-3M


def new_station(path: Path) -> Station:
    store, _ = StationStore.create(path)
    st = Station(store, Config(station=StationConfig(id="S-001", data_dir=path)),
                 clock=Clock())
    st.import_cards(SAMPLE, actor="test")
    return st


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    """:func:`new_station` in ``tmp_path``, closed after the test."""
    st = new_station(tmp_path / "data")
    yield st
    st.store.close()


def deliver(conn: sqlite3.Connection, up_to: int) -> None:
    """The head office's receipt up to ``up_to`` (its hash from our own journal)."""
    row = conn.execute("SELECT hash FROM journal WHERE seq = ?", (up_to,)).fetchone()
    assert apply_receipt(conn, up_to_seq=up_to, hash_=row[0]).accepted


def counted_by_office(conn: sqlite3.Connection, up_to: int) -> None:
    """The office's figures count this station's sales up to ``up_to`` (the card-store
    mark a snapshot brings; per-card usage updates would raise them likewise)."""
    set_state(conn, "usage_as_of_seq", str(up_to))
    conn.commit()


def four_sales(station: Station, *, delivered: int = 4) -> None:
    """Four sales of 3 l, receipted up to ``delivered``, all four counted by the office."""
    for _ in range(4):
        sell(station, 3_000)
    deliver(station.conn, delivered)
    counted_by_office(station.conn, 4)


def seqs(conn: sqlite3.Connection, table: str = "journal") -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT seq FROM {table} ORDER BY seq")]


def test_delivered_old_sales_go_undelivered_stay_and_the_chain_verifies(station: Station) -> None:
    for i in range(8):
        sell(station, 3_000 + 100 * i)
    open_auth = station.authorize(card="7800001234567893", pump=3, product="AI95")
    denied = station.authorize(card="7800001234567894", pump=2, product="AI95")  # blocked
    assert open_auth["approved"] and not denied["approved"]
    first = first_activity(station.conn)
    deliver(station.conn, 5)
    counted_by_office(station.conn, 8)
    result = prune(station.conn, before=CUT, now=LATER)
    assert (result.sales, result.anchor_seq, result.held) == (5, 5, (6, "undelivered"))
    assert seqs(station.conn) == [6, 7, 8] and seqs(station.conn, "outbox") == [6, 7, 8]
    anchor = read_anchor(station.conn)
    assert anchor is not None and anchor[0] == 5
    states = dict(station.conn.execute("SELECT state, COUNT(*) FROM authorizations "
                                       "GROUP BY state").fetchall())
    assert states == {"completed": 3, "open": 1}  # the denied one went too
    assert result.authorizations == 6
    assert first_activity(station.conn) == first  # kept for the first shift's start
    check = journal.verify(station.conn)
    assert (check.ok, check.rows, check.anchor_seq, check.last_seq) == (True, 3, 5, 8)
    assert [r["seq"] for r in pending_batch(station.conn, max_sales=10,
                                            max_bytes=1 << 20)] == [6, 7, 8]
    sale = station.complete(open_auth["sale_id"], volume_ml=2_000)  # the chain goes on
    assert sale["seq"] == 9 and journal.verify(station.conn).ok
    again = prune(station.conn, before=CUT, now=LATER)
    assert (again.sales, again.authorizations) == (0, 0)


def test_every_sale_delivered_leaves_an_empty_journal_that_goes_on_from_the_anchor(
        station: Station) -> None:
    for i in range(3):
        sell(station, 4_000 + i)
    last_hash = station.conn.execute("SELECT hash FROM journal WHERE seq = 3").fetchone()[0]
    deliver(station.conn, 3)
    counted_by_office(station.conn, 3)
    assert prune(station.conn, before=CUT, now=LATER).sales == 3
    assert seqs(station.conn) == [] and read_anchor(station.conn) == (3, last_hash)
    assert journal.verify(station.conn).ok  # head and receipt both meet the anchor
    sale = sell(station, 5_000)
    row = station.conn.execute("SELECT seq, prev_hash FROM journal").fetchone()
    assert (sale["seq"], row[0], row[1]) == (4, 4, last_hash)
    assert journal.verify(station.conn).ok


def test_a_sale_the_office_figures_do_not_count_yet_is_kept(station: Station) -> None:
    sell(station, 3_000)
    auth = station.authorize(card=WALLET_CARD, pump=2, product="DT", pin="1234")
    debit = station.complete(auth["sale_id"], volume_ml=2_000)
    assert debit["wallet_debits"], debit  # paid from a wallet
    sell(station, 3_000)
    deliver(station.conn, 3)
    counted_by_office(station.conn, 1)  # balances count only seq 1 yet
    result = prune(station.conn, before=CUT, now=LATER)
    assert (result.sales, result.held) == (1, (2, "wallet_mark"))
    counted_by_office(station.conn, 3)
    assert prune(station.conn, before=CUT, now=LATER).sales == 2
    assert seqs(station.conn) == [] and journal.verify(station.conn).ok


def test_sales_newer_than_the_cut_off_are_kept(station: Station) -> None:
    four_sales(station)
    third = station.conn.execute("SELECT completed_at FROM journal WHERE seq = 3").fetchone()[0]
    cut = datetime.fromisoformat(third)
    result = prune(station.conn, before=cut, now=LATER)
    assert (result.sales, seqs(station.conn)) == (2, [3, 4])
    assert journal.verify(station.conn).ok


def test_tampering_after_retention_is_still_found(station: Station) -> None:
    four_sales(station, delivered=2)
    prune(station.conn, before=CUT, now=LATER)
    station.conn.execute("UPDATE journal SET amount = amount + 1 WHERE seq = 3")
    assert {p.reason for p in journal.verify(station.conn).problems} == {"altered"}
    station.conn.execute("UPDATE journal SET amount = amount - 1 WHERE seq = 3")
    set_state(station.conn, "journal_anchor", "4 " + "0" * 64)  # an anchor past the receipt
    reasons = {p.reason for p in journal.verify(station.conn).problems}
    assert "anchor_undelivered" in reasons


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=6),
       marked=st.integers(0, 30), limit=st.integers(1, 5), recent=st.booleans())
def test_any_mix_of_delivered_and_undelivered_keeps_the_undelivered(
        plan: list[tuple[int, bool]], marked: int, limit: int, recent: bool) -> None:
    """Sales in rounds, each round maybe receipted; then retention with any mark and any
    batch size: a prefix goes, nothing undelivered does, nor (for sales of the last
    year, which usage limits may still count) anything the office's figures do not count
    yet; and verify holds."""
    folder = Path(tempfile.mkdtemp(prefix="jobs-retention-"))
    st = new_station(folder / "data")
    try:
        for sales, receipted in plan:
            for i in range(sales):
                sell(st, 1_000 + i)
            if receipted:
                deliver(st.conn, max(seqs(st.conn)))
        before_rows = {r[0]: r[1] for r in st.conn.execute("SELECT seq, hash FROM journal")}
        queued = set(seqs(st.conn, "outbox"))
        receipt = int(st.conn.execute("SELECT value FROM sync_state WHERE key = "
                                      "'last_receipt_seq'").fetchone()[0]) \
            if st.conn.execute("SELECT 1 FROM sync_state WHERE key = 'last_receipt_seq'"
                               ).fetchone() else 0
        counted_by_office(st.conn, marked)
        now = START + timedelta(days=100) if recent else LATER
        result = prune(st.conn, before=now - timedelta(days=30), now=now, limit=limit)
        kept = seqs(st.conn)
        gone = sorted(set(before_rows) - set(kept))
        assert gone == list(range(1, len(gone) + 1))  # a prefix
        assert len(gone) == min(receipt, marked if recent else receipt, len(before_rows))
        assert queued <= set(kept) and set(seqs(st.conn, "outbox")) == queued
        if gone:
            assert read_anchor(st.conn) == (gone[-1], before_rows[gone[-1]])
        assert result.sales == len(gone)
        assert journal.verify(st.conn).ok
        sell(st, 1_234)  # and the next sale still chains on
        assert journal.verify(st.conn).ok
    finally:
        st.store.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_stopping_daemon_stops_retention_between_batches(station: Station) -> None:
    four_sales(station)
    first = prune(station.conn, before=CUT, now=LATER, limit=1, should_stop=lambda: True)
    assert (first.sales, seqs(station.conn)) == (1, [2, 3, 4])
    assert journal.verify(station.conn).ok
    assert prune(station.conn, before=CUT, now=LATER, limit=1).sales == 3  # the next run
