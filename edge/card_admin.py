"""The card store's administration at the station: importing a card-store file and
forgetting a card's wrong PINs, each audited (``forecourt cards import``,
``forecourt cards pin-reset``); and the one check of a PIN."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from core.config import Config
from core.errors import CardStoreFormatError, CardStoreTimeError, ForecourtError
from core.formats.snapshot import load_snapshot_file, parse_pin
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.state import audit, get_state

log = structlog.get_logger(__name__)


def pin_matches(pin: str, rule: dict[str, Any], card_id: str = "") -> bool:
    """Whether ``pin`` is the card's PIN; a rule outside the documented PBKDF2 range (one
    stored before the range existed) is refused, never run (issue 10 #4)."""
    rule = parse_pin(rule, f"card {card_id} pin" if card_id else "pin")
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(rule["salt"]),
                                 int(rule["iterations"]))
    return hmac.compare_digest(digest.hex(), rule["hash"])


class CardStoreVersionError(ForecourtError):
    """A card store older than the one applied was offered (no rollback)."""

    code = "card_store_rollback"


class UnknownCardError(ForecourtError):
    """An administrative command named a card the card store does not hold."""

    code = "unknown_card"


def import_cards(conn: sqlite3.Connection, config: Config, path: Path, *, actor: str,
                 now: datetime) -> dict[str, Any]:
    """Replace the card store with the snapshot in ``path`` (never an older version)."""
    try:
        snap = load_snapshot_file(path)
    except CardStoreFormatError as exc:
        log.info("cards.import_refused", file=str(path), code=exc.code, error=str(exc))
        raise
    current = get_state(conn, "card_store_version")
    if current is not None and snap.version < int(current):
        raise CardStoreVersionError(
            f"{path} holds card-store version {snap.version}, older than the version "
            f"{current} already applied; refusing to roll back")
    try:
        with atomic(conn):
            summary = store.import_snapshot(conn, snap, station_id=config.station.id, now=now,
                                            skew_s=config.offline.max_clock_skew_s)
            audit(conn, actor, "cards.import", file=str(path), version=snap.version,
                  cards=summary.cards)
    except CardStoreTimeError as exc:
        log.warning("cards.import_refused", file=str(path), version=snap.version,
                    code=exc.code, error=str(exc))
        raise
    log.info("cards.imported", version=snap.version, cards=summary.cards,
             previous_version=summary.previous_version)
    return asdict(summary)


def pin_reset(conn: sqlite3.Connection, card: str, *, actor: str) -> dict[str, Any]:
    """Forget a card's wrong PINs at this station (an administrator unlocks it; audited).

    The network-wide way is the head office's PIN reset, which travels in the card
    data (``pin.reset``); this is for the station that cannot wait for it.
    """
    with atomic(conn):
        row = store.find_card(conn, card)
        if row is None:
            raise UnknownCardError(f"card {card} is not in the card store; nothing changed")
        card_id = row["card_id"]
        cleared = store.clear_pin_failures(conn, card_id)
        audit(conn, actor, "cards.pin_reset", card_id=card_id, failures=cleared)
    log.info("cards.pin_reset", card_id=card_id, failures_cleared=cleared, actor=actor)
    return {"card_id": card_id, "failures_cleared": cleared}
