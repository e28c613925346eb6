"""A DART pump line: one thread polls every pump and runs per-pump command jobs.

The thread owns the serial transport (nothing else touches it). Each cycle it polls
each configured pump, turns what the pump says into :class:`PumpEvent` values for the
station (``on_event``), and advances that pump's current job. A job is a generator
that sends transactions and then yields a condition with a cycle budget; the line
resumes it when the condition holds, or throws :class:`JobTimeout` into it when the
budget runs out. Jobs are submitted from other threads with :meth:`DartLine.submit`.

The authorization job follows docs/pump-line.md exactly: totals first (so that a
later recovery can prove what was delivered), allowed nozzles + RESET, check DC1 is
RESET, preset + AUTHORIZE, check the pump is AUTHORIZED.
"""

from __future__ import annotations

import collections
import queue
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import structlog

from core.errors import DriverError
from drivers.dart import application as app
from drivers.dart.application import Command, PumpState, state_name
from drivers.dart.framer import Framer
from drivers.dart.link import ByteLine, DartMaster
from drivers.dart.pump import PumpEvent, PumpModel
from drivers.worker import Worker

log = structlog.get_logger(__name__)
#: Seconds between attempts to open a line that failed (adapter unplugged...).
REOPEN_S = 2.0
IDLE = (PumpState.NOT_PROGRAMMED, PumpState.RESET, PumpState.FILLING_COMPLETED,
        PumpState.MAX_REACHED)


class JobTimeout(Exception):
    """A job's condition did not hold within its cycle budget."""


Condition = Callable[[], bool]
Job = Generator[tuple[Condition, int], None, None]
JobFactory = Callable[["DartLine", PumpModel], Job]


@dataclass
class _Slot:
    model: PumpModel
    jobs: collections.deque[JobFactory] = field(default_factory=collections.deque)
    current: Job | None = None
    waiting: tuple[Condition, int] | None = None


