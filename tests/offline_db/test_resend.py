"""Receipted sales queued again for an office that lost them (offline_db.resend), on a
real station store: the outbox, the receipted mark and its hash, retention's anchor, and
``journal verify`` after each step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.config import Config, StationConfig
from edge.lifecycle import Station
from offline_db import journal
from offline_db.journal_checks import RECEIPT_HASH_KEY, receipt_problems
from offline_db.outbox import apply_receipt, pending_batch
from offline_db.resend import requeue_receipted
from offline_db.retention import prune
from offline_db.state import get_state, set_state
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock, sell

AT = "2027-01-01T00:00:00.000000Z"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    store, _ = StationStore.create(tmp_path / "data")
    st = Station(store, Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data")),
                 clock=Clock())
    st.import_cards(SAMPLE, actor="test")
    for i in range(10):
        sell(st, 2_000 + 100 * i)
    try:
        yield st
    finally:
        store.close()


def receipt(st: Station, up_to: int) -> int:
    row = st.conn.execute("SELECT hash FROM journal WHERE seq = ?", (up_to,)).fetchone()
    result = apply_receipt(st.conn, up_to_seq=up_to, hash_=row[0])
    assert result.accepted
    return result.removed


def outbox(st: Station) -> list[int]:
    return [r[0] for r in st.conn.execute("SELECT seq FROM outbox ORDER BY seq")]


def test_lost_sales_are_queued_again_and_receipted_anew(station: Station) -> None:
    receipt(station, 8)
    assert outbox(station) == [9, 10]
    done = requeue_receipted(station.conn, 4, 8, at=AT)
    assert (done.count, done.first, done.last, done.gone) == (5, 4, 8, None)
    assert outbox(station) == [4, 5, 6, 7, 8, 9, 10]
    assert get_state(station.conn, "last_receipt_seq") == "3"
    mark = station.conn.execute("SELECT hash FROM journal WHERE seq = 3").fetchone()[0]
    assert get_state(station.conn, RECEIPT_HASH_KEY) == mark
    assert receipt_problems(station.conn) == [] and journal.verify(station.conn).ok
    batch = pending_batch(station.conn, max_sales=100, max_bytes=1 << 20)
    assert [s["seq"] for s in batch] == [4, 5, 6, 7, 8, 9, 10]
    # The same request again (another worker, a repeated status): nothing changes.
    assert requeue_receipted(station.conn, 4, 8, at=AT).count == 0
    assert get_state(station.conn, "last_receipt_seq") == "3"
    assert receipt(station, 10) == 7 and outbox(station) == []


def test_only_receipted_sales_and_the_whole_journal_from_the_start(station: Station) -> None:
    receipt(station, 5)
    done = requeue_receipted(station.conn, 1, 9, at=AT)  # 6..9 were never receipted
    assert (done.count, done.first, done.last) == (5, 1, 5)
    assert get_state(station.conn, "last_receipt_seq") == "0"
    assert get_state(station.conn, RECEIPT_HASH_KEY) is None
    assert outbox(station) == list(range(1, 11)) and journal.verify(station.conn).ok
    nothing = requeue_receipted(station.conn, 1, 9, at=AT)
    assert (nothing.count, nothing.reason) == (0, "nothing receipted in that range")


def test_sales_retention_deleted_are_named_not_invented(station: Station) -> None:
    receipt(station, 8)
    set_state(station.conn, "usage_as_of_seq", "10")  # counted by the office: prunable
    station.conn.commit()
    later = Clock().now + timedelta(days=500)
    assert prune(station.conn, before=later - timedelta(days=100), now=later).anchor_seq == 8
    assert requeue_receipted(station.conn, 2, 6, at=AT).gone == (2, 6)
    assert outbox(station) == [9, 10]  # nothing to send: all of them deleted
    receipt(station, 10)
    # Sales 9 and 10 are still kept: 2..8 are gone, 9..10 queued again, the mark on the
    # anchor (its hash the anchor's), and the journal still verifies from the anchor.
    done = requeue_receipted(station.conn, 2, 10, at=AT)
    assert (done.count, done.first, done.last, done.gone) == (2, 9, 10, (2, 8))
    assert get_state(station.conn, "last_receipt_seq") == "8"
    assert receipt_problems(station.conn) == [] and journal.verify(station.conn).ok
