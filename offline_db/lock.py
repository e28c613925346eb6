"""The single-writer lock of a station data directory."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from core.errors import WriterLockedError

#: Seconds between tries while waiting for the lock.
WAIT_STEP_S = 0.1


class WriterLock:
    """An exclusive ``flock`` on ``<data_dir>/writer.lock``, taken at once or within a wait.

    The kernel drops the lock when the process dies (SIGKILL included), so a crash
    never leaves a stale lock behind. The holder's PID is written into the file so
    that the refusal can say who holds it.
    """

    def __init__(self, data_dir: Path, *, holder: str = "forecourt") -> None:
        self.path = data_dir / "writer.lock"
        self.holder = holder
        self._fd: int | None = None

    def acquire(self, *, wait_s: float = 0.0,
                on_wait: Callable[[str], None] | None = None) -> WriterLock:
        """Take the lock; while another process holds it, try again for up to ``wait_s``
        seconds (``forecourt run`` waits for a CLI command that holds it briefly).

        ``on_wait(holder)`` is called once when the wait begins. Never blocks beyond the
        wait: the refusal names the holder (and the wait). A holder of our own name is
        not waited for: a second daemon would wait for the first in vain.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                other = os.pread(fd, 200, 0).decode(errors="replace").strip() or \
                    "another process"
                if other.startswith(f"{self.holder} (pid "):
                    wait_s = 0.0
                if time.monotonic() >= deadline or wait_s <= 0:
                    os.close(fd)
                    where = self.path.parent
                    raise WriterLockedError(
                        f"the station database in {where} is in use by {other}; stop it or "
                        "send the command through the running daemon" if wait_s <= 0 else
                        f"the station database in {where} is still in use by {other} after "
                        f"{wait_s:g} s of waiting; stop that process or start again when it "
                        "is done") from None
                if not told and on_wait is not None:
                    on_wait(other)
                told = True
                time.sleep(min(WAIT_STEP_S, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.holder} (pid {os.getpid()})\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
