"""Free space for the station database: no new sale on a nearly full disk, and a
reserve given up to record a fill that has already happened.

A sale is two writes: the authorization before the pump runs, the completion after.
Refusing new authorizations while there is still ``min_free`` left keeps room for the
completions of the fills under way. Something else may still fill the disk (logs,
a stick copied to the wrong place), so ``space.reserve`` in the data directory holds
``reserve`` bytes that a completion gives up when SQLite reports the disk full
(:meth:`DiskGuard.release_reserve`), then tries once more. New sales wait until the
reserve is back in place with ``min_free`` beyond it. docs/operations.md, "A full disk".
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from core.errors import DiskFullError

log = structlog.get_logger(__name__)
RESERVE_NAME = "space.reserve"
MB = 1 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DiskSpace:
    """The space of the data directory's file system, in bytes, as of one look."""

    path: Path
    free: int  # available to an unprivileged writer (statvfs f_bavail)
    total: int
    min_free: int
    reserve: int  # bytes in the reserve file now
    reserve_wanted: int

    @property
    def refusing(self) -> bool:
        """New sales are refused: below ``min_free``, or the reserve is not whole."""
        return self.free < self.min_free or self.reserve < self.reserve_wanted

    @property
    def refuses_next_sale(self) -> bool:
        """The next sale is refused: :attr:`refusing` once :meth:`DiskGuard.check_room` has
        put a missing reserve back where there is room for it (the alarms' view)."""
        return self.free < self.min_free + max(0, self.reserve_wanted - self.reserve)

    @property
    def nearly_full(self) -> bool:
        """Worth an alarm: the next sale is refused, or less than twice ``min_free`` left."""
        return self.refuses_next_sale or self.free < 2 * self.min_free

    def sentence(self) -> str:
        """The state in one sentence for people (refusals, ``forecourt status``)."""
        need = f"{self.min_free // MB} MB needed ([station] min_free_mb)"
        held = "" if not self.reserve_wanted else (
            f" besides the {self.reserve_wanted // MB} MB reserve" if
            self.reserve >= self.reserve_wanted else
            f" and the {self.reserve_wanted // MB} MB reserve, now given up, to be put back")
        return f"{self.free // MB} MB free on the disk of {self.path}, {need}{held}"

    def alarm(self) -> str | None:
        """The "disk nearly full" alarm, or None."""
        if self.refuses_next_sale:
            return f"disk full, new sales refused: {self.sentence()}"
        if self.nearly_full:
            return f"disk nearly full: {self.sentence()}"
        return None

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.path), "free_bytes": self.free, "total_bytes": self.total,
                "min_free_bytes": self.min_free, "reserve_bytes": self.reserve,
                "reserve_wanted_bytes": self.reserve_wanted, "refusing": self.refuses_next_sale,
                "nearly_full": self.nearly_full}


def disk_space(data_dir: Path, *, min_free_mb: int, reserve_mb: int) -> DiskSpace:
    """Look at the space of ``data_dir`` (read only: for status and alarms)."""
    st = os.statvfs(data_dir)
    try:
        reserve = (data_dir / RESERVE_NAME).stat().st_size
    except FileNotFoundError:
        reserve = 0
    return DiskSpace(data_dir, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize,
                     min_free_mb * MB, reserve, reserve_mb * MB)


class DiskGuard:
    """The station's check before a new sale, and its reserve (one writer: the daemon,
    or a CLI command under the writer lock)."""

    def __init__(self, data_dir: Path, *, min_free_mb: int, reserve_mb: int) -> None:
        self.data_dir = data_dir
        self.min_free_mb = min_free_mb
        self.reserve_mb = reserve_mb
        self.path = data_dir / RESERVE_NAME

    def space(self) -> DiskSpace:
        return disk_space(self.data_dir, min_free_mb=self.min_free_mb,
                          reserve_mb=self.reserve_mb)

    def check_room(self) -> DiskSpace:
        """Room for a new sale, or :class:`DiskFullError` (``disk_full``) with one sentence.

        Puts the reserve back first when it was given up and there is room for it and
        for ``min_free`` beyond it.
        """
        space = self.space()
        if space.reserve < space.reserve_wanted and \
                space.free >= space.min_free + space.reserve_wanted - space.reserve:
            self.ensure_reserve()
            space = self.space()
        if space.refusing:
            log.error("store.disk_full", free_bytes=space.free, min_free_bytes=space.min_free,
                      reserve_bytes=space.reserve, path=str(self.data_dir))
            raise DiskFullError(f"the station's disk is too full for a new sale: "
                                f"{space.sentence()}; free space there and try again")
        return space

    def ensure_reserve(self) -> bool:
        """Make ``space.reserve`` whole; False (and no partial file) when it does not fit."""
        wanted = self.reserve_mb * MB
        try:
            if wanted == 0 or self.path.stat().st_size >= wanted:
                return True
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, wanted)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    _write_zeros(fd, wanted)  # a file system without fallocate
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
            log.warning("store.reserve_not_made", path=str(self.path), bytes=wanted,
                        error=exc.strerror)
            return False
        log.info("store.reserve_made", path=str(self.path), bytes=wanted)
        return True

    def release_reserve(self) -> bool:
        """Give the reserve up (a fill must be recorded); False if there was none."""
        try:
            size = self.path.stat().st_size
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("store.reserve_not_released", path=str(self.path), error=exc.strerror)
            return False
        log.error("store.reserve_released", path=str(self.path), bytes=size)
        return size > 0


def _write_zeros(fd: int, size: int) -> None:
    done = os.fstat(fd).st_size
    os.lseek(fd, done, os.SEEK_SET)
    block = bytes(_CHUNK)
    while done < size:
        done += os.write(fd, block[:min(_CHUNK, size - done)])
