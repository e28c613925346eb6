"""DartLine end to end against the pump simulator over a real pty pair
(tests/drivers/dart_rig.py): jobs, sales, presets, silent pumps, busy pumps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from drivers.dart import application as app
from drivers.dart.application import Command, PumpState
from drivers.dart.line import DartLine, authorize_job, prices_job, query_job
from drivers.dart.pump import PumpEvent, PumpModel
from drivers.dart.simulator import PumpSimulator, SimPump
from drivers.ptyline import PtyLine
from drivers.transport import SerialTransport
from tests.drivers.dart_rig import (
    PUMP,
    TIMEOUT,
    WAIT,
    RecordingLine,
    wait_for,
)


# -- DartLine: jobs end to end ------------------------------------------------------------
@dataclass
class Done:
    event: threading.Event = field(default_factory=threading.Event)
    results: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, *args: Any) -> None:
        self.results.append(args)
        self.event.set()

    def wait(self) -> tuple[Any, ...]:
        assert self.event.wait(WAIT), "job never finished"
        assert len(self.results) == 1
        return self.results[0]


@dataclass
class LineRig:
    sim: PumpSimulator
    line: DartLine
    model: PumpModel
    recorder: RecordingLine
    events: list[PumpEvent]

    def pump(self) -> SimPump:
        return self.sim.pumps[PUMP]

    def run(self, job: Callable[[Done], Any]) -> tuple[Any, ...]:
        done = Done()
        self.line.submit(self.model.number, job(done))
        return done.wait()

    def statuses(self) -> list[PumpState | int | None]:
        return [e.status for e in list(self.events) if e.kind == "status"]


@contextmanager
def make_line_rig(*, offline_after: int = 3) -> Iterator[LineRig]:
    pty = PtyLine()
    sim: PumpSimulator | None = None
    transport: SerialTransport | None = None
    line: DartLine | None = None
    try:
        sim = PumpSimulator(pty, [SimPump(PUMP, [1500, 1400], flow_rate=2000.0)]).start()
        transport = SerialTransport(url=pty.path)
        recorder = RecordingLine(transport)
        model = PumpModel(number=1, address=PUMP, nozzles=["95", "DSL"])
        events: list[PumpEvent] = []
        line = DartLine("test", recorder, [model], response_timeout=TIMEOUT,
                        offline_after=offline_after, on_event=events.append).start()
        yield LineRig(sim, line, model, recorder, events)
    finally:
        if line is not None:
            line.stop()
        if sim is not None:
            sim.stop()
        if transport is not None:
            transport.close()
        pty.close()


def bring_up(rig: LineRig) -> None:
    """Learn the pump's state and program its prices, as the station does at start."""
    ok = rig.run(lambda d: query_job(counters=(1, 2), done=d))
    assert ok == (True,)
    assert rig.model.state == PumpState.NOT_PROGRAMMED
    assert rig.model.online is True
    assert rig.model.totals == {1: (0, 0), 2: (0, 0)}
    assert rig.run(lambda d: prices_job((1500, 1400), done=d)) == (True,)
    assert rig.model.prices_sent == (1500, 1400)
    assert wait_for(lambda: rig.model.state == PumpState.FILLING_COMPLETED)


def test_line_sale_end_to_end() -> None:
    with make_line_rig() as rig:
        bring_up(rig)
        seen_at_before: dict[str, Any] = {}

        def before(totals: dict[int, tuple[int, int]]) -> bool:
            with rig.sim.lock:
                seen_at_before["totals"] = dict(totals)
                seen_at_before["pump_state"] = rig.pump().state
                seen_at_before["allowed"] = set(rig.pump().allowed)
            seen_at_before["commands"] = rig.recorder.commands()
            return True

        result = rig.run(lambda d: authorize_job(nozzles=(1,), volume_raw=500, before=before,
                                                 done=d))
        assert result == (True, "authorized")
        assert rig.model.state == PumpState.AUTHORIZED

        # totals -> before() -> CD2 + RESET -> preset + AUTHORIZE, in that order
        assert seen_at_before["totals"] == {1: (0, 0)}
        assert seen_at_before["pump_state"] == PumpState.FILLING_COMPLETED
        assert seen_at_before["allowed"] == set()
        flat_before = [m for msgs in seen_at_before["commands"] for m in msgs]
        assert app.CD101(1) in flat_before
        assert app.CD1(Command.RESET) not in flat_before
        commands = rig.recorder.commands()
        i_totals = commands.index([app.CD101(1)])
        i_reset = commands.index([app.CD2((1,)), app.CD1(Command.RESET)])
        i_auth = commands.index([app.CD3(500), app.CD1(Command.AUTHORIZE)])
        assert i_totals < i_reset < i_auth
        assert [app.CD1(Command.RETURN_STATUS)] in commands[i_reset:i_auth]  # checks RESET
        statuses = rig.statuses()
        assert statuses.index(PumpState.RESET) < statuses.index(PumpState.AUTHORIZED)
        with rig.sim.lock:
            assert rig.pump().preset_volume == 500
            assert rig.pump().allowed == {1}

        # A nozzle that is not allowed does not start the fill.
        rig.sim.lift(PUMP, 2)
        with rig.sim.lock:
            assert rig.pump().state == PumpState.AUTHORIZED
        assert wait_for(lambda: rig.model.nozzle == 2 and rig.model.nozzle_out)
        assert PumpState.FILLING not in rig.statuses()


