"""core.jobs: calendar jobs survive restarts (a run due while down happens once at the
next start, never twice), periodic jobs run at start and then on their interval, and the
real APScheduler fires them. The clock is driven; nothing asserts how long anything took."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.config import load_config_file
from core.errors import ConfigError
from core.jobs import Job, Jobs, MemoryMarks, daily, every, latest_due, monthly

BERLIN = ZoneInfo("Europe/Berlin")


def wait_for(check: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_latest_due_is_the_last_time_missed() -> None:
    trigger = daily("03:30", BERLIN)
    mark = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # 03:30 Berlin, done
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert latest_due(trigger, mark, now) == datetime(2026, 3, 4, 3, 30, tzinfo=BERLIN)
    assert latest_due(trigger, datetime(2026, 3, 4, 2, 30, tzinfo=UTC), now) is None
    first = monthly(1, "00:30", BERLIN)
    assert latest_due(first, datetime(2026, 1, 15, tzinfo=UTC), now) == datetime(
        2026, 3, 1, 0, 30, tzinfo=BERLIN)


def test_a_job_due_while_down_runs_once_after_start_not_twice() -> None:
    marks = MemoryMarks()
    clock = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    done: list[datetime] = []

    def make() -> Jobs:
        jobs = Jobs(BERLIN, marks, clock=lambda: clock[0])
        jobs.add(Job("retention", "retention", done.append, daily("03:30", BERLIN),
                     persistent=True))
        return jobs

    first = make()
    first.start()  # first start: the mark is now, nothing is owed
    first.stop()
    assert done == [] and marks.get("retention") == clock[0]

    clock[0] = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # down over three 03:30s
    second = make()
    second.start()
    try:
        wait_for(lambda: second.runs["retention"] >= 1)
        # The trigger firing now too (or a second catch-up) finds nothing owed.
        assert second.run_due("retention") is None
    finally:
        second.stop()
    assert done == [datetime(2026, 3, 4, 3, 30, tzinfo=BERLIN)]
    assert marks.get("retention") == done[0]

    third = make()  # restarted again the same day: nothing is owed
    third.start()
    third.stop()
    assert len(done) == 1

    clock[0] = datetime(2026, 3, 5, 2, 31, tzinfo=UTC)  # the next day's time has come
    assert third.run_due("retention") == datetime(2026, 3, 5, 3, 30, tzinfo=BERLIN)
    assert third.run_due("retention") is None
    assert len(done) == 2


def test_a_failing_job_is_logged_and_its_time_counts_as_done() -> None:
    marks = MemoryMarks()
    marks.put("boom", datetime(2026, 3, 1, tzinfo=UTC))

    def boom(_due: datetime) -> None:
        raise RuntimeError("bug")

    jobs = Jobs(BERLIN, marks, clock=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC))
    jobs.add(Job("boom", "boom", boom, daily("03:30", BERLIN), persistent=True))
    assert jobs.run_due("boom") == datetime(2026, 3, 2, 3, 30, tzinfo=BERLIN)
    assert jobs.run_due("boom") is None and jobs.runs["boom"] == 1


def test_the_real_scheduler_fires_a_periodic_job_on_its_interval() -> None:
    ran = threading.Event()
    count = [0]

    def tick(_due: datetime) -> None:
        count[0] += 1
        if count[0] >= 3:
            ran.set()

    jobs = Jobs(UTC, MemoryMarks())
    jobs.add(Job("tick", "tick", tick, every(0.1)))
    jobs.start()
    try:
        ran.wait(30)
    finally:
        jobs.stop()
    assert count[0] >= 3  # at start, then every 0.1 s


def test_a_periodic_job_runs_whenever_asked_and_records_no_mark() -> None:
    marks = MemoryMarks()
    seen: list[datetime] = []
    now = datetime(2026, 3, 1, tzinfo=UTC)
    jobs = Jobs(UTC, marks, clock=lambda: now)
    jobs.add(Job("p", "p", seen.append, every(60)))
    assert jobs.run_due("p") == now and jobs.run_due("p") == now
    assert seen == [now, now] and marks.get("p") is None
    assert jobs.due("p", now + timedelta(days=1)) is None  # not a calendar job


@pytest.mark.parametrize(("body", "message"), [
    ('[jobs]\nretention = "7d"', "[jobs] retention must be 0s (off) or at least 30 d, got '7d'"),
    ('[jobs]\nretention = "forever"', "[jobs] retention 'forever' is not a duration"),
    ('[jobs]\nretention_at = "3:30"', "[jobs] retention_at must be a time of day HH:MM"),
    ('[jobs]\nsync_retry_every = "0s"', "[jobs] sync_retry_every must be 1 s to 1 h"),
    ('[jobs]\nstale_check_every = "2h"', "[jobs] stale_check_every must be 5 s to 1 h"),
    ('[jobs]\nstale_alarm_after = "10s"', "[jobs] stale_alarm_after must be at least 1 min"),
    ('[jobs]\nflash_export_after = "30s"',
     "[jobs] flash_export_after must be 0s (off) or at least 1 min"),
    ('[jobs]\nevery = "1m"', "unknown key [jobs] every"),
    ('[office_jobs]\ntiers_at = "25:00"', "[office_jobs] tiers_at must be a time of day HH:MM"),
    ('[office_jobs]\npoints_expiry_at = 5', "[office_jobs] points_expiry_at must be a string"),
])
def test_a_bad_schedule_is_one_sentence_naming_the_key(tmp_path: Path, body: str,
                                                        message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body + "\n")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_two_processes_sharing_marks_and_a_lock_run_a_due_time_once() -> None:
    """Two schedulers (two office workers) over one store of marks, with ``exclusive``
    held across them: the second takes the lock after the first ran and marked the job,
    reads the mark again and finds nothing due. Without the lock both would run it."""
    marks = MemoryMarks()
    marks.put("report", datetime(2026, 3, 1, 2, 30, tzinfo=UTC))
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    shared = threading.Lock()
    ran: list[str] = []

    @contextmanager
    def exclusive(_job_id: str, _stopping: threading.Event) -> Iterator[bool]:
        with shared:
            yield True

    def make(name: str, lock: Any) -> Jobs:
        jobs = Jobs(UTC, marks, clock=lambda: now, exclusive=lock)
        jobs.add(Job("report", "daily report", lambda _due: ran.append(name),
                     daily("03:30", BERLIN), persistent=True))
        return jobs

    first, second = make("first", exclusive), make("second", exclusive)
    assert first.due("report", now) == second.due("report", now) is not None
    assert first.run_due("report") is not None
    assert second.run_due("report") is None  # the mark was read again under the lock
    assert ran == ["first"]
    # The same two without the lock, each having looked before the other ran: twice.
    marks.put("report", datetime(2026, 3, 1, 2, 30, tzinfo=UTC))
    ran.clear()
    before = [make(n, None) for n in ("first", "second")]
    looked = [j.due("report", now) for j in before]
    for jobs, due in zip(before, looked, strict=True):
        assert due is not None
        jobs.jobs["report"].run(due)
    assert ran == ["first", "second"]


def test_a_job_whose_lock_is_not_held_when_stopping_is_skipped() -> None:
    marks = MemoryMarks()
    marks.put("report", datetime(2026, 3, 1, 2, 30, tzinfo=UTC))
    ran: list[datetime] = []
    closed: list[bool] = []

    @contextmanager
    def taken(_job_id: str, stopping: threading.Event) -> Iterator[bool]:
        yield not stopping.is_set()  # another process holds it until we stop

    jobs = Jobs(UTC, marks, clock=lambda: datetime(2026, 3, 4, 12, 0, tzinfo=UTC),
                exclusive=taken, after_run=lambda: closed.append(True))
    jobs.add(Job("report", "daily report", ran.append, daily("03:30", BERLIN),
                 persistent=True))
    jobs.stopping.set()
    assert jobs.run_due("report") is None
    assert ran == [] and marks.get("report") == datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert closed == [True]  # the thread's connection is closed all the same
