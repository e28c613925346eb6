"""The office's raw-SQL seam: what its sync code uses instead of ``sqlite3``.

The office's ingest, card master and flash code were written as SQL on a
``sqlite3.Connection``. They keep their SQL and run it through Django's default
connection here, on SQLite and PostgreSQL alike:

* ``execute(sql, params)`` takes today's ``?`` placeholders (or ``:name`` with a mapping)
  and converts them to the ``%s`` / ``%(name)s`` that Django's cursors expect, outside
  string literals, quoted identifiers and comments; a literal ``%`` is doubled, because
  both Django's SQLite cursor and psycopg read ``%`` in the whole text. Conversions are
  cached (the same statements run for every batch).
* Rows behave like ``sqlite3.Row``: by position, by column name (case-insensitive, as
  ``sqlite3.Row``; PostgreSQL folds unquoted aliases to lower case), ``keys()``, ``dict(row)``
  and tuple unpacking.
* ``atomic()`` is Django's ``transaction.atomic`` (``BEGIN IMMEDIATE`` on SQLite through
  the ``transaction_mode`` option, a savepoint when nested), ``in_transaction()``,
  ``on_commit()`` and ``vendor()`` complete it.

Not hidden here, on purpose: SQL that only one database understands (``INSERT OR
IGNORE``, ``PRAGMA``, JSON functions, ``lastrowid``, which PostgreSQL has not: use
``RETURNING``). A module that needs both dialects asks ``vendor()`` and keeps each
dialect's statement side by side. PostgreSQL's ``E'...'`` strings (backslash escapes)
are not recognised as literals.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any, ClassVar, Literal, SupportsIndex, cast, overload

from django.db import connection, transaction

Params = Sequence[Any] | Mapping[str, Any]
Vendor = Literal["sqlite", "postgresql"]

# One token the conversion cares about, leftmost first: a string literal ('it''s'), a
# quoted identifier, a line or block comment (all copied, '%' doubled), '::' (a
# PostgreSQL cast, not a parameter), a '?' or ':name' placeholder, or a bare '%'.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|::|\?\d*|:[A-Za-z_]\w*|%""",
    re.DOTALL)


@lru_cache(maxsize=4096)
def convert(sql: str) -> tuple[str, Literal["qmark", "named"] | None]:
    """``sql`` in Django's ``format``/``pyformat`` style, and which style it had.

    ``?`` becomes ``%s``, ``:name`` becomes ``%(name)s``, every ``%`` becomes ``%%``;
    inside literals, quoted identifiers and comments only ``%`` is touched. ValueError
    for numbered ``?1`` placeholders and for ``?`` mixed with ``:name``.
    """
    styles: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        token = match.group()
        first = token[0]
        if first in "'\"-/":
            return token.replace("%", "%%")
        if token == "::":
            return token
        if first == "?":
            if len(token) > 1:
                raise ValueError(f"numbered placeholders ({token}) are not supported: use ?")
            styles.add("qmark")
            return "%s"
        if first == ":":
            styles.add("named")
            return f"%({token[1:]})s"
        return "%%"

    converted = _TOKEN.sub(replace, sql)
    if len(styles) > 1:
        raise ValueError("a statement mixes ? and :name placeholders")
    style = cast(Literal["qmark", "named"], styles.pop()) if styles else None
    return converted, style