class DartLine:
    """Polls the pumps of one line and runs their jobs, in a thread of its own."""

    def __init__(self, name: str, line: ByteLine | Callable[[], ByteLine],
                 pumps: list[PumpModel], *,
                 framer: Framer | None = None, response_timeout: float = 0.08,
                 retries: int = 3, offline_after: int = 3,
                 on_event: Callable[[PumpEvent], None] = lambda _e: None) -> None:
        self.name = name
        # Either an open line, or a function that opens it (retried while it fails).
        self._opener: Callable[[], ByteLine] | None = None
        opened: ByteLine | None = None
        if isinstance(line, ByteLine):
            opened = line
        else:
            self._opener = line
        self.master = DartMaster(opened, framer or Framer(),  # type: ignore[arg-type]
                                 response_timeout=response_timeout, retries=retries,
                                 offline_after=offline_after)
        self.connected = opened is not None
        self.slots = {p.number: _Slot(p) for p in pumps}
        self.on_event = on_event
        self._inbox: queue.SimpleQueue[tuple[int, JobFactory]] = queue.SimpleQueue()
        self._worker = Worker(f"pump-line[{name}]", self.run)
        self._stop = self._worker.stopped
        self.cycles = 0
        #: ``time.monotonic()`` of the thread's last turn of its loop (a cycle, or a wait
        #: to reopen the line): the station's watchdog calls a line whose beat is old hung.
        self.beat = time.monotonic()

    @property
    def alive(self) -> bool:
        """True while the line's thread runs."""
        return self._worker.alive

    @property
    def ident(self) -> int | None:
        """The line thread's identifier (the watchdog asks whether it waits for a lock)."""
        return self._worker.ident

    # -- thread -------------------------------------------------------------------------
    def start(self) -> DartLine:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def run(self) -> None:
        while not self._stop.is_set():
            self.beat = time.monotonic()
            if not self.connected and not self._connect():
                self._stop.wait(REOPEN_S)
                continue
            try:
                self.cycle()
            except DriverError as exc:
                log.error("line.failed", line=self.name, error=str(exc))
                self._disconnect()
            except Exception:  # a driver bug must not kill the line silently
                log.exception("line.cycle_failed", line=self.name,
                              last_frames=list(self.master.ring))
                self._stop.wait(0.5)

    def _connect(self) -> bool:
        if self._opener is None:
            return False
        try:
            self.master.line = self._opener()
        except DriverError as exc:
            log.error("line.open_failed", line=self.name, error=str(exc), retry_s=REOPEN_S)
            return False
        self.connected = True
        log.info("line.opened", line=self.name)
        return True

    def _disconnect(self) -> None:
        close = getattr(self.master.line, "close", None)
        if close is not None:
            close()
        self.connected = False
        for slot in self.slots.values():
            if slot.model.online:
                slot.model.online = False
                self.master.peer(slot.model.address).online = False
                self._emit(PumpEvent(slot.model.number, "offline"))

    def close(self) -> None:
        """Stop the thread and close the line."""
        self.stop()
        if self.connected:
            self._disconnect()

    def submit(self, number: int, job: JobFactory) -> None:
        """Queue ``job`` for pump ``number`` (thread-safe)."""
        self._inbox.put((number, job))

    # -- one cycle ----------------------------------------------------------------------
    def cycle(self) -> None:
        while not self._inbox.empty():
            number, job = self._inbox.get()
            self.slots[number].jobs.append(job)
        for slot in self.slots.values():
            self._poll(slot)
            self._advance(slot)
        self.cycles += 1

    def _poll(self, slot: _Slot) -> None:
        model = slot.model
        self.master.poll(model.address)
        self._deliver(slot)
        online = self.master.peer(model.address).online
        if online != model.online:
            model.online = online
            self._emit(PumpEvent(model.number, "online" if online else "offline"))

    def _deliver(self, slot: _Slot) -> None:
        for data in self.master.take(slot.model.address):
            for msg in app.decode(data, to_pump=False):
                if isinstance(msg, app.Malformed):
                    log.warning("pump.malformed_transaction", pump=slot.model.number,
                                trans=f"0x{msg.trans:02X}", reason=msg.reason)
                    continue
                for event in slot.model.update(msg):
                    self._emit(event)

    def _emit(self, event: PumpEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("line.event_handler_failed", pump=event.number, kind=event.kind)

    def _advance(self, slot: _Slot) -> None:
        if slot.current is None:
            if not slot.jobs:
                return
            slot.current = slot.jobs.popleft()(self, slot.model)
            slot.waiting = None
            self._resume(slot, None)
            return
        assert slot.waiting is not None
        condition, budget = slot.waiting
        if condition():
            self._resume(slot, None)
        elif budget <= 1:
            self._resume(slot, JobTimeout())
        else:
            slot.waiting = (condition, budget - 1)

    def _resume(self, slot: _Slot, error: JobTimeout | None) -> None:
        assert slot.current is not None
        try:
            slot.waiting = slot.current.throw(error) if error else next(slot.current)
        except (StopIteration, JobTimeout):
            slot.current, slot.waiting = None, None
        except Exception:
            log.exception("pump.job_failed", pump=slot.model.number)
            slot.current, slot.waiting = None, None

    # -- helpers for jobs (called on the line thread) -----------------------------------
    def send(self, model: PumpModel, *messages: app.Message) -> bool:
        ok = self.master.send(model.address, app.encode(list(messages)))
        slot = self.slots[model.number]
        self._deliver(slot)
        return ok


# -- jobs ---------------------------------------------------------------------------------
def _state_in(model: PumpModel, *states: PumpState) -> Condition:
    return lambda: model.state in states


def authorize_job(*, nozzles: tuple[int, ...], volume_raw: int | None = None,
                  amount_raw: int | None = None,
                  before: Callable[[dict[int, tuple[int, int]]], bool],
                  done: Callable[[bool, str], None], max_cycles: int = 30) -> JobFactory:
    """Totals -> ``before(totals)`` (durable record) -> CD2 + RESET -> preset + AUTHORIZE."""

    def job(line: DartLine, model: PumpModel) -> Job:
        try:
            if not model.online:
                done(False, "pump_offline")
                return
            if model.state not in IDLE:
                done(False, f"pump_busy:{state_name(model.state)}")
                return
            for counter in nozzles:
                model.totals.pop(counter, None)
                if not line.send(model, app.CD101(counter)):
                    done(False, "pump_not_answering")
                    return
            yield (lambda: all(c in model.totals for c in nozzles)), max_cycles
            if not before({c: model.totals[c] for c in nozzles}):
                done(False, "not_recorded")
                return
            for _attempt in range(2):  # some pumps ACK RESET and stay at 5: check, retry
                if not line.send(model, app.CD2(nozzles), app.CD1(Command.RESET)):
                    done(False, "pump_not_answering")
                    return
                model.state = None  # wait for the pump's own word
                line.send(model, app.CD1(Command.RETURN_STATUS))
                try:
                    yield _state_in(model, PumpState.RESET), max_cycles // 2
                    break
                except JobTimeout:
                    continue
            else:
                done(False, f"pump_not_reset:{state_name(model.state)}")
                return
            preset: app.Message = app.CD3(volume_raw) if volume_raw is not None else \
                app.CD4(amount_raw or 0)
            if not line.send(model, preset, app.CD1(Command.AUTHORIZE)):
                done(False, "pump_not_answering")
                return
            yield _state_in(model, PumpState.AUTHORIZED, PumpState.FILLING), max_cycles
            done(True, "authorized")
        except JobTimeout:
            done(False, f"pump_timeout:{state_name(model.state)}")

    return job


def query_job(*, counters: tuple[int, ...], done: Callable[[bool], None],
              max_cycles: int = 30) -> JobFactory:
    """Status, filling information (DC2) and totals of ``counters``; then ``done``."""

    def job(line: DartLine, model: PumpModel) -> Job:
        model.state = None
        model.filled_ml = -1
        for counter in counters:
            model.totals.pop(counter, None)
        ok = line.send(model, app.CD1(Command.RETURN_STATUS)) and line.send(
            model, app.CD1(Command.RETURN_FILLING_INFO)) and all(
            line.send(model, app.CD101(c)) for c in counters)
        if not ok:
            done(False)
            return
        try:
            yield (lambda: model.state is not None and model.filled_ml >= 0
                   and all(c in model.totals for c in counters)), max_cycles
        except JobTimeout:
            done(False)
            return
        done(True)

    return job


def totals_job(*, counters: tuple[int, ...],
               done: Callable[[dict[int, tuple[int, int]] | None, str], None],
               max_cycles: int = 30) -> JobFactory:
    """Read the totalizers (CD101 -> DC101) of ``counters``; ``done(totals, "read")``,
    or ``done(None, why)`` when the pump is offline or does not answer in time.

    Only reads: safe in any pump state (a shift may close while a pump fills; its
    reading then includes the fuel delivered so far).
    """

    def job(line: DartLine, model: PumpModel) -> Job:
        if not model.online:
            done(None, "pump offline")
            return
        for counter in counters:
            model.totals.pop(counter, None)
        if not all(line.send(model, app.CD101(c)) for c in counters):
            done(None, "pump not answering")
            return
        try:
            yield (lambda: all(c in model.totals for c in counters)), max_cycles
        except JobTimeout:
            done(None, "the pump did not report its totals in time")
            return
        done({c: model.totals[c] for c in counters}, "read")

    return job


def prices_job(prices_raw: tuple[int, ...], done: Callable[[bool], None] | None = None
               ) -> JobFactory:
    """Send unit prices (CD5) for every nozzle; only while the pump is idle."""

    def job(line: DartLine, model: PumpModel) -> Job:
        if model.state not in (PumpState.NOT_PROGRAMMED, PumpState.FILLING_COMPLETED,
                               PumpState.MAX_REACHED, PumpState.RESET):
            if done:
                done(False)
            return
        ok = line.send(model, app.CD5(prices_raw))
        if ok:
            model.prices_sent = prices_raw
            log.info("pump.prices_sent", pump=model.number, prices=list(prices_raw))
        if done:
            done(ok)
        yield from ()

    return job


def command_job(command: Command) -> JobFactory:
    def job(line: DartLine, model: PumpModel) -> Job:
        line.send(model, app.CD1(command))
        yield from ()

    return job

