"""What ``forecourt office serve`` does by itself, in one scheduler (core.jobs).

* ``reports`` (daily at ``[office_reports] run_at``, in its time zone, when it names
  reports): the scheduled reports (office.reports.schedule);
* ``tiers`` (on the 1st at ``[office_jobs] tiers_at``): every card's tier for the
  month, recorded, and the cards' usage sent to every station (office.pricing.tiers);
* ``points-expiry`` (daily at ``[office_jobs] points_expiry_at``): lots past their last
  day booked as expired (office.pricing.expiry).

Each is a calendar job: the last time it ran for is kept in ``job_marks``, and a time
that passed while the office was down is made up once at the next start. Times of
tiers and expiry are in ``[station] timezone``, the calendar of the network's periods.
Each run uses its thread's own database connection, closed afterwards. Several workers
(office.sync.workers) each run this scheduler: a run takes the job's lock across them
(``office.db.job_lock``) and only then reads the mark, so a due time is run by one
worker and the others find it done. The models are imported when used: ``office serve``
imports this module before Django is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from core import jobs as core_jobs
from core.config import Config
from core.timefmt import iso, parse_iso, utc_now
from office.db import job_lock
from office.reports.schedule import check_names, due_batches
from office.store import OfficeConnection


class OfficeMarks:
    """Calendar jobs' marks in the office's ``job_marks`` table."""

    def get(self, job_id: str) -> datetime | None:
        from office.jobs.models import JobMark

        row = JobMark.objects.filter(job_id=job_id).first()
        try:
            return None if row is None else parse_iso(row.done_through)
        except ValueError:
            return None

    def put(self, job_id: str, when: datetime) -> None:
        from office.jobs.models import JobMark

        JobMark.objects.update_or_create(job_id=job_id, defaults={
            "done_through": iso(when), "updated_at": iso(utc_now())})


def _close_connection() -> None:
    from django.db import connection

    connection.close()  # this thread's own (Django's are per thread)


class OfficeJobs:
    """Builds the office's jobs from the configuration; ``start`` and ``stop``."""

    def __init__(self, config: Config, conn: OfficeConnection, *,
                 publish: Callable[[list[dict[str, Any]]], Any] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        from office.pricing.expiry import expire_points
        from office.pricing.tiers import recompute_tiers

        self.config = config
        self.conn = conn
        Job = core_jobs.Job
        tz = config.station.tz
        self.jobs = core_jobs.Jobs(tz, OfficeMarks(), clock=clock,
                                   after_run=_close_connection, exclusive=job_lock)
        reports = config.office_reports
        if reports.daily or reports.monthly:
            check_names(config)  # an unknown report stops the office here, before it serves
            self.jobs.add(Job("reports", "scheduled reports",
                              lambda due: due_batches(config, conn, due),
                              core_jobs.daily(reports.run_at, reports.tz), persistent=True))
        oj = config.office_jobs
        self.jobs.add(Job("tiers", "monthly tiers",
                          lambda due: recompute_tiers(conn, config, due, publish=publish),
                          core_jobs.monthly(1, oj.tiers_at, tz), persistent=True))
        self.jobs.add(Job("points-expiry", "points expiry",
                          lambda due: expire_points(due.astimezone(tz).date()),
                          core_jobs.daily(oj.points_expiry_at, tz), persistent=True))

    def start(self) -> None:
        self.jobs.start()

    def stop(self) -> None:
        self.jobs.stop()
