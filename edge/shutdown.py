"""A safe stop of the pump lines (SIGTERM): no pump left authorized without its sale.

The invariant that makes any stop safe, even SIGKILL: a pump is authorized only after
its authorization and the totals of its allowed nozzles are committed (edge.lifecycle,
edge.forecourt), so whatever it delivers while the station is down is recovered from
the pump's own data at the next start (docs/pump-line.md, Recovery). A stop does
better than that and leaves no pump able to deliver:

1. no new sale: the forecourt is ``stopping`` (``station_stopping``);
2. a pump with an open sale that is not delivering (authorized, nozzle in its
   holster, or still being authorized) is sent STOP at once: it ends FILLING
   COMPLETED and its sale is settled from the pump's data as always (cancelled, since
   nothing was delivered; or completed, if the nozzle was lifted meanwhile);
3. a pump that is delivering may finish within ``wait_s`` ([station] stop_wait): its
   sale completes as usual; when the wait is over it is sent STOP and its sale is
   completed with what it delivered;
4. the stop waits at most :data:`STOP_SETTLE_S` more for those sales to be recorded.

A sale that could not be settled (its pump offline, the disk full) stays open,
recorded with its totals, and the next start settles it from the pump's data.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from drivers.dart.application import Command, PumpState
from drivers.dart.line import command_job

if TYPE_CHECKING:
    from edge.forecourt import Forecourt

log = structlog.get_logger(__name__)
#: Seconds a stop waits, after ``stop_wait``, for stopped pumps' sales to be recorded.
STOP_SETTLE_S = 5.0
_STEP_S = 0.05


def drain(forecourt: Forecourt, wait_s: float, *, settle_s: float = STOP_SETTLE_S
          ) -> list[str]:
    """Stop the forecourt's pumps safely (module docstring); returns the sale ids left
    open for the next start."""
    with forecourt.guard:
        forecourt.stopping = True
    if not forecourt.active:
        return []
    log.info("pump.draining", pumps=sorted(forecourt.active), wait_s=wait_s)
    start = time.monotonic()
    deadline, last = start + wait_s, start + wait_s + settle_s
    stopped: set[int] = set()
    while True:
        now = time.monotonic()
        waiting = False
        for number, active in list(forecourt.active.items()):
            line, model = forecourt.pumps[number]
            if not model.online:
                continue  # nothing to tell it: its sale stays open for the next start
            waiting = True
            if number in stopped or active.completing:
                continue
            if model.state != PumpState.FILLING or now >= deadline:
                stopped.add(number)
                log.info("pump.stopped_for_shutdown", pump=number, sale_id=active.sale_id,
                         state=model.state.name if isinstance(model.state, PumpState)
                         else model.state, filled_ml=model.filled_ml)
                line.submit(number, command_job(Command.STOP))
        if not waiting or now >= last:
            break
        time.sleep(_STEP_S)
    left = [a.sale_id for a in forecourt.active.values()]
    for number, active in forecourt.active.items():
        log.warning("sale.left_open", pump=number, sale_id=active.sale_id,
                    reason="settled from the pump's data at the next start")
    log.info("pump.drained", seconds=round(time.monotonic() - start, 2), left_open=left)
    return left
