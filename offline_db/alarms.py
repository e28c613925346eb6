"""The station's standing alarms, kept in ``sync_state`` so that they outlive a restart.

An alarm is raised once (``alarm.raised``, a warning, with its code and sentence) and
stays active until its condition ends (``alarm.cleared``); raising it again while it is
active changes nothing but its sentence, so a check running every minute logs one event
per change, not one per minute. ``forecourt status`` lists the active ones with the
time each was raised.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import structlog

from offline_db.state import delete_state, get_state, set_state

log = structlog.get_logger(__name__)
PREFIX = "alarm:"


def raise_alarm(conn: sqlite3.Connection, code: str, message: str, *, at: str) -> bool:
    """Make alarm ``code`` active (inside the caller's transaction); True if it is new."""
    key = PREFIX + code
    old = get_state(conn, key)
    since = at
    if old is not None:
        try:
            since = str(json.loads(old)["since"])
        except (ValueError, KeyError, TypeError):
            since = at
    value = json.dumps({"since": since, "message": message}, sort_keys=True)
    if value != old:
        set_state(conn, key, value)
    if old is None:
        log.warning("alarm.raised", alarm=code, message=message, since=since)
    return old is None


def clear_alarm(conn: sqlite3.Connection, code: str) -> bool:
    """End alarm ``code`` (inside the caller's transaction); True if it was active."""
    gone = delete_state(conn, PREFIX + code)
    if gone:
        log.info("alarm.cleared", alarm=code)
    return gone


def active_alarms(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every active alarm: ``code``, ``since`` (UTC text) and ``message``, by code."""
    out = []
    for key, value in conn.execute("SELECT key, value FROM sync_state WHERE key LIKE ? "
                                   "ORDER BY key", (PREFIX + "%",)):
        try:
            body = json.loads(value)
            out.append({"code": key[len(PREFIX):], "since": str(body["since"]),
                        "message": str(body["message"])})
        except (ValueError, KeyError, TypeError):
            out.append({"code": key[len(PREFIX):], "since": None, "message": str(value)})
    return out
