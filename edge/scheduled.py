"""The day report the daemon writes by itself at closing time (``[reports]``).

APScheduler's background scheduler runs the job in a thread pool of its own, so the
daemon's main loop and control socket never wait for it. The job reads the pumps'
totalizers (outside the daemon's lock: the pump lines answer meanwhile), records them
as a snapshot under the lock (one short transaction: the next day's start readings),
then builds the report on a read-only connection of its own and writes each
configured format to ``[reports] folder``, each file whole (a temporary file renamed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from core.config import Config
from core.errors import ForecourtError
from core.timefmt import utc_now
from edge.report_format import render
from edge.reports import build_report, day_plan
from offline_db.connection import atomic
from offline_db.shifts import Readings, record_snapshot
from offline_db.store import StationStore

log = structlog.get_logger(__name__)
EXTENSIONS = {"text": "txt", "json": "json", "csv": "csv"}
JOB_ID = "day-report"


class DayReports:
    """Schedules and runs the day report (start/stop with the daemon)."""

    def __init__(self, config: Config, conn: Any, lock: AbstractContextManager[Any],
                 readings: Callable[[], Readings], *, trigger: Any = None) -> None:
        self.config = config
        self.conn = conn  # the daemon's writable connection: only for the snapshot
        self.lock = lock
        self.readings = readings
        self._trigger = trigger  # tests: a DateTrigger a moment away
        self._scheduler: Any = None
        self.written: list[Path] = []

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        tz = self.config.station.tz
        hour, minute = self.config.reports.closing_hour_minute
        trigger = self._trigger or CronTrigger(hour=hour, minute=minute, timezone=tz)
        self._scheduler = BackgroundScheduler(timezone=tz, daemon=True)
        # A run missed while the daemon was stopped is not made up at the next start
        # (the report of that day can still be printed with forecourt report day);
        # one late by less than an hour (a busy machine) still runs, once.
        self._scheduler.add_job(self.run, trigger, id=JOB_ID, name="day report",
                                max_instances=1, coalesce=True, misfire_grace_time=3600)
        self._scheduler.start()
        job = self._scheduler.get_job(JOB_ID)
        log.info("report.scheduled", closing_time=self.config.reports.closing_time,
                 day=self.config.reports.day, next_run=str(job.next_run_time) if job else None)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)  # a report being written is finished
            self._scheduler = None

    def run(self, now: datetime | None = None) -> list[Path]:
        """Read the totalizers, record them, write the day's report; never raises."""
        try:
            return self._run(now or utc_now())
        except (ForecourtError, OSError) as exc:
            log.error("report.day_failed", error=str(exc))
        except Exception:  # a bug must not kill the scheduler's thread silently
            log.exception("report.day_failed")
        return []

    def _run(self, now: datetime) -> list[Path]:
        cfg, st = self.config.reports, self.config.station
        readings = self.readings()
        with self.lock, atomic(self.conn):
            record_snapshot(self.conn, readings, cause="day_report", actor="scheduler")
        today = now.astimezone(st.tz).date()
        day = today - timedelta(days=1) if cfg.day == "previous" else today
        store = StationStore.open_reader(st.data_dir)
        try:
            report = build_report(store.conn, self.config,
                                  day_plan(store.conn, self.config, day, now), now, readings)
        finally:
            store.close()
        cfg.folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for fmt in cfg.formats:
            path = cfg.folder / f"day-{st.id}-{day.isoformat()}.{EXTENSIONS[fmt]}"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(render(report, fmt, st.money), encoding="utf-8")
            os.replace(tmp, path)
            paths.append(path)
        self.written += paths
        log.info("report.day_written", date=day.isoformat(), files=[str(p) for p in paths],
                 sales=report["sales"]["total"]["count"],
                 mismatches=report["totalizers"]["mismatches"])
        return paths
