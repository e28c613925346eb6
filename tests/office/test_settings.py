"""Django's settings built from ``[office]``: the database value, SQLite's tuning, and
configuring once per process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from office import db
from office.settings import OFFICE_DB, build_settings, configure, database_settings
from tests.office_fixtures import TEST_SECRET_KEY, OfficeDb


def test_empty_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    got = database_settings("  ", tmp_path)
    assert got["ENGINE"] == "django.db.backends.sqlite3"
    assert got["NAME"] == str(tmp_path / OFFICE_DB)
    assert got["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert got["OPTIONS"]["timeout"] > 0
    assert "journal_mode=WAL" in got["OPTIONS"]["init_command"]


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://fc:s%40cret@db.example:5433/office?sslmode=require&application_name=fc",
     {"NAME": "office", "USER": "fc", "PASSWORD": "s@cret", "HOST": "db.example",
      "PORT": "5433", "OPTIONS": {"sslmode": "require", "application_name": "fc"}}),
    ("postgresql:///office?host=/var/run/postgresql",
     {"NAME": "office", "USER": "", "PASSWORD": "", "HOST": "/var/run/postgresql",
      "PORT": "", "OPTIONS": {}}),
    ("postgresql://%2Fvar%2Frun%2Fpostgresql/fc_test_1",
     {"NAME": "fc_test_1", "USER": "", "PASSWORD": "", "HOST": "/var/run/postgresql",
      "PORT": "", "OPTIONS": {}}),
    ("postgres://u@[::1]:5432/o%20ffice",
     {"NAME": "o ffice", "USER": "u", "PASSWORD": "", "HOST": "::1", "PORT": "5432",
      "OPTIONS": {}}),
    ("postgresql://h/ignored?dbname=other&user=me",
     {"NAME": "other", "USER": "me", "PASSWORD": "", "HOST": "h", "PORT": "",
      "OPTIONS": {}}),
])
def test_postgresql_urls_are_read(tmp_path: Path, url: str, expected: dict[str, object]) -> None:
    got = database_settings(url, tmp_path)
    assert got == {"ENGINE": "django.db.backends.postgresql", **expected}


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://root:hunter2@db/office", "not a mysql:// URL"),
    ("office.db", "not text that is not a URL"),
    ("postgresql://db.example", "names no database"),
    ("postgresql://db.example/", "names no database"),
    ("postgresql://db.example:port/office", "port is not a number"),
    ("postgresql://db/office?sslmode=require&sslmode=disable", "'sslmode' twice"),
    ("postgresql://db/office?sslmode", "key=value"),
])
def test_wrong_database_values_are_one_sentence(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ValueError, match="database") as caught:
        database_settings(url, tmp_path)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_settings_are_safe_by_default(tmp_path: Path) -> None:
    got = build_settings(tmp_path, "", secret_key="k" * 50)
    assert got["DEBUG"] is False
    assert got["USE_TZ"] is True and got["TIME_ZONE"] == "UTC"
    assert {"en", "ru", "tr", "vi"} <= {code for code, _ in got["LANGUAGES"]}
    assert got["LOCALE_PATHS"] == [str(Path(__file__).parents[2] / "office" / "locale")]
    for middleware in ("SessionMiddleware", "CsrfViewMiddleware", "AuthenticationMiddleware",
                       "LocaleMiddleware", "MessageMiddleware"):
        assert any(m.endswith(middleware) for m in got["MIDDLEWARE"]), middleware
    assert got["INSTALLED_APPS"][-10:] == ["office.ledger", "office.customers", "office.cards",
                                           "office.pricing", "office.access", "office.vouchers",
                                           "office.reports", "office.accounts", "office.jobs",
                                           "office.console"]
    assert got["SESSION_COOKIE_SECURE"] is False
    assert build_settings(tmp_path, "", secret_key="k", tls=True)["SESSION_COOKIE_SECURE"]
    with pytest.raises(ValueError, match="language"):
        build_settings(tmp_path, "", secret_key="k", language="xx")
    with pytest.raises(ValueError, match="secret key"):
        build_settings(tmp_path, "", secret_key="")


def _pragma(name: str) -> object:
    return db.fetchall(f"PRAGMA {name}")[0][0]


def test_sqlite_connections_are_tuned(sqlite_office_db: OfficeDb) -> None:
    assert _pragma("journal_mode") == "wal"
    assert _pragma("synchronous") == 2  # FULL
    assert _pragma("foreign_keys") == 1
    assert _pragma("busy_timeout") == 5000


def test_sqlite_transactions_take_the_write_lock_at_once(sqlite_office_db: OfficeDb) -> None:
    """BEGIN IMMEDIATE: a second writer is turned away while a unit of work is open, even
    before it wrote anything (with a deferred BEGIN it would fail later, half-way)."""
    other = sqlite3.connect(sqlite_office_db.data_dir / OFFICE_DB, timeout=0, isolation_level=None)
    try:
        with db.atomic():
            db.fetchall("SELECT 1")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_configure_is_once_per_process(office_db: OfficeDb, tmp_path: Path,
                                       office_django: Path) -> None:
    configure(office_django, "", secret_key=TEST_SECRET_KEY)  # the same: nothing happens
    assert db.vendor() == office_db.backend  # and the database in use stays
    with pytest.raises(RuntimeError, match="already configured"):
        configure(office_django, "", secret_key="another")
    with pytest.raises(RuntimeError, match="already configured"):
        configure(tmp_path, "", secret_key=TEST_SECRET_KEY)
    assert db.vendor() == office_db.backend
