"""Points expiry booked in the ledger: the office's daily job (``[office_jobs]
points_expiry_at``).

A lot's points stop counting after its last day whatever is booked (the balance, the
station lots and the loyalty report look at ``expires``); this job makes the expiry a
line of the card's points history, with when and why, like every other change: an
``expire`` entry for what was left of the lot, and the lot's ``expired`` says how much
of its ``remaining`` is booked so. A void that later gives points back to an expired
lot (they stay expired) is booked by the next run, so the history always adds up to the
balance. Running it twice for the same day books nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import structlog
from django.db import transaction
from django.db.models import F

from core.timefmt import iso, utc_now
from office.pricing.models import PointsEntry, PointsLot

log = structlog.get_logger(__name__)
CHUNK = 1000


@dataclass(frozen=True)
class Expired:
    lots: int
    points: int
    cards: int


def expire_points(today: date, *, actor: str = "schedule") -> Expired:
    """Book every lot whose last day is before ``today`` (local) and not yet booked."""
    lots = points = 0
    cards: set[str] = set()
    while True:
        with transaction.atomic():
            due = list(PointsLot.objects.select_for_update()
                       .filter(expires__lt=today.isoformat(), remaining__gt=F("expired"))
                       .order_by("id")[:CHUNK])
            for lot in due:
                gone = lot.remaining - lot.expired
                day_after = date.fromisoformat(lot.expires) + timedelta(days=1)
                PointsEntry.objects.create(
                    card_id=lot.card_id, kind="expire", points=-gone,
                    lots=json.dumps([[lot.id, gone]]), at=f"{day_after.isoformat()}T00:00:00Z",
                    actor=actor, reason=f"earned {lot.earned_on}, last day {lot.expires}")
                lot.expired = lot.remaining
                lot.save(update_fields=["expired"])
                lots += 1
                points += gone
                cards.add(lot.card_id)
        if len(due) < CHUNK:
            break
    result = Expired(lots, points, len(cards))
    log.info("points.expired", day=today.isoformat(), lots=lots, points=points,
             cards=len(cards), at=iso(utc_now()))
    return result