class Row(tuple[Any, ...]):
    """One result row, like ``sqlite3.Row``: by index, by column name, ``keys()``.

    Each result shape gets its own subclass (cached), which holds the column names, so a
    row is a plain tuple in memory.
    """

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    @overload
    def __getitem__(self, key: SupportsIndex | str) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, key: SupportsIndex | slice | str) -> Any:
        if isinstance(key, str):
            index = self._index.get(key)
            if index is None:
                index = self._index.get(key.lower())
            if index is None:
                raise IndexError(f"no column named {key!r}")
            return tuple.__getitem__(self, index)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order (``dict(row)`` uses them)."""
        return list(self._names)

    def __repr__(self) -> str:
        return f"Row({', '.join(f'{k}={v!r}' for k, v in zip(self._names, self, strict=True))})"


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):  # the first of equal names wins, as in sqlite3.Row
        index.setdefault(name, i)
    for i, name in enumerate(names):
        index.setdefault(name.lower(), i)
    return type("Row", (Row,), {"__slots__": (), "_names": names, "_index": index})


class Cursor:
    """The result of one statement: its rows (``fetchone``, ``fetchall``, iteration) and
    ``rowcount``. The database cursor is closed as soon as the rows are all read (at
    once for a statement that returns none), or by ``close()``/``with``."""

    def __init__(self, raw: Any) -> None:
        self._raw: Any = raw
        self.rowcount: int = raw.rowcount
        description = raw.description
        self.description: tuple[tuple[Any, ...], ...] | None = (
            tuple(tuple(d) for d in description) if description else None)
        if description:
            self._row: type[Row] | None = _row_class(tuple(d[0] for d in description))
        else:
            self._row = None
            self.close()

    def fetchone(self) -> Row | None:
        """The next row, or None when there is none (the cursor is then closed)."""
        if self._raw is None or self._row is None:
            return None
        values = self._raw.fetchone()
        if values is None:
            self.close()
            return None
        return self._row(values)

    def fetchall(self) -> list[Row]:
        """All remaining rows (the cursor is then closed)."""
        if self._raw is None or self._row is None:
            return []
        make = self._row
        rows = [make(values) for values in self._raw.fetchall()]
        self.close()
        return rows

    def fetchmany(self, size: int) -> list[Row]:
        """Up to ``size`` more rows; fewer (or none) when the result is used up."""
        if self._raw is None or self._row is None:
            return []
        make = self._row
        rows = [make(values) for values in self._raw.fetchmany(size)]
        if len(rows) < size:
            self.close()
        return rows

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        """Release the database cursor (reading stops here)."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            raw.close()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_params(params: Params, style: str | None) -> None:
    if style == "named" and not isinstance(params, Mapping):
        raise TypeError("a statement with :name placeholders takes a mapping of values")
    if style == "qmark" and isinstance(params, Mapping):
        raise TypeError("a statement with ? placeholders takes a sequence of values")


def execute(sql: str, params: Params = ()) -> Cursor:
    """Run one statement on the default connection; its rows and rowcount."""
    converted, style = convert(sql)
    _check_params(params, style)
    raw = connection.cursor()
    try:
        raw.execute(converted, params)
    except BaseException:
        raw.close()
        raise
    return Cursor(raw)


def executemany(sql: str, seq_of_params: Iterable[Params]) -> Cursor:
    """Run one statement once per set of values (psycopg pipelines them)."""
    converted, style = convert(sql)
    batch = list(seq_of_params)
    for params in batch[:1]:
        _check_params(params, style)
    raw = connection.cursor()
    try:
        raw.executemany(converted, batch)
    except BaseException:
        raw.close()
        raise
    return Cursor(raw)


def fetchone(sql: str, params: Params = ()) -> Row | None:
    """The first row of a query, or None."""
    with execute(sql, params) as cursor:
        return cursor.fetchone()


def fetchall(sql: str, params: Params = ()) -> list[Row]:
    """All rows of a query."""
    return execute(sql, params).fetchall()


def atomic(*, savepoint: bool = True, durable: bool = False) -> AbstractContextManager[None]:
    """Django's ``transaction.atomic``: one unit of work, a savepoint when nested.

    On SQLite the outermost one is ``BEGIN IMMEDIATE`` (``transaction_mode``), so a
    writer waits for the write lock at the start, never fails half-way through.
    """
    return cast(AbstractContextManager[None],
                transaction.atomic(savepoint=savepoint, durable=durable))


