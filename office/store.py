"""The head office's store, one way in: ``open_office``, ``init_office`` and the office key.

The store is Django's default database (``office.settings``), chosen by ``[office]
database``: empty for the SQLite file ``office.db`` in ``[office] data_dir``, or a
``postgresql://`` URL. The data directory holds the office's Ed25519 key either way.

``open_office(config)`` configures Django for that office (once per process; a process
that opens another office store later, as tests do, is switched over with
``office.settings.use_database``), refuses a store that does not exist yet ("run
'forecourt office init' first") or is not the office's, upgrades a store made before
Django (``office.legacy``), applies pending migrations (after a cheap look at the
migration plan, once per process and database) and returns an :class:`OfficeConnection`:
what the office's code runs its SQL on (``execute``, ``executemany``, ``atomic``), so the
code of the sqlite3 days keeps its ``conn`` parameters.

This module sits at the project level (not in ``office/ledger/``) because it configures
Django for every app of the office (ledger, card master, access, console) alike.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.config import Config, OfficeConfig
from core.errors import ConfigError, IdentityError, NotInitializedError, StoreError
from core.keys import OFFICE_KEY, create_keypair, load_private_key, public_text
from core.timefmt import iso, utc_now
from office import db, settings
from office.settings import OFFICE_DB

# Identity refusals are logged at info: the CLI prints the sentence itself.
log = structlog.get_logger(__name__)

__all__ = ["OFFICE_DB", "OfficeConnection", "init_office", "load_office_key", "open_office"]

State = Literal["missing", "empty", "legacy", "ours", "foreign"]
#: Collations under which PostgreSQL compares and sorts text as SQLite does (by code
#: point): the store's timestamps are ISO text compared as text, and lists are ordered
#: by ids. Any other collation would order '2026-11-18' and '2026-11-18T10:...' (or
#: 'S-10' and 'S-9') otherwise than SQLite does.
_BYTE_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"})
_KEY_FIELDS = ("ENGINE", "NAME", "HOST", "PORT", "USER")


def office_config(config: Config | OfficeConfig) -> OfficeConfig:
    """The ``[office]`` section of a whole configuration, or the section itself."""
    return config.office if isinstance(config, Config) else config


def django_secret_key(office: OfficeConfig) -> str:
    """The secret key Django is configured with when an office process opens its store.

    The web console signs sessions and CSRF tokens with it: ``office init`` makes it in
    the data directory (mode 0600; office.access.secret), and ``office web`` refuses to
    serve without it. A command that opens the store before that file exists (an office
    from before the console, until ``office init`` runs again) signs nothing with
    Django's key, so it gets a random one for this process alone; there is no built-in
    key. A key file readable by others is refused either way.
    """
    from office.access.secret import load_secret_key, secret_key_path

    if secret_key_path(office.data_dir).exists():
        return load_secret_key(office.data_dir)
    return secrets.token_urlsafe(48)


@contextmanager
def _as_our_errors() -> Iterator[None]:
    """``office.settings`` speaks ValueError (a bad ``[office] database``) and
    RuntimeError (Django configured otherwise); the CLI prints our errors' sentences."""
    try:
        yield
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except RuntimeError as exc:
        raise StoreError(f"cannot open the office store: {exc}") from None


def _settings_key(database: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(database.get(name, "")) for name in _KEY_FIELDS)


def describe(office: OfficeConfig) -> str:
    """The store in words, for sentences (a PostgreSQL URL without its password)."""
    if not office.database.strip():
        return str(office.data_dir / OFFICE_DB)
    with _as_our_errors():
        wanted = settings.database_settings(office.database, office.data_dir)
    where = wanted["HOST"] or "the local server"
    return f"the PostgreSQL database {wanted['NAME']!r} on {where}"


class OfficeConnection:
    """The office store as its code uses it: SQL through ``office.db`` on Django's
    default connection, which this object points at its own store first.

    ``execute`` / ``executemany`` take ``?`` placeholders and return rows that behave
    like ``sqlite3.Row``; ``atomic()`` is one unit of work (``BEGIN IMMEDIATE`` on SQLite,
    a savepoint when nested); ``vendor`` is ``'sqlite'`` or ``'postgresql'``. Django keeps
    one connection per thread: an object may be used from several threads.
    """

    def __init__(self, office: OfficeConfig) -> None:
        self.config = office
        with _as_our_errors():
            self._key = _settings_key(settings.database_settings(office.database,
                                                                 office.data_dir))
            self.activate()

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def activate(self) -> None:
        """Make this store Django's default database (configure Django, or switch)."""
        from django.conf import settings as django_settings

        if not django_settings.configured:
            with _as_our_errors():
                settings.configure(self.config.data_dir, self.config.database,
                                   secret_key=django_secret_key(self.config))
            return
        if _settings_key(django_settings.DATABASES["default"]) != self._key:
            with _as_our_errors():
                settings.use_database(self.config.database, self.config.data_dir)
            return
        _drop_if_broken()

    @property
    def vendor(self) -> db.Vendor:
        self.activate()
        return db.vendor()

    def execute(self, sql: str, params: db.Params = ()) -> db.Cursor:
        """Run one statement; its rows (``fetchone``, ``fetchall``, iteration), ``rowcount``."""
        self.activate()
        return db.execute(sql, params)

    def executemany(self, sql: str, seq_of_params: Iterable[db.Params]) -> db.Cursor:
        self.activate()
        return db.executemany(sql, seq_of_params)

    def one(self, sql: str, params: db.Params = ()) -> db.Row:
        """The one row a query always returns (an aggregate, a row known to exist)."""
        with self.execute(sql, params) as cursor:
            row = cursor.fetchone()
        if row is None:
            raise StoreError(f"the office store returned no row for: {sql[:60]}")
        return row

    def atomic(self) -> AbstractContextManager[None]:
        """One unit of work; a savepoint when nested (``office.db.atomic``)."""
        self.activate()
        return db.atomic()

    def close(self) -> None:
        """Close this thread's database connection (the next statement opens a new one)."""
        from django.conf import settings as django_settings
        from django.db import connection

        if (django_settings.configured and not connection.in_atomic_block
                and _settings_key(django_settings.DATABASES["default"]) == self._key):
            connection.close()


