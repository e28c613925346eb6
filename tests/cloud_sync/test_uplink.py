"""Sales flow up exactly once: a station daemon, a head-office process, a real mosquitto.

Everything is a real process talking over a real broker started by the test: the
station (`forecourt run`), the office (`forecourt office serve`), mosquitto. Faults:
the broker killed and restarted mid-stream, the station SIGKILLed mid-stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config_file
from edge.control import DaemonNotRunning, call
from edge.lifecycle import Station
from offline_db.store import StationStore
from tests.network_fixtures import CARD, LIMITED, Broker, office_sales
from tests.support import fc, fc_json, initialize, start_daemon, stop_daemon, wait_for


def sell(config: Path, count: int) -> None:
    """Manual-pump sales through the daemon's control socket, or, when no daemon runs,
    under the writer lock as the CLI would (the real operations either way)."""
    loaded = load_config_file(config)
    for i in range(count):
        auth_args = {"card": CARD, "pump": 3, "product": "AI92", "volume_ml": 1000}
        try:
            auth = call(loaded.station.socket_path, "sale.authorize", auth_args, actor="test")
            call(loaded.station.socket_path, "sale.complete",
                 {"sale_id": auth["sale_id"], "volume_ml": 500 + i % 500}, actor="test")
        except DaemonNotRunning:
            with StationStore.open_writer(loaded.station.data_dir) as store:
                station = Station(store, loaded)
                for j in range(i, count):
                    auth = station.authorize(card=CARD, pump=3, product="AI92", volume_ml=1000)
                    station.complete(auth["sale_id"], volume_ml=500 + j % 500)
            return


def delivered(config: Path, count: int) -> bool:
    return len(office_sales(config)) == count and \
        fc_json(config, "status")["outbox_depth"] == 0


def test_offline_backlog_then_reconnect_all_arrive_once(network: Path, broker: Broker,
                                                        office: subprocess.Popen[str]) -> None:
    broker.kill()  # the station sells with the network down: a busy week's backlog
    sell(network, 1500)
    assert fc_json(network, "status")["outbox_depth"] == 1500
    station = start_daemon(network)
    try:
        time.sleep(1.0)
        assert fc_json(network, "status")["outbox_depth"] == 1500  # nothing without receipts
        broker.start()
        wait_for(lambda: delivered(network, 1500), "the backlog at the office", timeout=120)
        rows = office_sales(network)
        assert [r["seq"] for r in rows] == list(range(1, 1501))
        journal = {r["seq"]: r["hash"] for r in fc_json(network, "journal", "list")}
        assert all(journal[r["seq"]] == r["hash"] for r in rows)
        overview = fc_json(network, "office", "stations")[0]
        assert (overview["contiguous_seq"], overview["gaps"], overview["forks"]) == (1500, [], [])
        assert overview["online"] is True
    finally:
        stop_daemon(station)


@pytest.mark.brokers
def test_broker_restart_and_station_crash_mid_stream(network: Path, broker: Broker,
                                                     office: subprocess.Popen[str]) -> None:
    station = start_daemon(network)
    try:
        sell(network, 20)
        broker.kill()
        sell(network, 20)
        broker.start()
        wait_for(lambda: len(office_sales(network)) >= 25, "part of the stream")
        os.kill(station.pid, signal.SIGKILL)
        station.wait()
        sell(network, 10)  # sold by the CLI under the lock while the daemon is down
        station = start_daemon(network)
        wait_for(lambda: delivered(network, 50), "every sale at the office")
        rows = office_sales(network)
        assert [r["seq"] for r in rows] == list(range(1, 51))
        assert fc_json(network, "office", "stations")[0]["quarantined"] == 0
    finally:
        stop_daemon(station)


def test_forged_station_is_refused(network: Path, broker: Broker, card_store: Path,
                                   office: subprocess.Popen[str], tmp_path: Path) -> None:
    """A second station with the same id but its own (unenrolled) key gets nothing in."""
    other_dir = tmp_path / "impostor"
    other_dir.mkdir()
    other = other_dir / "config.toml"
    other.write_text(network.read_text())  # same station id, its own data dir and key
    fc(other, "init")
    fc(other, "cards", "import", str(card_store))
    sell(other, 3)
    impostor = start_daemon(other)
    try:
        time.sleep(3.0)
        assert office_sales(network) == []
        assert fc_json(other, "status")["outbox_depth"] == 3  # never receipted
        assert "refused messages (bad_signature)" in fc(network, "office", "stations").stdout
    finally:
        stop_daemon(impostor)


@pytest.mark.brokers
def test_card_changes_flow_down_and_a_block_is_enforced(network: Path, broker: Broker,
                                                        card_store: Path,
                                                        office: subprocess.Popen[str]) -> None:
    """The office's card master reaches the station; a blocked card is refused at once."""
    out = fc(network, "office", "cards", "import", str(card_store)).stdout
    assert "card master version 17" in out  # the file's own version
    station = start_daemon(network)
    try:
        wait_for(lambda: fc_json(network, "status")["card_store_version"] == 17,
                 "the station to sync to the office's version")
        assert fc_json(network, "sale", "authorize", "--card", CARD, "--pump", "3")["approved"]
        out = fc(network, "office", "cards", "block", CARD).stdout
        assert "now blocked (card master version 18)" in out and "sent to every station" in out

        def refused() -> bool:
            result = fc_json(network, "sale", "authorize", "--card", CARD, "--pump", "4")
            return bool(result["reason"] == "card_blocked")

        wait_for(refused, "the blocked card to be refused")
        assert fc_json(network, "status")["card_store_version"] == 18
        assert "already blocked" in fc(network, "office", "cards", "block", CARD).stdout
    finally:
        stop_daemon(station)


