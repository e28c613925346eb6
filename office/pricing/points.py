"""The points ledger: each earning a lot with its own expiry, redemptions drawn from the
earliest expiry first, and the history of every change with where it came from.

A card's balance on a day is the sum of what remains of its lots that have not expired
by then, less what it owes: a redemption a station allowed offline that finds less than
it burned (two stations spent the same points) draws what there is and records the
rest as ``short``; the card's next earnings pay that first. Nothing here rounds: points
are whole numbers from the pricing engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import F, Sum

from core.formats.snapshot import POINTS_PERIODS
from core.periods import period_start_date
from core.timefmt import iso, utc_now
from office.pricing.models import PointsEntry, PointsLot


@dataclass(frozen=True)
class SaleRef:
    station_id: str | None
    seq: int | None
    sale_id: str | None
    at: str
    actor: str


def _live(on: date) -> dict[str, Any]:
    """The filter of lots with points left that have not expired on ``on``."""
    return {"remaining__gt": 0, "expires__gte": on.isoformat()}


def _owed(card_id: str) -> int:
    """Points the card still owes (short redemptions not yet paid by later earnings)."""
    short = PointsEntry.objects.filter(card_id=card_id).aggregate(s=Sum("short"))["s"] or 0
    return int(short)


def holder(card_id: str) -> str:
    """The card that holds ``card_id``'s points account now: a reissued card's successor
    (a sale of the old card, made offline after the reissue, books to the new one)."""
    from office.cards.models import Card

    seen = {card_id}
    while True:
        nxt = Card.objects.filter(card_id=card_id).values_list("replaced_by", flat=True).first()
        if nxt is None or nxt in seen:
            return card_id
        seen.add(nxt)
        card_id = nxt


def move_account(old: str, new: str) -> None:
    """A reissue: the new card takes over the old card's lots and history."""
    PointsLot.objects.filter(card_id=old).update(card_id=new)
    PointsEntry.objects.filter(card_id=old).update(card_id=new)


def earn(card_id: str, points: int, *, earned_on: date, expiry_days: int, ref: SaleRef,
         kind: str = "earn", reason: str = "") -> PointsLot | None:
    """Add a lot of ``points`` expiring ``expiry_days`` after ``earned_on``; what the card
    owes is paid from it first (a ``repay`` line in the history)."""
    if points <= 0:
        return None
    lot: PointsLot = PointsLot.objects.create(
        card_id=card_id, earned_on=earned_on.isoformat(),
        expires=(earned_on + timedelta(days=expiry_days)).isoformat(), points=points,
        remaining=points, station_id=ref.station_id, sale_id=ref.sale_id,
        created_at=iso(utc_now()))
    PointsEntry.objects.create(card_id=card_id, kind=kind, points=points,
                               lots=json.dumps([[lot.id, points]]), station_id=ref.station_id,
                               seq=ref.seq, sale_id=ref.sale_id, at=ref.at, actor=ref.actor,
                               reason=reason)
    owed = _owed(card_id)
    if owed > 0:
        pay = min(owed, points)
        lot.remaining -= pay
        lot.save(update_fields=["remaining"])
        PointsEntry.objects.create(card_id=card_id, kind="repay", points=0,
                                   lots=json.dumps([[lot.id, pay]]), short=-pay,
                                   station_id=ref.station_id, seq=ref.seq, sale_id=ref.sale_id,
                                   at=ref.at, actor=ref.actor,
                                   reason="points owed from an earlier redemption")
    return lot