def in_transaction() -> bool:
    """Whether the calling code runs inside ``atomic()``."""
    return bool(connection.in_atomic_block)


def on_commit(func: Callable[[], object]) -> None:
    """Run ``func`` after the current transaction commits (now, outside one); never if
    it rolls back. The office's receipts go out this way: only after commit."""
    transaction.on_commit(func)


def vendor() -> Vendor:
    """Which database the default connection is: ``'sqlite'`` or ``'postgresql'``."""
    name = connection.vendor
    if name not in ("sqlite", "postgresql"):
        raise RuntimeError(f"the office runs on SQLite or PostgreSQL, not {name}")
    return cast(Vendor, name)


# -- what differs between the two databases, in one place ----------------------------------
#
# SQLite's transactions are BEGIN IMMEDIATE (office.settings): a writer holds the whole
# database from its first statement, so two writers never interleave and these locks
# are no-ops there. PostgreSQL runs READ COMMITTED transactions side by side; the
# office serialises what must not interleave with transaction-scoped advisory locks,
# taken as the first statement of the unit of work and released by its commit or
# rollback. Advisory locks create no rows: a refused batch from an unknown station
# leaves no trace in ``station_chain``.

#: First key of the office's advisory locks (two-key form): "fcof" in ASCII.
_LOCK_SPACE = 0x66636F66
_LOCK_CARD_MASTER = "card_master"


def _advisory_lock(name: str) -> None:
    if vendor() == "postgresql":
        execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_LOCK_SPACE, name))


def lock_station(station_id: str) -> None:
    """Serialise the ingest of one station's sales (MQTT batches, flash bundles, status)
    with every other unit of work on that station, until this transaction ends.

    Two batches of one station stored side by side could both find a seq missing and
    both store it (a duplicate-key error, no receipt), or both advance the contiguous
    head from a stale view. Called inside ``atomic()``; a no-op on SQLite.
    """
    if not in_transaction():
        raise RuntimeError("lock_station must be called inside atomic()")
    _advisory_lock("station:" + station_id)


def lock_card_master() -> None:
    """Serialise changes of the card master until this transaction ends, so versions
    (MAX + 1) are taken strictly in order by concurrent writers (CLI, console, import).

    Called inside ``atomic()`` before the latest version is read; a no-op on SQLite.
    """
    if not in_transaction():
        raise RuntimeError("lock_card_master must be called inside atomic()")
    _advisory_lock(_LOCK_CARD_MASTER)


#: How often a worker waiting for a job lock another worker holds looks again (and at
#: whether it is stopping).
JOB_LOCK_POLL_S = 0.5


def _held(row: Row | None) -> bool:
    return row is not None and bool(row[0])


@contextmanager
def job_lock(job_id: str, stopping: threading.Event) -> Iterator[bool]:
    """Hold office job ``job_id`` against every other office process until the block
    ends: yields True once held, False when ``stopping`` was set while another held it.

    A session-level advisory lock on PostgreSQL (outside any transaction: the job runs
    its own), polled so that a stopping worker does not wait for another's long run; a
    worker that dies holding it loses its connection and with it the lock. The caller
    reads the job's mark only once it holds the lock (core.jobs), so a due job runs
    once across workers. SQLite: one process, held at once.
    """
    if vendor() != "postgresql":
        yield True
        return
    args = (_LOCK_SPACE, "job:" + job_id)
    while not _held(fetchone("SELECT pg_try_advisory_lock(?, hashtext(?))", args)):
        if stopping.wait(JOB_LOCK_POLL_S):
            yield False
            return
    try:
        yield True
    finally:
        execute("SELECT pg_advisory_unlock(?, hashtext(?))", args).close()


def json_text(column: str, key: str) -> str:
    """SQL for the text of top-level field ``key`` of the JSON document in ``column``."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"not a plain JSON key: {key!r}")
    if vendor() == "postgresql":
        return f"({column}::jsonb ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"
