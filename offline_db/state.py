"""Key/value sync state (card-store version, freshness, last receipt) and the audit log."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from core.timefmt import iso, utc_now


def get_state(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return str(row["value"]) if row else default


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def delete_state(conn: sqlite3.Connection, key: str) -> bool:
    """Forget ``key``; True if it was there."""
    return bool(conn.execute("DELETE FROM sync_state WHERE key = ?", (key,)).rowcount)


def audit(conn: sqlite3.Connection, actor: str, action: str, **details: Any) -> None:
    """Record who did what, when (in the caller's transaction)."""
    conn.execute("INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
                 (iso(utc_now()), actor, action, json.dumps(details, sort_keys=True,
                                                            default=str)))
