"""Opening SQLite the way the station needs it, and nested transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import DiskFullError, NotInitializedError, StoreError

FULL = ("the disk holding the station database is full: nothing of this was recorded "
        "(SQLite: {error})")


def _disk_full(exc: BaseException) -> bool:
    """SQLite could not write for want of space (SQLITE_FULL: ENOSPC, or its size cap)."""
    return isinstance(exc, sqlite3.OperationalError) and \
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database: WAL, ``synchronous=FULL``, foreign keys, autocommit mode.

    Transactions are explicit (:func:`atomic`), so ``isolation_level`` is ``None``.
    WAL is switched only here, outside any transaction. ``readonly`` opens the file
    with ``mode=ro`` and never creates it.
    """
    if str(path) != ":memory:" and readonly and not Path(path).exists():
        raise NotInitializedError(f"the database {path} does not exist; run 'forecourt init'")
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly and str(path) != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"cannot switch {path} to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    return conn


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A unit of work: ``BEGIN IMMEDIATE`` at the outside, a savepoint when nested.

    Rolls back on any exception (``BaseException`` too) and re-raises it. SQLite may
    have ended the transaction itself (a full disk, an I/O error): then there is nothing
    to roll back, and the original error, not "no transaction is active", is raised.
    A full disk (SQLITE_FULL, in a statement or at COMMIT) is raised as
    :class:`DiskFullError` by the outermost unit: the whole unit is rolled back.
    """
    if conn.in_transaction:
        name = f"sp_{id(conn)}_{_depth_next()}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if _disk_full(exc):
            raise DiskFullError(FULL.format(error=exc)) from None
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if _disk_full(exc):
            raise DiskFullError(FULL.format(error=exc)) from None
        raise StoreError(f"the database refused to commit: {exc}") from None


_counter = 0


def _depth_next() -> int:
    global _counter  # noqa: PLW0603 - unique savepoint names only
    _counter += 1
    return _counter
