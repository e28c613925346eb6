"""Clerk actions on the points ledger and on priced sales: adjust a balance, void a
sale. Each checks its input, is audited with who, and changes nothing when refused."""

from __future__ import annotations

import json
from typing import Any

from core.timefmt import iso, utc_now
from office import db
from office.access import audit
from office.customers.errors import RecordRefused
from office.customers.service import Who
from office.pricing import points
from office.pricing.models import PricedSale
from office.store import OfficeConnection

MAX_ADJUST = 10**9


def adjust(conn: OfficeConnection, card: str, amount: int, reason: str, who: Who
           ) -> tuple[str, int]:
    """Add or take points by hand; (card id, new balance). Taking more than the card has
    is refused."""
    from office.cards.service import get_card

    if amount == 0 or abs(amount) > MAX_ADJUST:
        raise RecordRefused(f"points must be a whole number from -{MAX_ADJUST} to {MAX_ADJUST}"
                            ", not 0", field="points")
    if not reason.strip():
        raise RecordRefused("say why (--reason)", field="reason")
    with db.atomic():
        card_id = get_card(conn, card).card_id
        today = utc_now().date()
        before = points.balance(card_id, today)
        if amount < 0 and before + amount < 0:
            raise RecordRefused(f"card {card_id} has {before} points; cannot take {-amount}",
                                reason="conflict", field="points")
        ref = points.SaleRef(None, None, None, iso(utc_now()), f"{who.via}:{who.actor}")
        expiry = _expiry_days()
        if amount > 0:
            points.earn(card_id, amount, earned_on=today, expiry_days=expiry, ref=ref,
                        kind="adjust", reason=reason)
        else:
            points.burn(card_id, -amount, on=today, ref=ref, kind="adjust", reason=reason)
        after = points.balance(card_id, today)
        audit.record(actor=who.actor, via=who.via, action="points.adjust", object_kind="card",
                     object_id=card_id, old={"points": before}, new={"points": after},
                     detail=reason)
    return card_id, after


def _expiry_days() -> int:
    from office.pricing.models import PricingSetting

    row = PricingSetting.objects.filter(key="loyalty").first()
    return int(json.loads(row.value)["expiry_days"]) if row else 365


def void(conn: OfficeConnection, station_id: str, seq: int, reason: str, who: Who
         ) -> dict[str, Any]:
    """Void a priced sale: reverse its points (earned and burned) and release its voucher.

    Only a sale the office has settled can be voided, once."""
    if not reason.strip():
        raise RecordRefused("say why (--reason)", field="reason")
    with db.atomic():
        sale = PricedSale.objects.select_for_update().filter(station_id=station_id,
                                                             seq=seq).first()
        if sale is None:
            raise RecordRefused(f"station {station_id} has no priced sale #{seq} at this office",
                                reason="unknown", field="sale")
        if sale.voided_at is not None:
            raise RecordRefused(f"sale {sale.sale_id} was voided already on {sale.voided_at} "
                                f"by {sale.voided_by}", reason="conflict", field="sale")
        now = iso(utc_now())
        ref = points.SaleRef(station_id, seq, sale.sale_id, now, f"{who.via}:{who.actor}")
        taken, given = points.reverse_sale(station_id, seq, ref)
        row = conn.execute("SELECT pricing FROM sales WHERE station_id = ? AND seq = ?",
                           (station_id, seq)).fetchone()
        voucher = json.loads(row[0]).get("voucher") if row and row[0] else None
        if voucher:
            from office.vouchers.ledger import release

            release(voucher, sale.sale_id, who, reason)
        sale.voided_at, sale.voided_by, sale.void_reason = now, who.actor, reason
        sale.save()
        audit.record(actor=who.actor, via=who.via, action="sale.void", object_kind="sale",
                     object_id=f"{station_id}#{seq}", detail=reason,
                     new={"sale_id": sale.sale_id, "points_earned_taken": taken,
                          "points_burned_given": given, "voucher": voucher})
    return {"sale_id": sale.sale_id, "earned_taken": taken, "burned_given": given,
            "voucher": voucher}
