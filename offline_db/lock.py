"""The single-writer lock of a station data directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from core.errors import WriterLockedError


class WriterLock:
    """An exclusive, non-blocking ``flock`` on ``<data_dir>/writer.lock``.

    The kernel drops the lock when the process dies (SIGKILL included), so a crash
    never leaves a stale lock behind. The holder's PID is written into the file so
    that the refusal can say who holds it.
    """

    def __init__(self, data_dir: Path, *, holder: str = "forecourt") -> None:
        self.path = data_dir / "writer.lock"
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WriterLockedError(
                f"the station database in {self.path.parent} is in use by {other}; "
                "stop it or send the command through the running daemon") from None
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
