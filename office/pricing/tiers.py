"""The monthly tier recomputation (``[office_jobs] tiers_at``, on the 1st).

A card's tier for a calendar month comes from its volume in the month before, network
wide, in the ``[station] timezone`` (docs/pricing.md); every station works it out itself
from the last month's consumption the office sent it with the card's usage. A station
that missed a usage update (offline when the card sold elsewhere) would price the whole
month with a tier from an incomplete month, so on the 1st the office

* records every card's tier for the new month (``card_tiers``: month, tier, the last
  month's volume), for the console, the reports and the record; and
* sends every station the usage of every card (``usage`` operations, 500 cards a
  message: the same figures as after a sale, with the month before complete), so each
  station prices the month with the tier recorded here.

Only while a pricing document is in force (before it, sales earn no points and no card
has a tier). Running it again for the same month replaces that month's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction

from core.config import Config
from core.rules.pricing import tier_of
from core.timefmt import iso, utc_now
from office.cards.usage import usage_ops
from office.pricing.models import CardTier
from office.store import OfficeConnection

log = structlog.get_logger(__name__)
CHUNK = 500


@dataclass(frozen=True)
class Tiers:
    month: str
    cards: int
    by_tier: dict[str, int] = field(default_factory=dict)
    messages: int = 0


def recompute_tiers(conn: OfficeConnection, config: Config, now: datetime, *,
                    publish: Callable[[list[dict[str, Any]]], Any] | None = None) -> Tiers:
    """Every card's tier for the month of ``now`` (local), recorded; usage published."""
    from office.pricing.rules import in_force, latest, rules_of

    today = now.astimezone(config.station.tz).date()
    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1).isoformat()
    newest = latest()
    if not in_force() or newest is None:
        log.info("tiers.skipped", month=month.isoformat(), reason="no pricing in force")
        return Tiers(month.isoformat(), 0)
    rules = rules_of(newest.revision)
    loyalty = rules.loyalty if rules is not None else None
    card_ids = [str(r[0]) for r in conn.execute("SELECT card_id FROM cm_cards ORDER BY card_id")]
    found: dict[str, tuple[str | None, int]] = {}
    messages = 0
    for i in range(0, len(card_ids), CHUNK):
        ops = usage_ops(conn, card_ids[i:i + CHUNK], config, now)
        for op in ops:
            ml = sum(u["volume_ml"] for u in op["usage"]
                     if u["period"] == "month" and u["period_start"] == last_month)
            found[op["card_id"]] = (tier_of(loyalty, ml), ml)
        if publish is not None and ops:
            publish(ops)
            messages += 1
    stamp = iso(utc_now())
    with transaction.atomic():
        CardTier.objects.filter(month=month.isoformat()).delete()
        CardTier.objects.bulk_create(
            [CardTier(month=month.isoformat(), card_id=card_id, tier=tier, last_month_ml=ml,
                      computed_at=stamp) for card_id, (tier, ml) in sorted(found.items())],
            batch_size=1000)
    by_tier: dict[str, int] = {}
    for tier, _ml in found.values():
        by_tier[tier or "-"] = by_tier.get(tier or "-", 0) + 1
    log.info("tiers.recomputed", month=month.isoformat(), cards=len(found), by_tier=by_tier,
             messages=messages)
    return Tiers(month.isoformat(), len(found), by_tier, messages)
