"""PostgreSQL for the tests: where the server is, and throw-away databases on it.

Every office test runs on SQLite and on the local PostgreSQL server, each test in a
database of its own. The server is the one ``scripts/setup.sh`` starts (the Unix socket
in /var/run/postgresql, the current user as a superuser); ``FORECOURT_TEST_PG`` names
another one as a libpq connection string or URL whose database is the admin database
(the one connected to for CREATE and DROP DATABASE).

A test that needs PostgreSQL calls :func:`require_pg` first: it *fails* when the server
cannot be reached, so the PostgreSQL half of the office suite never quietly turns into
skips; only ``FORECOURT_NO_PG=1`` (a developer's machine without PostgreSQL) makes it skip.

Database names carry the process id, a counter and random letters
(:func:`unique_db_name`), so parallel runs, several worktrees on one server included,
never meet.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_SERVER_DSN = "postgresql:///postgres?host=/var/run/postgresql"
"""The admin database on the local server, over the Unix socket Debian uses."""

NO_PG_ENV = "FORECOURT_NO_PG"
SERVER_ENV = "FORECOURT_TEST_PG"

_MAX_NAME = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_counter = itertools.count(1)


def pg_server_dsn() -> str:
    """The libpq connection string of the server's admin database (``FORECOURT_TEST_PG``)."""
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER_DSN


def pg_skipped() -> bool:
    """Whether this run was told to go without PostgreSQL (``FORECOURT_NO_PG=1``)."""
    return os.environ.get(NO_PG_ENV) == "1"


def _admin_connect(timeout: int = 5) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg_server_dsn(), autocommit=True, connect_timeout=timeout)


def pg_unavailable_reason() -> str | None:
    """Why the server cannot be used, in one line, or None when it answers."""
    try:
        with _admin_connect(timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL at {pg_server_dsn()!r} cannot be used: {first}"
    return None


def pg_available() -> bool:
    """Whether the server answers a query on the admin database."""
    return pg_unavailable_reason() is None


def require_pg() -> None:
    """Fail the calling test when PostgreSQL is unreachable; skip it under FORECOURT_NO_PG=1.

    Failing (not skipping) is the point: CI must really run the office suite on
    PostgreSQL, and a stopped server must show up as red, not as a row of skips.
    """
    if pg_skipped():
        pytest.skip(f"{NO_PG_ENV}=1: PostgreSQL tests are skipped")
    reason = pg_unavailable_reason()
    if reason is not None:
        pytest.fail(f"{reason} (bash scripts/setup.sh starts the local server; "
                    f"{NO_PG_ENV}=1 skips these tests)", pytrace=False)


def _check_name(name: str) -> str:
    if len(name) > _MAX_NAME or not _NAME.match(name):
        raise ValueError(f"not a plain database name (a-z, 0-9, _; at most {_MAX_NAME}): {name!r}")
    return name


def unique_db_name(prefix: str = "fc_test") -> str:
    """A database name no other test, process or worktree uses at the same time.

    ``PREFIX_PID_COUNTER_RANDOM``: the process id separates concurrent runs on this
    machine, the counter separates the databases of one run, and 8 random hex digits
    separate everything else (another machine on a shared server, a reused pid). A long
    prefix is shortened to keep the name within PostgreSQL's 63 characters.
    """
    if not _NAME.match(prefix):
        raise ValueError(f"not a plain database name prefix (a-z, 0-9, _): {prefix!r}")
    tail = f"_{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
    return prefix[: _MAX_NAME - len(tail)] + tail


def database_url(name: str) -> str:
    """The ``postgresql://`` URL of database NAME on the test server.

    User, password, host and port go where a URL has them (a socket directory as the
    percent-encoded host, which libpq reads as such); other connection keywords of
    ``FORECOURT_TEST_PG`` (sslmode, ...) follow as query parameters.
    """
    params = {key: str(value) for key, value in conninfo_to_dict(pg_server_dsn()).items()
              if value is not None}
    params.pop("dbname", None)
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    netloc = (auth + "@" if auth else "") + quote(host, safe="") + (f":{port}" if port else "")
    query = "?" + urlencode(params) if params else ""
    return f"postgresql://{netloc}/{_check_name(name)}{query}"


def create_database(name: str, template: str | None = None) -> str:
    """Create database NAME (dropping a leftover of that name first); return its URL.

    With TEMPLATE the new database is a copy of that one, which is how a test can start
    from a migrated database in a fraction of the time migrations take. PostgreSQL
    refuses to copy a template that has open connections: close them first.
    """
    _check_name(name)
    drop_database(name)
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(_check_name(template)))
    with _admin_connect() as conn:
        conn.execute(query)
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop database NAME if it exists, ending its open connections first.

    A test that failed half-way may leave connections open (a live server thread, a
    leaked cursor); DROP DATABASE would refuse and the next run would trip over the
    leftover. PostgreSQL 13+ ends them with ``WITH (FORCE)``; older servers get
    ``pg_terminate_backend`` on each.
    """
    _check_name(name)
    with _admin_connect() as conn:
        if conn.info.server_version >= 130000:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))
            return
        conn.execute("UPDATE pg_database SET datallowconn = false WHERE datname = %s", (name,))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def database_exists(name: str) -> bool:
    """Whether database NAME exists on the test server."""
    with _admin_connect() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@contextmanager
def temporary_database(prefix: str = "fc_test", template: str | None = None) -> Iterator[str]:
    """A fresh database for the length of a ``with`` block: yields its URL, drops it after."""
    name = unique_db_name(prefix)
    url = create_database(name, template=template)
    try:
        yield url
    finally:
        drop_database(name)
