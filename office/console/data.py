"""What the console's pages show, read from the office store.

The stations page shows what ``forecourt office stations`` prints, through the same
query (``office.ledger.queries.station_overview``) plus the same online, alarm and flash
columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max

from core.display import Currency, litres
from office.cards import master as card_master
from office.console import runtime
from office.ledger.models import FlashTransfer, RefusedMessage, StationChain, StationOnline
from office.store import OfficeConnection, open_office


def currency() -> Currency:
    """The office's currency and its decimals (``[station] currency``, as the CLI)."""
    options = settings.OFFICE_CONSOLE
    return Currency(options.currency, options.currency_decimals)


def money(minor: int) -> str:
    return currency().money(minor)


def money_decimal(minor: int) -> Decimal:
    """Minor units as an exact Decimal in the currency's unit (for exports)."""
    return Decimal(minor).scaleb(-currency().decimals)


def volume(ml: int) -> str:
    return litres(ml)


def store() -> OfficeConnection:
    """The office store the console serves (``office.store``'s way in)."""
    return open_office(runtime.config())


def find_card_id(identifier: str) -> str | None:
    """The card id of a card id, PAN, UID or token id however written, as the CLI finds
    it (``office.cards.master.find_card_id``)."""
    return card_master.find_card_id(store(), identifier)


def stations() -> list[dict[str, Any]]:
    """One row per enrolled station, as ``forecourt office stations --json`` has it."""
    from office.ledger.queries import station_overview

    rows = station_overview(store())
    online = {o.station_id: (bool(o.online), o.at) for o in StationOnline.objects.all()}
    alarms = {c.station_id: (json.loads(c.alarms) if c.alarms else [])
              for c in StationChain.objects.all()}
    last_flash = {r["station_id"]: r["last"] for r in FlashTransfer.objects.filter(
        direction="in").values("station_id").annotate(last=Max("at"))}
    for row in rows:
        row["online"], row["online_reported_at"] = online.get(row["station_id"], (None, None))
        row["alarms"] = alarms.get(row["station_id"], [])
        row["last_flash"] = last_flash.get(row["station_id"])
    return rows


def refused() -> Iterator[RefusedMessage]:
    return iter(RefusedMessage.objects.order_by("reason"))
