"""The sale lifecycle: authorize -> reservation committed -> complete or cancel.

Durable before visible: every method commits its whole effect in one SQLite
transaction before it returns, so nothing is reported (or a pump authorized) that a
crash could take back. See docs/sale-lifecycle.md.

:class:`Station` is the one entry to it. The card decision is made here; how a
decision is recorded is edge.sale_record, a voucher with a card and a talon sale are
edge.talon, and completion and cancellation are edge.completion.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from cloud_sync.tokens import TokenError
from core import identifiers
from core.config import Config
from core.errors import SaleError
from core.inputs import check_vehicle_input
from core.keys import configured_office_key
from core.reasons import Reason
from core.rules.authorization import Decision, Request, authorize
from core.rules.pricing import Voucher
from core.timefmt import utc_now
from edge import card_admin, completion
from edge.card_admin import pin_matches
from edge.cardview import StoreState, build_card_view, build_context, policy_of
from edge.digital import check_token, token_label, token_refusal, use_token
from edge.pricing_facts import card_facts
from edge.pricing_sale import SYNTHETIC, authorization_doc, lent_wallets, preset_prices
from edge.sale_record import decision_json, new_sale_id, record_decision
from edge.talon import authorize_talon, card_voucher
from offline_db import cards as store
from offline_db.connection import atomic
from offline_db.space import DiskGuard
from offline_db.state import audit
from offline_db.store import StationStore

log = structlog.get_logger(__name__)


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
        alone it is a talon sale (:func:`edge.talon.authorize_talon`). ``points``: loyalty points
        the customer wants to pay with (:data:`~edge.pricing_sale.ALL_POINTS`: all);
        more than the card has is not an error, the sale burns what it can. With a
        pricing document the preset uses the discounted price (docs/pricing.md).

        On a nearly full disk nothing is decided or recorded: :class:`DiskFullError`
        (``disk_full``), so that the fills under way can still be recorded.
        """
        self.disk.check_room()
        check_vehicle_input(vehicle, odometer_km)
        if card is None and token is None and voucher is not None:
            return authorize_talon(self, pump=pump, voucher=voucher, product=product,
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
                lent, early = card_voucher(self.conn, state.pricing, voucher, now,
                                           product=product, row=row)
                if lent is not None and lent.product is not None:
                    product = lent.product  # the sale is the voucher's product
            if early is not None:
                card_id = card if row is None else row["card_id"]
                decision = Decision.deny(early[0])
                record_decision(self.conn, sale_id, card_id, Request(pump=pump), decision,
                                prices={}, now=now, actor=actor,
                                voucher_serial=lent.serial if lent is not None else None)
                log.warning("sale.denied", sale_id=sale_id, card_id=card_id, pump=pump,
                            reason=str(decision.reason), detail=early[1])
                return decision_json(sale_id, card_id, pump, decision, detail=early[1])
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
            record_decision(self.conn, sale_id, card_id, request, decision,
                            prices=state.prices, now=now, actor=actor, journal={
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
        result = decision_json(sale_id, card_id, pump, decision, pricing=pricing_doc)
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

    def refuse(self, *, card: str, pump: int, reason: Reason, actor: str,
               detail: str = "") -> dict[str, Any]:
        """Journal a refusal made before the engine (cloned card, forged token, bad swipe)."""
        now = self.clock()
        sale_id = new_sale_id()
        decision = Decision.deny(reason)
        with atomic(self.conn):
            record_decision(self.conn, sale_id, card, Request(pump=pump), decision, prices={},
                            now=now, actor=actor)
            if detail:
                audit(self.conn, actor, "sale.refuse", sale_id=sale_id, card_id=card,
                      pump=pump, reason=str(reason), detail=detail)
        log.info("sale.denied", sale_id=sale_id, card_id=card, pump=pump, reason=str(reason),
                 detail=detail or None)
        return decision_json(sale_id, card, pump, decision, detail=detail or None)

    # -- completion (edge.completion) ---------------------------------------------------
    def complete(self, sale_id: str, *, volume_ml: int, product: str | None = None,
                 overrun: bool = False, actor: str = "operator") -> dict[str, Any]:
        """Record the delivered volume: journal + outbox + debits, hold released, one commit.

        ``overrun`` accepts a volume above the preset (a pump's own final figures);
        without it such a volume is refused. On a full disk the reserve is given up and
        the commit tried once more (the fuel has left the pump); if it still does not
        fit, :class:`DiskFullError` and the sale stays open, nothing half-written.
        """
        return completion.with_reserve(self.disk, lambda: completion.complete(
            self, sale_id, volume_ml=volume_ml, product=product, overrun=overrun,
            actor=actor))

    def cancel(self, sale_id: str, *, actor: str = "operator") -> dict[str, Any]:
        """Release the reservation of an authorization that delivered nothing (on a full
        disk like :meth:`complete`: the reserve is given up for it)."""
        return completion.with_reserve(self.disk, lambda: completion.cancel(
            self, sale_id, actor=actor))
