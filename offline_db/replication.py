"""Applying the head office's card-store messages to the station's store.

A ``cards`` body (docs/mqtt.md) arrives by MQTT or in a flash-drive reply; both
apply it here, in order, atomically, never to an older version. The message formats
are ``core.formats``; freshness is ``core.freshness``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from core.config import Config
from core.errors import CardStoreFormatError, CardStoreTimeError, ForecourtError
from core.freshness import check_generated_at, fresh_as_of, parse_time, trusted_mark
from core.timefmt import iso, parse_iso
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.state import get_state


class Replica(Protocol):
    """What applying a message needs of the station: its store, config and clock, and a
    hook to call after card data changed (the station drops its cached card views)."""

    conn: sqlite3.Connection
    config: Config
    clock: Callable[[], datetime]

    def card_data_changed(self) -> None: ...


class CardsUpdate:
    """Outcome of applying a card-store message from the head office."""

    def __init__(self, outcome: str, version: int | None, detail: str = "") -> None:
        self.outcome = outcome  # applied, confirmed, ignored, need_sync, refused
        self.version = version
        self.detail = detail


def apply_cards_message(station: Replica, body: dict[str, Any], *,
                        vouched_at: datetime | None = None) -> CardsUpdate:
    """Apply a signed ``cards`` body: in order, atomically, never an older version.

    ``mode`` is ``delta`` (``from_version`` -> ``to_version`` with ``ops``) or
    ``snapshot`` (a whole card-store document). A message past its ``expires_at`` is
    refused; a delta that does not start at our version asks for a sync; one that
    ends at our version only confirms our data is fresh. The data counts as fresh
    as of ``vouched_at`` (when the office made the message; a flash-drive reply may be
    days old) or, by default, now, and never later than the station's clock; that
    moment never moves back, unless the mark held lies ahead of the clock by more
    than ``[offline] max_clock_skew`` (core.freshness: then it is not trusted).
    """
    from core.bounds import MAX_VERSION
    from core.formats.deltas import parse_ops
    from core.formats.snapshot import parse_snapshot
    from offline_db.deltas import apply_ops
    from offline_db.refs import check_delta_products
    from offline_db.state import set_state

    conn = station.conn
    now = station.clock()
    skew_s = station.config.offline.max_clock_skew_s
    confirmed_at = _confirmed_mark(conn, fresh_as_of(vouched_at, now), now=now, skew_s=skew_s)
    confirmed = iso(confirmed_at)
    current_text = get_state(conn, "card_store_version")
    current = int(current_text) if current_text is not None else -1
    try:
        # Made in the future: replayed, it would mark the data fresh "now" until it expires.
        check_generated_at(vouched_at, now=now, skew_s=skew_s,
                           what="the message's creation time")
        if parse_time(body.get("expires_at"), "the message's expires_at") <= now:
            return CardsUpdate("refused", current, "the message has expired (expires_at "
                               f"{body['expires_at']})")
    except CardStoreTimeError as exc:
        return CardsUpdate("refused", current, str(exc))
    mode = body.get("mode")
    if mode == "usage":
        try:
            ops = parse_ops(body.get("ops"))
            if any(op != "usage" for op, _ in ops):
                raise CardStoreFormatError("a usage message carries only usage operations")
        except ForecourtError as exc:
            return CardsUpdate("refused", current, str(exc))
        with atomic(conn):
            apply_ops(conn, ops, station_id=station.config.station.id)
        return CardsUpdate("usage", current, f"{len(ops)} cards")
    if mode == "snapshot":
        try:
            snap = parse_snapshot(json.dumps(body.get("snapshot")))
        except ForecourtError as exc:
            return CardsUpdate("refused", current, str(exc))
        if snap.version < current:
            return CardsUpdate("ignored", current, f"snapshot {snap.version} is older")
        try:
            with atomic(conn):
                store.import_snapshot(conn, snap, station_id=station.config.station.id,
                                      now=now, skew_s=skew_s)
                # Fresh as of the message, but never before the snapshot was made.
                made = fresh_as_of(snap.generated_at, now)
                set_state(conn, "card_store_confirmed_at", iso(min(made, confirmed_at)))
        except CardStoreTimeError as exc:
            return CardsUpdate("refused", current, str(exc))
        finally:
            station.card_data_changed()
        return CardsUpdate("applied", snap.version)
    first, last = body.get("from_version"), body.get("to_version")
    if mode != "delta" or not isinstance(first, int) or not isinstance(last, int) \
            or isinstance(first, bool) or isinstance(last, bool) or last < first:
        return CardsUpdate("refused", current, "not a card-store delta")
    if not 0 <= first <= last <= MAX_VERSION:
        return CardsUpdate("refused", current, f"a delta's versions must lie in 0..{MAX_VERSION}")
    if last < current or (last == current and first < current):
        return CardsUpdate("ignored", current, f"version {last} is older than ours")
    if first != current:
        return CardsUpdate("need_sync", current, f"delta starts at {first}, we have {current}")
    try:
        ops = parse_ops(body.get("ops"))
        check_delta_products(conn, ops)
    except ForecourtError as exc:
        return CardsUpdate("refused", current, str(exc))
    try:
        with atomic(conn):
            apply_ops(conn, ops, station_id=station.config.station.id)
            set_state(conn, "card_store_version", str(last))
            set_state(conn, "card_store_confirmed_at", confirmed)
            # The office's master carries no expiry of its own: its word (this delta or
            # heartbeat, itself valid until its expires_at) replaces a file's expires_at.
            set_state(conn, "card_store_expires_at", "")
    except CardStoreFormatError as exc:  # an identifier another card holds: nothing changed
        return CardsUpdate("refused", current, str(exc))
    finally:
        station.card_data_changed()
    return CardsUpdate("confirmed" if first == last else "applied", last)


def _confirmed_mark(conn: sqlite3.Connection, new: datetime, *, now: datetime,
                    skew_s: int) -> datetime:
    """The later of ``new`` and the mark held, if that one can be trusted at all."""
    was_text = get_state(conn, "card_store_confirmed_at")
    was = trusted_mark(parse_iso(was_text) if was_text else None, now=now, skew_s=skew_s)
    return max(new, was) if was is not None else new
