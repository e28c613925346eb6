"""Batches and bundles refused whole: kept in ``quarantine`` with their reason.

A refused batch is stored as its payload (canonical JSON, or its repr when it cannot be
encoded), once per station, payload and reason: the same batch sent again only counts
a repeat. A refusal that names a chain problem (a fork, a bad chain) also opens it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from office.ledger.chain import problem
from office.ledger.sale_checks import Refused, is_int
from office.ledger.stations import storable
from office.store import OfficeConnection


def quarantine(conn: OfficeConnection, body: Any, refused: Refused, *, envelope_id: str,
               at: str, station_id: str | None = None) -> None:
    """Keep the refused ``body`` (a batch, or a bundle's summary of its refusal) with
    ``refused``'s reason and detail, and open the chain problem it names, if any."""
    if station_id is None:
        named = body.get("station_id") if isinstance(body, dict) else None
        station_id = named if isinstance(named, str) else None
    if station_id is not None and not storable(station_id):
        station_id = None  # kept in the payload; no station has such an id
    first = body.get("first_seq") if isinstance(body, dict) else None
    last = body.get("last_seq") if isinstance(body, dict) else None
    first = first if is_int(first) else None
    last = last if is_int(last) else None
    try:
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                             default=repr)
    except (ValueError, TypeError, RecursionError):
        payload = repr(body)
    digest = hashlib.sha256(payload.encode()).hexdigest()
    seen = conn.execute(
        "SELECT id FROM quarantine WHERE station_id IS NOT DISTINCT FROM ? AND "
        "payload_sha256 = ? AND reason = ?",
        (station_id, digest, refused.reason)).fetchone()
    if seen is not None:  # the same batch sent again: count it, keep one copy
        conn.execute("UPDATE quarantine SET repeats = repeats + 1, last_received_at = ? "
                     "WHERE id = ?", (at, seen[0]))
    else:
        conn.execute(
            "INSERT INTO quarantine (station_id, first_seq, last_seq, reason, detail, "
            "envelope_id, received_at, payload, payload_sha256, last_received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (station_id, first, last, refused.reason, refused.detail, envelope_id, at, payload,
             digest, at))
    if refused.problem is not None and station_id is not None:
        kind, p_first, p_last = refused.problem
        problem(conn, station_id, kind, p_first, p_last, detail=refused.detail, at=at)
