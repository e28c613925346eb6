"""Totalizers in the shift report: ``forecourt run`` reads simulated DART pumps on a pty.

The shift close records every pump's totalizers (DC101, in ml from the pump's
decimals); a sale moves one nozzle's totalizer by what it delivered; fuel that left a
nozzle without a sale shows as a mismatch; a silent pump and a stopped daemon show as
unavailable with the reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.dart.application import PumpState
from drivers.dart.simulator import PumpSimulator, SimPump
from tests.edge.daemon_support import CARD, journal, line_station, pump_ready, simulated_pumps
from tests.support import fc, fc_json, stop_daemon, wait_for

# Raw totals (volume_decimals = 3: ml) the pumps carry from years of service.
TOTALS_1 = [12_345_678, 500_000, 2_000_000]
TOTALS_2 = [7_000, 9_000_001]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PumpSimulator]:
    with simulated_pumps(tmp_path, [
            SimPump(0x50, [0, 0, 0], flow_rate=4000.0, totals_volume=list(TOTALS_1),
                    totals_amount=[1, 2, 3]),
            SimPump(0x51, [0, 0], flow_rate=4000.0, totals_volume=list(TOTALS_2),
                    totals_amount=[4, 5])]) as simulator:
        yield simulator


@pytest.fixture
def station(config_file: Path, sample_store_file: Path, sim: PumpSimulator) -> Path:
    # The daemon also runs its day-report scheduler (it must start and stop cleanly).
    return line_station(config_file, sample_store_file,
                        changes={"day_report = false": "day_report = true"})


def nozzles(report: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(p["pump"], r["nozzle"]): r for p in report["totalizers"]["pumps"]
            for r in p["nozzles"]}


def test_totalizers_from_the_pump_line(station: Path, sim: PumpSimulator,
                                       daemon: subprocess.Popen[str]) -> None:
    pump_ready(station, 1)
    pump_ready(station, 2)
    closed = fc_json(station, "report", "shift", "--close")
    assert closed["shift"]["number"] == 1
    end = nozzles(closed)
    assert {k: (r["product"], r["end_ml"], r["end_amount"]) for k, r in end.items()} == {
        (1, 1): ("AI92", 12_345_678, 1), (1, 2): ("AI95", 500_000, 2),
        (1, 3): ("DT", 2_000_000, 3), (2, 1): ("AI95", 7_000, 4), (2, 2): ("DT", 9_000_001, 5)}
    assert closed["totalizers"]["end"]["source"] == "shift 1 close"

    # A sale on pump 1's DT nozzle, completed from the pump's own data.
    auth = fc_json(station, "sale", "authorize", "--card", CARD, "--pump", "1",
                   "--product", "DT", "--volume", "30000")
    assert auth["pump_state"] == "authorized"
    sim.lift(0x50, 3)
    wait_for(lambda: sim.pumps[0x50].state == PumpState.FILLING, "filling")
    wait_for(lambda: sim.pumps[0x50].filled_volume > 1000, "some fuel")
    sim.hang(0x50)
    delivered = wait_for(lambda: journal(station), "the sale")[0]["volume_ml"]
    assert delivered > 0
    # 700 ml leave pump 2's AI95 nozzle with no sale (a leak, a test can, a fraud).
    with sim.lock:
        sim.pumps[0x51].totals_volume[0] += 700

    report = fc_json(station, "report", "shift")
    assert report["shift"]["number"] == 2 and report["totalizers"]["end"]["source"] == "live"
    rows = nozzles(report)
    assert (rows[(1, 3)]["start_ml"], rows[(1, 3)]["end_ml"]) == (2_000_000,
                                                                 2_000_000 + delivered)
    assert (rows[(1, 3)]["difference_ml"], rows[(1, 3)]["sold_ml"],
            rows[(1, 3)]["mismatch_ml"]) == (delivered, delivered, 0)
    assert (rows[(2, 1)]["difference_ml"], rows[(2, 1)]["sold_ml"],
            rows[(2, 1)]["mismatch_ml"]) == (700, 0, 700)
    assert report["totalizers"]["mismatches"] == 1
    assert report["sales"]["by_pump"] == [{"pump": 1, "count": 1, "volume_ml": delivered,
                                           "amount": journal(station)[0]["amount"]}]

    # Pump 2 stops answering: its readings are unavailable, with the reason.
    with sim.lock:
        sim.pumps[0x51].faults.silent = True
    wait_for(lambda: not {r["pump"]: r for r in fc_json(station, "pump", "status")}[2]["online"],
             "pump 2 offline")
    silent = fc_json(station, "report", "shift")
    pumps = {p["pump"]: p for p in silent["totalizers"]["pumps"]}
    assert pumps[2]["unavailable"] == "end: pump offline (not answering on line island-1)"
    assert pumps[1]["unavailable"] is None
    text = fc(station, "report", "shift").stdout
    assert "unavailable: end: pump offline" in text

    # Without the daemon the report still prints, from the store.
    stop_daemon(daemon)
    assert daemon.returncode == 0
    assert "report.scheduled" in (station.parent / "daemon.log").read_text()
    offline = fc_json(station, "report", "shift")
    assert {p["unavailable"] for p in offline["totalizers"]["pumps"]} == {
        "end: daemon not running"}
    assert offline["totalizers"]["start"]["source"] == "shift 1 close"
    assert offline["sales"]["total"]["volume_ml"] == delivered
