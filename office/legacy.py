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
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from office.settings import OFFICE_DB

LEGACY_SET = "forecourt-office"
ADOPTED_APPS = ("ledger", "cards")  # their 0001_initial describes the legacy tables


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
    from office.ledger.store import office_migrations
    from offline_db.connection import connect

    conn = connect(path)
    try:
        db = Database(conn)
        names = [m.name for m in office_migrations.pending(db)]
        office_migrations.apply(db)
        return names
    finally:
        conn.close()
