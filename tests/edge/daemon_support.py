"""A station daemon driving DART pumps simulated on a real pty, for the edge tests.

The simulator runs in the test process on the pty's master side (and outlives the
daemon, as real pumps do); ``forecourt run`` opens the slave side by the path the
config names, exactly as it would a USB-RS485 adapter. Shared by the sale, stop,
full-disk, status, watchdog and shift-report tests, so that each says only what its
own station has that the others have not.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drivers.dart.application import PumpState
from drivers.dart.simulator import PumpSimulator, SimPump
from drivers.ptyline import PtyLine
from tests.support import fc_json, initialize, wait_for

CARD = "7800001234567893"  # magstripe card: all products, day money limit 300000

#: The pumps of line island-1: (number, DART address, the products of its nozzles).
TWO_PUMPS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (1, 0x50, ("AI92", "AI95", "DT")),
    (2, 0x51, ("AI95", "DT")),
)

#: A hang guard for a daemon's exit, far above [station] stop_wait + the settle time.
EXIT_GUARD_S = 60
#: The pump states in which a pump can deliver fuel.
LIVE = (PumpState.AUTHORIZED, PumpState.FILLING)


def pumps_tty(folder: Path) -> Path:
    """Where the simulated pumps' pty is linked (beside the test's config file)."""
    return folder / "pumps.tty"


def pump_line(port: Path | str, pumps: Sequence[tuple[int, int, Sequence[str]]] = TWO_PUMPS,
              *, patient: bool = False) -> str:
    """The ``[[pump_lines]]`` section of line island-1 on ``port`` with ``pumps``.

    ``patient``: a longer response timeout and more missed polls before offline, so
    that two busy test workers never make a pump look offline mid-test.
    """
    timeout_ms, offline_after = (150, 5) if patient else (40, 2)
    text = f"""
[[pump_lines]]
name = "island-1"
port = "{port}"
parity = "none"  # a pty ignores parity and refuses some re-applications of it
response_timeout_ms = {timeout_ms}
retries = 2
offline_after = {offline_after}
"""
    for number, address, nozzles in pumps:
        text += f"""
[[pump_lines.pumps]]
number = {number}
address = {address}
nozzles = {json.dumps(list(nozzles))}
"""
    return text


@contextmanager
def simulated_pumps(folder: Path, pumps: list[SimPump] | None = None, *,
                    flow_rate: float = 4000.0) -> Iterator[PumpSimulator]:
    """DART pumps answering on a pty linked at :func:`pumps_tty` (``folder``); by default
    the two of :data:`TWO_PUMPS`, their totalizers at zero, delivering ``flow_rate``."""
    if pumps is None:
        pumps = [SimPump(address, [0] * len(nozzles), flow_rate=flow_rate)
                 for _, address, nozzles in TWO_PUMPS]
    line = PtyLine(pumps_tty(folder))
    simulator = PumpSimulator(line, pumps).start()
    try:
        yield simulator
    finally:
        simulator.stop()
        line.close()


def line_station(config_file: Path, store_file: Path,
                 pumps: Sequence[tuple[int, int, Sequence[str]]] = TWO_PUMPS, *,
                 patient: bool = False, changes: dict[str, str] | None = None) -> Path:
    """``config_file`` with each of ``changes`` (old text: new) made and the line of
    ``pumps`` on :func:`pumps_tty` appended, then initialized with ``store_file``."""
    text = config_file.read_text()
    for old, new in (changes or {}).items():
        assert old in text, f"{old!r} is not in the test config"
        text = text.replace(old, new)
    port = pumps_tty(config_file.parent)
    config_file.write_text(text + pump_line(port, pumps, patient=patient))
    return initialize(config_file, store_file)


def pump_ready(config: Path, number: int) -> dict[str, Any]:
    """Wait until pump ``number`` is online and idle; its ``pump status`` row."""
    def ready() -> dict[str, Any] | None:
        rows = {r["pump"]: r for r in fc_json(config, "pump", "status")}
        row: dict[str, Any] = rows[number]
        return row if row["online"] and row["state"] in ("FILLING_COMPLETED", "RESET") \
            else None

    result: dict[str, Any] = wait_for(ready, f"pump {number} ready")
    return result


def authorize(config: Path, pump: int, product: str, volume_ml: int) -> dict[str, Any]:
    """``forecourt sale authorize`` of ``volume_ml`` of ``product`` on ``pump`` for
    :data:`CARD`; its answer."""
    auth: dict[str, Any] = fc_json(config, "sale", "authorize", "--card", CARD, "--pump",
                                   str(pump), "--product", product, "--volume", str(volume_ml))
    return auth


def start_fill(config: Path, sim: PumpSimulator, pump: int, nozzle: int, product: str,
               volume_ml: int) -> dict[str, Any]:
    """Authorize ``volume_ml`` of ``product`` on ``pump`` for :data:`CARD`, lift the
    pump's ``nozzle`` and wait until fuel flows; the authorization."""
    auth = authorize(config, pump, product, volume_ml)
    address = 0x4F + pump
    sim.lift(address, nozzle)
    wait_for(lambda: sim.pumps[address].filled_volume > 500, f"fuel flowing on pump {pump}")
    return auth


def journal(config: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = fc_json(config, "journal", "list")
    return rows


def terminate(proc: subprocess.Popen[str]) -> int:
    """SIGTERM and the daemon's exit code; fails the test if it does not exit."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=EXIT_GUARD_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the daemon did not exit after SIGTERM") from None


def no_pump_live_without_a_sale(config: Path, sim: PumpSimulator) -> None:
    """Every pump that can deliver has an open authorization recorded for it."""
    open_pumps = {r["pump"] for r in fc_json(config, "sale", "list", "--open")}
    with sim.lock:
        live = {a - 0x4F for a, p in sim.pumps.items() if p.state in LIVE}
    assert live <= open_pumps, (live, open_pumps)
