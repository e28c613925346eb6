"""The head office's store (SQLite, one file in ``[office] data_dir``) and its key.

``forecourt office init`` creates both. The schema grows with the sync issue
(ingest, card master, downlink); it starts with the enrolled stations.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from edge.errors import NotInitializedError
from edge.keys import OFFICE_KEY, create_keypair
from offline_db.connection import connect

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


def init_office(data_dir: Path) -> tuple[list[str], str | None]:
    """Create the office directory, store and key pair; what was created is returned."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    conn = connect(data_dir / OFFICE_DB)
    try:
        db = Database(conn)
        applied = [m.name for m in office_migrations.pending(db)]
        office_migrations.apply(db)
    finally:
        conn.close()
    return applied, create_keypair(data_dir, OFFICE_KEY)


def open_office(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / OFFICE_DB
    if not path.exists():
        raise NotInitializedError(
            f"no head-office store in {data_dir}; run 'forecourt office init' first")
    return connect(path)
