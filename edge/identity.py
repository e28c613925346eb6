"""The station's identity: its Ed25519 key, recorded in its database at first init.

The head office knows a station by the public key it enrolled, and the station's
journal is one chain signed with that key. A new key is a new station to the office,
so the key is never made anew next to a database that already has an identity or
sales: ``forecourt init`` records the public key and ``[station] id`` in
``sync_state`` (``station_public_key``, ``station_id``), and every command that loads
the private key checks both against that record. A missing or foreign key is refused
with one sentence that says how to restore it or re-enrol (docs/operations.md,
station identity).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import IdentityError
from core.keys import PRIVATE_NAME, create_keypair, load_private_key, public_text
from offline_db.connection import atomic
from offline_db.state import audit, get_state, set_state
from offline_db.store import DB_NAME

# Refusals are logged at info: the CLI prints the sentence itself (stderr shows only
# warnings and errors), while the daemon's log keeps the event.
log = structlog.get_logger(__name__)

KEY_STATE = "station_public_key"
ID_STATE = "station_id"
_HOW = ("restore station_key.pem from a backup of this station, or re-enrol it "
        "(docs/operations.md, station identity); nothing was changed")


def recorded_key(conn: sqlite3.Connection) -> str | None:
    """The public key the station's database was initialized with (None: not recorded)."""
    return get_state(conn, KEY_STATE)


def _has_history(conn: sqlite3.Connection) -> bool:
    """Whether the database is more than a fresh ``init``: sales, decisions, a card store."""
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM journal) OR EXISTS (SELECT 1 FROM authorizations) "
        "OR EXISTS (SELECT 1 FROM sync_state WHERE key NOT IN ('journal_head', ?, ?))",
        (KEY_STATE, ID_STATE)).fetchone()[0])


def check_station_id(conn: sqlite3.Connection, station_id: str) -> None:
    """Refuse a configuration whose ``[station] id`` is not the one the database recorded.

    Every journal row and every message carries the id; sales of one database under
    two ids would be a gap in one chain at the office and a stranger's in the other.
    """
    recorded = get_state(conn, ID_STATE)
    if recorded is not None and recorded != station_id:
        log.info("station.id_mismatch", configured=station_id, recorded=recorded)
        raise IdentityError(f"[station] id is {station_id}, but this database belongs to "
                            f"station {recorded}; set [station] id = \"{recorded}\" again, "
                            "or re-enrol (docs/operations.md, station identity); nothing "
                            "was changed")


def refuse_orphan_key(data_dir: Path) -> None:
    """At ``init``: a key without its database is a station that lost its journal.

    A fresh database under that key would restart at seq 1, a fork to the office.
    """
    db = data_dir / DB_NAME
    if (data_dir / PRIVATE_NAME).exists() and (not db.exists() or db.stat().st_size == 0):
        log.info("station.database_missing", key_file=str(data_dir / PRIVATE_NAME))
        raise IdentityError(f"the station key {data_dir / PRIVATE_NAME} exists but its "
                            f"database {db} does not; restore station.db from a backup of "
                            "this station, or move the key aside to start a new station "
                            "and re-enrol (docs/operations.md, station identity); nothing "
                            "was changed")


def _missing(data_dir: Path, recorded: str) -> IdentityError:
    return IdentityError(f"the station key {data_dir / PRIVATE_NAME} is missing, but this "
                         f"station's database belongs to the key {recorded}; {_HOW}")


def _check(data_dir: Path, key: Ed25519PrivateKey, recorded: str) -> None:
    pub = public_text(key)
    if pub != recorded:
        log.info("station.key_mismatch", key_file=str(data_dir / PRIVATE_NAME),
                  key=pub, recorded=recorded)
        raise IdentityError(f"the key {data_dir / PRIVATE_NAME} ({pub}) is not this "
                            f"station's key: its database was initialized with {recorded}; "
                            "put the station's own key back, or re-enrol the station "
                            "(docs/operations.md, station identity); nothing was changed")


def load_station_key(data_dir: Path, conn: sqlite3.Connection, station_id: str, *,
                     record: bool = False) -> Ed25519PrivateKey:
    """The station's private key, refused if missing or not the one its database recorded,
    and refused with a ``station_id`` that is not the recorded one.

    A database from before the key was recorded only loads it, unless ``record`` (the
    daemon's start, the one writer) records key and id there once, audited.
    """
    check_station_id(conn, station_id)
    recorded = recorded_key(conn)
    if recorded is not None and not (data_dir / PRIVATE_NAME).exists():
        log.info("station.key_missing", key_file=str(data_dir / PRIVATE_NAME),
                 recorded=recorded)
        raise _missing(data_dir, recorded)
    key = load_private_key(data_dir)
    if recorded is not None:
        _check(data_dir, key, recorded)
    elif record:
        _record(conn, public_text(key), station_id, "station.key_recorded")
    return key


def _record(conn: sqlite3.Connection, pub: str, station_id: str, action: str) -> None:
    with atomic(conn):
        set_state(conn, KEY_STATE, pub)
        if get_state(conn, ID_STATE) is None:
            set_state(conn, ID_STATE, station_id)
        audit(conn, "forecourt", action, public_key=pub, station_id=station_id)
    log.info(action, public_key=pub, station_id=station_id)


def establish(data_dir: Path, conn: sqlite3.Connection, station_id: str) -> tuple[str, str]:
    """At ``forecourt init``: the station's public key and what was done about it.

    ``created`` (a new station: key pair made, key and id recorded), ``recorded`` (a
    key from before, now recorded) or ``unchanged``. Refuses, changing nothing, a key
    that is not the recorded one, another station id, and a missing key next to a
    recorded identity or history.
    """
    check_station_id(conn, station_id)
    recorded = recorded_key(conn)
    if (data_dir / PRIVATE_NAME).exists():
        key = load_private_key(data_dir)
        if recorded is not None:
            _check(data_dir, key, recorded)
            return recorded, "unchanged"
        pub = public_text(key)
        _record(conn, pub, station_id, "station.key_recorded")
        return pub, "recorded"
    if recorded is not None:
        log.info("station.key_missing", key_file=str(data_dir / PRIVATE_NAME),
                 recorded=recorded)
        raise _missing(data_dir, recorded)
    if _has_history(conn):
        log.info("station.key_missing", key_file=str(data_dir / PRIVATE_NAME), recorded=None)
        raise IdentityError(f"the station key {data_dir / PRIVATE_NAME} is missing and the "
                            f"database in {data_dir} already holds sales or a card store; "
                            f"{_HOW}")
    pub = create_keypair(data_dir) or public_text(load_private_key(data_dir))
    _record(conn, pub, station_id, "station.key_created")
    return pub, "created"
