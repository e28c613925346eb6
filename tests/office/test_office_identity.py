"""Issue 10 #12 at the head office: its key is recorded in its store and never made anew.

Every station pins the office key, so ``forecourt office init`` with the key missing
next to a store that has an identity or data is refused, and so is every command
that loads a key that is not the recorded one; a foreign file is never migrated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.config import OfficeConfig, load_config_file
from office.store import open_office
from tests.test_cli import run

STATION_KEY = "ed25519:" + "A" * 43 + "="


@pytest.fixture
def office(office_env: Path) -> OfficeConfig:
    """An office made by 'office init', on SQLite or PostgreSQL; its [office] section."""
    run("office", "init")
    return load_config_file(office_env).office


@pytest.fixture
def office_dir(office: OfficeConfig) -> Path:
    return office.data_dir


def recorded(office: OfficeConfig) -> str | None:
    conn = open_office(office)
    try:
        row = conn.execute("SELECT public_key FROM office_identity").fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def one_sentence(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_init_records_the_office_key(office: OfficeConfig) -> None:
    pub = run("office", "keys", "show").stdout.strip()
    assert recorded(office) == pub
    assert "nothing changed" in run("office", "init").stdout
    assert run("office", "keys", "show").stdout.strip() == pub


@pytest.mark.parametrize("enrolled", [False, True])
def test_office_init_with_the_key_missing_is_refused(office: OfficeConfig, office_dir: Path,
                                                    enrolled: bool) -> None:
    pub = recorded(office)
    if enrolled:
        run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    (office_dir / "office_key.pem").unlink()
    line = one_sentence(run("office", "init", ok=False))
    assert "office_key.pem is missing" in line and pub is not None and pub in line
    assert "restore" in line
    assert not (office_dir / "office_key.pem").exists()
    assert recorded(office) == pub


def test_office_key_missing_in_a_store_from_before_with_stations_is_refused(
        office: OfficeConfig, office_dir: Path) -> None:
    run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    conn = open_office(office)
    conn.execute("DELETE FROM office_identity")
    conn.close()
    (office_dir / "office_key.pem").unlink()
    line = one_sentence(run("office", "init", ok=False))
    assert "already has stations" in line and "restore" in line
    assert not (office_dir / "office_key.pem").exists()


EXPORT = ("office", "flash", "export", "--station", "S-001", ".")


@pytest.mark.parametrize("command", [("office", "init"), ("office", "keys", "show"), EXPORT])
def test_a_key_that_is_not_the_offices_is_refused(office: OfficeConfig, office_dir: Path,
                                                 command: tuple[str, ...]) -> None:
    pub = recorded(office)
    run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (office_dir / "office_key.pem").write_bytes(pem)
    line = one_sentence(run(*command, ok=False))
    assert "is not this office's key" in line and pub is not None and pub in line


@pytest.mark.parametrize("command", [("office", "keys", "show"), EXPORT])
def test_commands_refuse_a_missing_office_key(office_dir: Path,
                                              command: tuple[str, ...]) -> None:
    run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    (office_dir / "office_key.pem").unlink()
    line = one_sentence(run(*command, ok=False))
    assert "office_key.pem is missing" in line and "restore" in line


def test_office_init_over_a_foreign_file_is_refused(env_config: Path) -> None:
    office_dir = env_config.parent / "var" / "office"
    office_dir.mkdir(parents=True)
    db = office_dir / "office.db"
    db.write_bytes(b"definitely not sqlite\n" * 30)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    line = one_sentence(run("office", "init", ok=False))
    assert "is not a forecourt head-office database" in line
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (office_dir / "office_key.pem").exists()
    line = one_sentence(run("office", "stations", ok=False))
    assert "is not a forecourt head-office database" in line


def test_office_init_over_a_foreign_postgresql_database_is_refused(
        env_config: Path, office_django: Path) -> None:
    """A PostgreSQL database that holds something else is never migrated."""
    import psycopg

    from tests import pg
    from tests.office_fixtures import set_office_database

    pg.require_pg()
    with pg.temporary_database("fc_foreign") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE invoices (id integer PRIMARY KEY)")
        set_office_database(env_config, url)
        try:
            line = one_sentence(run("office", "init", ok=False))
            assert "is not a forecourt head-office database" in line
            line = one_sentence(run("office", "stations", ok=False))
            assert "is not a forecourt head-office database" in line
            with psycopg.connect(url) as conn:
                tables = [r[0] for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            assert tables == ["invoices"]
            assert not (env_config.parent / "var" / "office" / "office_key.pem").exists()
        finally:
            from office.settings import use_database

            use_database("", office_django)  # let the database be dropped


def test_an_office_store_not_initialized_says_so(env_config: Path, office_django: Path) -> None:
    line = one_sentence(run("office", "stations", ok=False))
    assert line.endswith("no head-office store in "
                         f"{env_config.parent / 'var' / 'office'}; run 'forecourt office "
                         "init' first")
    from tests import pg
    from tests.office_fixtures import set_office_database

    pg.require_pg()
    with pg.temporary_database("fc_empty") as url:  # created by its administrator, empty
        set_office_database(env_config, url)
        try:
            line = one_sentence(run("office", "stations", ok=False))
            assert line.startswith("Error: no head-office store in the PostgreSQL database "
                                   "'fc_empty_") and "run 'forecourt office init' first" in line
        finally:
            from office.settings import use_database

            use_database("", office_django)


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://db/office", "[office] database must be empty"),
    ("office.db", "[office] database must be empty"),
    ("postgresql://host/", "names no database"),
    ("postgresql://host:port/db", "port is not a number"),
])
def test_a_bad_office_database_is_one_sentence(env_config: Path, url: str, says: str) -> None:
    from tests.office_fixtures import set_office_database

    set_office_database(env_config, url)
    line = one_sentence(run("office", "stations", ok=False))
    assert says in line and "[office] database" in line
