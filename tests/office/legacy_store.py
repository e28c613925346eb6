"""An office store as forecourt made it before Django, for the upgrade tests.

What ``init_office`` did then, step for step: the data directory (0750), the
sqlite-utils migrations 0001..0009 (kept in office.legacy for the upgrade), the key
pair, and the key's public half recorded in ``office_identity``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from core.keys import OFFICE_KEY, create_keypair, load_private_key, public_text
from office.legacy import office_migrations
from office.settings import OFFICE_DB


def make_legacy_store(data_dir: Path, *, key: bool = True) -> str | None:
    """A pre-Django office store in ``data_dir``; the office's public key (if made)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    conn = sqlite3.connect(data_dir / OFFICE_DB, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        office_migrations.apply(Database(conn))
        if not key:
            return None
        created = create_keypair(data_dir, OFFICE_KEY)
        pub = created or public_text(load_private_key(data_dir, OFFICE_KEY))
        conn.execute("INSERT INTO office_identity (id, public_key, recorded_at) "
                     "VALUES (1, ?, '2026-11-01T00:00:00.000000Z')", (pub,))
        return pub
    finally:
        conn.close()
