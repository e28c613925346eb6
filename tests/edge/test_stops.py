"""Safe stops: SIGTERM during a fill, SIGKILL and a restart, against ``forecourt run`` and
DART pumps simulated on a real pty (the simulator lives in the test process and
outlives the daemon, as real pumps do).

What must hold after every stop: no pump is left able to deliver without an open
authorization recorded for it, and every fill's volume ends up in exactly one sale.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.dart.application import PumpState
from drivers.dart.simulator import PumpSimulator
from edge.control import RemoteError, call
from tests.edge.daemon_support import (
    CARD,
    EXIT_GUARD_S,
    LIVE,
    authorize,
    journal,
    line_station,
    no_pump_live_without_a_sale,
    pump_ready,
    simulated_pumps,
    start_fill,
    terminate,
)
from tests.support import daemon_log, fc, fc_json, start_daemon, wait_for


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PumpSimulator]:
    with simulated_pumps(tmp_path, flow_rate=1000.0) as simulator:
        yield simulator


def _station(config_file: Path, store_file: Path, stop_wait: str) -> Path:
    return line_station(config_file, store_file, patient=True,
                        changes={'stop_wait = "15s"': f'stop_wait = "{stop_wait}"'})


@pytest.fixture
def station(config_file: Path, sample_store_file: Path, sim: PumpSimulator) -> Path:
    return _station(config_file, sample_store_file, "1s")


@pytest.fixture
def patient_station(config_file: Path, sample_store_file: Path, sim: PumpSimulator) -> Path:
    return _station(config_file, sample_store_file, "20s")


def states(config: Path) -> dict[str, str]:
    rows: list[dict[str, Any]] = fc_json(config, "sale", "list")
    return {r["sale_id"]: r["state"] for r in rows}


def restart_records_nothing_twice(station: Path) -> None:
    """A new daemon finds nothing to recover: the one sale stays one, nothing is open,
    and the journal verifies after it stops."""
    proc = start_daemon(station)
    try:
        pump_ready(station, 1)
        assert len(journal(station)) == 1
        assert fc_json(station, "sale", "list", "--open") == []
    finally:
        assert terminate(proc) == 0
    assert "journal intact: 1 sale," in fc(station, "journal", "verify").stdout


def test_sigterm_mid_fill_stops_the_pumps_and_records_the_fill(
        station: Path, sim: PumpSimulator) -> None:
    proc = start_daemon(station)
    try:
        pump_ready(station, 1)
        pump_ready(station, 2)
        filling = authorize(station, 1, "DT", 30000)
        idle = authorize(station, 2, "AI95", 10000)
        assert (filling["pump_state"], idle["pump_state"]) == ("authorized", "authorized")
        sim.lift(0x50, 3)
        wait_for(lambda: sim.pumps[0x50].filled_volume > 500, "fuel flowing on pump 1")
        assert terminate(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with sim.lock:  # neither pump can deliver any more, and pump 1 stopped mid-fill
        assert sim.pumps[0x50].state == PumpState.FILLING_COMPLETED
        assert sim.pumps[0x51].state == PumpState.FILLING_COMPLETED
        assert sim.pumps[0x50].nozzle_out  # the customer still holds it: the pump stopped
        delivered = int(sim.pumps[0x50].filled_volume)
        totals = sim.pumps[0x50].totals_volume[2]
    assert 0 < delivered < 30000
    rows = journal(station)
    assert [(r["sale_id"], r["volume_ml"]) for r in rows] == [(filling["sale_id"], delivered)]
    assert totals == delivered  # the pump's totalizer rose by exactly the sale
    assert fc_json(station, "sale", "list", "--open") == []
    assert states(station)[idle["sale_id"]] == "cancelled"
    log = daemon_log(station).read_text()
    assert "pump.stopped_for_shutdown" in log and "sale.left_open" not in log
    no_pump_live_without_a_sale(station, sim)

    # The next start finds nothing to recover and records nothing twice.
    restart_records_nothing_twice(station)


def test_sigterm_lets_a_fill_end_and_takes_no_new_sale(patient_station: Path,
                                                      sim: PumpSimulator) -> None:
    station = patient_station
    proc = start_daemon(station)
    try:
        pump_ready(station, 1)
        pump_ready(station, 2)
        auth = start_fill(station, sim, 1, nozzle=1, product="AI92", volume_ml=30000)
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "pump.draining" in daemon_log(station).read_text(), "the drain")
        # Stopping: the control socket still answers, but no new sale starts.
        sock = station.parent / "station" / "control.sock"
        with pytest.raises(RemoteError) as refused:
            call(sock, "sale.authorize", {"card": CARD, "pump": 2, "product": "AI95"},
                 actor="test")
        assert refused.value.code == "station_stopping"
        assert "the station is stopping" in str(refused.value)
        with sim.lock:
            assert sim.pumps[0x50].state == PumpState.FILLING  # still delivering
            assert sim.pumps[0x51].state not in LIVE
        sim.hang(0x50)  # the customer finishes within stop_wait
        assert proc.wait(timeout=EXIT_GUARD_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with sim.lock:
        delivered = int(sim.pumps[0x50].filled_volume)
    rows = journal(station)
    assert [(r["sale_id"], r["volume_ml"]) for r in rows] == [(auth["sale_id"], delivered)]
    assert fc_json(station, "sale", "list", "--open") == []
    # The fill ended by itself: the pump was never sent STOP.
    assert "pump.stopped_for_shutdown" not in daemon_log(station).read_text()
    no_pump_live_without_a_sale(station, sim)


def test_sigkill_mid_fill_then_a_restart_records_the_fill_once(station: Path,
                                                              sim: PumpSimulator) -> None:
    proc = start_daemon(station)
    pump_ready(station, 1)
    auth = start_fill(station, sim, 1, nozzle=2, product="AI95", volume_ml=30000)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=EXIT_GUARD_S)
    # Killed: the pump still delivers, but its authorization is on disk.
    with sim.lock:
        assert sim.pumps[0x50].state == PumpState.FILLING
    no_pump_live_without_a_sale(station, sim)
    assert journal(station) == []
    restarted = start_daemon(station)
    try:
        wait_for(lambda: "sale.recovery_adopted" in daemon_log(station).read_text(),
                 "the fill adopted by the new daemon")
        sim.hang(0x50)
        rows = wait_for(lambda: journal(station), "the adopted sale")
        with sim.lock:
            delivered = int(sim.pumps[0x50].filled_volume)
            totals = sim.pumps[0x50].totals_volume[1]
        assert [(r["sale_id"], r["volume_ml"]) for r in rows] == [(auth["sale_id"], delivered)]
        assert totals == delivered
    finally:
        assert terminate(restarted) == 0
    restart_records_nothing_twice(station)  # and once more
