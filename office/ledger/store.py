"""The head office's store (SQLite, one file in ``[office] data_dir``) and its key.

``forecourt office init`` creates both. The schema grows with the sync issue
(ingest, card master, downlink); it starts with the enrolled stations.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from cloud_sync.wire import printable
from core.errors import IdentityError, NotInitializedError
from core.formats.journal import GENESIS
from core.keys import OFFICE_KEY, create_keypair, load_private_key, parse_public_text, public_text
from core.timefmt import iso, utc_now
from offline_db.connection import atomic, connect
from offline_db.store import check_forecourt_database

# Identity refusals are logged at info: the CLI prints the sentence itself.
log = structlog.get_logger(__name__)

OFFICE_DB = "office.db"
office_migrations = Migrations("forecourt-office")


@office_migrations(name="0001_stations")
def m0001_stations(db: Database) -> None:
    db.execute("""
        CREATE TABLE stations (
            station_id TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            enrolled_at TEXT NOT NULL
        )""")


@office_migrations(name="0002_sales")
def m0002_sales(db: Database) -> None:
    """Ingested sales, each station's verified chain head, chain problems, quarantine."""
    db.execute("""
        CREATE TABLE sales (
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            sale_id TEXT NOT NULL,
            card_id TEXT NOT NULL,
            pump INTEGER NOT NULL,
            product TEXT NOT NULL,
            volume_ml INTEGER NOT NULL,
            unit_price INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            authorized_at TEXT NOT NULL,
            completed_at TEXT NOT NULL,
            wallet_debits TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            received_at TEXT NOT NULL,
            via TEXT NOT NULL CHECK (via IN ('mqtt', 'flash')),
            PRIMARY KEY (station_id, seq)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX sales_completed_at ON sales (completed_at)")
    db.execute("CREATE INDEX sales_card ON sales (card_id, completed_at)")
    db.execute(f"""
        CREATE TABLE station_chain (
            station_id TEXT PRIMARY KEY,
            contiguous_seq INTEGER NOT NULL DEFAULT 0,
            contiguous_hash TEXT NOT NULL DEFAULT '{GENESIS}',
            last_seen_at TEXT,
            outbox_depth INTEGER,
            oldest_undelivered_at TEXT,
            card_store_version INTEGER
        )""")
    db.execute("""
        CREATE TABLE chain_problems (
            id INTEGER PRIMARY KEY,
            station_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('gap', 'fork', 'bad_chain')),
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            detail TEXT NOT NULL,
            found_at TEXT NOT NULL,
            resolved_at TEXT
        )""")
    db.execute("CREATE INDEX chain_problems_open ON chain_problems (station_id, kind) "
               "WHERE resolved_at IS NULL")
    db.execute("""
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            station_id TEXT,
            first_seq INTEGER,
            last_seq INTEGER,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            repeats INTEGER NOT NULL DEFAULT 1,
            last_received_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX quarantine_station ON quarantine (station_id, payload_sha256)")


