"""Issue 10 #12 at the head office: its key is recorded in its store and never made anew.

Every station pins the office key, so ``forecourt office init`` with the key missing
next to a store that has an identity or data is refused, and so is every command
that loads a key that is not the recorded one; a foreign file is never migrated.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.test_cli import run

STATION_KEY = "ed25519:" + "A" * 43 + "="


@pytest.fixture
def office_dir(env_config: Path) -> Path:
    run("office", "init")
    return env_config.parent / "var" / "office"


def recorded(office_dir: Path) -> str | None:
    conn = sqlite3.connect(office_dir / "office.db")
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


def test_init_records_the_office_key(office_dir: Path) -> None:
    pub = run("office", "keys", "show").stdout.strip()
    assert recorded(office_dir) == pub
    assert "nothing changed" in run("office", "init").stdout
    assert run("office", "keys", "show").stdout.strip() == pub


@pytest.mark.parametrize("enrolled", [False, True])
def test_office_init_with_the_key_missing_is_refused(office_dir: Path, enrolled: bool) -> None:
    pub = recorded(office_dir)
    if enrolled:
        run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    (office_dir / "office_key.pem").unlink()
    line = one_sentence(run("office", "init", ok=False))
    assert "office_key.pem is missing" in line and pub is not None and pub in line
    assert "restore" in line
    assert not (office_dir / "office_key.pem").exists()
    assert recorded(office_dir) == pub


def test_office_key_missing_in_a_store_from_before_with_stations_is_refused(
        office_dir: Path) -> None:
    run("office", "station", "add", "S-001", "--public-key", STATION_KEY)
    conn = sqlite3.connect(office_dir / "office.db")
    conn.execute("DELETE FROM office_identity")
    conn.commit()
    conn.close()
    (office_dir / "office_key.pem").unlink()
    line = one_sentence(run("office", "init", ok=False))
    assert "already has stations" in line and "restore" in line
    assert not (office_dir / "office_key.pem").exists()


EXPORT = ("office", "flash", "export", "--station", "S-001", ".")


@pytest.mark.parametrize("command", [("office", "init"), ("office", "keys", "show"), EXPORT])
def test_a_key_that_is_not_the_offices_is_refused(office_dir: Path,
                                                 command: tuple[str, ...]) -> None:
    pub = recorded(office_dir)
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
