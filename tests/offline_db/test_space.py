"""Free space: SQLite's SQLITE_FULL as DiskFullError, the check before a new sale, the
reserve, and the alarm sentence (the full disk itself: tests/edge/test_disk_full.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.errors import DiskFullError
from offline_db.connection import atomic, connect
from offline_db.space import MB, RESERVE_NAME, DiskGuard, DiskSpace, disk_space


def test_sqlite_full_is_disk_full_and_rolls_the_unit_back(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x BLOB)")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    # SQLite's own size cap answers SQLITE_FULL, exactly as ENOSPC does.
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFullError) as full, atomic(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        with atomic(conn):  # a nested unit: the outermost one says it, and rolls back all
            conn.execute("INSERT INTO t VALUES (?)", (bytes(64 * 1024),))
    assert full.value.code == "disk_full"
    assert str(full.value) == ("the disk holding the station database is full: nothing of "
                               "this was recorded (SQLite: database or disk is full)")
    assert not conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1]
    conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    with atomic(conn):  # room again: the connection works on
        conn.execute("INSERT INTO t VALUES (3)")
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1, 3]


def test_check_room_refuses_below_min_free(tmp_path: Path) -> None:
    free = disk_space(tmp_path, min_free_mb=1, reserve_mb=0).free
    guard = DiskGuard(tmp_path, min_free_mb=free // MB + 10, reserve_mb=0)
    with pytest.raises(DiskFullError) as full:
        guard.check_room()
    assert full.value.code == "disk_full"
    assert str(full.value).startswith("the station's disk is too full for a new sale: ")
    assert f"MB free on the disk of {tmp_path}, {free // MB + 10} MB needed" in str(full.value)
    assert not (tmp_path / RESERVE_NAME).exists()  # no room for it either: not made


def test_reserve_is_made_given_up_and_put_back(tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, min_free_mb=1, reserve_mb=2)
    assert guard.check_room().reserve == 2 * MB
    reserve = tmp_path / RESERVE_NAME
    assert reserve.stat().st_size == 2 * MB and reserve.stat().st_blocks * 512 >= 2 * MB
    assert guard.release_reserve() and not reserve.exists()
    assert not guard.release_reserve()  # nothing left to give up
    assert guard.space().refusing  # until it is back
    assert guard.check_room().reserve == 2 * MB  # there is room: put back first
    assert DiskGuard(tmp_path, min_free_mb=1, reserve_mb=0).check_room().reserve == 2 * MB


def test_alarm_sentences() -> None:
    base = DiskSpace(Path("/var/lib/forecourt"), free=500 * MB, total=1000 * MB,
                     min_free=64 * MB, reserve=8 * MB, reserve_wanted=8 * MB)
    assert base.alarm() is None and not base.refusing
    near = dataclasses.replace(base, free=100 * MB)
    assert near.nearly_full and not near.refusing
    assert near.alarm() == ("disk nearly full: 100 MB free on the disk of /var/lib/forecourt, "
                            "64 MB needed ([station] min_free_mb) besides the 8 MB reserve")
    full = dataclasses.replace(base, free=10 * MB)
    assert full.refusing
    assert full.alarm() == ("disk full, new sales refused: 10 MB free on the disk of "
                            "/var/lib/forecourt, 64 MB needed ([station] min_free_mb) besides "
                            "the 8 MB reserve")
    given_up = dataclasses.replace(base, reserve=0)
    # Room to put the reserve back: the next sale does so first, no alarm.
    assert given_up.refusing and not given_up.refuses_next_sale and given_up.alarm() is None
    assert given_up.as_json()["refusing"] is False
    no_room = dataclasses.replace(given_up, free=70 * MB)  # 64 MB + the 8 MB to put back
    assert no_room.refuses_next_sale and "the 8 MB reserve, now given up, to be put back" \
        in str(no_room.alarm())
    assert no_room.as_json()["refusing"] is True
