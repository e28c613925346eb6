"""The line pumps' totalizers read live, for the shift and day reports (edge.forecourt)."""

from __future__ import annotations

import threading
import time

import structlog

from core.timefmt import iso, utc_now
from drivers.dart.line import DartLine, totals_job
from drivers.dart.pump import PumpModel
from offline_db.shifts import PumpTotals, Readings

log = structlog.get_logger(__name__)


def read_totals(pumps: dict[int, tuple[DartLine, PumpModel]], *, wait_s: float) -> Readings:
    """Every line pump's totalizers now, in ml and minor units (the pump's decimals).

    Never called under the daemon's lock: the line threads may need it meanwhile. A
    pump that is offline or does not answer within ``wait_s`` is ``unavailable``
    with the reason; the others are read in parallel (one job per pump).
    """
    taken_at = iso(utc_now())
    got: dict[int, PumpTotals] = {}
    guard = threading.Lock()
    waits: list[tuple[int, threading.Event]] = []
    for number, (line, model) in sorted(pumps.items()):
        if not model.online:
            got[number] = PumpTotals(f"pump offline (not answering on line {line.name})")
            continue
        event = threading.Event()

        def done(totals: dict[int, tuple[int, int]] | None, why: str, *,
                 number: int = number, model: PumpModel = model,
                 event: threading.Event = event) -> None:
            with guard:
                got[number] = PumpTotals(why) if totals is None else PumpTotals(None, {
                    n: (model.product(n), vol, amount) for n, (vol, amount) in totals.items()})
            event.set()

        line.submit(number, totals_job(counters=tuple(range(1, len(model.nozzles) + 1)),
                                       done=done))
        waits.append((number, event))
    deadline = time.monotonic() + wait_s  # one budget for all: they answer in parallel
    for _number, event in waits:
        event.wait(max(0.0, deadline - time.monotonic()))
    with guard:
        for number, _event in waits:
            got.setdefault(number, PumpTotals("the pump did not answer the totalizer "
                                              "query in time"))
        log.info("pump.totals_read", pumps=len(got),
                 unavailable=sorted(n for n, p in got.items() if p.unavailable))
        return Readings(taken_at, "live", None, dict(got))
