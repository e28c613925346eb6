"""A fresh, migrated office database for every test, on SQLite and on PostgreSQL.

A plugin of the root conftest (``pytest_plugins``), so every test folder reaches it:
``office_db`` (in-process tests: Django switched to the test's own database),
``office_database`` (the ``[office] database`` value for a configuration that
subprocesses use: ``forecourt office init``, ``office serve``, ...) and
``office_databases`` (a further fresh one per call, for tests with several offices).

Django is configured once per session. Migrating takes about a second, so each backend
gets one migrated template per session and every test a copy of it: SQLite copies the
template file, PostgreSQL runs ``CREATE DATABASE ... TEMPLATE`` (ahead of need, see
PgCopies). ``office.settings
.use_database`` points Django at the copy for the test and away from it afterwards (the
"parking" SQLite path is never opened), so the copy can be dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import OfficeConfig
from office.settings import OFFICE_DB, configure, use_database
from office.store import OfficeConnection, open_office
from tests import pg

BACKENDS = ["sqlite", "postgresql"]
TEST_SECRET_KEY = "forecourt-tests-only-" + "k" * 40


@dataclass(frozen=True)
class OfficeDb:
    """One test database: its backend, the ``[office] database`` value, its data dir."""

    backend: str
    database: str
    data_dir: Path

    @property
    def config(self) -> OfficeConfig:
        """The ``[office]`` section naming this database."""
        return OfficeConfig(data_dir=self.data_dir, database=self.database)


_PARK = Path(tempfile.mkdtemp(prefix="forecourt-office-park-"))


def pytest_configure(config: pytest.Config) -> None:
    """Configure Django before the test modules (which import the models) are collected."""
    configure(_PARK, "", secret_key=TEST_SECRET_KEY)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_PARK, ignore_errors=True)


@pytest.fixture(scope="session")
def office_django() -> Path:
    """Django is configured; between tests it is parked on a SQLite path in this folder
    that nothing opens."""
    return _PARK


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def sqlite_template(office_django: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite office.db, made once; tests copy it."""
    folder = tmp_path_factory.mktemp("office-sqlite-template")
    use_database("", folder)
    _migrate()
    use_database("", office_django)  # closing the last connection folds the WAL into the file
    return folder / OFFICE_DB


class PgCopies:
    """Fresh copies of the migrated PostgreSQL template, made ahead of need.

    ``CREATE DATABASE ... TEMPLATE`` takes 0.4-0.7 s on a server that syncs to disk, but
    several run side by side in about the time of one (the server's syncs are shared),
    so a few copies are always being made in background threads while the tests run,
    and used ones are dropped by one more thread (drops among the copies slowed them).
    A test then waits only when it outruns them.
    """

    AHEAD = 4

    def __init__(self, template: str) -> None:
        self.template = template
        self._pool = ThreadPoolExecutor(max_workers=self.AHEAD,
                                        thread_name_prefix="pg-copies")
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drops")
        self._ready: deque[Future[tuple[str, str]]] = deque()
        self._drops: list[Future[None]] = []
        self._fill()

    def _make(self) -> tuple[str, str]:
        name = pg.unique_db_name("fc_office_t")
        return name, pg.create_database(name, template=self.template)

    def _fill(self) -> None:
        while len(self._ready) < self.AHEAD:
            self._ready.append(self._pool.submit(self._make))

    def take(self) -> tuple[str, str]:
        """A fresh copy's name and URL (nobody else uses it)."""
        future = self._ready.popleft()
        self._fill()
        return future.result()

    def drop(self, name: str) -> None:
        """Drop a used copy, in the background."""
        self._drops.append(self._dropper.submit(pg.drop_database, name))

    def close(self) -> None:
        """Drop every copy made and not taken; wait for all drops."""
        for future in self._ready:
            with contextlib.suppress(Exception):
                name, _ = future.result()
                self.drop(name)
        self._ready.clear()
        for drop in self._drops:
            drop.result()
        self._pool.shutdown()
        self._dropper.shutdown()


