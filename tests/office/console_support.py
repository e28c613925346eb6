"""Helpers of the console tests: users in groups, a logged-in client, sample data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, User
from django.test import Client

from core.timefmt import iso, utc_now
from office.cards.models import CardMasterCard, CardMasterVersion
from office.ledger.models import (
    ChainProblem,
    FlashTransfer,
    Quarantine,
    RefusedMessage,
    Sale,
    Station,
    StationChain,
    StationOnline,
)

HOST = "localhost"  # in the default ALLOWED_HOSTS (Django's test client says "testserver")
PASSWORD = "correct horse battery staple"


def client(**kwargs: Any) -> Client:
    return Client(SERVER_NAME=HOST, **kwargs)


def make_user(name: str, groups: Iterable[str] = (), *, admin: bool = False,
              password: str = PASSWORD) -> User:
    user = User.objects.create_user(name, password=password)
    user.is_superuser = admin
    user.save()
    user.groups.set([Group.objects.get(name=g) for g in groups])
    return user


def logged_in(user: User) -> Client:
    c = client()
    c.force_login(user)
    return c


def card_doc(card_id: str, *, status: str = "active", pan: str | None = None,
             rfid_uid: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"card_id": card_id, "kind": "rfid" if rfid_uid else "magstripe",
                           "status": status}
    if pan:
        doc["pan"] = pan
    if rfid_uid:
        doc["rfid_uid"] = rfid_uid
    return doc


def add_card(card_id: str, **kwargs: Any) -> None:
    """A card in the office's records and as published (its card-master document)."""
    from office.cards.records import adopt

    doc = card_doc(card_id, **kwargs)
    adopt([doc], customers=[], groups=[], vehicles=[], actor="test")
    CardMasterCard.objects.create(card_id=card_id, doc=json.dumps(doc, sort_keys=True))


def add_sale(station_id: str, seq: int, *, card_id: str = "C-1", amount: int = 101800,
             volume_ml: int = 20000, completed_at: str = "2026-11-20T10:00:00.000000Z"
             ) -> None:
    Sale.objects.create(
        station_id=station_id, seq=seq, sale_id=f"S{station_id}{seq}", card_id=card_id,
        pump=1, product="AI95", volume_ml=volume_ml, unit_price=5090, amount=amount,
        authorized_at=completed_at, completed_at=completed_at, wallet_debits="{}",
        prev_hash="0" * 64, hash=f"{seq:064d}", received_at=completed_at, via="mqtt")


def sample_network() -> None:
    """Two stations (one online with a gap, one offline), cards, sales, quarantine."""
    now = iso(utc_now())
    for sid in ("S-001", "S-002"):
        Station.objects.create(station_id=sid, public_key="ed25519:x", enrolled_at=now)
    StationChain.objects.create(station_id="S-001", contiguous_seq=2, last_seen_at=now,
                                outbox_depth=3, card_store_version=7,
                                alarms=json.dumps(["disk nearly full"]))
    StationOnline.objects.create(station_id="S-001", online=1, at=now)
    StationOnline.objects.create(station_id="S-002", online=0, at=now)
    ChainProblem.objects.create(station_id="S-001", kind="gap", first_seq=3, last_seq=4,
                                detail="missing", found_at=now)
    Quarantine.objects.create(station_id="S-001", first_seq=9, last_seq=9, reason="bad_chain",
                              detail="prev hash differs", envelope_id="e1", received_at=now,
                              payload="{}", payload_sha256="0" * 64, last_received_at=now)
    RefusedMessage.objects.create(reason="bad_signature", count=2, last_at=now,
                                  last_detail="signature does not verify")
    FlashTransfer.objects.create(at="2026-11-21T08:00:00.000000Z", direction="in",
                                 station_id="S-001", file="x.fcb", outcome="ok")
    add_card("C-1", pan="7800001234567893")
    add_card("C-2", rfid_uid="04A1B2C3D4E5F6")
    add_card("C-3", status="blocked")
    CardMasterVersion.objects.create(version=1, at=now, actor="test", ops="[]")
    add_sale("S-001", 1)
    add_sale("S-001", 2, card_id="C-2", completed_at="2026-11-21T10:00:00.000000Z")
    add_sale("S-002", 1, completed_at="2026-11-22T10:00:00.000000Z")
