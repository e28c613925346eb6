"""The day report the daemon writes by itself at closing time (``[reports]``).

One of the daemon's scheduled jobs (edge.jobs): a calendar job, so a closing time
missed while the daemon was down is made up once at the next start, for the latest day
missed (earlier ones can be printed with ``forecourt report day``). The job reads the
pumps' totalizers (outside the daemon's lock: the pump lines answer meanwhile), records them
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
    """The day report job: ``run(due)`` writes the report the closing time ``due`` owes."""

    def __init__(self, config: Config, conn: Any, lock: AbstractContextManager[Any],
                 readings: Callable[[], Readings]) -> None:
        self.config = config
        self.conn = conn  # the daemon's writable connection: only for the snapshot
        self.lock = lock
        self.readings = readings
        self.written: list[Path] = []
        log.info("report.scheduled", closing_time=config.reports.closing_time,
                 day=config.reports.day)

    def run(self, due: datetime | None = None) -> list[Path]:
        """Read the totalizers, record them, write the report of the day closing at
        ``due`` (the ``previous`` or ``current`` day of it); never raises."""
        try:
            return self._run(due or utc_now())
        except (ForecourtError, OSError) as exc:
            log.error("report.day_failed", error=str(exc))
        except Exception:  # a bug must not kill the scheduler's thread silently
            log.exception("report.day_failed")
        return []

    def _run(self, due: datetime) -> list[Path]:
        cfg, st = self.config.reports, self.config.station
        readings = self.readings()
        now = utc_now()
        with self.lock, atomic(self.conn):
            record_snapshot(self.conn, readings, cause="day_report", actor="scheduler")
        today = due.astimezone(st.tz).date()
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
