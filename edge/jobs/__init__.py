"""The station daemon's scheduled work, in one scheduler (core.jobs; docs/operations.md).

* ``retention`` (daily at ``[jobs] retention_at``, survives restarts): delivered
  journal rows and finished authorizations older than ``[jobs] retention``
  (edge.jobs.retention);
* ``day-report`` (daily at ``[reports] closing_time`` when ``day_report``, survives
  restarts): edge.jobs.day_report;
* ``staleness`` (every ``stale_check_every``): the card-data alarm (edge.jobs.staleness);
* ``sync-retry`` (every ``sync_retry_every``, with MQTT): a card-data request the office
  has not answered is sent again (cloud_sync.station_sync);
* ``flash-export`` (every ``flash_check_every`` unless ``flash_export_after`` is 0s):
  offline too long and the stick mounted, the undelivered sales onto it
  (edge.jobs.flash_auto).

The calendar jobs keep their marks in ``sync_state`` (``job:<id>``), written under the
daemon's lock like everything else it writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from core import jobs as core_jobs
from core.config import Config
from core.timefmt import iso, parse_iso, utc_now
from edge.jobs.day_report import DayReports
from edge.jobs.flash_auto import FlashAuto
from edge.jobs.retention import run_retention
from edge.jobs.staleness import check_staleness
from offline_db.connection import atomic
from offline_db.shifts import Readings
from offline_db.state import get_state, set_state

MARK_PREFIX = "job:"


class StoreMarks:
    """Calendar jobs' marks in the station's ``sync_state``."""

    def __init__(self, conn: sqlite3.Connection, lock: AbstractContextManager[Any]) -> None:
        self.conn = conn
        self.lock = lock

    def get(self, job_id: str) -> datetime | None:
        with self.lock:
            text = get_state(self.conn, MARK_PREFIX + job_id)
        try:
            return None if text is None else parse_iso(text)
        except ValueError:
            return None  # unreadable: as if new (nothing owed before now)

    def put(self, job_id: str, when: datetime) -> None:
        with self.lock, atomic(self.conn):
            set_state(self.conn, MARK_PREFIX + job_id, iso(when))


class StationJobs:
    """Builds the daemon's jobs from the configuration; ``start`` and ``stop``."""

    def __init__(self, config: Config, conn: sqlite3.Connection,
                 lock: AbstractContextManager[Any], *, read_totals: Callable[[], Readings],
                 sync: Any = None, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.conn = conn
        self.lock = lock
        self.sync = sync
        st, jc = config.station, config.jobs
        self.jobs = core_jobs.Jobs(st.tz, StoreMarks(conn, lock), clock=clock or utc_now)
        add = self.jobs.add
        Job = core_jobs.Job
        add(Job("retention", "retention",
                lambda due: run_retention(config, conn, lock, due,
                                          should_stop=self.jobs.stopping.is_set),
                core_jobs.daily(jc.retention_at, st.tz), persistent=True))
        self.day_reports: DayReports | None = None
        if config.reports.day_report:
            self.day_reports = DayReports(config, conn, lock, read_totals)
            add(Job("day-report", "day report", self.day_reports.run,
                    core_jobs.daily(config.reports.closing_time, st.tz), persistent=True))
        add(Job("staleness", "card-data staleness",
                lambda now: check_staleness(config, conn, lock, now),
                core_jobs.every(jc.seconds("stale_check_every"))))
        if sync is not None:
            add(Job("sync-retry", "sync request re-send", lambda _now: sync.resend_sync_request(),
                    core_jobs.every(jc.seconds("sync_retry_every"))))
        self.flash = FlashAuto(config, conn, lock, self.online)
        if jc.seconds("flash_export_after"):
            add(Job("flash-export", "automatic flash export", self.flash.run,
                    core_jobs.every(jc.seconds("flash_check_every"))))

    def online(self) -> bool:
        """Connected to the broker (never without MQTT)."""
        return bool(self.sync is not None and self.sync.link.connected)

    def start(self) -> None:
        self.jobs.start()

    def stop(self) -> None:
        self.jobs.stop()
