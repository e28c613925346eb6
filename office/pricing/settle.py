"""Priced sales at the office: recomputed, checked, and their points and voucher booked.

When a station's contiguous head moves over sales (office.ledger.chain.finish, every
ingest path), each of those sales that carries a ``pricing`` field is settled here, in
the same transaction, exactly once (``priced_sales``):

1. the office prices it again with the revision it names, from the facts it carries
   (core.formats.pricing_line), with the same code (core.rules.pricing); a figure that
   differs is a :class:`~office.pricing.models.PricingDifference` and a warning;
2. the station's figures are booked (what the customer was told and charged stands):
   points burned are drawn from the earliest expiry; points earned become a lot, but
   never more than the office's own figure (a line priced with rules this office never
   published earns nothing): a tampered line cannot mint points;
3. a voucher is entered in the redemption ledger (earliest station time wins).

Settling follows the contiguous head, so the office's points are exactly the sales up
to each station's mark, which is what the station subtracts its own later sales from.

The vouchers the settled sales redeemed (won or not) become one card-master version with
a ``vouchers_used`` operation (office.vouchers.used), in the same transaction: every
station that syncs refuses them from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog

from core.errors import CardStoreFormatError
from core.formats.pricing_line import parse_line
from core.rules.pricing import PricingRules
from core.rules.recompute import differences
from core.timefmt import iso, utc_now
from office import db
from office.customers.errors import RecordRefused
from office.pricing import points
from office.pricing.models import PricedSale, PricingDifference
from office.pricing.rules import in_force, rules_of
from office.store import OfficeConnection

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Settled:
    """What :func:`settle_range` did: how many sales it settled, the vouchers they
    redeemed, and the card-master version telling stations so (None: no voucher)."""

    sales: int = 0
    serials: tuple[str, ...] = ()
    version: int | None = None


def settle_range(conn: OfficeConnection, station_id: str, after: int, through: int
                 ) -> Settled:
    """Settle the priced sales of ``station_id`` with seq in ``(after, through]``; the
    vouchers they redeemed go to stations in one new card-master version."""
    if through <= after or not in_force():
        return Settled()
    cache: dict[int, PricingRules | None] = {}
    done = 0
    serials: list[str] = []
    rows = conn.execute(
        "SELECT * FROM sales WHERE station_id = ? AND seq > ? AND seq <= ? AND pricing IS NOT "
        "NULL ORDER BY seq", (station_id, after, through)).fetchall()
    settled = set(PricedSale.objects.filter(station_id=station_id, seq__gt=after,
                                            seq__lte=through).values_list("seq", flat=True))
    for row in rows:
        if row["seq"] in settled:
            continue
        serial = settle_sale(dict(zip(row.keys(), row, strict=True)), cache)
        if serial is not None:
            serials.append(serial)
        done += 1
    if not serials:
        return Settled(done)
    from office.vouchers.used import publish_used

    version = publish_used(conn, serials, actor=f"sync:{station_id}")
    return Settled(done, tuple(sorted(set(serials))), version)


def _flag(sale: dict[str, Any], field: str, station: Any, office: Any, now: str, *,
          event: str = "pricing.difference") -> None:
    """Record a figure the office does not reproduce (or cannot read) for a clerk."""
    PricingDifference.objects.create(station_id=sale["station_id"], seq=sale["seq"],
                                     sale_id=sale["sale_id"], field=field,
                                     station_value=json.dumps(station),
                                     office_value=json.dumps(office), found_at=now)
    log.warning(event, station_id=sale["station_id"], seq=sale["seq"],
                sale_id=sale["sale_id"], field=field, station=station, office=office)


def settle_sale(sale: dict[str, Any], cache: dict[int, PricingRules | None]) -> str | None:
    """Settle one priced sale (recompute, points, voucher); the serial of the voucher it
    redeemed, if the office's ledger took it (won or an exception), else None."""
    station_id, seq = sale["station_id"], int(sale["seq"])
    now = iso(utc_now())
    try:
        line = parse_line(json.loads(sale["pricing"]), station_id=station_id,
                          amount=int(sale["amount"]))
    except (ValueError, CardStoreFormatError) as exc:
        # The ingest checks every line before storing it; this is a line stored before.
        _flag(sale, "pricing", "unreadable", str(exc), now, event="pricing.unreadable")
        return None
    if line.revision not in cache:
        cache[line.revision] = rules_of(line.revision)
    rules = cache[line.revision]
    found = differences(rules, sale, line)
    for name, theirs, ours in found:
        _flag(sale, name, theirs, ours, now)
    card_id = points.holder(sale["card_id"])
    ref = points.SaleRef(station_id, seq, sale["sale_id"], sale["completed_at"],
                         f"sync:{station_id}")
    local_day = line.basis.local.date()
    priced = line.priced
    if priced.points_burned:
        points.burn(card_id, priced.points_burned, on=local_day, ref=ref)
    earned = priced.points_earned
    office_earned = next((ours for name, _theirs, ours in found if name == "points_earned"),
                         earned)
    if any(name in ("revision", "voucher", "pricing") for name, _t, _o in found):
        earned = 0  # priced with rules this office never published: nothing to credit
    elif isinstance(office_earned, int):
        earned = min(earned, office_earned)  # never more than the rules give
    if earned:
        expiry = rules.loyalty.expiry_days if rules and rules.loyalty else 365
        points.earn(card_id, earned, earned_on=local_day, expiry_days=expiry, ref=ref)
    redeemed = None
    if priced.voucher is not None:
        from office.vouchers.ledger import record_redemption

        try:
            with db.atomic():
                record_redemption(serial=priced.voucher, station_id=station_id,
                                  sale_id=sale["sale_id"], seq=seq, card_id=card_id,
                                  redeemed_at=sale["completed_at"],
                                  value=priced.voucher_value, volume_ml=priced.voucher_ml)
            redeemed = priced.voucher
        except RecordRefused as exc:
            # A serial of no batch this office issued (a forged code, a tampered line):
            # the sale is stored all the same (never block a station's uplink); a clerk
            # sees it among the differences.
            _flag(sale, "voucher", priced.voucher, str(exc), now,
                  event="pricing.voucher_refused")
    PricedSale.objects.create(station_id=station_id, seq=seq, sale_id=sale["sale_id"],
                              card_id=card_id, revision=line.revision, settled_at=now)
    return redeemed