def test_line_fill_stops_at_the_preset() -> None:
    with make_line_rig() as rig:
        bring_up(rig)
        result = rig.run(lambda d: authorize_job(nozzles=(1,), volume_raw=500,
                                                 before=lambda _t: True, done=d))
        assert result == (True, "authorized")
        rig.sim.lift(PUMP, 1)
        assert wait_for(lambda: rig.model.state == PumpState.MAX_REACHED)
        assert wait_for(lambda: rig.model.filled_ml == 500)
        statuses = rig.statuses()
        assert PumpState.FILLING in statuses
        assert statuses.index(PumpState.FILLING) < statuses.index(PumpState.MAX_REACHED)
        fillings = [e for e in list(rig.events) if e.kind == "filling"]
        assert fillings[-1].volume_ml == 500  # DC2 volume == preset (3 decimals: raw = ml)
        assert fillings[-1].amount == 750  # 0.500 L x 1500 (raw, amount decimals 2)
        nozzle_events = [e for e in list(rig.events) if e.kind == "nozzle"]
        assert nozzle_events and nozzle_events[-1].nozzle == 1
        assert nozzle_events[-1].nozzle_out is True
        with rig.sim.lock:
            assert int(rig.pump().filled_volume) == 500
        # Hang up, then read the final filling and totals from the pump itself.
        rig.sim.hang(PUMP)
        assert rig.run(lambda d: query_job(counters=(1,), done=d)) == (True,)
        assert rig.model.filled_ml == 500
        assert rig.model.totals[1][0] == 500


def test_line_job_against_a_silent_pump_reports_failure() -> None:
    with make_line_rig() as rig:
        bring_up(rig)
        with rig.sim.lock:
            rig.pump().faults.silent = True
        before_called: list[bool] = []

        def before(_totals: dict[int, tuple[int, int]]) -> bool:
            before_called.append(True)
            return True

        ok, reason = rig.run(lambda d: authorize_job(nozzles=(1,), volume_raw=500,
                                                     before=before, done=d))
        assert ok is False
        assert reason in ("pump_not_answering", "pump_offline")
        assert before_called == []
        assert rig.run(lambda d: query_job(counters=(1,), done=d)) == (False,)
        assert wait_for(lambda: rig.model.online is False)
        assert "offline" in [e.kind for e in list(rig.events)]
        ok, reason = rig.run(lambda d: authorize_job(nozzles=(1,), volume_raw=500,
                                                     before=before, done=d))
        assert (ok, reason) == (False, "pump_offline")
        flat = [m for msgs in rig.recorder.commands() for m in msgs]
        assert app.CD1(Command.AUTHORIZE) not in flat
        with rig.sim.lock:
            assert rig.pump().state == PumpState.FILLING_COMPLETED
        # It answers again: online, and a job goes through.
        with rig.sim.lock:
            rig.pump().faults.silent = False
        assert wait_for(lambda: rig.model.online is True)
        assert rig.run(lambda d: query_job(counters=(1,), done=d)) == (True,)


def test_line_prices_refused_while_pump_busy() -> None:
    with make_line_rig() as rig:
        bring_up(rig)
        assert rig.run(lambda d: authorize_job(nozzles=(1, 2), amount_raw=100000,
                                               before=lambda _t: True, done=d)) == \
            (True, "authorized")
        assert rig.run(lambda d: prices_job((1600, 1500), done=d)) == (False,)
        with rig.sim.lock:
            assert rig.pump().prices == [1500, 1400]
            assert rig.pump().preset_amount == 100000
