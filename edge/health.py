"""Is the station daemon healthy? The findings systemd's watchdog acts on.

The daemon's main loop pings ``WATCHDOG=1`` only while :meth:`Health.problems` finds
nothing (edge/supervise.py). Healthy means every part that serves a sale makes
progress:

- the store answers: a trivial indexed read on a read-only connection of the main
  loop's own (WAL: never blocked by the writer), and whoever holds the one-writer
  lock makes SQLite progress (:class:`WatchedLock`): a writer stuck for longer than
  ``hung_after_s`` (busy-waiting on a file another process locked, a dead disk) stops
  every sale, while a long import of a million cards progresses and is no hang;
- every pump line's thread is alive and turned its loop within ``hung_after_s`` (a
  poll cycle of 32 silent pumps takes about 2.6 s at the default 80 ms timeout; a
  thread stuck in a write on a line whose output is held stops turning), or is
  waiting for the writer lock while the writer progresses;
- every reader's thread likewise (it polls every 0.2 s, and waits ``reopen_s``
  between attempts to open a missing device);
- the control socket's thread is alive.

A pump that does not answer, or a reader that is unplugged, is *not* a hang: its
thread keeps turning, the station keeps serving the others, and ``forecourt status``
raises ``pump_offline`` / ``reader_offline`` instead. A restart would not bring them
back; a restart does unstick a hung thread. ``hung_after_s`` is half the unit's
``WatchdogSec`` (30 s for the shipped 60 s): after a hang, pings stop within that, and
systemd restarts the daemon ``WatchdogSec`` after the last ping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import structlog

from offline_db.state import get_state

log = structlog.get_logger(__name__)

#: Without systemd's watchdog (tests, a terminal): a part silent this long is hung.
DEFAULT_HUNG_AFTER_S = 30.0


class WatchedLock:
    """The daemon's one-writer lock, knowing since when it is held, whether its holder's
    SQLite work progresses, and which threads wait for it.

    A drop-in for ``threading.Lock`` (``with lock:``, ``acquire``/``release``).
    :meth:`progress` is the writer connection's SQLite progress handler: SQLite calls it
    every few thousand virtual-machine steps, so a long import or apply of a million
    cards keeps "progressing" while a writer stuck in a busy wait (another process holds
    the file) or in a dead disk does not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held_since: float | None = None
        self.progress_at = time.monotonic()
        self._waiting: set[int] = set()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(False):
            if not blocking:
                return False
            me = threading.get_ident()
            self._waiting.add(me)
            try:
                if not self._lock.acquire(True, timeout):
                    return False
            finally:
                self._waiting.discard(me)
        self.held_since = self.progress_at = time.monotonic()
        return True

    def release(self) -> None:
        self.held_since = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def waits(self, ident: int | None) -> bool:
        """Whether thread ``ident`` is waiting for this lock now."""
        return ident is not None and ident in self._waiting

    def progress(self) -> int:
        """SQLite's progress handler (0: carry on)."""
        self.progress_at = time.monotonic()
        return 0

    def stuck_for(self, now: float, limit: float) -> float | None:
        """Seconds the holder has held the lock without SQLite progress, if over ``limit``."""
        held = self.held_since
        if held is None or now - held <= limit or now - self.progress_at <= limit:
            return None
        return now - held

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class Health:
    """The daemon's parts, checked on demand from the main loop."""

    def __init__(self, *, store_conn: Any, lock: WatchedLock, hung_after_s: float,
                 lines: Callable[[], list[Any]], readers: Callable[[], list[Any]],
                 threads: Callable[[], dict[str, threading.Thread]]) -> None:
        self.store_conn = store_conn  # read-only, the main loop's own
        self.lock = lock
        self.hung_after_s = hung_after_s
        self.lines = lines
        self.readers = readers
        self.threads = threads

    def problems(self) -> list[str]:
        """One sentence per part that is not making progress (empty: healthy)."""
        now = time.monotonic()
        limit = self.hung_after_s
        out: list[str] = []
        try:
            get_state(self.store_conn, "card_store_version")
        except Exception as exc:  # any failure of the store is a finding, not a crash
            out.append(f"the store does not answer: {exc}")
        stuck = self.lock.stuck_for(now, limit)
        if stuck is not None:
            out.append(f"the store's writer has been busy for {stuck:.0f} s without progress")
        # A thread waiting for the writer lock while the writer progresses (a long card
        # import) waits its turn; waiting on a stuck writer is the writer's finding.
        for line in self.lines():
            if not line.alive:
                out.append(f"pump line {line.name}: its thread has stopped")
            elif now - line.beat > limit and not self.lock.waits(line.ident):
                out.append(f"pump line {line.name}: its thread has not turned for "
                           f"{now - line.beat:.0f} s")
        for reader in self.readers():
            if not reader.running:
                out.append(f"reader {reader.reader_id}: its thread has stopped")
            elif now - reader.beat > limit and not self.lock.waits(reader.ident):
                out.append(f"reader {reader.reader_id}: its thread has not turned for "
                           f"{now - reader.beat:.0f} s")
        for name, thread in self.threads().items():
            if not thread.is_alive():
                out.append(f"the {name} thread has stopped")
        return out
