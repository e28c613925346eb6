"""Sales end to end: ``forecourt run`` drives DART pumps simulated behind a real pty.

The simulator runs in the test process on the pty's master side; the daemon is a
real process that opens the slave side by path, exactly as it would a USB-RS485
adapter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from drivers.dart.application import PumpState
from drivers.dart.simulator import PumpSimulator
from edge.control import call
from tests.edge.daemon_support import CARD, journal, line_station, pump_ready, simulated_pumps
from tests.support import fc, fc_json, start_daemon, wait_for

PRICES = [5090, 5299, 6350]  # AI92, AI95, DT in the sample card store


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PumpSimulator]:
    with simulated_pumps(tmp_path) as simulator:
        yield simulator


@pytest.fixture
def station(config_file: Path, sample_store_file: Path, sim: PumpSimulator) -> Path:
    return line_station(config_file, sample_store_file)


def test_sale_end_to_end(station: Path, sim: PumpSimulator,
                         daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 1)
    with sim.lock:  # the station sent its card-store prices to every pump
        assert sim.pumps[0x50].prices == PRICES
        assert sim.pumps[0x51].prices == PRICES[1:]
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1",
                   "--product", "DT", "--volume", "30000")
    assert (auth["approved"], auth["pump_state"], auth["max_volume_ml"]) == (True, "authorized",
                                                                              30000)
    with sim.lock:
        pump = sim.pumps[0x50]
        assert pump.state == PumpState.AUTHORIZED
        assert pump.allowed == {3}  # only the DT nozzle
        assert pump.preset_volume == 30000
    sim.lift(0x50, 3)
    wait_for(lambda: sim.pumps[0x50].state == PumpState.FILLING, "filling")
    time.sleep(0.5)
    sim.hang(0x50)
    rows = wait_for(lambda: journal(station), "the sale in the journal")
    with sim.lock:
        delivered = int(sim.pumps[0x50].filled_volume)
        totals = sim.pumps[0x50].totals_volume[2]
    assert 0 < delivered < 30000
    assert rows[0]["volume_ml"] == delivered == totals
    assert rows[0]["product"] == "DT" and rows[0]["unit_price"] == 6350
    assert rows[0]["amount"] == (delivered * 6350 + 500) // 1000
    assert fc_json(station, "sale", "list", "--open") == []
    assert "journal intact: 1 sale," in fc(station, "journal", "verify").stdout


def test_preset_stops_the_fill(station: Path, sim: PumpSimulator,
                               daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 2)
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "2",
                   "--product", "AI95", "--volume", "5000")
    assert auth["pump_state"] == "authorized"
    sim.lift(0x51, 1)
    rows = wait_for(lambda: journal(station), "the sale in the journal")
    assert rows[0]["volume_ml"] == 5000 and rows[0]["pump"] == 2
    with sim.lock:
        assert sim.pumps[0x51].state == PumpState.MAX_REACHED


def test_lift_without_a_card_never_authorizes(station: Path, sim: PumpSimulator,
                                              daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 1)
    sim.lift(0x50, 1)
    time.sleep(1.0)
    with sim.lock:
        assert sim.pumps[0x50].state != PumpState.AUTHORIZED
        assert sim.pumps[0x50].filled_volume == 0
    sim.hang(0x50)
    assert journal(station) == []


def test_line_sales_are_not_completed_by_hand(station: Path, sim: PumpSimulator,
                                              daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 1)
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1",
                   "--product", "AI92")
    result = fc(station, "sale", "complete", auth["sale_id"], "--volume", "1000", check=False)
    assert result.returncode == 1
    assert "completes from the pump's own data" in result.stderr
    busy = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1")
    assert (busy["approved"], busy["reason"]) == (False, "pump_busy")


def test_parallel_authorizations_drive_a_line_pump_once(station: Path, sim: PumpSimulator,
                                                        daemon: subprocess.Popen[str]) -> None:
    # Issue 10 #6 on a line pump: one sale opens and drives the pump, the rest are
    # pump_busy (the pump-ready check and the pump's own state came too late for them).
    pump_ready(station, 1)
    sock = station.parent / "station" / "control.sock"

    def ask(_: int) -> dict[str, Any]:
        result: dict[str, Any] = call(sock, "sale.authorize",
                                      {"card": CARD, "pump": 1, "product": "AI92",
                                       "volume_ml": 2000}, actor="test")
        return result

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(ask, range(4)))
    approved = [r for r in results if r["approved"]]
    assert len(approved) == 1 and approved[0]["pump_state"] == "authorized"
    assert sorted(r["reason"] for r in results if not r["approved"]) == ["pump_busy"] * 3
    assert [r["sale_id"] for r in fc_json(station, "sale", "list", "--open")] == \
        [approved[0]["sale_id"]]


def test_silent_pump_is_refused(station: Path, sim: PumpSimulator,
                                daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 2)
    with sim.lock:
        sim.pumps[0x51].faults.silent = True
    wait_for(lambda: not {r["pump"]: r for r in fc_json(station, "pump", "status")}[2]["online"],
             "pump 2 offline")
    refused = fc(station, "sale", "authorize", "--card", CARD, "--pump", "2", check=False)
    assert refused.returncode == 1 and "is not answering" in refused.stderr
    assert fc_json(station, "sale", "list", "--open") == []
    with sim.lock:
        sim.pumps[0x51].faults.silent = False
    pump_ready(station, 2)


def test_daemon_killed_mid_fill_completes_from_pump_data(station: Path,
                                                         sim: PumpSimulator) -> None:
    proc = start_daemon(station)
    pump_ready(station, 1)
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1",
                   "--product", "AI95", "--volume", "40000")
    sim.lift(0x50, 2)
    wait_for(lambda: sim.pumps[0x50].state == PumpState.FILLING, "filling")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    sim.hang(0x50)  # the customer finishes while the station is down
    with sim.lock:
        delivered = int(sim.pumps[0x50].filled_volume)
    restarted = start_daemon(station)
    try:
        rows = wait_for(lambda: journal(station), "the recovered sale")
        assert len(rows) == 1
        assert (rows[0]["sale_id"], rows[0]["volume_ml"]) == (auth["sale_id"], delivered)
        assert fc_json(station, "sale", "list", "--open") == []
        # Recovery never records the sale twice, however often the station restarts.
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)
        restarted = start_daemon(station)
        pump_ready(station, 1)
        assert len(journal(station)) == 1
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)


def test_pump_that_cannot_tell_is_flagged(station: Path, sim: PumpSimulator) -> None:
    proc = start_daemon(station)
    pump_ready(station, 1)
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1",
                   "--product", "DT", "--volume", "40000")
    sim.lift(0x50, 3)
    wait_for(lambda: sim.pumps[0x50].filled_volume > 1000, "fuel flowing")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sim.lock:  # power cut: the pump forgets its last filling; totals survive
        sim.pumps[0x50].restart(lose_memory=True)
    restarted = start_daemon(station)
    try:
        def flagged() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = fc_json(station, "sale", "list", "--open")
            return [r for r in rows if r.get("attention")]

        rows = wait_for(flagged, "the sale flagged for attention")
        assert rows[0]["sale_id"] == auth["sale_id"]
        assert "totals rose" in rows[0]["attention"]
        assert journal(station) == []
        # The operator reads the pump's display and settles it by hand.
        with sim.lock:
            delivered = sim.pumps[0x50].totals_volume[2]
        done = fc_json(station, "sale", "complete", auth["sale_id"], "--volume",
                       str(delivered))
        assert done["volume_ml"] == delivered
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)


def test_status_lists_pumps(station: Path, daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 1)
    rows = fc_json(station, "pump", "status")
    assert [(r["pump"], r["address"], r["line"]) for r in rows] == [
        (1, "0x50", "island-1"), (2, "0x51", "island-1")]
    assert json.dumps(rows)