@pytest.fixture(scope="session")
def pg_copies(office_django: Path) -> Iterator[PgCopies]:
    """A migrated PostgreSQL template, made once, and its copies for the tests."""
    pg.require_pg()
    name = pg.unique_db_name("fc_office_tpl")
    url = pg.create_database(name)
    copies = None
    try:
        use_database(url, office_django)
        _migrate()
        use_database("", office_django)  # a template must have no connections
        copies = PgCopies(name)
        yield copies
    finally:
        use_database("", office_django)
        if copies is not None:
            copies.close()
        pg.drop_database(name)


@pytest.fixture
def make_office_db(request: pytest.FixtureRequest, office_django: Path,
                   tmp_path: Path) -> Iterator[Callable[[str], OfficeDb]]:
    """Make a fresh migrated database of a backend (not switched to); all dropped after."""
    made: list[tuple[PgCopies, str]] = []
    serial = itertools.count(1)

    def make(backend: str) -> OfficeDb:
        data_dir = tmp_path / f"{backend}-{next(serial)}"
        data_dir.mkdir()
        if backend == "sqlite":
            template: Path = request.getfixturevalue("sqlite_template")
            shutil.copyfile(template, data_dir / OFFICE_DB)
            return OfficeDb(backend, "", data_dir)
        if backend == "postgresql":
            copies: PgCopies = request.getfixturevalue("pg_copies")
            name, url = copies.take()
            made.append((copies, name))
            return OfficeDb(backend, url, data_dir)
        raise ValueError(f"no such backend: {backend}")

    try:
        yield make
    finally:
        use_database("", office_django)
        for copies, name in made:
            copies.drop(name)


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def office_db(request: pytest.FixtureRequest,
              make_office_db: Callable[[str], OfficeDb]) -> OfficeDb:
    """This test's own fresh, migrated office database, in use as Django's default."""
    db = make_office_db(request.param)
    use_database(db.database, db.data_dir)
    return db


@pytest.fixture
def sqlite_office_db(make_office_db: Callable[[str], OfficeDb]) -> OfficeDb:
    """A fresh migrated SQLite office store in use, for what only SQLite has."""
    db = make_office_db("sqlite")
    use_database(db.database, db.data_dir)
    return db


@pytest.fixture
def office_conn(office_db: OfficeDb) -> OfficeConnection:
    """This test's fresh office store, opened as the office's code opens it."""
    return open_office(office_db.config)


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def office_backend(request: pytest.FixtureRequest) -> str:
    """The database the office of this test runs on (a test using it runs twice)."""
    return str(request.param)


@pytest.fixture
def office_databases(office_backend: str, request: pytest.FixtureRequest,
                     office_django: Path) -> Iterator[Callable[[], str]]:
    """Fresh ``[office] database`` values on this test's backend, one per call: "" on
    SQLite (each office its own data directory), a fresh migrated PostgreSQL database
    otherwise (dropped after the test, whoever still holds a connection)."""
    copies: PgCopies | None = (request.getfixturevalue("pg_copies")
                               if office_backend == "postgresql" else None)
    taken: list[str] = []

    def new() -> str:
        if copies is None:
            return ""
        name, url = copies.take()
        taken.append(name)
        return url

    try:
        yield new
    finally:
        use_database("", office_django)
        for name in taken:
            assert copies is not None
            copies.drop(name)


@pytest.fixture
def office_database(office_databases: Callable[[], str]) -> str:
    """This test's ``[office] database``: "" (SQLite) or a fresh PostgreSQL URL."""
    return office_databases()


def set_office_database(config_file: Path, database: str) -> Path:
    """Write ``[office] database`` into a copy of the repository's config.toml."""
    text = config_file.read_text()
    assert text.count('\ndatabase = ""\n') == 1, "config.toml's [office] database line moved"
    config_file.write_text(text.replace('\ndatabase = ""\n', f'\ndatabase = "{database}"\n'))
    return config_file


@pytest.fixture
def office_env(env_config: Path, office_database: str) -> Path:
    """``env_config`` (``$FORECOURT_CONFIG``, cwd in its folder) with this test's office
    database: in-process CLI tests of the office run on SQLite and PostgreSQL."""
    return set_office_database(env_config, office_database)