def burn(card_id: str, points: int, *, on: date, ref: SaleRef, kind: str = "burn",
         reason: str = "") -> PointsEntry | None:
    """Redeem ``points``: the lots unexpired on ``on`` (the sale's local date), earliest
    expiry first (then the oldest lot); what they cannot cover is recorded as owed."""
    if points <= 0:
        return None
    left = points
    drawn: list[list[int]] = []
    lots = (PointsLot.objects.select_for_update()
            .filter(card_id=card_id, **_live(on))
            .order_by("expires", "id"))
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        drawn.append([lot.id, take])
        left -= take
    entry: PointsEntry = PointsEntry.objects.create(card_id=card_id, kind=kind, points=-points,
                                      lots=json.dumps(drawn), short=left,
                                      station_id=ref.station_id, seq=ref.seq,
                                      sale_id=ref.sale_id, at=ref.at, actor=ref.actor,
                                      reason=reason)
    return entry


def lots(card_id: str, on: date) -> list[dict[str, Any]]:
    """The card's lots with points left and unexpired on ``on``, by expiry."""
    return [{"expires": r.expires, "points": r.remaining} for r in PointsLot.objects.filter(
        card_id=card_id, **_live(on)).order_by("expires", "id")]


def balance(card_id: str, on: date) -> int:
    """Points the card can redeem on ``on`` (may be negative while it owes points)."""
    left = PointsLot.objects.filter(card_id=card_id, **_live(on)).aggregate(
        s=Sum("remaining"))["s"] or 0
    return int(left) - _owed(card_id)


def station_facts(card_ids: list[str], today: date, week_start: int
                  ) -> dict[str, dict[str, Any]]:
    """For each card with points: its unexpired lots (``points``, less what it owes, taken
    from the earliest) and what it earned in the current day, week and month
    (``points_earned``, for the caps), as the usage operation carries them; 500 cards a
    query."""
    starts = {p: period_start_date(p, today, week_start) for p in POINTS_PERIODS}
    first = min(starts.values()).isoformat()
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(card_ids), 500):
        chunk = card_ids[i:i + 500]
        left: dict[str, list[dict[str, Any]]] = {}
        for lot in PointsLot.objects.filter(card_id__in=chunk, **_live(today)
                                            ).order_by("card_id", "expires", "id"):
            lots = left.setdefault(lot.card_id, [])
            if lots and lots[-1]["expires"] == lot.expires:
                lots[-1]["points"] += lot.remaining
            else:
                lots.append({"expires": lot.expires, "points": lot.remaining})
        owed = dict(PointsEntry.objects.filter(card_id__in=chunk).values("card_id")
                    .annotate(s=Sum("short")).values_list("card_id", "s"))
        earned: dict[str, dict[str, int]] = {}
        for lot in PointsLot.objects.filter(card_id__in=chunk, earned_on__gte=first):
            for period, start in starts.items():
                if lot.earned_on >= start.isoformat():
                    sums = earned.setdefault(lot.card_id, {})
                    sums[period] = sums.get(period, 0) + lot.points
        for card_id in chunk:
            doc: dict[str, Any] = {}
            lots = _less(left.get(card_id, []), int(owed.get(card_id) or 0))
            if lots:
                doc["points"] = lots
            if card_id in earned:
                doc["points_earned"] = [
                    {"period": p, "period_start": starts[p].isoformat(), "points": n}
                    for p, n in sorted(earned[card_id].items())]
            if doc:
                out[card_id] = doc
    return out


def _less(lots: list[dict[str, Any]], owed: int) -> list[dict[str, Any]]:
    """``lots`` with ``owed`` points taken from the earliest (a station must not count
    points the card owes)."""
    out = []
    for lot in lots:
        take = min(owed, lot["points"])
        owed -= take
        if lot["points"] - take > 0:
            out.append({**lot, "points": lot["points"] - take})
    return out


