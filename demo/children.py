"""The processes the demo starts, and stopping every one of them whatever happens.

Each child starts in a session of its own (its own process group), so

- Ctrl-C on the terminal reaches the demo alone, which then stops the children in the
  right order (the station daemon before the pumps it drives, the office before the
  broker);
- stopping a child stops its whole group: gunicorn's workers with their master.

A stop is SIGTERM to the group, a bounded wait, then SIGKILL to whatever of the group
is left. One-shot commands (``forecourt office cards token`` ...) are tracked while they
run, so a stop ends them too. After :meth:`Children.stop_all` nothing the demo started
is running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import structlog

from demo.errors import DemoError, Interrupted

logger = structlog.get_logger(__name__)

#: How long a child may take to stop after SIGTERM before it is killed.
STOP_WAIT_S = 20.0
#: How long the rest of a group may take to follow its leader before it is killed.
GROUP_WAIT_S = 5.0


class SignalGate:
    """Defers a stop signal while the main thread starts and registers a child.

    Without it, Ctrl-C between ``fork`` and the registration would leave a child that
    nobody stops. Only the main thread's sections count: Python runs signal handlers
    there, so that is where the deferred signal is raised.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0 and self.pending is not None:
                signum, self.pending = self.pending, None
                raise Interrupted(signum)

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        """The stop signals' handler: raise :class:`Interrupted`, or defer it."""
        if self.depth:
            self.pending = signum
            return
        raise Interrupted(signum)


GATE = SignalGate()


def group_members(pgid: int) -> list[int]:
    """The pids of the processes in process group ``pgid`` (from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            members.append(int(entry))
    return members


def end_group(proc: subprocess.Popen[str], wait_s: float | None = None) -> int | None:
    """Stop ``proc`` and its process group: SIGTERM, wait (``STOP_WAIT_S``), SIGKILL; its
    exit code."""
    pgid = proc.pid
    wait_s = STOP_WAIT_S if wait_s is None else wait_s
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            logger.warning("demo.child_killed", pid=pgid, after_s=wait_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait()
    # Whatever the leader left behind in its group (a worker slow to follow it).
    started = time.monotonic()
    while left := group_members(pgid):
        waited = time.monotonic() - started
        if waited > 2 * GROUP_WAIT_S:  # unkillable (stuck in the kernel): say so, go on
            logger.error("demo.group_left", pgid=pgid, pids=left)
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM if waited < GROUP_WAIT_S else signal.SIGKILL)
        time.sleep(0.1)
    return proc.returncode


@dataclass
class Child:
    """A long-running child: its name for people, its process, its log file."""

    name: str
    proc: subprocess.Popen[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdin(self) -> IO[str] | None:
        return self.proc.stdin

    def check(self) -> None:
        """DemoError if the child has exited (it should run until the demo stops it)."""
        code = self.proc.poll()
        if code is not None:
            raise DemoError(f"{self.name} stopped unexpectedly (exit code {code}); "
                            f"its log is {self.log}")


class Children:
    """Every process the demo started; :meth:`stop_all` ends them all, once."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[Child] = []
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise DemoError("the demo is stopping")

    def start(self, name: str, argv: list[str], *, log: Path, stdin: bool = False) -> Child:
        """Start a long-running child, its output appended to ``log``."""
        with GATE.critical(), self._lock:
            self._check_open()
            with log.open("a", encoding="utf-8") as out:
                try:
                    proc = subprocess.Popen(
                        argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                        stdout=out, stderr=subprocess.STDOUT, text=True, cwd=self.cwd,
                        start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
                except OSError as exc:
                    raise DemoError(f"cannot start {name} ({argv[0]}): "
                                    f"{exc.strerror or exc}") from None
            child = Child(name, proc, log)
            self.started.append(child)
        logger.info("demo.child_started", name=name, pid=proc.pid)
        return child

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        """Run one command to its end (tracked: a stop meanwhile ends it)."""
        with GATE.critical(), self._lock:
            self._check_open()
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.cwd,
                start_new_session=True)
            self._running.add(proc)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            end_group(proc, 2)
            proc.communicate()
            raise DemoError(f"{' '.join(argv[-3:])} did not finish within {timeout:.0f} s") \
                from None
        except BaseException:  # a stop signal: the command must not outlive the demo
            end_group(proc, 2)
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def check_all(self) -> None:
        """DemoError naming the first child that has exited on its own."""
        for child in list(self.started):
            child.check()

    def stop_all(self) -> list[tuple[str, int | None]]:
        """Stop every child, the last started first; (name, exit code) of each."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            end_group(proc, 2)
        stopped = []
        for child in reversed(self.started):
            if child.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    child.proc.stdin.close()
            stopped.append((child.name, end_group(child.proc)))
        return stopped
