"""Card kinds and card statuses: the one list both sides, the formats and the config use."""

from __future__ import annotations

#: How a card is presented: an RFID tag, a magnetic stripe, a contact smart card, or a
#: digital card (a QR token signed by the office on a phone).
CARD_KINDS = ("rfid", "magstripe", "smart", "digital")
#: A card's status; only ``active`` may take fuel (docs/authorization.md).
CARD_STATUSES = ("active", "blocked", "lost", "stolen", "withdrawn", "expired", "replaced")
