"""Changes to the card master, one service for the console and the CLI.

Each change is a new card-master version (``office.cards.master``), one audit entry
(who, through which door, old -> new) committed in the same transaction, and the
version published to every station at once (when ``[mqtt]`` is on; otherwise stations
get it when they next sync). ``forecourt office cards block`` and the console's Block
button both call :func:`change_status`, so they do exactly the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import structlog

from core.config import Config
from office import db
from office.access import audit
from office.cards import master as card_master
from office.cards.master import CardMasterRefusal
from office.store import OfficeConnection, load_office_key, open_office

log = structlog.get_logger(__name__)

STATUS_ACTIONS = {"blocked": "card.block", "active": "card.unblock", "lost": "card.lost",
                  "stolen": "card.stolen", "withdrawn": "card.withdraw"}


@dataclass(frozen=True)
class Change:
    """What a change did: the version (the latest one when nothing changed), whether
    anything changed, and whether stations were told now (None: ``[mqtt]`` is off or
    nothing changed; False: the broker did not answer)."""

    version: int
    changed: bool
    published: bool | None


@dataclass(frozen=True)
class StatusChange(Change):
    """A card's status change: the card and its status before and after."""

    card_id: str
    old: str
    new: str


def _version_actor(actor: str, via: str) -> str:
    """How ``cm_versions`` names who made a version: ``cli:root``, ``console:anna``."""
    return f"{via}:{actor}"


def change_status(config: Config, card: str, status: str, *, actor: str, via: str
                  ) -> StatusChange:
    """Block (``blocked``), reactivate (``active``), or mark lost, stolen or withdrawn
    ``card`` (card id, PAN, UID or token id, however written). ``actor`` is the person
    (the console user, or the Unix user of a CLI command), ``via`` ``console`` or
    ``cli``. An unknown or replaced card is a :class:`CardMasterRefusal` (one sentence);
    a card already in that status changes nothing and is not audited."""
    if status not in STATUS_ACTIONS:
        raise ValueError(f"status must be one of {', '.join(STATUS_ACTIONS)}, not {status!r}")
    conn = open_office(config)
    with conn.atomic():
        db.lock_card_master()  # the status read here is the one set_status replaces
        before = card_master.find_card_doc(conn, card)
        old = str(before.get("status", "active")) if before else ""
        if before is not None and before.get("status") == "replaced":
            raise CardMasterRefusal(f"card {before['card_id']} was replaced by a newer card; "
                                    "change the new card instead; nothing changed")
        version, changed, card_id = card_master.set_status(
            conn, card, status, actor=_version_actor(actor, via), config=config)
        if changed:
            audit.record(actor=actor, via=via, action=STATUS_ACTIONS[status],
                         object_kind="card", object_id=card_id, old={"status": old},
                         new={"status": status}, detail=f"card master version {version}")
    if not changed:
        return StatusChange(version, False, None, card_id, old, status)
    log.info("office.card_status", card_id=card_id, old=old, new=status, version=version,
             actor=actor, via=via)
    return StatusChange(version, True, publish(config, conn, version), card_id, old, status)


def import_cards(config: Config, data: bytes, *, actor: str, via: str,
                 source: str = "") -> tuple[Change, int]:
    """Make the card master equal to a card-store document; (the change, operations)."""
    conn = open_office(config)
    with conn.atomic():
        db.lock_card_master()
        before = card_master.latest_version(conn)
        version, changes = card_master.import_file(conn, data, config=config, via=via,
                                                   actor=_version_actor(actor, via))
        if changes:
            audit.record(actor=actor, via=via, action="cards.import",
                         object_kind="card_master", object_id=str(version),
                         old={"version": before}, new={"version": version,
                                                       "operations": changes},
                         detail=source)
    if not changes:
        return Change(version, False, None), 0
    return Change(version, True, publish(config, conn, version)), changes


def reset_pin(config: Config, card: str, *, actor: str, via: str) -> tuple[str, Change]:
    """Unlock a card's PIN at every station (a PIN reset generation); (card id, change)."""
    conn = open_office(config)
    with conn.atomic():
        db.lock_card_master()
        before = card_master.find_card_doc(conn, card)
        old_pin = before.get("pin") if before else None
        old = old_pin.get("reset") if isinstance(old_pin, dict) else None
        card_id, version = card_master.pin_reset(conn, card, config=config,
                                                   actor=_version_actor(actor, via))
        audit.record(actor=actor, via=via, action="card.pin_reset", object_kind="card",
                     object_id=card_id, old={"pin_reset": old},
                     new={"pin_reset": version}, detail=f"card master version {version}")
    log.info("office.pin_reset", card_id=card_id, version=version, actor=actor, via=via)
    return card_id, Change(version, True, publish(config, conn, version))


def publish(config: Config, conn: OfficeConnection, version: int) -> bool | None:
    """Send one version to every station now; True if the broker took it, False if it
    did not answer (stations get it when they next sync), None if ``[mqtt]`` is off."""
    if not config.mqtt.enabled:
        return None
    from cloud_sync import topics
    from cloud_sync.envelope import EVERYONE, OFFICE, seal
    from cloud_sync.mqtt import MqttLink

    key = load_office_key(config)
    body: dict[str, Any] = card_master.delta_of(conn, version)
    # A one-shot publisher: no session left on the broker (MQTT 3.1.1 has no expiry).
    link = MqttLink(config=config.mqtt, client_id=f"forecourt-office-{os.getpid()}",
                    subscriptions=[], on_message=lambda _t, _p: None, persistent=False)
    link.start()
    try:
        sent = link.wait_connected(5) and link.publish(
            topics.network_cards(config.mqtt.prefix),
            seal("cards", OFFICE, EVERYONE, body, key), qos=1, timeout=5)
    finally:
        link.stop()
    return bool(sent)


__all__ = ["CardMasterRefusal", "Change", "StatusChange", "change_status", "import_cards",
           "publish", "reset_pin"]
