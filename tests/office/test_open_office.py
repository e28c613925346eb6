"""``office.store.open_office``: one way into the office store, on either database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import DatabaseError, connection

from core.config import OfficeConfig
from office.store import OfficeConnection, open_office
from tests import pg
from tests.office_fixtures import OfficeDb


def test_two_offices_in_one_process_each_see_their_own_store(
        make_office_db: Callable[[str], OfficeDb]) -> None:
    """Tests and one-process tools hold several offices: each connection switches Django
    to its own store before every statement."""
    first = make_office_db("sqlite")
    second = make_office_db("sqlite" if pg.pg_skipped() else "postgresql")
    a, b = open_office(first.config), open_office(second.config)
    a.execute("INSERT INTO stations VALUES ('S-A', 'k', 't')")
    b.execute("INSERT INTO stations VALUES ('S-B', 'k', 't')")
    assert [r[0] for r in a.execute("SELECT station_id FROM stations")] == ["S-A"]
    assert [r[0] for r in b.execute("SELECT station_id FROM stations")] == ["S-B"]


def test_a_connection_the_server_ended_is_replaced(
        make_office_db: Callable[[str], OfficeDb]) -> None:
    """A PostgreSQL session ended under a long-running office (server restart, network):
    the statement that meets it fails (nothing stored, no receipt), the next reconnects.
    (PostgreSQL only: SQLite has no server session to lose.)"""
    conn = open_office(make_office_db("postgresql").config)
    pid = conn.one("SELECT pg_backend_pid()")[0]
    with pg._admin_connect() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(DatabaseError):
        conn.execute("SELECT 1")
    assert conn.one("SELECT COUNT(*) FROM stations")[0] == 0
    assert conn.one("SELECT pg_backend_pid()")[0] != pid


def test_opening_again_does_not_look_at_migrations_again(office_db: OfficeDb,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    open_office(office_db.config)
    from django.db.migrations import executor

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the migration plan was loaded again")

    monkeypatch.setattr(executor.MigrationExecutor, "__init__", refuse)
    conn = open_office(OfficeConfig(data_dir=office_db.data_dir, database=office_db.database))
    assert isinstance(conn, OfficeConnection)
    assert connection.vendor == office_db.backend
