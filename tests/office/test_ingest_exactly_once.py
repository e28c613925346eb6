"""Exactly once across flash bundles and MQTT batches, on SQLite and PostgreSQL (COPY).

Hypothesis delivers parts of one station's journal as bundles (``ingest_lines``, in
small chunks so that a bundle spans many, some inside what the office holds and some
not) and as batches (``ingest_batch``), overlapping, repeated, in any order: every
receipt must say what a correct office holds after that step, and in the end the
office holds each delivered sale once, as the station wrote it, with its wallet debits
once and the roll-ups equal to a recount. A bundle with a tampered, malformed or
forked line leaves nothing of itself behind. On PostgreSQL, two worker processes
import overlapping bundles at once, one killed (SIGKILL) in the middle of its COPY:
each sale is stored once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.formats.journal import GENESIS
from office.ledger import ingest_bulk, rollups
from office.ledger.ingest import IngestResult, ingest_batch
from office.settings import use_database
from office.store import OfficeConnection, open_office
from tests.office.bulk_journal import (
    NOW,
    STATION,
    STATUS,
    ZONE,
    bundle_meta,
    import_range,
    journal,
    rechain,
)
from tests.office.test_ingest_bulk import ROLLUPS, emptied
from tests.office_fixtures import OfficeDb

SALES = 60
ROWS, LINES = journal(SALES)
HELD = ("SELECT seq, hash, card_id, amount, wallet_debits, vehicle_id, odometer_km, "
        "odometer_flag FROM sales ORDER BY seq")
DEBITS = "SELECT seq, wallet_id, value FROM wallet_debits ORDER BY seq, wallet_id"


@pytest.fixture
def office(office_conn: OfficeConnection) -> OfficeConnection:
    office_conn.execute("INSERT INTO stations VALUES (?, 'ed25519:x', '2026-11-22')",
                        (STATION,))
    office_conn.execute("UPDATE rollup_state SET timezone = ?", (ZONE,))
    return office_conn


def deliver(conn: OfficeConnection, kind: str, first: int, last: int,
            rows: list[dict[str, Any]] = ROWS, lines: list[bytes] = LINES) -> IngestResult:
    """Seqs first..last as an MQTT batch or a flash bundle."""
    if kind == "batch":
        body = {"station_id": STATION, "first_seq": first, "last_seq": last,
                "sales": [dict(r) for r in rows[first - 1:last]], "status": STATUS}
        return ingest_batch(conn, body, via="mqtt", envelope_id=f"e{first}", now=NOW)
    return ingest_bulk.ingest_lines(conn, STATION, bundle_meta(rows, first, last),
                                    iter(lines[first - 1:last]), via="flash",
                                    source=f"b{first}-{last}", now=NOW)


def expected_held(seqs: set[int]) -> list[tuple[Any, ...]]:
    """The rows of HELD an office holding exactly ``seqs`` of ROWS has."""
    return [(r["seq"], r["hash"], r["card_id"], r["amount"],
             json.dumps(r["wallet_debits"], sort_keys=True, separators=(",", ":")),
             r.get("vehicle_id"), r.get("odometer_km"), r.get("odometer_flag"))
            for r in ROWS if r["seq"] in seqs]


def ledger(conn: OfficeConnection) -> list[list[tuple[Any, ...]]]:
    """Everything the ingest writes for the station, to compare before and after."""
    return [[tuple(r) for r in conn.execute(q).fetchall()] for q in (
        HELD, DEBITS, *ROLLUPS,
        "SELECT contiguous_seq, contiguous_hash FROM station_chain")]


def head_of(seqs: set[int]) -> tuple[int, str]:
    head = 0
    while head + 1 in seqs:
        head += 1
    return head, ROWS[head - 1]["hash"] if head else GENESIS


def check_counts(conn: OfficeConnection) -> None:
    """The roll-ups kept at ingest equal a recount of the stored sales, and the wallet
    debits are those of the stored sales, once each."""
    counted = [[tuple(r) for r in conn.execute(q).fetchall()] for q in ROLLUPS]
    rollups.rebuild(conn, ZONE)
    assert counted == [[tuple(r) for r in conn.execute(q).fetchall()] for q in ROLLUPS]
    seqs = {int(r[0]) for r in conn.execute("SELECT seq FROM sales")}
    assert [tuple(r) for r in conn.execute(DEBITS).fetchall()] == [
        (r["seq"], wallet, value) for r in ROWS if r["seq"] in seqs
        for wallet, value in sorted(r["wallet_debits"].items())]


DELIVERY = st.tuples(st.sampled_from(["bundle", "bundle", "batch"]),
                     st.integers(1, SALES), st.integers(0, SALES - 1)).map(
    lambda d: (d[0], d[1], min(SALES, d[1] + d[2] // 2)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.lists(DELIVERY, min_size=1, max_size=6),
       chunk=st.sampled_from([1, 4, 7, 1000]), first_chunk=st.sampled_from([1, 3, 2048]),
       whole=st.booleans())
def test_overlapping_repeated_reordered_deliveries_store_each_sale_once(
        office: OfficeConnection, deliveries: list[tuple[str, int, int]], chunk: int,
        first_chunk: int, whole: bool) -> None:
    conn = emptied(office)
    held: set[int] = set()
    if whole:  # and in the end the whole journal, as a station's last bundle would
        deliveries = [*deliveries, ("bundle", 1, SALES)]
    with patch.object(ingest_bulk, "CHUNK_ROWS", chunk), \
            patch.object(ingest_bulk, "FIRST_CHUNK_ROWS", first_chunk):
        for kind, first, last in deliveries:
            result = deliver(conn, kind, first, last)
            span = set(range(first, last + 1))
            assert result.quarantined is None, result.detail
            assert (result.stored, result.duplicates) == (len(span - held),
                                                          len(span & held))
            held |= span
            assert (result.contiguous_seq, result.contiguous_hash) == head_of(held)
            assert [tuple(r) for r in conn.execute(HELD).fetchall()] == expected_held(held)
    check_counts(conn)


def tampered(seq: int, change: Callable[[dict[str, Any]], None], *, rehash: bool
             ) -> tuple[list[dict[str, Any]], list[bytes]]:
    """ROWS with sale ``seq`` changed: re-chained (a bad row a station hashed) or not
    (a line altered after export, the chain no longer matching)."""
    rows = [dict(r) for r in ROWS]
    change(rows[seq - 1])
    if rehash:
        return rechain(rows)
    lines = list(LINES)
    fields = {k: v for k, v in rows[seq - 1].items() if k not in ("prev_hash", "hash")}
    lines[seq - 1] = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return ROWS, lines


@pytest.mark.parametrize(("seq", "change", "rehash", "reason"), [
    (47, lambda r: r.update(amount=r["amount"] + 1), False, "bad_chain"),
    (47, lambda r: r.update(pump=0), True, "malformed"),
    (47, lambda r: r.update(card_id="C-1\x07"), True, "malformed"),
    (20, lambda r: r.update(amount=r["amount"] + 1), True, "fork"),  # the office holds 1-30
    (55, lambda r: r.update(extra=1), True, "malformed"),
], ids=["altered", "pump-0", "control-char", "forked", "unknown-field"])
def test_a_refused_bundle_leaves_nothing_of_itself(
        office: OfficeConnection, seq: int, change: Callable[[dict[str, Any]], None],
        rehash: bool, reason: str) -> None:
    conn = emptied(office)
    assert deliver(conn, "batch", 1, 30).stored == 30
    before = ledger(conn)
    rows, lines = tampered(seq, change, rehash=rehash)
    with patch.object(ingest_bulk, "CHUNK_ROWS", 4):  # refused many chunks into the COPY
        result = deliver(conn, "bundle", 10, SALES, rows, lines)
    assert (result.quarantined, result.stored, result.contiguous_seq) == (reason, 0, 30)
    assert ledger(conn) == before
    assert conn.execute("SELECT reason, first_seq, last_seq FROM quarantine").fetchall() == \
        [(reason, 10, SALES)]
    # The office goes on: the station's true bundle is stored, each sale once.
    assert deliver(conn, "bundle", 1, SALES).stored == SALES - 30
    assert [tuple(r) for r in conn.execute(HELD).fetchall()] == \
        expected_held(set(range(1, SALES + 1)))
    check_counts(conn)


# -- two worker processes (PostgreSQL: the COPY path and the station lock) ----------------
@pytest.fixture
def pg_office(make_office_db: Callable[[str], OfficeDb]) -> OfficeDb:
    db = make_office_db("postgresql")
    use_database(db.database, db.data_dir)
    conn = open_office(db.config)
    conn.execute("INSERT INTO stations VALUES (?, 'ed25519:x', '2026-11-22')", (STATION,))
    conn.execute("UPDATE rollup_state SET timezone = ?", (ZONE,))
    return db


def worker(db: OfficeDb, first: int, last: int, out: Path, pause: Path | None = None
           ) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=import_range, args=(db.database, db.data_dir, SALES, first, last, out, pause))
    process.start()
    return process


def wait_for(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def lock_waiters(conn: OfficeConnection) -> int:
    """Backends waiting for an advisory lock (a worker queued behind the station lock)."""
    return int(conn.one("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = "
                        "'Lock' AND wait_event = 'advisory'")[0])


def test_two_workers_one_killed_mid_copy_store_each_sale_once(pg_office: OfficeDb,
                                                              tmp_path: Path) -> None:
    conn = open_office(pg_office.config)
    paused, out_a, out_b = tmp_path / "paused", tmp_path / "a.json", tmp_path / "b.json"
    a = worker(pg_office, 1, 40, out_a, pause=paused)  # pauses 12 lines into its COPY
    b: multiprocessing.process.BaseProcess | None = None
    try:
        wait_for("pause in the middle of the first import", paused.exists)
        b = worker(pg_office, 25, SALES, out_b)  # overlaps: waits for the station lock
        wait_for("second worker waiting for the station lock", lambda: lock_waiters(conn) > 0)
        assert conn.one("SELECT COUNT(*) FROM sales")[0] == 0  # nothing of A visible yet
        assert a.pid is not None
        os.kill(a.pid, signal.SIGKILL)
        a.join(30)
        b.join(60)
        assert b.exitcode == 0
    finally:
        for process in (a, b):
            if process is not None and process.is_alive():
                process.kill()
                process.join()
    assert not out_a.exists()
    assert json.loads(out_b.read_text()) == {"stored": SALES - 24, "duplicates": 0,
                                             "quarantined": None, "contiguous_seq": 0}
    # The killed worker's station sends its bundle again; two more import at once.
    c, d = (worker(pg_office, 1, 40, tmp_path / "c.json"),
            worker(pg_office, 1, SALES, tmp_path / "d.json"))
    c.join(60)
    d.join(60)
    assert (c.exitcode, d.exitcode) == (0, 0)
    results = [json.loads((tmp_path / f"{n}.json").read_text()) for n in "cd"]
    assert sum(r["stored"] for r in results) == 24  # 1-24, by whichever came first
    assert all(r["quarantined"] is None for r in results)
    assert [r["contiguous_seq"] for r in results] == [SALES, SALES]
    assert [tuple(r) for r in conn.execute(HELD).fetchall()] == \
        expected_held(set(range(1, SALES + 1)))
    assert conn.one("SELECT contiguous_seq, contiguous_hash FROM station_chain") == \
        (SALES, ROWS[-1]["hash"])
    check_counts(conn)
