"""The station's pump lines: card decisions drive pumps, pump data completes sales.

A pump number on a configured ``[[pump_lines]]`` line is driven by the line: an
approved authorization becomes the DART sequence of docs/pump-line.md, and the sale
completes from the pump's own final filling (DC2) and totalizers (DC101). Any other
pump number is a manual pump, completed from the CLI.

Before a pump is authorized, the totals of its allowed nozzles are committed in
``pump_fills``; after a restart or a lost line, an open sale is completed only when
exactly one allowed nozzle's totalizer rose by exactly the pump's reported filling,
cancelled when none rose, and otherwise flagged for the operator — never guessed.
A nozzle lifted without a card decision is logged and never authorized.

Beside it: edge.pump_settle settles a sale from the pump's data (and again, every few
seconds, one the store could not take: a full disk); offline_db.pump_fills keeps the
``pump_fills`` rows; edge.pump_totals reads the totalizers for the reports. A stop
(SIGTERM) drains the pumps first (edge.shutdown).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import structlog

from core.config import Config
from core.errors import SaleError, StationStopping, StoreError
from core.timefmt import iso, utc_now
from drivers.dart.application import Command, PumpState, state_name
from drivers.dart.framer import Framer
from drivers.dart.line import DartLine, authorize_job, command_job, prices_job, query_job
from drivers.dart.pump import PumpEvent, PumpModel, Units
from drivers.transport import SerialTransport
from edge.lifecycle import Station
from edge.pump_settle import Settlement
from edge.pump_totals import read_totals
from edge.shutdown import drain
from offline_db import cards
from offline_db.pump_fills import get_fill, record_fill, unsettled_sales
from offline_db.shifts import Readings

log = structlog.get_logger(__name__)
FILLING_STATES = (PumpState.AUTHORIZED, PumpState.FILLING)
DONE_STATES = (PumpState.FILLING_COMPLETED, PumpState.MAX_REACHED)


@dataclass
class _Active:
    sale_id: str
    nozzles: tuple[int, ...]
    totals_before: dict[int, tuple[int, int]] | None
    completing: bool = False


class Forecourt:
    """Every pump line of the station, wired to the sale lifecycle."""

    def __init__(self, config: Config, station: Station, lock: AbstractContextManager[Any],
                 *, line_factory: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.station = station
        self.lock = lock  # the daemon's one-writer lock around the store
        self.lines: list[DartLine] = []
        self.pumps: dict[int, tuple[DartLine, PumpModel]] = {}
        self.active: dict[int, _Active] = {}
        self.settlement = Settlement(station, lock, self.pumps)
        self._querying: set[int] = set()
        #: When each pump last went online or offline (ISO; the daemon's start before).
        self.since: dict[int, str] = {}
        self._line_factory = line_factory or self._open_line
        #: Set once a stop begins (edge.shutdown): no new sale starts on a pump.
        self.stopping = False
        self.guard = threading.Lock()  # ``stopping`` against a sale taking its pump

    # -- start and stop -----------------------------------------------------------------
    def _open_line(self, line_cfg: Any) -> Any:
        return SerialTransport(url=line_cfg.port, baudrate=line_cfg.baudrate,
                               parity=line_cfg.parity, echo=line_cfg.echo)

    def start(self) -> None:
        for line_cfg in self.config.pump_lines:
            models = [PumpModel(p.number, p.address, list(p.nozzles),
                                Units(p.volume_decimals, p.amount_decimals, p.price_decimals))
                      for p in line_cfg.pumps]
            line = DartLine(line_cfg.name or line_cfg.port,
                            functools.partial(self._line_factory, line_cfg),
                            models, framer=Framer(line_cfg.crc),
                            response_timeout=line_cfg.response_timeout_ms / 1000,
                            retries=line_cfg.retries, offline_after=line_cfg.offline_after,
                            on_event=self.on_event)
            self.lines.append(line)
            for model in models:
                self.pumps[model.number] = (line, model)
                self.since[model.number] = iso(utc_now())
        with self.lock:
            for auth in unsettled_sales(self.station.conn):
                if auth["pump"] in self.pumps:
                    self.settlement.recovering.add(auth["pump"])
                    log.warning("sale.recovery_pending", sale_id=auth["sale_id"],
                                pump=auth["pump"])
        for line in self.lines:
            line.start()

    def stop(self, *, wait_s: float | None = None) -> None:
        """Drain the pumps (edge.shutdown: no pump left authorized without its sale
        settled or recorded open), then close the lines. ``wait_s``: how long fills under
        way may run on ([station] stop_wait)."""
        try:
            drain(self, self.config.station.stop_wait_s if wait_s is None else wait_s)
        finally:
            self.settlement.close()
            for line in self.lines:
                line.close()

    def is_line_pump(self, number: int) -> bool:
        return number in self.pumps

    # -- from the control socket --------------------------------------------------------
    def check_available(self, number: int) -> None:
        """Refuse (before any decision is recorded) a pump that cannot take a sale now.

        A pump with an open sale is not refused here: the store holds every open
        authorization, and the single writer denies a second one as ``pump_busy`` (a
        recorded decision, like every other), whatever state the pump is in.
        """
        line, model = self.pumps[number]
        if self.stopping:
            raise StationStopping("the station is stopping: no new sale is authorized")
        if number in self.active or number in self.settlement.recovering:
            return
        if not model.online:
            raise SaleError(f"pump {number} is not answering on line {line.name}")
        if model.state not in (PumpState.RESET, PumpState.FILLING_COMPLETED,
                               PumpState.MAX_REACHED):
            raise SaleError(f"pump {number} is not ready ({state_name(model.state)})")

    def start_sale(self, result: dict[str, Any], *, wait_s: float = 10.0) -> dict[str, Any]:
        """Drive the pump for an approved authorization; wait for the pump's word."""
        number, sale_id = result["pump"], result["sale_id"]
        line, model = self.pumps[number]
        nozzles = model.nozzles_for(result["products"])
        if not nozzles:
            self.settlement.cancel(number, sale_id,
                               "no nozzle of this pump carries an allowed product")
            return {**result, "pump_state": "cancelled", "pump_reason": "no_nozzle"}
        active = _Active(sale_id, nozzles, None)
        with self.guard:  # a stop that began meanwhile drains what is active, nothing later
            if not self.stopping:
                self.active[number] = active
        if self.active.get(number) is not active:
            self.settlement.cancel(number, sale_id, "the station is stopping")
            return {**result, "approved": False, "pump_state": "cancelled",
                    "pump_reason": StationStopping.code}
        finished = threading.Event()
        outcome: dict[str, Any] = {}

        def before(totals: dict[int, tuple[int, int]]) -> bool:
            active.totals_before = totals
            try:  # the proof of a later recovery: without it, the pump is not authorized
                with self.lock:
                    record_fill(self.station.conn, sale_id, number, nozzles, totals,
                                state="authorizing")
            except StoreError as exc:
                active.totals_before = None
                log.error("pump.fill_not_recorded", pump=number, sale_id=sale_id,
                          error=str(exc))
                return False
            return True

        def done(ok: bool, reason: str) -> None:
            outcome.update(ok=ok, reason=reason)
            if ok:
                with self.lock:
                    self.settlement.set_fill_state(sale_id, "authorized")
                log.info("pump.authorized", pump=number, sale_id=sale_id,
                         max_volume_ml=result["max_volume_ml"])
            else:
                self.active.pop(number, None)
                self.settlement.cancel(number, sale_id, f"the pump refused: {reason}")
            finished.set()

        line.submit(number, authorize_job(
            nozzles=nozzles, volume_raw=model.units.raw_volume(result["max_volume_ml"]),
            before=before, done=done))
        if not finished.wait(wait_s):
            return {**result, "pump_state": "pending"}
        if outcome["ok"]:
            return {**result, "pump_state": "authorized"}
        return {**result, "approved": False, "pump_state": "cancelled",
                "pump_reason": outcome["reason"]}

    # -- from the pump lines ------------------------------------------------------------
    def on_event(self, event: PumpEvent) -> None:
        number = event.number
        line, model = self.pumps[number]
        active = self.active.get(number)
        if event.kind in ("online", "offline"):
            self.since[number] = iso(utc_now())
        if event.kind == "online":
            log.info("pump.online", pump=number)
            if number in self.settlement.recovering:
                self._recover(number)
            else:
                line.submit(number, command_job(Command.RETURN_STATUS))
            return
        if event.kind == "offline":
            log.warning("pump.offline", pump=number,
                        open_sale=active.sale_id if active else None)
            return
        if event.kind == "nozzle":
            if event.nozzle_out and active is None:
                log.warning("pump.lift_without_authorization", pump=number, nozzle=event.nozzle)
            return
        if event.kind == "filling":
            if active is not None:
                log.debug("pump.filling", pump=number, volume_ml=event.volume_ml)
            return
        if event.kind == "alarm":
            log.warning("pump.alarm", pump=number, code=event.value)
            return
        if event.kind != "status":
            return
        if active is not None and event.status in DONE_STATES and not active.completing \
                and active.totals_before is not None:
            active.completing = True
            self._query_then(number, lambda ok: self._settle(number, ok))
        elif number in self.settlement.recovering:
            self._recover(number)
        elif active is None:
            self._sync_prices(line, model)

    def _query_then(self, number: int, then: Callable[[bool], None]) -> None:
        line, model = self.pumps[number]
        line.submit(number, query_job(counters=tuple(range(1, len(model.nozzles) + 1)),
                                      done=then))

    def _settle(self, number: int, ok: bool) -> None:
        """The pump finished a fill: complete, cancel or flag the sale (line thread)."""
        active = self.active.get(number)
        if active is None:
            return
        if not ok:
            active.completing = False  # ask again on the next status change / online
            log.warning("pump.query_failed", pump=number, sale_id=active.sale_id)
            self.settlement.recovering.add(number)
            self.active.pop(number, None)
            return
        self.active.pop(number, None)
        self.settlement.resolve(number, active.sale_id, active.nozzles, active.totals_before)

    def _recover(self, number: int) -> None:
        if number in self._querying:
            return
        with self.lock:
            rows = [a for a in unsettled_sales(self.station.conn) if a["pump"] == number]
        if not rows:
            self.settlement.recovering.discard(number)
            return
        auth = rows[0]
        with self.lock:
            fill = get_fill(self.station.conn, auth["sale_id"])

        def decide(ok: bool) -> None:
            self._querying.discard(number)
            if not ok:
                return  # stays in recovery; tried again on the pump's next word
            _line, model = self.pumps[number]
            self.settlement.recovering.discard(number)
            if fill is None or fill["totals_before"] is None:
                # The totals are recorded before any command: the pump was never authorized.
                self.settlement.cancel(number, auth["sale_id"], "the pump was never authorized")
                return
            nozzles = tuple(json.loads(fill["nozzles"]))
            before = {int(k): (int(v[0]), int(v[1]))
                      for k, v in json.loads(fill["totals_before"]).items()}
            if model.state in FILLING_STATES:
                self.active[number] = _Active(auth["sale_id"], nozzles, before)
                log.info("sale.recovery_adopted", pump=number, sale_id=auth["sale_id"])
                return
            self.settlement.resolve(number, auth["sale_id"], nozzles, before)

        self._querying.add(number)
        self._query_then(number, decide)

    # -- prices -------------------------------------------------------------------------
    def _sync_prices(self, line: DartLine, model: PumpModel) -> None:
        if model.state not in (PumpState.NOT_PROGRAMMED, PumpState.FILLING_COMPLETED,
                               PumpState.MAX_REACHED):
            return
        with self.lock:
            prices = cards.prices(self.station.conn)
        missing = [code for code in model.nozzles if code not in prices]
        if missing:
            log.error("pump.no_price", pump=model.number, products=missing)
            return
        wanted = tuple(model.units.raw_price(prices[code]) for code in model.nozzles)
        if wanted != model.prices_sent:
            line.submit(model.number, prices_job(wanted))

    def sync_all_prices(self) -> None:
        for line, model in self.pumps.values():
            if model.number not in self.active:
                self._sync_prices(line, model)

    def status(self) -> list[dict[str, Any]]:
        out = []
        for number, (line, model) in sorted(self.pumps.items()):
            active = self.active.get(number)
            out.append({"pump": number, "line": line.name, "address": f"0x{model.address:02X}",
                        "online": model.online, "since": self.since.get(number),
                        "state": state_name(model.state),
                        "nozzle": model.nozzle, "nozzle_out": model.nozzle_out,
                        "sale_id": active.sale_id if active else None,
                        "filled_ml": model.filled_ml})
        return out

    # -- totalizers (reports) -----------------------------------------------------------
    def read_totals(self, *, wait_s: float = 5.0) -> Readings:
        """Every line pump's totalizers now (edge.pump_totals; never under the lock)."""
        return read_totals(self.pumps, wait_s=wait_s)
