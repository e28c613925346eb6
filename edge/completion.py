"""The end of a sale: the delivered volume recorded (journal line, outbox, wallet debits,
the hold released) or the reservation released, each in one commit.

:class:`edge.lifecycle.Station`'s ``complete`` and ``cancel`` run these; a sale is
priced from what its authorization recorded (edge.pricing_sale), its wallets judged on
the authorization's day. On a full disk the space reserve is given up for it (the fuel
has left the pump). See docs/sale-lifecycle.md.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from core.errors import DiskFullError, SaleError
from core.formats.pricing import parse_pricing_text
from core.money import amount_for
from core.rules.authorization import Wallet, plan_wallet_debits, wallet_shortfall
from core.rules.pricing import PricingRules
from core.timefmt import iso, parse_iso
from edge.cardview import card_wallets
from edge.pricing_sale import PricedSale, price_completion, summary
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.journal import append_sale
from offline_db.space import DiskGuard
from offline_db.state import audit

if TYPE_CHECKING:
    from edge.lifecycle import Station

log = structlog.get_logger(__name__)


def with_reserve(disk: DiskGuard, record: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``record()``; on a full disk, once more after giving up the space reserve (if
    there was one to give up)."""
    try:
        return record()
    except DiskFullError:
        if not disk.release_reserve():
            raise
    return record()


def open_auth(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any]:
    """The open authorization ``sale_id``; :class:`SaleError` saying why it is not."""
    row = conn.execute("SELECT * FROM authorizations WHERE sale_id = ?",
                       (sale_id,)).fetchone()
    if row is None:
        raise SaleError(f"there is no authorization {sale_id}")
    auth = dict(row)
    if auth["state"] == "completed":
        raise SaleError(f"sale {sale_id} is already completed as seq {auth['seq']}; "
                        "nothing changed")
    if auth["state"] == "cancelled":
        raise SaleError(f"sale {sale_id} was cancelled; nothing changed")
    if auth["state"] == "denied":
        raise SaleError(f"authorization {sale_id} was denied ({auth['reason']}); "
                        "there is no sale to complete")
    return auth


def complete(station: Station, sale_id: str, *, volume_ml: int, product: str | None,
             overrun: bool, actor: str) -> dict[str, Any]:
    """Station.complete's one commit (its docstring says what it accepts)."""
    if volume_ml <= 0:
        raise SaleError("the completed volume must be at least 1 ml; "
                        "cancel the sale if no fuel was delivered")
    conn = station.conn
    now = station.clock()
    with atomic(conn):
        auth = open_auth(conn, sale_id)
        products = json.loads(auth["products"])
        if product is None:
            if len(products) != 1:
                raise SaleError(f"sale {sale_id} allows {', '.join(products)}; "
                                "say which product was delivered")
            product = products[0]
        if product not in products:
            raise SaleError(f"sale {sale_id} does not allow product {product}")
        if volume_ml > auth["max_volume_ml"] and not overrun:
            raise SaleError(f"{volume_ml} ml is more than the {auth['max_volume_ml']} ml "
                            f"authorized for sale {sale_id}")
        price = json.loads(auth["prices"])[product]
        sold = _priced(station, auth, product, volume_ml, price)
        if sold is None:
            debits, short = _wallet_debits(station, auth, product, volume_ml, price)
            amount = amount_for(volume_ml, price)
        else:
            debits, short, amount = sold.debits, sold.shortfall, sold.amount
        asked = json.loads(auth["request"] or "{}")
        sale = append_sale(conn, {
            "vehicle_id": asked.get("journal_vehicle_id", asked.get("vehicle_id")),
            "odometer_km": asked.get("odometer_km"),
            "odometer_flag": asked.get("odometer_flag"),
            "sale_id": sale_id, "station_id": station.config.station.id,
            "card_id": auth["card_id"], "pump": auth["pump"], "product": product,
            "volume_ml": volume_ml, "unit_price": price,
            "amount": amount, "authorized_at": auth["created_at"],
            "completed_at": iso(now), "wallet_debits": debits,
            "pricing": None if sold is None else sold.line}, queued_at=iso(now))
        conn.execute("UPDATE authorizations SET state = 'completed', closed_at = ?, "
                     "seq = ? WHERE sale_id = ?", (iso(now), sale["seq"], sale_id))
        conn.execute("DELETE FROM wallet_holds WHERE sale_id = ?", (sale_id,))
        audit(conn, actor, "sale.complete", sale_id=sale_id, seq=sale["seq"],
              volume_ml=volume_ml, wallet_shortfall=short)
    parts = None if sold is None else summary(sold.priced, sold.points_asked)
    log.info("sale.completed", sale_id=sale_id, seq=sale["seq"], pump=sale["pump"],
             volume_ml=volume_ml, amount=sale["amount"],
             **({} if parts is None else {k: parts[k] for k in (
                 "list_amount", "voucher", "points_burned", "points_earned")}))
    if sold is not None and sold.points_asked > sold.priced.points_burned:
        log.info("sale.points_fewer", sale_id=sale_id, asked=sold.points_asked,
                 burned=sold.priced.points_burned)
    if short:
        log.warning("sale.wallet_shortfall", sale_id=sale_id, shortfall=short)
    return {"sale_id": sale_id, "seq": sale["seq"], "card_id": sale["card_id"],
            "pump": sale["pump"], "product": product, "volume_ml": volume_ml,
            "unit_price": price, "amount": sale["amount"], "wallet_debits": debits,
            "wallet_shortfall": short, "vehicle_id": sale["vehicle_id"],
            "odometer_km": sale["odometer_km"], "odometer_flag": sale["odometer_flag"],
            "hash": sale["hash"], "pricing": parts}


