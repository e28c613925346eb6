"""tests/pg.py against the real local PostgreSQL server.

These tests fail (they do not skip) when the server is down, unless FORECOURT_NO_PG=1.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests import pg


@pytest.fixture(autouse=True)
def _server() -> None:
    pg.require_pg()


def test_unique_names_are_unique_valid_identifiers() -> None:
    names = {pg.unique_db_name("fc_names") for _ in range(2000)}
    assert len(names) == 2000
    long = pg.unique_db_name("x" * 80)
    assert len(long) <= 63
    for name in [*list(names)[:50], long]:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
    with pytest.raises(ValueError):
        pg.unique_db_name("Bad-Prefix")


def test_database_from_a_template_sees_its_rows_and_both_drop() -> None:
    first = pg.unique_db_name("fc_tpl")
    second = pg.unique_db_name("fc_copy")
    try:
        url = pg.create_database(first)
        assert url.startswith("postgresql://")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE sale (station_id text, seq bigint, PRIMARY KEY "
                         "(station_id, seq))")
            conn.execute("INSERT INTO sale VALUES ('ST-1', 42)")
        # The connection is closed: PostgreSQL copies only templates nobody is using.
        copy_url = pg.create_database(second, template=first)
        with psycopg.connect(copy_url) as conn:
            rows = conn.execute("SELECT station_id, seq FROM sale").fetchall()
            assert conn.info.dbname == second
        assert rows == [("ST-1", 42)]
        assert pg.database_exists(first)
        assert pg.database_exists(second)
    finally:
        pg.drop_database(second)
        pg.drop_database(first)
    assert not pg.database_exists(first)
    assert not pg.database_exists(second)


def test_drop_ends_open_connections() -> None:
    name = pg.unique_db_name("fc_busy")
    url = pg.create_database(name)
    conn = psycopg.connect(url)
    try:
        conn.execute("SELECT 1")
        pg.drop_database(name)
        assert not pg.database_exists(name)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()
        pg.drop_database(name)


def test_create_replaces_a_leftover_of_the_same_name() -> None:
    name = pg.unique_db_name("fc_left")
    try:
        with psycopg.connect(pg.create_database(name)) as conn:
            conn.execute("CREATE TABLE leftover (x int)")
        with psycopg.connect(pg.create_database(name)) as conn:
            found = conn.execute("SELECT to_regclass('leftover')").fetchone()
        assert found == (None,)
    finally:
        pg.drop_database(name)
    assert not pg.database_exists(name)


def test_temporary_database_is_dropped_after_the_block() -> None:
    with pg.temporary_database("fc_tmp") as url, psycopg.connect(url) as conn:
        name = conn.info.dbname
        assert pg.database_exists(name)
    assert not pg.database_exists(name)


def test_unreachable_server_fails_and_no_pg_skips(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(pg.SERVER_ENV, f"postgresql:///postgres?host={tmp_path}&port=1")
    monkeypatch.delenv(pg.NO_PG_ENV, raising=False)
    assert not pg.pg_available()
    with pytest.raises(pytest.fail.Exception, match="cannot be used"):
        pg.require_pg()
    monkeypatch.setenv(pg.NO_PG_ENV, "1")
    with pytest.raises(pytest.skip.Exception):
        pg.require_pg()


def test_url_carries_the_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg.SERVER_ENV,
                       "host=/run/pg port=5433 user=o@ffice password=p:w dbname=admin "
                       "sslmode=disable")
    url = pg.database_url("fc_x")
    assert url == "postgresql://o%40ffice:p%3Aw@%2Frun%2Fpg:5433/fc_x?sslmode=disable"
    assert psycopg.conninfo.conninfo_to_dict(url) == {
        "host": "/run/pg", "port": "5433", "user": "o@ffice", "password": "p:w",
        "dbname": "fc_x", "sslmode": "disable"}
