"""Opening the station database as its one writer, or read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from core.errors import NotInitializedError, StoreError
from offline_db.connection import connect
from offline_db.lock import WriterLock
from offline_db.migrations import migrate

DB_NAME = "station.db"


def check_forecourt_database(path: Path, migration_set: str, what: str) -> None:
    """Refuse a file that is not a forecourt database of ``migration_set``, before any write.

    Opened read-only, so that not even the switch to WAL touches a foreign file. An
    empty file is a database ``init`` began and never finished: it passes.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = connect(path, readonly=True)
    except StoreError:
        ours = False
    else:
        try:
            ours = conn.execute("SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? "
                                "LIMIT 1", (migration_set,)).fetchone() is not None
        except sqlite3.DatabaseError:  # not SQLite at all, damaged, or no migrations table
            ours = False
        finally:
            conn.close()
    if not ours:
        raise StoreError(f"{path} is not a forecourt {what} database; nothing was changed "
                         f"(move it aside to initialize a {what} in its place)")


def check_station_database(path: Path) -> None:
    """The station's check of its own database file (see check_forecourt_database)."""
    check_forecourt_database(path, "forecourt-station", "station")


class StationStore:
    """The station database with its writer lock (if opened for writing)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: WriterLock | None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock

    @property
    def writable(self) -> bool:
        return self._lock is not None

    @classmethod
    def create(cls, data_dir: Path, *, holder: str = "forecourt init", wait_s: float = 0.0,
               on_wait: Callable[[str], None] | None = None
               ) -> tuple[StationStore, list[str]]:
        """Create (or open) the database under the writer lock and apply migrations.

        ``wait_s``/``on_wait``: how long to wait for a lock another process holds
        (:meth:`WriterLock.acquire`); 0 fails at once.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(data_dir, holder=holder).acquire(wait_s=wait_s, on_wait=on_wait)
        try:
            check_station_database(data_dir / DB_NAME)
            conn = connect(data_dir / DB_NAME)
            applied = migrate(conn)
        except BaseException:
            lock.release()
            raise
        return cls(conn, data_dir / DB_NAME, lock), applied

    @classmethod
    def open_writer(cls, data_dir: Path, *, holder: str = "forecourt", wait_s: float = 0.0,
                    on_wait: Callable[[str], None] | None = None) -> StationStore:
        """Open an initialized database as its one writer (fails fast if taken, unless
        ``wait_s`` says how long to wait for the holder)."""
        path = data_dir / DB_NAME
        if not path.exists():
            raise NotInitializedError(
                f"no station database in {data_dir}; run 'forecourt init' first")
        return cls.create(data_dir, holder=holder, wait_s=wait_s, on_wait=on_wait)[0]

    @classmethod
    def open_reader(cls, data_dir: Path) -> StationStore:
        """Open read-only; works while the daemon writes (WAL)."""
        path = data_dir / DB_NAME
        if not path.exists() or path.stat().st_size == 0:
            raise NotInitializedError(
                f"no station database in {data_dir}; run 'forecourt init' first")
        check_station_database(path)
        return cls(connect(path, readonly=True), path, None)

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> StationStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