def _priced(station: Station, auth: dict[str, Any], product: str, volume_ml: int, price: int
            ) -> PricedSale | None:
    """The sale priced by the rules from what its authorization recorded, or None
    (no pricing document then, or no rule applied)."""
    if not auth["pricing"]:
        return None
    wallets = _sale_wallets(station, auth) or []
    today = parse_iso(auth["created_at"]).astimezone(station.config.station.tz).date()
    recorded = json.loads(auth["pricing"])
    return price_completion(_rules_of(station, recorded.get("revision")), recorded,
                            station_id=station.config.station.id, product=product,
                            volume_ml=volume_ml, unit_price=price, wallets=wallets,
                            today=today)


def _rules_of(station: Station, revision: Any) -> PricingRules | None:
    """The rules an authorization was priced with: the document in force, or the one it
    replaced while the fuel ran (offline_db.cards.set_pricing keeps it)."""
    current = station.state.pricing
    if current is not None and current.revision == revision:
        return current
    kept = store.kept_pricing(station.conn, revision) if isinstance(revision, int) else None
    return parse_pricing_text(kept) if kept is not None else current


def _sale_wallets(station: Station, auth: dict[str, Any]) -> list[Wallet] | None:
    """The wallets of the sale's card as they stand besides this sale's own hold
    (None when the card has left the card store)."""
    row = store.find_card(station.conn, auth["card_id"])
    if row is None:
        return None
    return list(card_wallets(station.conn, row["card_id"], station.state.usage_as_of_seq,
                             exclude_sale=auth["sale_id"]))


def _wallet_debits(station: Station, auth: dict[str, Any], product: str, volume_ml: int,
                   price: int) -> tuple[dict[str, int], int]:
    wallets = _sale_wallets(station, auth)
    if wallets is None:
        return {}, 0
    # Wallets are judged on the day of the authorization that reserved them: a fill
    # that runs past midnight is still paid by a wallet that expired at midnight.
    today = parse_iso(auth["created_at"]).astimezone(station.config.station.tz).date()
    return (plan_wallet_debits(wallets, product, volume_ml, price, today),
            wallet_shortfall(wallets, product, volume_ml, price, today))


def cancel(station: Station, sale_id: str, *, actor: str) -> dict[str, Any]:
    """Station.cancel's one commit: the reservation released, audited."""
    conn = station.conn
    now = station.clock()
    with atomic(conn):
        open_auth(conn, sale_id)
        conn.execute("UPDATE authorizations SET state = 'cancelled', closed_at = ? "
                     "WHERE sale_id = ?", (iso(now), sale_id))
        conn.execute("DELETE FROM wallet_holds WHERE sale_id = ?", (sale_id,))
        audit(conn, actor, "sale.cancel", sale_id=sale_id)
    log.info("sale.cancelled", sale_id=sale_id)
    return {"sale_id": sale_id, "state": "cancelled"}
