"""Issue 10 #12: a station's identity never changes silently, and a file that is not the
station's database is never taken for it.

``forecourt init`` records the station's public key in its database; init, run,
keys show and the flash commands refuse a missing or foreign key with one sentence
that says how to restore the key or re-enrol, and never make a new one.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.test_cli import run, run_json

CARD = "7800001234567890"


@pytest.fixture
def data_dir(env_config: Path) -> Path:
    return env_config.parent / "station"


@pytest.fixture
def sold(data_dir: Path, sample_store_file: Path) -> Path:
    """An initialized station with a card store and one sale."""
    run("init")
    run("cards", "import", str(sample_store_file))
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95")
    run("sale", "complete", auth["sale_id"], "--volume", "1000")
    return data_dir


def recorded_key(data_dir: Path) -> str | None:
    conn = sqlite3.connect(data_dir / "station.db")
    try:
        row = conn.execute("SELECT value FROM sync_state WHERE key = "
                           "'station_public_key'").fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_sentence(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def foreign_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


# -- init records the identity --------------------------------------------------------------

def test_init_records_the_public_key_in_the_database(data_dir: Path) -> None:
    run("init")
    pub = (data_dir / "station_key.pub").read_text().strip()
    assert recorded_key(data_dir) == pub
    assert "nothing changed" in run("init").stdout
    assert recorded_key(data_dir) == pub


def test_init_records_the_key_of_a_database_from_before(data_dir: Path) -> None:
    run("init")
    pub = (data_dir / "station_key.pub").read_text().strip()
    conn = sqlite3.connect(data_dir / "station.db")
    conn.execute("DELETE FROM sync_state WHERE key = 'station_public_key'")
    conn.commit()
    conn.close()
    out = run("init").stdout
    assert "recorded the station key" in out
    assert recorded_key(data_dir) == pub


# -- not a database --------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"hello, I am not a database\n" * 10,
                                     b"SQLite format 3\x00" + b"\xff" * 200])
def test_init_over_a_file_that_is_not_a_database_is_refused(data_dir: Path,
                                                            content: bytes) -> None:
    run("init")
    db = data_dir / "station.db"
    db.write_bytes(content)
    before = digest(db)
    line = one_sentence(run("init", ok=False))
    assert "is not a forecourt station database" in line and str(db) in line
    assert "already initialized" not in line
    assert digest(db) == before


def test_init_over_a_non_database_without_a_key_makes_no_key(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "station.db").write_text("not a database\n" * 20)
    line = one_sentence(run("init", ok=False))
    assert "is not a forecourt station database" in line
    assert not (data_dir / "station_key.pem").exists()


def test_a_foreign_sqlite_database_is_refused_and_left_alone(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    db = data_dir / "station.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
    conn.commit()
    conn.close()
    before = digest(db)
    line = one_sentence(run("init", ok=False))
    assert "is not a forecourt station database" in line
    assert digest(db) == before
    assert not (data_dir / "station_key.pem").exists()
    line = one_sentence(run("status", ok=False))
    assert "is not a forecourt station database" in line
    line = one_sentence(run("cards", "import", str(Path(__file__).parent / "data" /
                                                      "card-store.json"), ok=False))
    assert "is not a forecourt station database" in line
    assert digest(db) == before


# -- the key missing --------------------------------------------------------------------------

def test_init_with_the_key_missing_is_refused_and_makes_no_new_identity(sold: Path) -> None:
    pub = recorded_key(sold)
    (sold / "station_key.pem").unlink()
    line = one_sentence(run("init", ok=False))
    assert "station_key.pem is missing" in line
    assert pub is not None and pub in line
    assert "restore" in line and "re-enrol" in line
    assert not (sold / "station_key.pem").exists()
    assert recorded_key(sold) == pub


def test_key_missing_in_a_database_from_before_with_sales_is_refused(sold: Path) -> None:
    conn = sqlite3.connect(sold / "station.db")
    conn.execute("DELETE FROM sync_state WHERE key = 'station_public_key'")
    conn.commit()
    conn.close()
    (sold / "station_key.pem").unlink()
    line = one_sentence(run("init", ok=False))
    assert "already holds" in line and "restore" in line
    assert not (sold / "station_key.pem").exists()


@pytest.mark.parametrize("command", [("keys", "show"), ("run",), ("flash", "export", "."),
                                     ("flash", "import", "reply.fcb")])
def test_every_command_that_loads_the_key_refuses_a_missing_one(sold: Path,
                                                                command: tuple[str, ...]) -> None:
    (sold / "station_key.pem").unlink()
    line = one_sentence(run(*command, ok=False))
    assert "station_key.pem is missing" in line and "restore" in line
    assert "run 'forecourt init'" not in line
    assert not (sold / "station_key.pem").exists()


# -- another key ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [("init",), ("keys", "show"), ("run",),
                                     ("flash", "export", "."),
                                     ("flash", "import", "reply.fcb")])
def test_every_command_refuses_a_key_that_is_not_the_stations(sold: Path,
                                                              command: tuple[str, ...]) -> None:
    pub = recorded_key(sold)
    foreign_key(sold / "station_key.pem")
    before = digest(sold / "station_key.pem")
    line = one_sentence(run(*command, ok=False))
    assert "is not this station's key" in line and pub is not None and pub in line
    assert digest(sold / "station_key.pem") == before
    assert recorded_key(sold) == pub


def test_the_daemon_records_the_key_of_a_database_from_before(data_dir: Path) -> None:
    from edge.identity import load_station_key
    from offline_db.store import StationStore

    run("init")
    pub = recorded_key(data_dir)
    conn = sqlite3.connect(data_dir / "station.db")
    conn.execute("DELETE FROM sync_state WHERE key = 'station_public_key'")
    conn.commit()
    conn.close()
    reader = StationStore.open_reader(data_dir)
    try:  # a reader only loads it
        load_station_key(data_dir, reader.conn, "S-001")
    finally:
        reader.close()
    assert recorded_key(data_dir) is None
    with StationStore.open_writer(data_dir) as store:  # as 'forecourt run' opens it
        load_station_key(data_dir, store.conn, "S-001", record=True)
        audited = store.conn.execute("SELECT action FROM audit_log ORDER BY id DESC "
                                     "LIMIT 1").fetchone()[0]
    assert recorded_key(data_dir) == pub
    assert audited == "station.key_recorded"


# -- the station id and a key without its database ------------------------------------------

@pytest.mark.parametrize("command", [("init",), ("keys", "show"), ("run",),
                                     ("flash", "export", "."),
                                     ("cards", "import", "card-store.json"),
                                     ("sale", "authorize", "--card", CARD, "--pump", "2"),
                                     ("status",), ("status", "--json")])
def test_another_station_id_over_the_database_is_refused(sold: Path, env_config: Path,
                                                         command: tuple[str, ...]) -> None:
    """Verification of issue 10 #12 (status): 'forecourt status' showed 'station id S-002'
    for S-001's database, the one command that says who the station is."""
    env_config.write_text(env_config.read_text().replace('id = "S-001"', 'id = "S-002"', 1))
    before = digest(sold / "station.db")
    line = one_sentence(run(*command, ok=False))
    assert "[station] id is S-002, but this database belongs to station S-001" in line
    assert digest(sold / "station.db") == before
    assert run_json("journal", "list")[0]["station_id"] == "S-001"


def test_init_records_the_station_id(data_dir: Path) -> None:
    run("init")
    conn = sqlite3.connect(data_dir / "station.db")
    try:
        row = conn.execute("SELECT value FROM sync_state WHERE key = 'station_id'").fetchone()
    finally:
        conn.close()
    assert row == ("S-001",)


@pytest.mark.parametrize("empty", [False, True])
def test_init_with_a_key_but_no_database_is_refused(sold: Path, empty: bool) -> None:
    for name in ("station.db", "station.db-wal", "station.db-shm"):
        (sold / name).unlink(missing_ok=True)
    if empty:
        (sold / "station.db").touch()
    line = one_sentence(run("init", ok=False))
    assert "exists but its database" in line and "restore station.db" in line
    assert not (sold / "station.db").exists() or (sold / "station.db").stat().st_size == 0
