"""Several writers at once: the office's ingest and card master under concurrency.

On SQLite every transaction is ``BEGIN IMMEDIATE``: writers queue for the file. On
PostgreSQL transactions run side by side (READ COMMITTED), so the office serialises
one station's ingest (``office.db.lock_station``) and the card master's versions
(``office.db.lock_card_master``). Threads each hold their own database connection,
as the office's MQTT thread, a CLI command and the console do.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.formats.journal import GENESIS, chain_hash
from office.cards import master as card_master
from office.ledger.ingest import IngestResult, ingest_batch
from office.store import OfficeConnection
from tests.office_fixtures import OfficeDb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SALES = 120
WRITERS = 4


def chain(count: int) -> list[dict[str, Any]]:
    prev, rows = GENESIS, []
    for seq in range(1, count + 1):
        row: dict[str, Any] = {
            "seq": seq, "sale_id": f"sale-{seq}", "station_id": "S-001", "card_id": "C-1",
            "pump": 1 + seq % 4, "product": "AI95", "volume_ml": 1000 + seq,
            "unit_price": 5000, "amount": 5000 + seq, "authorized_at":
            "2026-11-25T10:00:00.000000Z", "completed_at": "2026-11-25T10:01:00.000000Z",
            "wallet_debits": {}, "prev_hash": prev}
        prev = row["hash"] = chain_hash(prev, row)
        rows.append(row)
    return rows


def run_all(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Start every worker at once; the exceptions they raised."""
    from django.db import connection

    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            start.wait()
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_concurrent_ingest_of_one_station_stores_each_sale_once(
        office_conn: OfficeConnection) -> None:
    """Writers send overlapping batches of one station at once (MQTT, flash, a resend):
    no sale is stored twice, no writer fails, and every receipt covers exactly what was
    committed: its seq's stored hash is the receipt's, and all below it are stored."""
    conn = office_conn
    conn.execute("INSERT INTO stations VALUES ('S-001', 'key', '2026-11-01')")
    rows = chain(SALES)
    rng = random.Random(11)
    plans: list[list[tuple[int, int]]] = []
    for _ in range(WRITERS):  # every writer covers everything, in its own cuts and order
        cuts = sorted(rng.sample(range(2, SALES + 1), 9))
        bounds = [1, *cuts, SALES + 1]
        batches = [(a, b - 1) for a, b in itertools.pairwise(bounds)]
        rng.shuffle(batches)
        plans.append(batches)
    results: list[tuple[tuple[int, int], IngestResult]] = []
    lock = threading.Lock()

    def writer(plan: list[tuple[int, int]], via: str) -> Callable[[], None]:
        def work() -> None:
            for first, last in plan:
                body = {"station_id": "S-001", "first_seq": first, "last_seq": last,
                        "sales": [dict(r) for r in rows[first - 1:last]],
                        "status": {"outbox_depth": 0, "oldest_undelivered_at": None,
                                   "card_store_version": 1}}
                result = ingest_batch(conn, body, via=via, envelope_id=f"{via}-{first}",
                                      now=NOW, sender="S-001")
                with lock:
                    results.append(((first, last), result))
        return work

    errors = run_all([writer(p, ("mqtt", "flash")[i % 2]) for i, p in enumerate(plans)])
    assert errors == []
    assert all(r.quarantined is None for _, r in results)
    stored: dict[int, str] = dict(conn.execute("SELECT seq, hash FROM sales"))
    assert sorted(stored) == list(range(1, SALES + 1))
    assert conn.one("SELECT COUNT(*) FROM sales")[0] == SALES
    assert sum(r.stored for _, r in results) == SALES  # each sale stored by one writer
    for (first, last), r in results:
        assert r.stored + r.duplicates == last - first + 1
        if r.contiguous_seq:  # never a false receipt
            assert stored[r.contiguous_seq] == r.contiguous_hash
            assert all(seq in stored for seq in range(1, r.contiguous_seq + 1))
    head = conn.one("SELECT contiguous_seq, contiguous_hash FROM station_chain")
    assert tuple(head) == (SALES, rows[-1]["hash"])
    assert conn.one("SELECT COUNT(*) FROM chain_problems WHERE resolved_at IS NULL")[0] == 0


def test_concurrent_card_master_writers_take_versions_in_order(
        office_conn: OfficeConnection, sample_store_file: Path) -> None:
    """Writers block, unblock and reset PINs at once (CLI, console): every change gets
    its own version, the versions run 1, 2, 3, ... without a hole, and a PIN reset's
    generation is the version that carries it."""
    conn = office_conn
    card_master.import_file(conn, sample_store_file.read_bytes(), actor="import")
    start = card_master.latest_version(conn)
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def blocker(card: str) -> Callable[[], None]:
        def work() -> None:
            for i in range(10):
                status = "blocked" if i % 2 == 0 else "active"
                version, changed, _ = card_master.set_status(conn, card, status,
                                                             actor=f"w-{card}")
                assert changed
                with lock:
                    taken.append((card, version))
        return work

    def pin_resetter() -> None:
        for _ in range(10):
            _, version = card_master.pin_reset(conn, "7800001234567892", actor="pin")
            with lock:
                taken.append(("pin", version))

    errors = run_all([blocker("7800001234567891"), blocker("7800001234567893"),
                      pin_resetter])
    assert errors == []
    versions = sorted(v for _, v in taken)
    assert versions == list(range(start + 1, start + 31))  # distinct, no hole
    recorded = [r[0] for r in conn.execute(
        "SELECT version FROM cm_versions WHERE version > ? ORDER BY version", (start,))]
    assert recorded == versions
    doc = card_master.find_card_doc(conn, "7800001234567892")
    assert doc is not None
    assert doc["pin"]["reset"] == max(v for who, v in taken if who == "pin")
    # Each card's own changes took rising versions in the order they were made.
    for card in ("7800001234567891", "7800001234567893", "pin"):
        mine = [v for who, v in taken if who == card]
        assert mine == sorted(mine)


@pytest.mark.parametrize("lock", ["lock_station", "lock_card_master"])
def test_the_locks_belong_inside_a_transaction(office_conn: OfficeConnection,
                                               lock: str) -> None:
    from office import db

    with pytest.raises(RuntimeError, match="inside atomic"):
        getattr(db, lock)(*(["S-001"] if lock == "lock_station" else []))


def test_a_job_lock_is_held_by_one_connection_at_a_time(office_db: OfficeDb,
                                                         office_conn: OfficeConnection
                                                         ) -> None:
    """office.db.job_lock: on PostgreSQL a second holder (another worker's connection)
    waits while the first holds the job, gives up when it is stopping, and gets it once
    the first let go; on SQLite (one process) it is held at once."""
    from office.db import job_lock

    holding, release = threading.Event(), threading.Event()
    got: list[bool] = []

    def first() -> None:
        with job_lock("tiers", threading.Event()) as held:
            got.append(held)
            holding.set()
            release.wait(30)

    def second(stopping: threading.Event) -> Callable[[], None]:
        def work() -> None:
            holding.wait(30)
            with job_lock("tiers", stopping) as held:
                got.append(held)
            if not release.is_set():
                release.set()
        return work

    stopping = threading.Event()
    stopping.set()  # the second worker is stopping: it does not wait for the first
    assert run_all([first, second(stopping)]) == []
    assert got == ([True, False] if office_db.backend == "postgresql" else [True, True])
    got.clear()
    holding.clear()
    release.clear()
    with job_lock("tiers", threading.Event()) as held:  # free again
        assert held
        other = job_lock("points-expiry", stopping)  # another job: its own lock
        with other as held_other:
            assert held_other
