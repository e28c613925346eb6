"""Which stations are enrolled and their keys, the count of messages refused at the
boundary, and the last sync request answered per station."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cloud_sync.wire import printable
from core.keys import parse_public_text
from office import db


def storable(text: str) -> bool:
    """Whether text can be a key in the store: PostgreSQL's text holds no NUL character
    (such a station id is never enrolled: enrolment takes printable ids only)."""
    return "\x00" not in text


def enrolled(conn: Any, station_id: str) -> bool:
    """Whether the station is enrolled at this office (the ingests store only for those)."""
    if not storable(station_id):
        return False
    return conn.execute("SELECT 1 FROM stations WHERE station_id = ?",
                        (station_id,)).fetchone() is not None


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


def lost_range(head: int, receipted: int | None) -> tuple[int, int] | None:
    """The seqs a station says this office receipted (``receipted``) beyond what it holds
    contiguously (``head``): lost by a restore from an older backup; None when none."""
    return None if receipted is None or receipted <= head else (head + 1, receipted)


def lost_receipted(conn: Any, station_id: str, reported: int | None = None
                   ) -> tuple[int, int] | None:
    """:func:`lost_range` of the station: against ``reported`` (what it just said), or
    against what its last status said (``station_chain.receipted_seq``)."""
    row = conn.execute("SELECT contiguous_seq, receipted_seq FROM station_chain "
                       "WHERE station_id = ?", (station_id,)).fetchone()
    head = int(row[0] or 0) if row is not None else 0
    if reported is None and row is not None and row[1] is not None:
        reported = int(row[1])
    return lost_range(head, reported)
