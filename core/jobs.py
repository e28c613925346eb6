"""Scheduled work of one process: APScheduler 3's background scheduler, one per process.

The station daemon (edge.jobs) and the head office's ``serve`` (office.jobs) each make
one :class:`Jobs`, add their jobs and start it; each job runs in the scheduler's own
thread pool, never in the caller's loop.

Two kinds of job:

* **periodic** (``every(seconds)``): runs at start and then every so often; a run
  missed while the process was down means nothing (staleness check, sync re-send);
* **calendar** (``daily``/``monthly``, ``persistent=True``): runs at its times, and
  *survives restarts*: the last time it was done for (its **mark**) is kept in the
  process's own store (:class:`Marks`: the station's ``sync_state``, the office's
  ``job_marks``). On start, a job whose next time after its mark has passed (it was
  due while the process was down) runs once at once, for the latest time missed; a
  run misfired within the process (a busy or suspended machine) runs once late
  (``coalesce``, no grace limit). Every run first asks which time it is for: none
  after the mark means it was done already, so the catch-up and the trigger firing at
  the same moment never run it twice. A calendar job seen for the first time records
  *now* as its mark (nothing before the first start is owed). Several processes running
  the same jobs on one store (the office's workers) pass ``exclusive``: a lock across
  them, taken before the mark is read, so a due time is run by one of them.

APScheduler's own job stores are not used for this: a SQLAlchemy job store would add a
dependency and pickle the jobs' callables, while the one thing that must outlive the
process is a timestamp per job, which each side keeps in its store already.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

import structlog

from core.timefmt import utc_now

log = structlog.get_logger(__name__)
#: Fire times looked at when finding the latest one missed (a daily job down ten years).
MAX_STEPS = 4000
_TICK = timedelta(microseconds=1)


class Marks(Protocol):
    """Where a process keeps, per calendar job, the last time it was done for."""

    def get(self, job_id: str) -> datetime | None: ...

    def put(self, job_id: str, when: datetime) -> None: ...


#: ``exclusive(job_id, stopping)``: a context manager held while a job is checked, run
#: and marked, across every process that runs the same jobs (the office's workers: a
#: PostgreSQL advisory lock). It yields False when ``stopping`` was set before it was
#: held: the run is then skipped.
Exclusive = Callable[[str, threading.Event], AbstractContextManager[bool]]


@contextmanager
def _alone(_job_id: str, _stopping: threading.Event) -> Iterator[bool]:
    yield True


class MemoryMarks:
    """Marks kept in memory (a process with no store; tests)."""

    def __init__(self) -> None:
        self.marks: dict[str, datetime] = {}

    def get(self, job_id: str) -> datetime | None:
        return self.marks.get(job_id)

    def put(self, job_id: str, when: datetime) -> None:
        self.marks[job_id] = when


def daily(hh_mm: str, tz: tzinfo) -> Any:
    """A trigger every day at ``HH:MM`` local time in ``tz``."""
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = (int(x) for x in hh_mm.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=tz)


def monthly(day: int, hh_mm: str, tz: tzinfo) -> Any:
    """A trigger on ``day`` of every month at ``HH:MM`` local time in ``tz``."""
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = (int(x) for x in hh_mm.split(":"))
    return CronTrigger(day=day, hour=hour, minute=minute, timezone=tz)


def every(seconds: float) -> Any:
    """A trigger every ``seconds`` (the first run at start)."""
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=seconds)


@dataclass(frozen=True)
class Job:
    """One job: ``run(due)`` does the work for time ``due`` and never raises on purpose.

    ``due`` is the calendar time the run is for (a catch-up's is the missed time), or
    *now* for a periodic job.
    """

    id: str
    name: str
    run: Callable[[datetime], Any]
    trigger: Any
    persistent: bool = False


def latest_due(trigger: Any, mark: datetime, now: datetime) -> datetime | None:
    """The last fire time of ``trigger`` after ``mark`` and not after ``now`` (or None)."""
    found = None
    when = trigger.get_next_fire_time(None, mark + _TICK)
    for _ in range(MAX_STEPS):
        if when is None or when > now:
            break
        found = when
        when = trigger.get_next_fire_time(when, when + _TICK)
    else:
        found = now  # further back than MAX_STEPS times: once, for now
    return found


class Jobs:
    """The process's scheduler: add jobs, ``start``, ``stop``; :meth:`run_due` by hand."""

    def __init__(self, tz: tzinfo, marks: Marks, *,
                 clock: Callable[[], datetime] = utc_now,
                 after_run: Callable[[], None] | None = None,
                 exclusive: Exclusive | None = None) -> None:
        self.tz = tz
        self.marks = marks
        self.clock = clock
        self.after_run = after_run  # e.g. close the thread's database connection
        #: Held around "is it due? run it, mark it" (one process: always held at once).
        self.exclusive: Exclusive = exclusive or _alone
        self.jobs: dict[str, Job] = {}
        #: Set by :meth:`stop`: a long job (retention) checks it between its batches.
        self.stopping = threading.Event()
        self._locks: dict[str, threading.Lock] = {}
        self._scheduler: Any = None
        #: Runs done, by job id (status and tests).
        self.runs: dict[str, int] = {}

    def add(self, job: Job) -> None:
        if job.id in self.jobs:
            raise ValueError(f"job {job.id} is added twice")
        self.jobs[job.id] = job
        self._locks[job.id] = threading.Lock()
        self.runs[job.id] = 0

    def due(self, job_id: str, now: datetime) -> datetime | None:
        """What time a calendar job owes a run for at ``now`` (None: nothing)."""
        job = self.jobs[job_id]
        mark = self.marks.get(job_id)
        if mark is None:
            return None
        return latest_due(job.trigger, mark, now)

    def run_due(self, job_id: str, now: datetime | None = None) -> datetime | None:
        """Run the job if it owes a run at ``now``; the time it ran for, else None.

        A periodic job always runs (for ``now``). Serialised per job: a catch-up and a
        trigger firing together run it once; with :attr:`exclusive`, across processes
        too (the mark is read again once it is held, so a run another process just made
        is seen and not repeated).
        """
        job = self.jobs[job_id]
        with self._locks[job_id]:
            try:
                with self.exclusive(job_id, self.stopping) as held:
                    if not held:  # stopping while another process held it
                        return None
                    return self._run_held(job, now)
            finally:
                if self.after_run is not None:
                    self.after_run()

    def _run_held(self, job: Job, now: datetime | None) -> datetime | None:
        now = now or self.clock()
        due = self.due(job.id, now) if job.persistent else now
        if due is None:
            return None
        try:
            job.run(due)
        except Exception:  # a bug must not kill the scheduler's thread silently
            log.exception("job.failed", job=job.id, due=due.isoformat())
        finally:
            if job.persistent:
                self.marks.put(job.id, due)  # done for due, even if it failed: logged
            self.runs[job.id] += 1
        return due

    def _fire(self, job_id: str) -> None:
        try:
            self.run_due(job_id)
        except Exception:  # the marks' store failed: logged, the next time tries again
            log.exception("job.failed", job=job_id)

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.stopping.clear()
        now = self.clock()
        owed = []
        for job in self.jobs.values():
            if not job.persistent:
                continue
            mark = self.marks.get(job.id)
            if mark is None:
                self.marks.put(job.id, now)  # first start: nothing before it is owed
            elif latest_due(job.trigger, mark, now) is not None:
                owed.append(job.id)
        self._scheduler = BackgroundScheduler(timezone=self.tz, daemon=True)
        for job in self.jobs.values():
            extra = {} if job.persistent else {"next_run_time": now}
            self._scheduler.add_job(self._fire, job.trigger, args=[job.id], id=job.id,
                                    name=job.name, max_instances=1, coalesce=True,
                                    misfire_grace_time=None, **extra)
        for job_id in owed:  # once each, now, in the scheduler's threads
            log.info("job.catch_up", job=job_id, mark=str(self.marks.get(job_id)))
            self._scheduler.add_job(self._fire, args=[job_id], id=f"{job_id}.catch-up",
                                    name=f"{self.jobs[job_id].name} (catch-up)")
        self._scheduler.start()
        log.info("jobs.started", jobs={j.id: str(self._scheduler.get_job(j.id).next_run_time)
                                       for j in self.jobs.values()})

    def stop(self) -> None:
        """Stop firing; a run in progress is finished first (a long one stops at its next
        batch: :attr:`stopping`)."""
        self.stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
