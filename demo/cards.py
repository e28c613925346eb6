"""The demo's card set: one customer, four cards of three kinds, and what each presents.

A fleet customer holds a magnetic-stripe card (swiped at pump 1), a contactless card
(an NFC Type 2 tag whose NDEF record carries the card number, read at pump 2) and two
digital cards (a phone's QR code, one scanned at each pump; a token is used once, so
the office issues a new one for every sale). No limits: the demo shows the flow, not
the refusals (``scripts/tour.sh`` shows those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from drivers.readers.nfc import card_ndef

#: Products and prices (minor units per litre), nozzle 1 first on both pumps.
PRODUCTS = (("AI92", "AI-92", 5090), ("AI95", "AI-95", 5299), ("DT", "Diesel", 6350))
NOZZLES = tuple(code for code, _name, _price in PRODUCTS)
CUSTOMER = ("C-DEMO", "Demo Haulage Ltd")
#: The contactless card's tag: a 7-byte UID (not NXP's 0x04 prefix, which the
#: emulator does not play), recorded as the card's rfid_uid so the station checks it.
TAG_UID = bytes.fromhex("3A5D0E11C0FFEE")


def luhn(digits: str) -> str:
    """``digits`` with its Luhn check digit appended (a PAN as printed on a card)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


SWIPE_CARD = luhn("780000555000001")
NFC_CARD = luhn("780000555000002")
QR_CARDS = {1: luhn("780000555000003"), 2: luhn("780000555000004")}


@dataclass(frozen=True)
class Kind:
    """A way of presenting a card: its reader name in the config and how to say it."""

    name: str  # magstripe, nfc, qr
    label: str


MAGSTRIPE = Kind("magstripe", "magstripe swipe")
NFC = Kind("nfc", "NFC tag")
QR = Kind("qr", "QR token")


def card_for(kind: Kind, pump: int) -> str:
    return {"magstripe": SWIPE_CARD, "nfc": NFC_CARD}.get(kind.name) or QR_CARDS[pump]


def swipe_text(pan: str, expires: date) -> str:
    """Tracks 1 and 2 of the card as a serial stripe reader sends them (ISO/IEC 7813)."""
    yymm = expires.strftime("%y%m")
    return (f"%B{pan}^HAULAGE/DEMO^{yymm}101{'0' * 19}?"
            f";{pan}={yymm}101{'0' * 13}?")


def tag_ndef() -> bytes:
    """The NDEF message on the contactless card: its number, as personalisation writes it."""
    return card_ndef(NFC_CARD)


def card_expiry(today: date) -> date:
    """Three years ahead, at the end of that month's year (cards expire on 31 December)."""
    return date(today.year + 3, 12, 31)


def card_store(today: date) -> dict[str, Any]:
    """The card-store snapshot both the office and the station import."""
    expires = card_expiry(today).isoformat()
    customer_id = CUSTOMER[0]
    cards: list[dict[str, Any]] = [
        {"card_id": SWIPE_CARD, "kind": "magstripe", "status": "active", "pan": SWIPE_CARD,
         "expires": expires, "customer_id": customer_id},
        {"card_id": NFC_CARD, "kind": "rfid", "status": "active",
         "rfid_uid": TAG_UID.hex().upper(), "customer_id": customer_id},
    ]
    for pump, card in sorted(QR_CARDS.items()):
        cards.append({"card_id": card, "kind": "digital", "status": "active",
                      "token_id": f"T-DEMO-{pump}", "customer_id": customer_id})
    return {"format": "forecourt-card-store", "version": 1,
            "comment": "forecourt demo: one fleet customer, four cards of three kinds",
            "products": [{"code": c, "name": n, "unit_price": p} for c, n, p in PRODUCTS],
            "customer_groups": [],
            "customers": [{"customer_id": customer_id, "name": CUSTOMER[1]}],
            "vehicles": [], "cards": cards, "stop_list": []}


def write_card_store(path: Path, today: date) -> None:
    path.write_text(json.dumps(card_store(today), indent=2) + "\n", encoding="utf-8")
