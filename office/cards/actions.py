"""Changes to cards, one service for the console and the CLI.

Each change is a new card-master version published to every station at once (when
``[mqtt]`` is on; otherwise stations get it when they next sync), and one audit entry
(who, through which door, old -> new), committed with the version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import transaction

from core import identifiers
from core.config import Config
from core.timefmt import iso, utc_now
from office.access import audit
from office.cards.master import CardMasterRefusal
from office.cards.models import CardMasterCard, CardMasterVersion

log = structlog.get_logger(__name__)

STATUS_ACTIONS = {"blocked": "card.block", "active": "card.unblock"}


@dataclass(frozen=True)
class StatusChange:
    """What :func:`change_status` did: the card, its status before and after, the
    version (the latest one when nothing changed) and whether stations were told now
    (None: ``[mqtt]`` is off)."""

    card_id: str
    old: str
    new: str
    version: int
    changed: bool
    published: bool | None


def find_card_id(identifier: str) -> str | None:
    """The card id of the master's card whose card id, PAN, RFID UID or token id is
    ``identifier``, written in any of its forms (as ``card_master.find_card_id``).

    The documents are stored as ``json.dumps(doc, sort_keys=True)``, so a field and its
    value appear as ``"pan": "7800..."`` in the text on both databases.
    """
    for column, value in identifiers.lookups(identifier):
        if column == "card_id":
            found = CardMasterCard.objects.filter(card_id=value).values_list(
                "card_id", flat=True).first()
        else:
            needle = json.dumps({column: value})[1:-1]
            query = (CardMasterCard.objects.filter(doc__icontains=needle)
                     if column == "rfid_uid" else
                     CardMasterCard.objects.filter(doc__contains=needle))
            found = None
            for candidate in query[:20]:
                got = json.loads(candidate.doc).get(column)
                if isinstance(got, str) and (
                        got.upper() if column == "rfid_uid" else got) == value:
                    found = candidate.card_id
                    break
        if found is not None:
            return str(found)
    return None


def _latest_version() -> int:
    latest = CardMasterVersion.objects.order_by("-version").values_list(
        "version", flat=True).first()
    return int(latest or 0)


def _set_status(card: str, status: str, actor: str) -> tuple[int, bool, str, str]:
    """(version, changed, card id, old status); inside the caller's transaction."""
    card_id = find_card_id(card)
    if card_id is None:
        raise CardMasterRefusal(f"card {card} is not in the card master; nothing changed")
    row = CardMasterCard.objects.select_for_update().get(card_id=card_id)
    doc: dict[str, Any] = json.loads(row.doc)
    old = str(doc.get("status", "active"))
    if old == status:
        return _latest_version(), False, card_id, old
    doc["status"] = status
    row.doc = json.dumps(doc, sort_keys=True)
    row.save(update_fields=["doc"])
    version = _latest_version() + 1
    CardMasterVersion.objects.create(
        version=version, at=iso(utc_now()), actor=actor,
        ops=json.dumps([{"op": "card", "card": doc}], separators=(",", ":")))
    return version, True, card_id, old


def change_status(config: Config, card: str, status: str, *, actor: str, via: str
                  ) -> StatusChange:
    """Block (``blocked``) or reactivate (``active``) ``card`` (any identifier).

    ``actor`` is the person (console user name, or the Unix user for the CLI), ``via``
    ``console`` or ``cli``. Refused with :class:`CardMasterRefusal` (one sentence) for
    an unknown card. A card already in that status changes nothing and is not audited.
    """
    if status not in STATUS_ACTIONS:
        raise ValueError(f"status must be one of {', '.join(STATUS_ACTIONS)}, not {status!r}")
    with transaction.atomic():
        version, changed, card_id, old = _set_status(card, status, f"{via}:{actor}")
        if changed:
            audit.record(actor=actor, via=via, action=STATUS_ACTIONS[status],
                         object_kind="card", object_id=card_id, old={"status": old},
                         new={"status": status}, detail=f"card master version {version}")
    if not changed:
        return StatusChange(card_id, old, status, version, False, None)
    log.info("office.card_status", card_id=card_id, old=old, new=status, version=version,
             actor=actor, via=via)
    return StatusChange(card_id, old, status, version, True, publish(config, version))


def delta_of(version: int) -> dict[str, Any]:
    """The ``cards`` body of one version, as ``card_master.delta_of`` makes it."""
    from office.cards.master import MESSAGE_VALID

    row = CardMasterVersion.objects.filter(version=version).first()
    return {"mode": "delta", "from_version": version - 1, "to_version": version,
            "ops": json.loads(row.ops) if row else [],
            "expires_at": iso(utc_now() + MESSAGE_VALID)}


def publish(config: Config, version: int) -> bool | None:
    """Send one version to every station now; True if the broker took it, False if it
    did not answer (stations get it when they next sync), None if ``[mqtt]`` is off."""
    if not config.mqtt.enabled:
        return None
    from cloud_sync import topics
    from cloud_sync.envelope import EVERYONE, OFFICE, seal
    from cloud_sync.mqtt import MqttLink
    from office.ledger.store import load_office_key

    key = load_office_key(config.office.data_dir)
    body = delta_of(version)
    link = MqttLink(config=config.mqtt, client_id=f"forecourt-office-{os.getpid()}",
                    subscriptions=[], on_message=lambda _t, _p: None)
    link.start()
    try:
        sent = link.wait_connected(5) and link.publish(
            topics.network_cards(config.mqtt.prefix),
            seal("cards", OFFICE, EVERYONE, body, key), qos=1, timeout=5)
    finally:
        link.stop()
    return bool(sent)
