"""Crashes at random moments: nothing lost, nothing doubled, every chain intact.

A station daemon sells continuously (through its control socket, as readers and the
CLI do) while the test SIGKILLs the station, the head office and the broker at
random moments and starts them again. Some kills land between the office's commit
and its receipt, some between a station's commit and its batch. At the end the
office must hold every completed sale exactly once, with the station's hashes, and
the station's outbox must be empty.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_config_file
from core.errors import ControlError
from edge.control import DaemonNotRunning, RemoteError, call
from tests.conftest import forecourt_exe
from tests.network_fixtures import CARD, Broker, office_sales
from tests.support import fc_json, start_daemon, stop_daemon, wait_for

ROUNDS = 12
BLOCKED = "7800001234567891"  # a card whose status the office flips during the chaos


def start_office(config: Path) -> subprocess.Popen[str]:
    with (config.parent / "office.log").open("a") as log:
        return subprocess.Popen([forecourt_exe(), "--config", str(config), "office", "serve"],
                                stdout=log, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def fast_resend(network: Path) -> Path:
    network.write_text(network.read_text().replace("receipt_timeout_s = 15",
                                                   "receipt_timeout_s = 2"))
    return network


def sell_some(config: Path, count: int) -> int:
    """Sales through the running daemon; returns how many completed."""
    sock = load_config_file(config).station.socket_path
    done = 0
    for i in range(count):
        try:
            auth = call(sock, "sale.authorize", {"card": CARD, "pump": 3, "product": "DT",
                                                 "volume_ml": 2000}, actor="chaos")
            call(sock, "sale.complete", {"sale_id": auth["sale_id"], "volume_ml": 1000 + i},
                 actor="chaos")
            done += 1
        except (DaemonNotRunning, ControlError, RemoteError):
            break
    return done


@pytest.fixture
def processes(fast_resend: Path, broker: Broker) -> Iterator[dict[str, subprocess.Popen[str]]]:
    procs = {"office": start_office(fast_resend), "station": start_daemon(fast_resend)}
    yield procs
    for proc in procs.values():
        stop_daemon(proc)


@pytest.mark.brokers
def test_random_kills_lose_and_double_nothing(fast_resend: Path, broker: Broker,
                                              processes: dict[str, subprocess.Popen[str]]
                                              ) -> None:
    rng = random.Random(20261122)
    config = fast_resend
    run(config, "office", "cards", "import", str(config.parent / "card-store.json"))
    last_change = ""
    for _ in range(ROUNDS):
        sell_some(config, rng.randint(5, 25))
        # Card changes flow down meanwhile (the office may be down: they wait for the
        # station's next sync request).
        last_change = run(config, "office", "cards", rng.choice(["block", "unblock"]), BLOCKED)
        victim = rng.choice(["station", "office", "broker", "station", "office"])
        time.sleep(rng.uniform(0.0, 1.5))
        if victim == "broker":
            broker.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            broker.start()
        else:
            os.kill(processes[victim].pid, signal.SIGKILL)
            processes[victim].wait()
            time.sleep(rng.uniform(0.1, 0.8))
            processes[victim] = start_daemon(config) if victim == "station" \
                else start_office(config)
    journal = fc_json(config, "journal", "list")
    assert len(journal) > 0

    def all_delivered() -> bool:
        return fc_json(config, "status")["outbox_depth"] == 0 and \
            len(office_sales(config)) == len(journal)

    try:
        wait_for(all_delivered, "every sale at the office", timeout=120)
    except AssertionError:
        raise AssertionError(
            f"not delivered: station {fc_json(config, 'status')}, office "
            f"{fc_json(config, 'office', 'stations')}, journal {len(journal)}, office sales "
            f"{len(office_sales(config))}") from None
    rows = office_sales(config)
    assert [r["seq"] for r in rows] == [r["seq"] for r in journal]
    assert [r["hash"] for r in rows] == [r["hash"] for r in journal]
    assert "journal intact" in subprocess.run(
        [forecourt_exe(), "--config", str(config), "journal", "verify"], capture_output=True,
        text=True, check=True).stdout
    overview = fc_json(config, "office", "stations")[0]
    assert (overview["gaps"], overview["forks"], overview["quarantined"]) == ([], [], 0)
    # The station ends on the office's latest card-store version, block state included.
    wait_for(lambda: fc_json(config, "status")["card_store_version"] == office_version(config),
             "the station to reach the office's card-store version", timeout=60)
    station_status = fc_json(config, "cards", "show", BLOCKED)["status"]
    office_status = "blocked" if "is now blocked" in last_change or \
        "already blocked" in last_change else "active"
    assert station_status == office_status


def run(config: Path, *args: str) -> str:
    return subprocess.run([forecourt_exe(), "--config", str(config), *args],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def office_version(config: Path) -> int:
    from office.store import open_office

    conn = open_office(load_config_file(config))
    try:
        return int(conn.one("SELECT MAX(version) FROM cm_versions")[0])
    finally:
        conn.close()
