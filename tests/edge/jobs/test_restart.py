"""Jobs survive restarts: retention due while the daemon was down runs once at the next
start (the real scheduler runs the catch-up), not again at the start after, and its
effect is on the real store. The clock is driven; nothing is timed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from core.config import Config, StationConfig
from core.config_jobs import JobsConfig
from edge.jobs import StationJobs
from edge.lifecycle import Station
from offline_db import journal
from offline_db.shifts import Readings
from offline_db.state import get_state, set_state
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock, sell
from tests.offline_db.test_retention import deliver

BERLIN = ZoneInfo("Europe/Berlin")


def test_retention_due_while_down_runs_once_after_start(tmp_path: Path) -> None:
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data",
                                          timezone="Europe/Berlin"),
                    jobs=JobsConfig(retention="30d", retention_at="03:30",
                                    flash_export_after="0s"))
    store, _ = StationStore.create(tmp_path / "data")
    lock = threading.Lock()
    clock = [datetime(2026, 11, 20, 12, tzinfo=UTC)]

    def start() -> StationJobs:
        jobs = StationJobs(config, store.conn, lock, clock=lambda: clock[0],
                           read_totals=lambda: Readings(clock[0].isoformat(), "live"))
        jobs.start()
        return jobs

    try:
        st = Station(store, config, clock=Clock())  # sales on 2026-11-18
        st.import_cards(SAMPLE, actor="test")
        for _ in range(5):
            sell(st, 3_000)
        deliver(store.conn, 5)
        set_state(store.conn, "usage_as_of_seq", "5")
        store.conn.commit()

        first = start()  # the first start owes nothing
        first.stop()
        assert get_state(store.conn, "job:retention") == "2026-11-20T12:00:00.000000Z"

        clock[0] = datetime(2027, 1, 10, 12, tzinfo=UTC)  # down over many 03:30s
        second = start()
        deadline = time.monotonic() + 30
        while second.jobs.runs["retention"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        second.stop()
        assert second.jobs.runs["retention"] == 1
        assert store.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
        assert journal.verify(store.conn).ok
        assert get_state(store.conn, "job:retention") == "2027-01-10T02:30:00.000000Z"

        third = start()  # restarted the same day: nothing is owed, nothing runs
        assert third.jobs.due("retention", clock[0]) is None
        third.stop()
        assert third.jobs.runs["retention"] == 0
    finally:
        store.close()
