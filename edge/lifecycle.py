"""The sale lifecycle: authorize -> reservation committed -> complete or cancel.

Durable before visible: every method commits its whole effect in one SQLite
transaction before it returns, so nothing is reported (or a pump authorized) that a
crash could take back. See docs/sale-lifecycle.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from cloud_sync.tokens import TokenError
from core import identifiers
from core.config import Config
from core.errors import DiskFullError, SaleError
from core.formats.pricing import parse_pricing_text
from core.inputs import check_vehicle_input
from core.keys import configured_office_key
from core.money import amount_for
from core.reasons import Reason
from core.rules.authorization import (
    Decision,
    Request,
    Wallet,
    authorize,
    plan_wallet_debits,
    wallet_shortfall,
)
from core.rules.pricing import PricingRules, Voucher
from core.timefmt import iso, parse_iso, utc_now
from core.vouchers import VoucherError
from edge import card_admin
from edge.card_admin import pin_matches
from edge.cardview import StoreState, build_card_view, build_context, card_wallets, policy_of
from edge.digital import check_token, token_label, token_refusal, use_token
from edge.pricing_facts import card_facts, place_facts
from edge.pricing_sale import (
    SYNTHETIC,
    PricedSale,
    authorization_doc,
    lent_wallets,
    preset_prices,
    price_completion,
    product_refusal,
    summary,
    verify_voucher,
    voucher_label,
)
from edge.talon import talon_products, talon_volume, used_refusal
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.journal import append_sale
from offline_db.space import DiskGuard
from offline_db.state import audit
from offline_db.store import StationStore

log = structlog.get_logger(__name__)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_sale_id() -> str:
    """A short, unambiguous id an operator can read out and type: ``A`` + 9 chars."""
    return "A" + "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(9))


class Station:
    """The station's writable operations over its one store connection."""

    def __init__(self, store_: StationStore, config: Config, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store_
        self.conn = store_.conn
        self.config = config
        self.clock = clock
        self._state: StoreState | None = None
        self.policy = policy_of(config)
        self.disk = DiskGuard(store_.path.parent, min_free_mb=config.station.min_free_mb,
                              reserve_mb=config.station.disk_reserve_mb)

    @property
    def state(self) -> StoreState:
        """Prices and freshness of the card store, kept until new card data is applied."""
        if self._state is None:
            self._state = StoreState.load(self.conn)
        return self._state

    def card_data_changed(self) -> None:
        """Forget cached card-store facts (call after applying card data)."""
        self._state = None

    # -- card store ---------------------------------------------------------------------
    def import_cards(self, path: Path, *, actor: str) -> dict[str, Any]:
        """Replace the card store with the snapshot in ``path`` (never an older version)."""
        try:
            return card_admin.import_cards(self.conn, self.config, path, actor=actor,
                                           now=self.clock())
        finally:
            self.card_data_changed()

    def pin_reset(self, card: str, *, actor: str) -> dict[str, Any]:
        """Forget a card's wrong PINs at this station (card_admin.pin_reset)."""
        return card_admin.pin_reset(self.conn, card, actor=actor)

    # -- authorization ------------------------------------------------------------------
    def authorize(self, *, pump: int, card: str | None = None, token: str | None = None,
                  product: str | None = None, volume_ml: int | None = None,
                  amount: int | None = None, vehicle: str | None = None,
                  odometer_km: int | None = None, pin: str | None = None,
                  presented: list[str] | None = None, voucher: str | None = None,
                  points: int | None = None, actor: str = "operator") -> dict[str, Any]:
        """Decide and, if approved, commit the reservation; denials are recorded too.

        The card is named by ``card`` (card id, PAN, RFID UID or token id) or by
        ``token``, the text of a digital card's QR code: its office signature and expiry
        are checked, its nonce must be new, and its nonce is recorded with an approved
        reservation in the same transaction (a digital card is authorized only so).
        ``presented`` are further identifiers the medium carried (an RFID tag's UID
        under the card number in its NDEF record): each is checked against the stop
        list, and a UID that is not the card's own is a copied tag (card_not_genuine).

        ``voucher``: the code of a fuel voucher (typed or its ``FCV1:`` QR text); with a
        card it pays for part of the sale and restricts it to the voucher's product,
        alone it is a talon sale (:meth:`_authorize_talon`). ``points``: loyalty points
        the customer wants to pay with (:data:`~edge.pricing_sale.ALL_POINTS`: all);
        more than the card has is not an error, the sale burns what it can. With a
        pricing document the preset uses the discounted price (docs/pricing.md).

        On a nearly full disk nothing is decided or recorded: :class:`DiskFullError`
        (``disk_full``), so that the fills under way can still be recorded.
        """
        self.disk.check_room()
        check_vehicle_input(vehicle, odometer_km)
        if card is None and token is None and voucher is not None:
            return self._authorize_talon(pump=pump, voucher=voucher, product=product,
                                         volume_ml=volume_ml, amount=amount, actor=actor)
        if (card is None) == (token is None):
            raise SaleError("name the card by a card identifier or by a QR token: one of "
                            "them, not both")
        now = self.clock()
        claims = None
        if token is not None:
            try:
                claims = check_token(token, configured_office_key(self.config), now)
            except TokenError as exc:
                return self.refuse(card=token_label(token), pump=pump, reason=Reason(exc.reason),
                                   actor=actor, detail=str(exc))
            card = claims.card_id
        assert card is not None
        sale_id = new_sale_id()
        with atomic(self.conn):
            row = store.find_card(self.conn, card)
            extra = tuple(presented or ())
            ids = (card, *extra) if row is None else (card, *extra, row["card_id"], row["pan"],
                                                      row["rfid_uid"], row["token_id"])
            early = None
            if row is not None and row["rfid_uid"] and extra and \
                    row["rfid_uid"] not in {identifiers.uid(e) for e in extra}:
                early = (Reason.CARD_NOT_GENUINE, "tag UID is not the card's")
            elif claims is not None:
                early = token_refusal(self.conn, row, claims)
            state = self.state
            lent: Voucher | None = None
            if early is None and row is not None and voucher is not None:
                lent, early = self._card_voucher(state, voucher, now, product=product,
                                                  row=row)
                if lent is not None and lent.product is not None:
                    product = lent.product  # the sale is the voucher's product
            if early is not None:
                card_id = card if row is None else row["card_id"]
                decision = Decision.deny(early[0])
                self._record(sale_id, card_id, Request(pump=pump), decision, prices={},
                             now=now, actor=actor,
                             voucher_serial=lent.serial if lent is not None else None)
                log.warning("sale.denied", sale_id=sale_id, card_id=card_id, pump=pump,
                            reason=str(decision.reason), detail=early[1])
                return self._decision_json(sale_id, card_id, pump, decision, detail=early[1])
            ctx = build_context(self.conn, self.config, now, state=state, policy=self.policy,
                                stop_listed=store.is_stop_listed(self.conn, *ids),
                                pump_busy=store.open_sale_on_pump(self.conn, pump) is not None)
            view = None if row is None else build_card_view(self.conn, row, self.config, now,
                                                            state=state, vehicle=vehicle)
            priced_from = None
            points_hold = 0
            if row is not None and view is not None and state.pricing is not None:
                facts = card_facts(self.conn, self.config, row, now,
                                   store_mark=state.usage_as_of_seq)
                presets = preset_prices(state.pricing, state.prices, facts)
                ctx = replace(ctx, prices=presets)
                points_hold = min(points or 0, facts.points_available) \
                    if state.pricing.loyalty is not None else 0
                if view.wallets:  # wallet-capped: the voucher and points add to them
                    value = points_hold * state.pricing.loyalty.point_value \
                        if state.pricing.loyalty is not None else 0
                    view = replace(view, wallets=view.wallets + lent_wallets(lent, value))
                priced_from = (facts, presets)
            pin_ok = None
            rule = json.loads(row["rules"]).get("pin") if row is not None else None
            if row is not None and pin is not None:
                pin_ok = pin_matches(pin, rule, row["card_id"]) if rule else True
            request = Request(pump=pump, product=product, volume_ml=volume_ml, amount=amount,
                              vehicle_id=vehicle, odometer_km=odometer_km, pin_ok=pin_ok,
                              token=claims is not None)
            decision = authorize(view, request, ctx)
            if decision.wallet_holds.keys() & SYNTHETIC:  # lent wallets hold nothing
                decision = replace(decision, wallet_holds={
                    k: v for k, v in decision.wallet_holds.items() if k not in SYNTHETIC})
            pricing_doc = None
            if priced_from is not None and state.pricing is not None and decision.approved:
                pricing_doc = authorization_doc(state.pricing, priced_from[0], priced_from[1],
                                                products=decision.products, voucher=lent,
                                                points_asked=points_hold)
            card_id = row["card_id"] if row is not None else card
            # The sale's vehicle for the journal: the identified one, else the card's.
            journal_vehicle = vehicle or (row["vehicle_id"] if row is not None else None)
            self._record(sale_id, card_id, request, decision, prices=state.prices, now=now,
                         actor=actor, journal={
                             "journal_vehicle_id": journal_vehicle,
                             "odometer_flag": "odometer_unreasonable"
                             if decision.odometer_flag else None,
                             "points": points},
                         pricing=pricing_doc,
                         voucher_serial=lent.serial if lent is not None else None,
                         points_hold=points_hold if pricing_doc is not None else 0)
            if claims is not None and decision.approved:
                use_token(self.conn, claims, now)
            if decision.pin_failed and rule:
                store.count_pin_failure(self.conn, card_id, reset=rule.get("reset", 0),
                                        pin_hash=rule["hash"])
            elif pin_ok and decision.approved:
                store.clear_pin_failures(self.conn, card_id)
        result = self._decision_json(sale_id, card_id, pump, decision, pricing=pricing_doc)
        log.info("sale.authorized" if decision.approved else "sale.denied", sale_id=sale_id,
                 card_id=card_id, pump=pump, reason=str(decision.reason),
                 max_volume_ml=decision.max_volume_ml,
                 voucher=lent.serial if lent is not None else None,
                 points_hold=points_hold if pricing_doc is not None else None)
        if decision.odometer_flag:
            log.warning("sale.odometer_flagged", sale_id=sale_id, card_id=card_id,
                        vehicle_id=journal_vehicle, odometer_km=odometer_km,
                        last_odometer_km=view.last_odometer_km if view else None)
        return result

    def _record(self, sale_id: str, card_id: str, request: Request, decision: Decision, *,
                prices: dict[str, int], now: datetime, actor: str,
                journal: dict[str, Any] | None = None, pricing: dict[str, Any] | None = None,
                voucher_serial: str | None = None, points_hold: int = 0) -> None:
        """Record a decision; ``journal`` holds what its sale's journal line will carry;
        ``pricing`` what the sale is priced from at completion (pricing_sale), with the
        voucher's serial (unique among open and completed authorizations) and the points
        the open authorization may burn."""
        self.conn.execute(
            "INSERT INTO authorizations (sale_id, card_id, pump, state, reason, products, "
            "prices, max_volume_ml, max_amount, hold_amount, request, created_at, closed_at, "
            "actor, pricing, voucher_serial, points_hold) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sale_id, card_id, request.pump, "open" if decision.approved else "denied",
             str(decision.reason), json.dumps(list(decision.products)),
             json.dumps({p: prices[p] for p in decision.products}), decision.max_volume_ml,
             decision.max_amount, decision.hold_amount,
             json.dumps({"product": request.product, "volume_ml": request.volume_ml,
                         "amount": request.amount, "vehicle_id": request.vehicle_id,
                         "odometer_km": request.odometer_km, **(journal or {})}),
             iso(now), None if decision.approved else iso(now), actor,
             None if pricing is None else json.dumps(pricing, sort_keys=True),
             voucher_serial, points_hold))
        if decision.wallet_holds:
            self.conn.executemany(
                "INSERT INTO wallet_holds VALUES (?, ?, ?)",
                [(sale_id, w, v) for w, v in sorted(decision.wallet_holds.items())])

    def refuse(self, *, card: str, pump: int, reason: Reason, actor: str,
               detail: str = "") -> dict[str, Any]:
        """Journal a refusal made before the engine (cloned card, forged token, bad swipe)."""
        now = self.clock()
        sale_id = new_sale_id()
        decision = Decision.deny(reason)
        with atomic(self.conn):
            self._record(sale_id, card, Request(pump=pump), decision, prices={}, now=now,
                         actor=actor)
            if detail:
                audit(self.conn, actor, "sale.refuse", sale_id=sale_id, card_id=card,
                      pump=pump, reason=str(reason), detail=detail)
        log.info("sale.denied", sale_id=sale_id, card_id=card, pump=pump, reason=str(reason),
                 detail=detail or None)
        return self._decision_json(sale_id, card, pump, decision, detail=detail or None)

    @staticmethod
    def _decision_json(sale_id: str, card_id: str, pump: int, d: Decision, *,
                       detail: str | None = None, pricing: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        """The answer to an authorization; ``detail``: the sentence behind a refusal made
        before the engine (which token problem, which clone), else None; ``pricing``:
        the preset prices, voucher and points of a priced authorization."""
        out = {"approved": d.approved, "reason": str(d.reason), "detail": detail,
               "sale_id": sale_id if d.approved else None, "decision_id": sale_id,
               "card_id": card_id, "pump": pump, "products": list(d.products),
               "max_volume_ml": d.max_volume_ml, "max_amount": d.max_amount,
               "hold_amount": d.hold_amount,
               "stale_data": d.stale, "odometer_flag": d.odometer_flag,
               "preset_prices": None, "voucher": None, "points_hold": None}
        if pricing is not None:
            out.update(preset_prices=pricing["preset_prices"], voucher=pricing["voucher"],
                       points_hold=pricing["points_asked"])
        return out

    def _card_voucher(self, state: StoreState, text: str, now: datetime, *,
                      product: str | None, row: Any
                      ) -> tuple[Voucher | None, tuple[Reason, str] | None]:
        """The voucher presented with a card, or why it is refused (reason, sentence)."""
        try:
            batch, serial = verify_voucher(state.pricing, text, now)
        except VoucherError as exc:
            return None, (exc.reason, str(exc))
        lent = Voucher.of(batch, serial)
        used = used_refusal(self.conn, serial)
        if used is not None:
            return lent, used
        products = json.loads(row["products"]) if row["products"] else None
        return lent, product_refusal(lent, product, products)

    def _authorize_talon(self, *, pump: int, voucher: str, product: str | None,
                         volume_ml: int | None, amount: int | None,
                         actor: str) -> dict[str, Any]:
        """A voucher alone pays the sale (a talon): card id ``V`` + its serial, its
        product, a preset of its volume (or of what its amount buys at the list price);
        nothing else pays. Refusals are journaled like every other."""
        now = self.clock()
        sale_id = new_sale_id()
        with atomic(self.conn):
            state = self.state
            try:
                batch, serial = verify_voucher(state.pricing, voucher, now)
            except VoucherError as exc:
                return self._deny_early(sale_id, voucher_label(voucher), pump,
                                        reason=exc.reason, detail=str(exc), now=now,
                                        actor=actor)
            lent = Voucher.of(batch, serial)
            card_id = "V" + serial
            early = used_refusal(self.conn, serial)
            if early is None and store.open_sale_on_pump(self.conn, pump) is not None:
                early = (Reason.PUMP_BUSY, f"pump {pump} has an open sale")
            if early is None:
                early = product_refusal(lent, product, None)
            products = talon_products(lent, product, state.prices)
            if early is None and not products:
                early = (Reason.VOUCHER_PRODUCT, f"voucher {serial} buys "
                                                 f"{lent.product or product}, which this "
                                                 "station does not sell")
            if early is not None:
                return self._deny_early(sale_id, card_id, pump, reason=early[0],
                                        detail=early[1], now=now, actor=actor,
                                        voucher_serial=serial)
            rules = state.pricing or PricingRules()
            facts = place_facts(self.config, now, card_kind="voucher")
            presets = preset_prices(rules, {p: state.prices[p] for p in products}, facts)
            volume = talon_volume(lent, products, prices=state.prices, presets=presets,
                                  max_fill_ml=self.policy.max_fill_ml, volume_ml=volume_ml,
                                  amount=amount)
            if volume < 1:
                return self._deny_early(sale_id, card_id, pump, reason=Reason.PRESET_TOO_SMALL,
                                        detail=f"voucher {serial} buys less than 1 ml",
                                        now=now, actor=actor, voucher_serial=serial)
            amounts = [amount_for(volume, presets[p]) for p in products]
            decision = Decision(approved=True, reason=Reason.APPROVED, products=tuple(products),
                                max_volume_ml=volume, max_amount=min(amounts),
                                hold_amount=max(amounts))
            doc = authorization_doc(rules, facts, presets, products=decision.products,
                                    voucher=lent, points_asked=0)
            self._record(sale_id, card_id, Request(pump=pump, product=product,
                                                   volume_ml=volume_ml, amount=amount),
                         decision, prices=state.prices, now=now, actor=actor, pricing=doc,
                         voucher_serial=serial)
        log.info("sale.authorized", sale_id=sale_id, card_id=card_id, pump=pump,
                 reason=str(decision.reason), max_volume_ml=volume, voucher=serial)
        return self._decision_json(sale_id, card_id, pump, decision, pricing=doc)

    def _deny_early(self, sale_id: str, card_id: str, pump: int, *, reason: Reason,
                    detail: str, now: datetime, actor: str, voucher_serial: str | None = None
                    ) -> dict[str, Any]:
        """Record a refusal made before the engine, inside the caller's transaction."""
        decision = Decision.deny(reason)
        self._record(sale_id, card_id, Request(pump=pump), decision, prices={}, now=now,
                     actor=actor, voucher_serial=voucher_serial)
        audit(self.conn, actor, "sale.refuse", sale_id=sale_id, card_id=card_id, pump=pump,
              reason=str(reason), detail=detail)
        log.warning("sale.denied", sale_id=sale_id, card_id=card_id, pump=pump,
                    reason=str(reason), detail=detail)
        return self._decision_json(sale_id, card_id, pump, decision, detail=detail)

    # -- completion ---------------------------------------------------------------------
    def _open_auth(self, sale_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM authorizations WHERE sale_id = ?",
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

    def complete(self, sale_id: str, *, volume_ml: int, product: str | None = None,
                 overrun: bool = False, actor: str = "operator") -> dict[str, Any]:
        """Record the delivered volume: journal + outbox + debits, hold released, one commit.

        ``overrun`` accepts a volume above the preset (a pump's own final figures);
        without it such a volume is refused. On a full disk the reserve is given up and
        the commit tried once more (the fuel has left the pump); if it still does not
        fit, :class:`DiskFullError` and the sale stays open, nothing half-written.
        """
        return self._with_reserve(lambda: self._complete(
            sale_id, volume_ml=volume_ml, product=product, overrun=overrun, actor=actor))

    def _with_reserve(self, record: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return record()
        except DiskFullError:
            if not self.disk.release_reserve():
                raise
        return record()

    def _complete(self, sale_id: str, *, volume_ml: int, product: str | None,
                  overrun: bool, actor: str) -> dict[str, Any]:
        if volume_ml <= 0:
            raise SaleError("the completed volume must be at least 1 ml; "
                            "cancel the sale if no fuel was delivered")
        now = self.clock()
        with atomic(self.conn):
            auth = self._open_auth(sale_id)
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
            sold = self._priced(auth, product, volume_ml, price)
            if sold is None:
                debits, short = self._wallet_debits(auth, product, volume_ml, price)
                amount = amount_for(volume_ml, price)
            else:
                debits, short, amount = sold.debits, sold.shortfall, sold.amount
            asked = json.loads(auth["request"] or "{}")
            sale = append_sale(self.conn, {
                "vehicle_id": asked.get("journal_vehicle_id", asked.get("vehicle_id")),
                "odometer_km": asked.get("odometer_km"),
                "odometer_flag": asked.get("odometer_flag"),
                "sale_id": sale_id, "station_id": self.config.station.id,
                "card_id": auth["card_id"], "pump": auth["pump"], "product": product,
                "volume_ml": volume_ml, "unit_price": price,
                "amount": amount, "authorized_at": auth["created_at"],
                "completed_at": iso(now), "wallet_debits": debits,
                "pricing": None if sold is None else sold.line}, queued_at=iso(now))
            self.conn.execute("UPDATE authorizations SET state = 'completed', closed_at = ?, "
                              "seq = ? WHERE sale_id = ?", (iso(now), sale["seq"], sale_id))
            self.conn.execute("DELETE FROM wallet_holds WHERE sale_id = ?", (sale_id,))
            audit(self.conn, actor, "sale.complete", sale_id=sale_id, seq=sale["seq"],
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

    def _priced(self, auth: dict[str, Any], product: str, volume_ml: int, price: int
                ) -> PricedSale | None:
        """The sale priced by the rules from what its authorization recorded, or None
        (no pricing document then, or no rule applied)."""
        if not auth["pricing"]:
            return None
        wallets = self._sale_wallets(auth) or []
        today = parse_iso(auth["created_at"]).astimezone(self.config.station.tz).date()
        recorded = json.loads(auth["pricing"])
        return price_completion(self._rules_of(recorded.get("revision")), recorded,
                                station_id=self.config.station.id, product=product,
                                volume_ml=volume_ml, unit_price=price, wallets=wallets,
                                today=today)

    def _rules_of(self, revision: Any) -> PricingRules | None:
        """The rules an authorization was priced with: the document in force, or the one it
        replaced while the fuel ran (offline_db.cards.set_pricing keeps it)."""
        current = self.state.pricing
        if current is not None and current.revision == revision:
            return current
        kept = store.kept_pricing(self.conn, revision) if isinstance(revision, int) else None
        return parse_pricing_text(kept) if kept is not None else current

    def _sale_wallets(self, auth: dict[str, Any]) -> list[Wallet] | None:
        """The wallets of the sale's card as they stand besides this sale's own hold
        (None when the card has left the card store)."""
        row = store.find_card(self.conn, auth["card_id"])
        if row is None:
            return None
        return list(card_wallets(self.conn, row["card_id"], self.state.usage_as_of_seq,
                                 exclude_sale=auth["sale_id"]))

    def _wallet_debits(self, auth: dict[str, Any], product: str, volume_ml: int, price: int
                       ) -> tuple[dict[str, int], int]:
        wallets = self._sale_wallets(auth)
        if wallets is None:
            return {}, 0
        # Wallets are judged on the day of the authorization that reserved them: a fill
        # that runs past midnight is still paid by a wallet that expired at midnight.
        today = parse_iso(auth["created_at"]).astimezone(self.config.station.tz).date()
        return (plan_wallet_debits(wallets, product, volume_ml, price, today),
                wallet_shortfall(wallets, product, volume_ml, price, today))

    def cancel(self, sale_id: str, *, actor: str = "operator") -> dict[str, Any]:
        """Release the reservation of an authorization that delivered nothing (on a full
        disk like :meth:`complete`: the reserve is given up for it)."""
        return self._with_reserve(lambda: self._cancel(sale_id, actor=actor))

    def _cancel(self, sale_id: str, *, actor: str) -> dict[str, Any]:
        now = self.clock()
        with atomic(self.conn):
            self._open_auth(sale_id)
            self.conn.execute("UPDATE authorizations SET state = 'cancelled', closed_at = ? "
                              "WHERE sale_id = ?", (iso(now), sale_id))
            self.conn.execute("DELETE FROM wallet_holds WHERE sale_id = ?", (sale_id,))
            audit(self.conn, actor, "sale.cancel", sale_id=sale_id)
        log.info("sale.cancelled", sale_id=sale_id)
        return {"sale_id": sale_id, "state": "cancelled"}
