"""Vouchers at the station: a voucher presented with a card, a talon sale (a voucher
alone pays: docs/pricing.md, "At the station"), whether a verified voucher may still be
used here, and the talon's preset."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from core.money import amount_for, max_volume_for
from core.reasons import Reason
from core.rules.authorization import Decision, Request
from core.rules.pricing import PricingRules, Voucher
from core.vouchers import VoucherError
from edge.pricing_facts import place_facts
from edge.pricing_sale import (
    authorization_doc,
    preset_prices,
    product_refusal,
    verify_voucher,
    voucher_label,
)
from edge.sale_record import decision_json, new_sale_id, record_decision
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.pricing import voucher_taken, voucher_used_elsewhere
from offline_db.state import audit

if TYPE_CHECKING:
    from edge.lifecycle import Station

log = structlog.get_logger(__name__)


def card_voucher(conn: sqlite3.Connection, pricing: PricingRules | None, text: str,
                 now: datetime, *, product: str | None, row: Any
                 ) -> tuple[Voucher | None, tuple[Reason, str] | None]:
    """The voucher presented with a card, or why it is refused (reason, sentence)."""
    try:
        batch, serial = verify_voucher(pricing, text, now)
    except VoucherError as exc:
        return None, (exc.reason, str(exc))
    lent = Voucher.of(batch, serial)
    used = used_refusal(conn, serial)
    if used is not None:
        return lent, used
    products = json.loads(row["products"]) if row["products"] else None
    return lent, product_refusal(lent, product, products)


def authorize_talon(station: Station, *, pump: int, voucher: str, product: str | None,
                    volume_ml: int | None, amount: int | None, actor: str) -> dict[str, Any]:
    """A voucher alone pays the sale (a talon): card id ``V`` + its serial, its
    product, a preset of its volume (or of what its amount buys at the list price);
    nothing else pays. Refusals are journaled like every other."""
    conn = station.conn
    now = station.clock()
    sale_id = new_sale_id()
    with atomic(conn):
        state = station.state
        try:
            batch, serial = verify_voucher(state.pricing, voucher, now)
        except VoucherError as exc:
            return _deny_early(conn, sale_id, voucher_label(voucher), pump,
                               reason=exc.reason, detail=str(exc), now=now, actor=actor)
        lent = Voucher.of(batch, serial)
        card_id = "V" + serial
        early = used_refusal(conn, serial)
        if early is None and store.open_sale_on_pump(conn, pump) is not None:
            early = (Reason.PUMP_BUSY, f"pump {pump} has an open sale")
        if early is None:
            early = product_refusal(lent, product, None)
        products = talon_products(lent, product, state.prices)
        if early is None and not products:
            early = (Reason.VOUCHER_PRODUCT, f"voucher {serial} buys "
                                             f"{lent.product or product}, which this "
                                             "station does not sell")
        if early is not None:
            return _deny_early(conn, sale_id, card_id, pump, reason=early[0],
                               detail=early[1], now=now, actor=actor, voucher_serial=serial)
        rules = state.pricing or PricingRules()
        facts = place_facts(station.config, now, card_kind="voucher")
        presets = preset_prices(rules, {p: state.prices[p] for p in products}, facts)
        volume = talon_volume(lent, products, prices=state.prices, presets=presets,
                              max_fill_ml=station.policy.max_fill_ml, volume_ml=volume_ml,
                              amount=amount)
        if volume < 1:
            return _deny_early(conn, sale_id, card_id, pump, reason=Reason.PRESET_TOO_SMALL,
                               detail=f"voucher {serial} buys less than 1 ml",
                               now=now, actor=actor, voucher_serial=serial)
        amounts = [amount_for(volume, presets[p]) for p in products]
        decision = Decision(approved=True, reason=Reason.APPROVED, products=tuple(products),
                            max_volume_ml=volume, max_amount=min(amounts),
                            hold_amount=max(amounts))
        doc = authorization_doc(rules, facts, presets, products=decision.products,
                                voucher=lent, points_asked=0)
        record_decision(conn, sale_id, card_id, Request(pump=pump, product=product,
                                                        volume_ml=volume_ml, amount=amount),
                        decision, prices=state.prices, now=now, actor=actor, pricing=doc,
                        voucher_serial=serial)
    log.info("sale.authorized", sale_id=sale_id, card_id=card_id, pump=pump,
             reason=str(decision.reason), max_volume_ml=volume, voucher=serial)
    return decision_json(sale_id, card_id, pump, decision, pricing=doc)


def _deny_early(conn: sqlite3.Connection, sale_id: str, card_id: str, pump: int, *,
                reason: Reason, detail: str, now: datetime, actor: str,
                voucher_serial: str | None = None) -> dict[str, Any]:
    """Record a refusal made before the engine, inside the caller's transaction."""
    decision = Decision.deny(reason)
    record_decision(conn, sale_id, card_id, Request(pump=pump), decision, prices={}, now=now,
                    actor=actor, voucher_serial=voucher_serial)
    audit(conn, actor, "sale.refuse", sale_id=sale_id, card_id=card_id, pump=pump,
          reason=str(reason), detail=detail)
    log.warning("sale.denied", sale_id=sale_id, card_id=card_id, pump=pump,
                reason=str(reason), detail=detail)
    return decision_json(sale_id, card_id, pump, decision, detail=detail)


def used_refusal(conn: sqlite3.Connection, serial: str) -> tuple[Reason, str] | None:
    """``voucher_used`` when this station already took the voucher (an open or completed
    sale) or the office reported it redeemed elsewhere; None when it is free."""
    taken = voucher_taken(conn, serial)
    if taken is not None:
        return (Reason.VOUCHER_USED, f"voucher {serial} was already used at this station "
                                     f"(sale {taken})")
    if voucher_used_elsewhere(conn, serial):
        return Reason.VOUCHER_USED, f"voucher {serial} was redeemed at another station"
    return None


def talon_products(voucher: Voucher, asked: str | None, prices: dict[str, int]) -> list[str]:
    """What a talon sale may fill: the voucher's product (an amount voucher for any
    product: the one asked, else every product), among those this station prices."""
    wanted = [voucher.product] if voucher.product else [asked] if asked else sorted(prices)
    return [p for p in wanted if p in prices]


def talon_volume(voucher: Voucher, products: list[str], *, prices: dict[str, int],
                 presets: dict[str, int], max_fill_ml: int, volume_ml: int | None,
                 amount: int | None) -> int:
    """The talon's preset: the voucher's volume (or what its amount buys at the list
    price), never past the station's largest fill or what was asked; the smallest over
    the products it may fill, so it is safe whichever nozzle is lifted."""
    caps = [voucher.volume_ml if voucher.volume_ml is not None
            else max_volume_for(voucher.amount or 0, prices[p]) for p in products]
    asked = [volume_ml] if volume_ml is not None else []
    money = [max_volume_for(amount, presets[p]) for p in products] if amount is not None else []
    return min([*caps, max_fill_ml, *asked, *money])
