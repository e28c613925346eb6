"""Opening the store: migrations recorded, WAL + synchronous=FULL, one writer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import NotInitializedError, StoreError, WriterLockedError
from offline_db.connection import atomic, connect
from offline_db.migrations import applied_migrations, migrate
from offline_db.store import StationStore

ALL_MIGRATIONS = ["0001_initial", "0002_pump_fills", "0003_seen_tokens",
                  "0004_authorization_actor", "0005_card_usage_as_of",
                  "0006_journal_vehicle_odometer", "0007_canonical_stop_list",
                  "0008_pin_tries_generation", "0009_journal_head", "0010_wallets_as_of",
                  "0011_pricing", "0012_vouchers_used", "0013_journal_points_burned",
                  "0014_shifts_totalizers", "0015_wallet_debits_seq"]


def test_create_records_migrations_and_durability(tmp_path: Path) -> None:
    store, applied = StationStore.create(tmp_path / "d")
    try:
        assert applied == ALL_MIGRATIONS
        assert applied_migrations(store.conn) == ALL_MIGRATIONS
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert migrate(store.conn) == []
    finally:
        store.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path)
    store.conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                       "VALUES ('forecourt-station', '0099_future', 'x')")
    store.close()
    with pytest.raises(StoreError, match="made by a newer forecourt"):
        StationStore.open_writer(tmp_path)


def test_not_initialized(tmp_path: Path) -> None:
    with pytest.raises(NotInitializedError, match="run 'forecourt init' first"):
        StationStore.open_writer(tmp_path)
    with pytest.raises(NotInitializedError):
        StationStore.open_reader(tmp_path)


def test_second_writer_fails_fast_and_reader_still_works(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(WriterLockedError, match=r"in use by forecourt init \(pid \d+\)"):
            StationStore.open_writer(tmp_path)
        assert time.monotonic() - started < 5  # fail fast, not a busy wait
        reader = StationStore.open_reader(tmp_path)
        assert reader.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
        with pytest.raises(Exception, match="readonly"):
            reader.conn.execute("INSERT INTO sync_state VALUES ('x', 'y')")
        reader.close()
    finally:
        store.close()
    StationStore.open_writer(tmp_path).close()


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    StationStore.create(tmp_path)[0].close()
    root = str(Path(__file__).resolve().parents[2])
    code = (f"import sys, time; sys.path.insert(0, {root!r})\n"
            "from offline_db.store import StationStore\n"
            f"s = StationStore.open_writer(__import__('pathlib').Path({str(tmp_path)!r}))\n"
            "print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(WriterLockedError, match=f"pid {proc.pid}"):
            StationStore.open_writer(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    StationStore.open_writer(tmp_path).close()


def test_atomic_nests_with_savepoints(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (v INTEGER)")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), atomic(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError
    assert [r[0] for r in conn.execute("SELECT v FROM t")] == [1]
    with pytest.raises(KeyboardInterrupt), atomic(conn):
        conn.execute("INSERT INTO t VALUES (3)")
        raise KeyboardInterrupt
    assert [r[0] for r in conn.execute("SELECT v FROM t")] == [1]
    assert not conn.in_transaction


def test_atomic_raises_the_real_error_when_sqlite_ended_the_transaction(tmp_path: Path) -> None:
    """A full disk or an I/O error can end SQLite's transaction before ours rolls back;
    the caller must see that error, not "cannot rollback - no transaction is active"."""
    conn = connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ValueError, match="the real error"), atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("ROLLBACK")  # what SQLite does on its own for SQLITE_FULL / IOERR
        raise ValueError("the real error")
    with pytest.raises(ValueError, match="nested"), atomic(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        with atomic(conn):
            conn.execute("ROLLBACK")
            raise ValueError("nested")
    assert not conn.in_transaction
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    with atomic(conn):  # the connection is usable afterwards
        conn.execute("INSERT INTO t VALUES (3)")
    assert [tuple(r) for r in conn.execute("SELECT x FROM t")] == [(3,)]
