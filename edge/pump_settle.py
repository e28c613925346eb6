"""Settling a line pump's sale from the pump's own data (for edge.forecourt).

An open sale is completed only when exactly one allowed nozzle's totalizer rose by
exactly the pump's reported filling, cancelled when none rose, and otherwise flagged
for the operator — never guessed (docs/pump-line.md, Recovery).

A sale that cannot be recorded (the disk is full) stays open and its pump in
recovery: the pump is asked its status every :data:`RETRY_S` seconds, and its answer
settles the sale again (edge.forecourt's recovery) until it fits; no new sale is
authorized on that pump meanwhile, so the pump's last filling stays the proof.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any

import structlog

from core.errors import SaleError, StoreError
from drivers.dart.application import Command
from drivers.dart.line import DartLine, command_job
from drivers.dart.pump import PumpModel
from edge.lifecycle import Station
from offline_db import pump_fills
from offline_db.connection import atomic
from offline_db.state import audit

log = structlog.get_logger(__name__)
#: Seconds between tries to record a sale the store could not take (a full disk).
RETRY_S = 5.0


class Settlement:
    """The store effects of a line pump's sale, each under the daemon's lock, and the
    pumps whose open sale waits to be settled (:attr:`recovering`)."""

    def __init__(self, station: Station, lock: AbstractContextManager[Any],
                 pumps: dict[int, tuple[DartLine, PumpModel]]) -> None:
        self.station = station
        self.lock = lock  # the daemon's one-writer lock around the store
        self.pumps = pumps  # the forecourt's own: every line pump by number
        #: Pumps with an open sale to settle from the pump's data (after a restart, a
        #: failed query, a sale the store could not take).
        self.recovering: set[int] = set()
        self._closed = threading.Event()
        self._retries: dict[int, threading.Timer] = {}

    def close(self) -> None:
        """No more retries: the lines are closing."""
        self._closed.set()
        for timer in list(self._retries.values()):
            timer.cancel()

    def resolve(self, number: int, sale_id: str, nozzles: tuple[int, ...],
                before: dict[int, tuple[int, int]] | None) -> None:
        """Complete from the pump's data, cancel, or flag: see the module docstring."""
        _line, model = self.pumps[number]
        if before is None:
            self.attention(number, sale_id, "no totals were recorded before the fill")
            return
        rises = {c: model.totals[c][0] - before[c][0] for c in nozzles if c in model.totals}
        moved = {c: d for c, d in rises.items() if d != 0}
        if len(rises) != len(nozzles):
            self.attention(number, sale_id, "the pump did not report every nozzle's totals")
        elif not moved:
            self.cancel(number, sale_id, "the pump delivered nothing (totals unchanged)")
        elif len(moved) == 1 and next(iter(moved.values())) == model.filled_ml > 0:
            nozzle = next(iter(moved))
            self.complete(number, sale_id, model, nozzle)
        else:
            self.attention(number, sale_id, f"the pump's totals rose by {moved} ml but it "
                                            f"reports a filling of {model.filled_ml} ml")

    def complete(self, number: int, sale_id: str, model: PumpModel, nozzle: int) -> None:
        product = model.product(nozzle)
        with self.lock:
            try:
                result = self.station.complete(sale_id, volume_ml=model.filled_ml,
                                               product=product, overrun=True,
                                               actor=f"pump:{number}")
            except SaleError as exc:
                log.warning("pump.complete_refused", pump=number, sale_id=sale_id,
                            error=str(exc))
                return
            except StoreError as exc:
                self._defer(number, sale_id, exc)
                return
            self.set_fill_state(sale_id, "completed")
        # The pump runs at the list price (docs/pricing.md, "At the pump"): its amount is
        # the list amount; a discount is settled on the receipt and the journal line.
        priced = result.get("pricing")
        listed = priced["list_amount"] if priced else result["amount"]
        if abs(listed - model.filled_amount) > 1:
            log.warning("pump.amount_differs", pump=number, sale_id=sale_id,
                        journal=listed, pump_amount=model.filled_amount)

    def cancel(self, number: int, sale_id: str, why: str) -> None:
        with self.lock:
            try:
                self.station.cancel(sale_id, actor="pump-line")
            except SaleError as exc:
                log.warning("pump.cancel_refused", sale_id=sale_id, error=str(exc))
                return
            except StoreError as exc:
                self._defer(number, sale_id, exc)
                return
            self.set_fill_state(sale_id, "cancelled", why)
        log.info("pump.sale_cancelled", sale_id=sale_id, reason=why)

    def attention(self, number: int, sale_id: str, why: str) -> None:
        with self.lock:
            try:
                with atomic(self.station.conn):
                    self.set_fill_state(sale_id, "attention", why)
                    audit(self.station.conn, "pump-line", "sale.needs_attention",
                          sale_id=sale_id, reason=why)
            except StoreError as exc:
                self._defer(number, sale_id, exc)
                return
        log.error("sale.needs_attention", sale_id=sale_id, reason=why)

    def set_fill_state(self, sale_id: str, state: str, attention: str | None = None) -> None:
        """Note the fill's state; a store failure here is raised only for ``attention``
        (the flag is the outcome): the others follow the authorization's own state."""
        try:
            pump_fills.set_fill_state(self.station.conn, sale_id, state, attention)
        except StoreError as exc:
            if state == "attention":
                raise
            log.warning("pump.fill_state_not_recorded", sale_id=sale_id, state=state,
                        error=str(exc))

    def _defer(self, number: int, sale_id: str, exc: StoreError) -> None:
        """The store could not take the sale's outcome: keep it open, the pump in
        recovery, and settle it again from the pump's data every RETRY_S seconds."""
        log.error("sale.record_deferred", pump=number, sale_id=sale_id, code=exc.code,
                  error=str(exc), retry_s=RETRY_S)
        self.recovering.add(number)
        self._schedule_retry(number)

    def _schedule_retry(self, number: int) -> None:
        timer = self._retries.get(number)
        if self._closed.is_set() or (timer is not None and timer.is_alive()):
            return
        timer = threading.Timer(RETRY_S, self._retry, (number,))
        timer.daemon = True
        self._retries[number] = timer
        timer.start()

    def _retry(self, number: int) -> None:
        """Ask the pump its status: the answer runs the recovery (Forecourt.on_event)."""
        self._retries.pop(number, None)
        if self._closed.is_set() or number not in self.recovering:
            return
        line, _model = self.pumps[number]
        line.submit(number, command_job(Command.RETURN_STATUS))
        self._schedule_retry(number)
