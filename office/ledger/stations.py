"""The enrolled stations' keys, the count of messages refused at the boundary, and the
last sync request answered per station."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cloud_sync.wire import printable
from core.keys import parse_public_text
from office import db


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


def claim_sync_request(conn: Any, station_id: str, envelope_id: str, at: str) -> bool:
    """Record that this ``sync-request`` envelope of the station is being answered; False
    when it was the last one answered already (a replay: not to be answered again).

    Under the station's lock, so two office workers given the same envelope (a replay
    the broker handed to each) never both answer it.
    """
    with conn.atomic():
        db.lock_station(station_id)
        row = conn.execute("SELECT envelope_id FROM sync_answers WHERE station_id = ?",
                           (station_id,)).fetchone()
        if row is not None and row[0] == envelope_id:
            return False
        conn.execute("INSERT INTO sync_answers (station_id, envelope_id, answered_at) "
                     "VALUES (?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                     "envelope_id = excluded.envelope_id, answered_at = excluded.answered_at",
                     (station_id, envelope_id, at))
    return True


def lost_receipted(conn: Any, station_id: str) -> tuple[int, int] | None:
    """The seqs the station says this office receipted and the office does not hold
    contiguously (after a restore from an older backup), or None."""
    row = conn.execute("SELECT contiguous_seq, receipted_seq FROM station_chain "
                       "WHERE station_id = ?", (station_id,)).fetchone()
    if row is None or row[1] is None or int(row[1]) <= int(row[0] or 0):
        return None
    return int(row[0] or 0) + 1, int(row[1])