def history(card_id: str, today: date | None = None) -> list[dict[str, Any]]:
    """Every entry of the card (the daily job's ``expire`` entries among them), and (``kind``
    expire, no id) what of each lot expired unspent by ``today`` and is not booked yet,
    on the day after its last day, so the history adds up to the balance."""
    out: list[dict[str, Any]] = [
        {"id": e.id, "kind": e.kind, "points": e.points, "short": e.short,
         "lots": json.loads(e.lots), "station_id": e.station_id, "seq": e.seq,
         "sale_id": e.sale_id, "at": e.at, "actor": e.actor, "reason": e.reason}
        for e in PointsEntry.objects.filter(card_id=card_id).order_by("id")]
    day = (today or utc_now().date()).isoformat()
    # What the daily expiry job has not booked yet (office.pricing.expiry).
    for lot in PointsLot.objects.filter(card_id=card_id, remaining__gt=F("expired"),
                                        expires__lt=day).order_by("expires", "id"):
        gone = date.fromisoformat(lot.expires) + timedelta(days=1)
        left = lot.remaining - lot.expired
        out.append({"id": None, "kind": "expire", "points": -left, "short": 0,
                    "lots": [[lot.id, left]], "station_id": None, "seq": None,
                    "sale_id": None, "at": f"{gone.isoformat()}T00:00:00Z", "actor": "",
                    "reason": f"earned {lot.earned_on}, last day {lot.expires}"})
    return sorted(out, key=lambda e: (e["at"], e["id"] is None, e["id"] or 0))


def reverse_sale(station_id: str, seq: int, ref: SaleRef) -> tuple[int, int]:
    """Undo what a voided sale did to points: (earned taken back, burned given back).

    Burned points go back to the lots they came from (with their own expiry); what was
    owed is forgiven. Earned points are taken from their lot; what was already spent of
    it is taken from the card's other lots (earliest expiry first), else owed.
    """
    entries = list(PointsEntry.objects.filter(station_id=station_id, seq=seq,
                                              kind__in=("earn", "burn")))
    taken = given = 0
    for entry in entries:
        if entry.kind == "burn":
            for lot_id, n in json.loads(entry.lots):
                PointsLot.objects.filter(id=lot_id).update(remaining=F("remaining") + n)
            given = -entry.points
            PointsEntry.objects.create(
                card_id=entry.card_id, kind="void_burn", points=given,
                lots=entry.lots, short=-entry.short, station_id=station_id, seq=seq,
                sale_id=entry.sale_id, at=ref.at, actor=ref.actor, reason="sale voided")
    for entry in entries:
        if entry.kind != "earn":
            continue
        taken = entry.points
        (lot_id, _n), = json.loads(entry.lots)
        lot = PointsLot.objects.get(id=lot_id)
        from_lot = min(lot.remaining, taken)
        lot.remaining -= from_lot
        lot.save(update_fields=["remaining"])
        if lot.expired > lot.remaining:
            # Points the expiry job booked as expired are taken back by the void instead:
            # the expiry of them is reversed, so nothing leaves the history twice.
            back = lot.expired - lot.remaining
            lot.expired = lot.remaining
            lot.save(update_fields=["expired"])
            PointsEntry.objects.create(card_id=entry.card_id, kind="expire", points=back,
                                       lots=json.dumps([[lot_id, -back]]),
                                       station_id=station_id, seq=seq, sale_id=entry.sale_id,
                                       at=ref.at, actor=ref.actor,
                                       reason="sale voided: its expired points taken back")
        rest = burn(entry.card_id, taken - from_lot, on=utc_now().date(), ref=ref,
                    kind="void_earn", reason="sale voided: points it earned, already spent")
        if rest is None:
            PointsEntry.objects.create(card_id=entry.card_id, kind="void_earn", points=-taken,
                                       lots=json.dumps([[lot_id, from_lot]]),
                                       station_id=station_id, seq=seq, sale_id=entry.sale_id,
                                       at=ref.at, actor=ref.actor, reason="sale voided")
        else:
            rest.points = -taken
            rest.lots = json.dumps([[lot_id, from_lot], *json.loads(rest.lots)])
            rest.station_id, rest.seq, rest.sale_id = station_id, seq, entry.sale_id
            rest.save()
    return taken, given