def init_office(data_dir: Path) -> tuple[list[str], str | None]:
    """Create the office directory, store and key pair; what was created is returned.

    The key's public half is recorded in the store when the key is made; a missing or
    foreign key next to a store that has an identity or data is refused, never made
    anew (every station pins the office key). A foreign file is never migrated.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    check_forecourt_database(data_dir / OFFICE_DB, "forecourt-office", "head-office")
    existing = None  # an unsafe or invalid key file is refused before anything changes
    if (data_dir / f"{OFFICE_KEY}.pem").exists():
        existing = load_private_key(data_dir, OFFICE_KEY)
    conn = connect(data_dir / OFFICE_DB)
    try:
        db = Database(conn)
        applied = [m.name for m in office_migrations.pending(db)]
        office_migrations.apply(db)
        recorded = _recorded_key(conn)
        if existing is not None:
            pub = public_text(existing)
            if recorded is None:
                _record_key(conn, pub)
            elif pub != recorded:
                raise _foreign(data_dir, pub, recorded)
            return applied, None
        if recorded is not None:
            raise _missing(data_dir, recorded)
        if conn.execute("SELECT EXISTS (SELECT 1 FROM stations) OR EXISTS (SELECT 1 FROM "
                        "sales) OR EXISTS (SELECT 1 FROM cm_versions)").fetchone()[0]:
            raise IdentityError(f"the office key {data_dir / OFFICE_KEY}.pem is missing and "
                                f"the store in {data_dir} already has stations, sales or "
                                f"card data; {_HOW}")
        created = create_keypair(data_dir, OFFICE_KEY)
        _record_key(conn, created or public_text(load_private_key(data_dir, OFFICE_KEY)))
        return applied, created
    finally:
        conn.close()


_HOW = ("restore office_key.pem from a backup of this office, or change the key pinned in "
        "every station's [station] office_public_key (docs/operations.md, office identity); "
        "nothing was changed")


def _recorded_key(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT public_key FROM office_identity WHERE id = 1").fetchone()
    return None if row is None else str(row[0])


def _record_key(conn: sqlite3.Connection, pub: str) -> None:
    with atomic(conn):
        conn.execute("INSERT INTO office_identity (id, public_key, recorded_at) "
                     "VALUES (1, ?, ?)", (pub, iso(utc_now())))
    log.info("office.key_recorded", public_key=pub)


def _missing(data_dir: Path, recorded: str) -> IdentityError:
    log.info("office.key_missing", recorded=recorded)
    return IdentityError(f"the office key {data_dir / OFFICE_KEY}.pem is missing, but this "
                         f"office's store belongs to the key {recorded}, which the stations "
                         f"pin; {_HOW}")


def _foreign(data_dir: Path, pub: str, recorded: str) -> IdentityError:
    log.info("office.key_mismatch", key=pub, recorded=recorded)
    return IdentityError(f"the key {data_dir / OFFICE_KEY}.pem ({pub}) is not this office's "
                         f"key: its store was initialized with {recorded}; put the office's "
                         "own key back, or change the key pinned in every station's [station] "
                         "office_public_key (docs/operations.md, office identity); nothing "
                         "was changed")


def load_office_key(data_dir: Path) -> Ed25519PrivateKey:
    """The office's signing key, refused if missing or not the one its store recorded.

    Every command that signs or opens as the office loads the key through here.
    """
    recorded = None
    if (data_dir / OFFICE_DB).exists():
        check_forecourt_database(data_dir / OFFICE_DB, "forecourt-office", "head-office")
        conn = connect(data_dir / OFFICE_DB, readonly=True)
        try:
            recorded = _recorded_key(conn)
        except sqlite3.OperationalError:  # a store from before office_identity
            recorded = None
        finally:
            conn.close()
    if recorded is not None and not (data_dir / f"{OFFICE_KEY}.pem").exists():
        raise _missing(data_dir, recorded)
    key = load_private_key(data_dir, OFFICE_KEY)
    if recorded is not None and public_text(key) != recorded:
        raise _foreign(data_dir, public_text(key), recorded)
    return key


def enrolled_key(conn: sqlite3.Connection, station_id: str) -> Ed25519PublicKey | None:
    """The public key the station was enrolled with, or None if it is not enrolled."""
    row = conn.execute("SELECT public_key FROM stations WHERE station_id = ?",
                       (station_id,)).fetchone()
    return parse_public_text(row[0]) if row is not None else None


def count_refusal(conn: sqlite3.Connection, reason: str, detail: str, at: str) -> None:
    """Count one message or bundle refused at the boundary (``refused_messages``).

    ``forecourt office stations`` shows the counts by reason with the last detail.
    """
    with atomic(conn):
        conn.execute(
            "INSERT INTO refused_messages VALUES (?, 1, ?, ?) ON CONFLICT (reason) "
            "DO UPDATE SET count = count + 1, last_at = excluded.last_at, "
            "last_detail = excluded.last_detail", (reason, at, printable(detail)))


def open_office(data_dir: Path) -> sqlite3.Connection:
    """Open the office store, applying migrations a newer forecourt brought."""
    path = data_dir / OFFICE_DB
    if not path.exists():
        raise NotInitializedError(
            f"no head-office store in {data_dir}; run 'forecourt office init' first")
    check_forecourt_database(path, "forecourt-office", "head-office")
    conn = connect(path)
    office_migrations.apply(Database(conn))
    return conn


@office_migrations(name="0003_station_online")
def m0003_station_online(db: Database) -> None:
    """Online/offline as each station last said it (retained status, MQTT last will)."""
    db.execute("""
        CREATE TABLE station_online (
            station_id TEXT PRIMARY KEY,
            online INTEGER NOT NULL,
            at TEXT NOT NULL
        )""")


@office_migrations(name="0004_card_master")
def m0004_card_master(db: Database) -> None:
    """The card master: current documents and every version's operations (deltas)."""
    for statement in (
        "CREATE TABLE cm_products (code TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE cm_cards (card_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE cm_stop_list (identifier TEXT PRIMARY KEY)",
        "CREATE TABLE cm_extra (kind TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE cm_versions (version INTEGER PRIMARY KEY, at TEXT NOT NULL, "
        "actor TEXT NOT NULL, ops TEXT NOT NULL)",
    ):
        db.execute(statement)


@office_migrations(name="0005_refused_messages")
def m0005_refused_messages(db: Database) -> None:
    """Messages refused at the boundary (unknown sender, bad signature, ...), counted."""
    db.execute("""
        CREATE TABLE refused_messages (
            reason TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            last_at TEXT NOT NULL,
            last_detail TEXT NOT NULL
        )""")


@office_migrations(name="0006_flash_transfers")
def m0006_flash_transfers(db: Database) -> None:
    """Flash-drive bundles taken in and written out; a station's alarms as it last said."""
    db.execute("ALTER TABLE station_chain ADD COLUMN alarms TEXT")
    db.execute("""
        CREATE TABLE flash_transfers (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            station_id TEXT NOT NULL,
            file TEXT NOT NULL,
            created_at TEXT,
            first_seq INTEGER,
            last_seq INTEGER,
            sales INTEGER,
            stored INTEGER,
            duplicates INTEGER,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )""")


@office_migrations(name="0007_sales_vehicle_odometer")
def m0007_sales_vehicle_odometer(db: Database) -> None:
    """A sale's vehicle, odometer reading and odometer flag (docs/journal.md); NULL if none."""
    db.execute("ALTER TABLE sales ADD COLUMN vehicle_id TEXT")
    db.execute("ALTER TABLE sales ADD COLUMN odometer_km INTEGER")
    db.execute("ALTER TABLE sales ADD COLUMN odometer_flag TEXT")


@office_migrations(name="0008_status_envelope")
def m0008_status_envelope(db: Database) -> None:
    """When the station made the status the office holds, and that envelope's id: an
    older or repeated status is a replay (counted, changes nothing)."""
    db.execute("ALTER TABLE station_online ADD COLUMN status_at TEXT")
    db.execute("ALTER TABLE station_online ADD COLUMN envelope_id TEXT")


@office_migrations(name="0009_office_identity")
def m0009_office_identity(db: Database) -> None:
    """The office's public key, recorded when its key is made (``init_office``).

    Every station pins that key; a missing or different key file is refused against
    this record instead of silently becoming a new office identity.
    """
    db.execute("""
        CREATE TABLE office_identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            public_key TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""")
