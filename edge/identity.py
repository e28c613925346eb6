"""The station's identity: its Ed25519 key, recorded in its database at first init.

The head office knows a station by the public key it enrolled, and the station's
journal is one chain signed with that key. A new key is a new station to the office,
so the key is never made anew next to a database that already has an identity or
sales: ``forecourt init`` records the public key in ``sync_state``
(``station_public_key``), and every command that loads the private key checks it
against that record. A missing or foreign key is refused with one sentence that
says how to restore it or re-enrol (docs/operations.md, station identity).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import IdentityError
from edge.keys import PRIVATE_NAME, create_keypair, load_private_key, public_text
from offline_db.connection import atomic
from offline_db.state import audit, get_state, set_state

# Refusals are logged at info: the CLI prints the sentence itself (stderr shows only
# warnings and errors), while the daemon's log keeps the event.
log = structlog.get_logger(__name__)

KEY_STATE = "station_public_key"
_HOW = ("restore station_key.pem from a backup of this station, or re-enrol it "
        "(docs/operations.md, station identity); nothing was changed")


def recorded_key(conn: sqlite3.Connection) -> str | None:
    """The public key the station's database was initialized with (None: not recorded)."""
    return get_state(conn, KEY_STATE)


def _has_history(conn: sqlite3.Connection) -> bool:
    """Whether the database is more than a fresh ``init``: sales, decisions, a card store."""
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM journal) OR EXISTS (SELECT 1 FROM authorizations) "
        "OR EXISTS (SELECT 1 FROM sync_state WHERE key NOT IN ('journal_head', ?))",
        (KEY_STATE,)).fetchone()[0])


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


def load_station_key(data_dir: Path, conn: sqlite3.Connection, *,
                     record: bool = False) -> Ed25519PrivateKey:
    """The station's private key, refused if missing or not the one its database recorded.

    A database from before the key was recorded only loads it, unless ``record`` (the
    daemon's start, the one writer) records it there once, audited.
    """
    recorded = recorded_key(conn)
    if recorded is not None and not (data_dir / PRIVATE_NAME).exists():
        log.info("station.key_missing", key_file=str(data_dir / PRIVATE_NAME),
                 recorded=recorded)
        raise _missing(data_dir, recorded)
    key = load_private_key(data_dir)
    if recorded is not None:
        _check(data_dir, key, recorded)
    elif record:
        _record(conn, public_text(key), "station.key_recorded")
    return key


def _record(conn: sqlite3.Connection, pub: str, action: str) -> None:
    with atomic(conn):
        set_state(conn, KEY_STATE, pub)
        audit(conn, "forecourt", action, public_key=pub)
    log.info(action, public_key=pub)


def establish(data_dir: Path, conn: sqlite3.Connection) -> tuple[str, str]:
    """At ``forecourt init``: the station's public key and what was done about it.

    ``created`` (a new station: key pair made and recorded), ``recorded`` (a key from
    before, now recorded) or ``unchanged``. Refuses, changing nothing, a key that is
    not the recorded one and a missing key next to a recorded identity or history.
    """
    recorded = recorded_key(conn)
    if (data_dir / PRIVATE_NAME).exists():
        key = load_private_key(data_dir)
        if recorded is not None:
            _check(data_dir, key, recorded)
            return recorded, "unchanged"
        pub = public_text(key)
        _record(conn, pub, "station.key_recorded")
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
    _record(conn, pub, "station.key_created")
    return pub, "created"