def test_daily_limit_holds_across_stations(network: Path, broker: Broker, card_store: Path,
                                           office: subprocess.Popen[str],
                                           tmp_path: Path) -> None:
    """Station A sells 40 l on a 50 l/day card; station B then allows only the rest."""
    fc(network, "office", "cards", "import", str(card_store))
    second_dir = tmp_path / "s002"
    second_dir.mkdir()
    second = second_dir / "config.toml"
    second.write_text(network.read_text().replace('id = "S-001"', 'id = "S-002"'))
    initialize(second, card_store)
    fc(network, "office", "station", "add", "S-002", "--public-key",
       fc(second, "keys", "show").stdout.strip())
    first_daemon, second_daemon = start_daemon(network), start_daemon(second)
    try:
        auth = fc_json(network, "sale", "authorize", "--card", LIMITED, "--pump", "3",
                       "--product", "DT")
        assert auth["max_volume_ml"] == 50000
        fc(network, "sale", "complete", auth["sale_id"], "--volume", "40000")

        def limited_at_second() -> dict[str, Any] | None:
            result: dict[str, Any] = fc_json(second, "sale", "authorize", "--card", LIMITED,
                                             "--pump", "4", "--product", "DT")
            if result["approved"] and result["max_volume_ml"] == 10000:
                return result
            if result["approved"]:
                fc(second, "sale", "cancel", result["sale_id"])
            return None

        at_second = wait_for(limited_at_second, "station S-002 to see S-001's 40 l")
        fc(second, "sale", "complete", at_second["sale_id"], "--volume", "10000")
        # Back at the first station: the day is used up network-wide, and its own 40 l
        # are not counted twice.
        def exhausted_at_first() -> bool:
            result = fc_json(network, "sale", "authorize", "--card", LIMITED, "--pump", "3",
                             "--product", "DT")
            if result["approved"]:
                fc(network, "sale", "cancel", result["sale_id"])
            return bool(result["reason"] == "limit_exhausted")

        wait_for(exhausted_at_first, "station S-001 to see the whole day used")
        card = fc_json(network, "cards", "show", LIMITED)
        assert card["limits"][0]["used"] == 50000
    finally:
        stop_daemon(first_daemon)
        stop_daemon(second_daemon)
