"""The enrolled stations' keys and the count of messages refused at the boundary."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cloud_sync.wire import printable
from core.keys import parse_public_text


def enrolled_key(conn: Any, station_id: str) -> Ed25519PublicKey | None:
    """The public key the station was enrolled with, or None if it is not enrolled."""
    row = conn.execute("SELECT public_key FROM stations WHERE station_id = ?",
                       (station_id,)).fetchone()
    return parse_public_text(row[0]) if row is not None else None


def count_refusal(conn: Any, reason: str, detail: str, at: str) -> None:
    """Count one message or bundle refused at the boundary (``refused_messages``).

    ``forecourt office stations`` shows the counts by reason with the last detail.
    """
    with conn.atomic():
        conn.execute(
            "INSERT INTO refused_messages VALUES (?, 1, ?, ?) ON CONFLICT (reason) "
            "DO UPDATE SET count = refused_messages.count + 1, last_at = excluded.last_at, "
            "last_detail = excluded.last_detail", (reason, at, printable(detail)))


def contiguous_head(conn: Any, station_id: str) -> int:
    """The highest seq such that the office holds 1..seq of the station (0: none)."""
    row = conn.execute("SELECT contiguous_seq FROM station_chain WHERE station_id = ?",
                       (station_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0