def _drop_if_broken() -> None:
    """Close this thread's connection when an error left it unusable (a PostgreSQL
    server restarted, the network dropped), so the next statement reconnects: a
    long-running ``office serve`` must not fail every message after one outage.
    Django checks this per web request; the office's own threads have no requests."""
    from django.db import connection

    if (connection.connection is not None and connection.errors_occurred
            and not connection.in_atomic_block):
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


# -- what is in the store -----------------------------------------------------------------

def _sqlite_state(path: Path) -> State:
    """What the SQLite file holds, looked at read-only (not even WAL is switched)."""
    if not path.exists():
        return "missing"
    if path.stat().st_size == 0:
        return "empty"  # a database 'init' began and never finished
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return "foreign"
    try:
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return "empty"
        django = "django_migrations" in tables and conn.execute(
            "SELECT 1 FROM django_migrations WHERE app = 'ledger' LIMIT 1").fetchone()
        if django:
            return "ours"
        legacy = "_sqlite_migrations" in tables and conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'forecourt-office' "
            "LIMIT 1").fetchone()
        return "legacy" if legacy else "foreign"
    except sqlite3.DatabaseError:  # not SQLite at all, or damaged
        return "foreign"
    finally:
        conn.close()


def _postgresql_state(conn: OfficeConnection) -> State:
    from django.db import DatabaseError

    try:
        collation = db.fetchone("SELECT datcollate FROM pg_database "
                                "WHERE datname = current_database()")
        tables = {str(r[0]) for r in db.fetchall(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    except DatabaseError as exc:
        raise StoreError(f"cannot open {describe(conn.config)}: {first_line(exc)}") from None
    if collation is not None and collation[0] not in _BYTE_COLLATIONS:
        raise StoreError(f"{describe(conn.config)} sorts text by the collation "
                         f"{collation[0]!r}; the office compares timestamps and ids as "
                         "SQLite does, by code point: create it with LOCALE 'C.UTF-8' "
                         "(or LC_COLLATE 'C') and TEMPLATE template0; nothing was changed")
    if not tables:
        return "empty"
    if "django_migrations" in tables and db.fetchone(
            "SELECT 1 FROM django_migrations WHERE app = 'ledger' LIMIT 1") is not None:
        return "ours"
    return "foreign"


def first_line(exc: BaseException) -> str:
    """An error's first line of text, or its class's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _state(conn: OfficeConnection) -> State:
    if conn.vendor == "sqlite":
        return _sqlite_state(conn.data_dir / OFFICE_DB)
    return _postgresql_state(conn)


def _foreign(office: OfficeConfig) -> StoreError:
    return StoreError(f"{describe(office)} is not a forecourt head-office database; nothing "
                      "was changed (move it aside, or name another [office] database, to "
                      "initialize a head-office in its place)")


def _not_initialized(office: OfficeConfig) -> NotInitializedError:
    where = office.data_dir if not office.database.strip() else describe(office)
    return NotInitializedError(f"no head-office store in {where}; run 'forecourt office "
                               "init' first")


# Stores (settings keys) whose migrations this process has checked.
_checked: set[tuple[str, ...]] = set()


def _migrate(conn: OfficeConnection, state: State) -> list[str]:
    """Upgrade a legacy store, apply pending migrations; the names of what was applied.

    The migration plan is looked at once per process and store: opening the store again
    costs nothing.
    """
    if conn._key in _checked and state != "legacy":
        return []
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from office.legacy import upgrade_legacy_store

    if state == "legacy":
        done = upgrade_legacy_store(conn.data_dir)
        log.info("office.store_upgraded", applied=len(done))
        _checked.add(conn._key)
        return done
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
        log.info("office.store_migrated", applied=len(pending))
    _checked.add(conn._key)
    return pending


def open_office(config: Config | OfficeConfig) -> OfficeConnection:
    """Open the office store, upgrading and migrating it when a newer forecourt brought
    changes; refused when it does not exist yet or is not a head-office store."""
    office = office_config(config)
    conn = OfficeConnection(office)
    state = _state(conn)
    if state == "missing" or (state == "empty" and conn.vendor == "postgresql"):
        raise _not_initialized(office)
    if state == "foreign":
        raise _foreign(office)
    _migrate(conn, state)
    return conn


# -- init and the office key ----------------------------------------------------------------

_HOW = ("restore office_key.pem from a backup of this office, or change the key pinned in "
        "every station's [station] office_public_key (docs/operations.md, office identity); "
        "nothing was changed")


def init_office(config: Config | OfficeConfig) -> tuple[list[str], str | None]:
    """Create the office directory (0750), store and key pair; what was created is returned:
    (the migrations applied, the new public key or None).

    The key's public half is recorded in the store when the key is made; a missing or
    foreign key next to a store that has an identity or data is refused, never made
    anew (every station pins the office key). A foreign database is never migrated.
    The web console's secret key (``secret_key``, mode 0600) is made here too, also for
    an office initialized before the console existed.
    """
    from office.access.secret import ensure_secret_key

    office = office_config(config)
    data_dir = office.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    ensure_secret_key(data_dir)
    conn = OfficeConnection(office)
    state = _state(conn)
    if state == "foreign":
        raise _foreign(office)
    existing = None  # an unsafe or invalid key file is refused before anything changes
    if (data_dir / f"{OFFICE_KEY}.pem").exists():
        existing = load_private_key(data_dir, OFFICE_KEY)
    applied = _migrate(conn, state)
    recorded = _recorded_key(conn)
    if existing is not None:
        pub = public_text(existing)
        if recorded is None:
            _record_key(conn, pub)
        elif pub != recorded:
            raise _key_mismatch(data_dir, pub, recorded)
        return applied, None
    if recorded is not None:
        raise _key_missing(data_dir, recorded)
    if conn.one("SELECT EXISTS (SELECT 1 FROM stations) OR EXISTS (SELECT 1 FROM "
                "sales) OR EXISTS (SELECT 1 FROM cm_versions)")[0]:
        raise IdentityError(f"the office key {data_dir / OFFICE_KEY}.pem is missing and "
                            f"the store in {describe(office)} already has stations, sales "
                            f"or card data; {_HOW}")
    created = create_keypair(data_dir, OFFICE_KEY)
    _record_key(conn, created or public_text(load_private_key(data_dir, OFFICE_KEY)))
    return applied, created


def _recorded_key(conn: OfficeConnection) -> str | None:
    row = conn.execute("SELECT public_key FROM office_identity WHERE id = 1").fetchone()
    return None if row is None else str(row[0])


def _record_key(conn: OfficeConnection, pub: str) -> None:
    with conn.atomic():
        conn.execute("INSERT INTO office_identity (id, public_key, recorded_at) "
                     "VALUES (1, ?, ?)", (pub, iso(utc_now())))
    log.info("office.key_recorded", public_key=pub)


def _key_missing(data_dir: Path, recorded: str) -> IdentityError:
    log.info("office.key_missing", recorded=recorded)
    return IdentityError(f"the office key {data_dir / OFFICE_KEY}.pem is missing, but this "
                         f"office's store belongs to the key {recorded}, which the stations "
                         f"pin; {_HOW}")


def _key_mismatch(data_dir: Path, pub: str, recorded: str) -> IdentityError:
    log.info("office.key_mismatch", key=pub, recorded=recorded)
    return IdentityError(f"the key {data_dir / OFFICE_KEY}.pem ({pub}) is not this office's "
                         f"key: its store was initialized with {recorded}; put the office's "
                         "own key back, or change the key pinned in every station's [station] "
                         "office_public_key (docs/operations.md, office identity); nothing "
                         "was changed")


def _stored_identity(office: OfficeConfig) -> str | None:
    """The public key the store recorded, read without changing anything; None if the
    store does not exist yet or predates the record. A foreign store is refused."""
    if not office.database.strip():
        path = office.data_dir / OFFICE_DB
        state = _sqlite_state(path)
        if state == "foreign":
            raise _foreign(office)
        if state in ("missing", "empty"):
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT public_key FROM office_identity WHERE id = 1"
                               ).fetchone()
        except sqlite3.OperationalError:  # a store from before office_identity
            return None
        finally:
            conn.close()
        return None if row is None else str(row[0])
    conn_pg = OfficeConnection(office)
    state = _postgresql_state(conn_pg)
    if state == "foreign":
        raise _foreign(office)
    return _recorded_key(conn_pg) if state == "ours" else None


def load_office_key(config: Config | OfficeConfig) -> Ed25519PrivateKey:
    """The office's signing key, refused if missing or not the one its store recorded.

    Every command that signs or opens as the office loads the key through here.
    """
    office = office_config(config)
    data_dir = office.data_dir
    recorded = _stored_identity(office)
    if recorded is not None and not (data_dir / f"{OFFICE_KEY}.pem").exists():
        raise _key_missing(data_dir, recorded)
    key = load_private_key(data_dir, OFFICE_KEY)
    if recorded is not None and public_text(key) != recorded:
        raise _key_mismatch(data_dir, public_text(key), recorded)
    return key
