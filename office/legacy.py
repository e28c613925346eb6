"""Upgrading an office store made before Django (sqlite-utils migrations) in place.

Such a store is a SQLite ``office.db`` whose ``_sqlite_migrations`` table records the
``forecourt-office`` migrations 0001_stations .. 0009_office_identity. Django's models
reproduce that schema exactly, so the upgrade adopts the tables instead of copying rows:

1. the legacy migrations it still lacks are applied (sqlite-utils, as ``forecourt``
   always did), so every table and column the models describe exists;
2. ``migrate --fake-initial`` for the ledger and the card master: their 0001_initial
   migrations are recorded as applied because their tables already exist (Django checks
   each table and column), and the later ones run (on SQLite, ``sales`` is already
   ``WITHOUT ROWID``: nothing to do);
3. a normal ``migrate`` for the rest (auth, sessions, the audit trail, ...), which creates
   their tables.

``fake_initial`` is limited to the two adopted apps on purpose: a half-made table of any
other app must fail loudly, not be taken as done. The ``_sqlite_migrations`` table stays
(older tools recognise the file as an office store by it). Running the upgrade again
changes nothing.

``office.store.open_office`` (every office command) and ``init_office`` run it when they
meet such a store, so an upgraded forecourt upgrades the store on its first command.
The legacy migrations themselves are kept here, the only use of sqlite-utils left in
the office; they are never extended (new schema changes are the apps' migrations).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from office.settings import OFFICE_DB

LEGACY_SET = "forecourt-office"
ADOPTED_APPS = ("ledger", "cards")  # their 0001_initial describes the legacy tables
#: The GENESIS hash of a station's chain (core.formats.journal), as 0002 wrote it.
GENESIS = "0" * 64
#: The office store's migrations before Django, kept only to bring an old store up to
#: the last of them (0009) before Django adopts it. Never extended: new schema changes
#: are Django migrations of the apps.
office_migrations = Migrations(LEGACY_SET)


def is_legacy_store(path: Path) -> bool:
    """Whether ``path`` is a SQLite file with sqlite-utils migrations of the office."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? "
                            "LIMIT 1", (LEGACY_SET,)).fetchone() is not None
    except sqlite3.DatabaseError:  # no such table, or not a database at all
        return False
    finally:
        conn.close()


def upgrade_legacy_store(data_dir: Path) -> list[str]:
    """Bring ``data_dir/office.db`` from the sqlite-utils schema under Django's migrations.

    Django must be configured (``office.settings.configure``) with this very file as its
    default database: ValueError otherwise, naming both. Returns what was done, legacy
    migration names first, then Django's ``app.migration`` names (faked ones marked
    ``(adopted)``); an empty list when there was nothing to do or the file is no legacy
    store (a store Django made is left to the normal ``migrate``).
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    path = data_dir / OFFICE_DB
    if not is_legacy_store(path):
        return []
    default = settings.DATABASES["default"]
    if (default["ENGINE"] != "django.db.backends.sqlite3"
            or Path(default["NAME"]).resolve() != path.resolve()):
        raise ValueError(f"the office store to upgrade is {path}, but Django is configured "
                         f"for {default['NAME']}; configure it for the store first")
    done = _apply_legacy_migrations(path)

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    before = executor.loader.applied_migrations.keys()
    for app in ADOPTED_APPS:
        call_command("migrate", app, fake_initial=True, interactive=False, verbosity=0)
    call_command("migrate", interactive=False, verbosity=0)
    recorder = MigrationExecutor(connection).recorder
    applied = recorder.applied_migrations()
    faked = {f"{app}.{name}" for (app, name) in applied
             if app in ADOPTED_APPS and name == "0001_initial" and (app, name) not in before}
    done += [f"{name} (adopted)" if name in faked else name for name in pending]
    return done


def _apply_legacy_migrations(path: Path) -> list[str]:
    """The legacy (sqlite-utils) migrations still missing, applied; their names."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        db = Database(conn)
        names = [m.name for m in office_migrations.pending(db)]
        office_migrations.apply(db)
        return names
    finally:
        conn.close()


# -- the legacy migrations (sqlite-utils), as forecourt applied them before Django ---------

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
