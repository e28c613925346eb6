"""``forecourt status`` tells the truth: each alarm from a real store, a real daemon, a
real pty, a real broker; and it exits 3 while any alarm is active (0 when none)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import topics
from cloud_sync.envelope import OFFICE, seal
from cloud_sync.mqtt import MqttLink
from core.keys import public_text
from core.timefmt import iso, utc_now
from drivers.dart.simulator import SimPump
from edge.alarms import ALARM_EXIT
from tests.edge.daemon_support import CARD, line_station, simulated_pumps
from tests.network_fixtures import Broker
from tests.support import fc, initialize, start_daemon, stop_daemon, wait_for


def status(config: Path) -> tuple[int, dict[str, Any]]:
    result = fc(config, "status", "--json", check=False)
    assert result.returncode in (0, ALARM_EXIT), result.stderr
    return result.returncode, json.loads(result.stdout)


def codes(data: dict[str, Any]) -> list[str]:
    return [a["code"] for a in data["alarms"]]


def set_key(config: Path, section: str, line: str) -> None:
    """Replace ``key = ...`` of ``[section]`` in the config file with ``line``."""
    text = config.read_text()
    head, sep, rest = text.partition(f"[{section}]\n")
    key = line.split(" = ", maxsplit=1)[0]
    lines = rest.split("\n")
    lines = [line if row.startswith(f"{key} = ") else row for row in lines]
    config.write_text(head + sep + "\n".join(lines))


@pytest.fixture
def station(config_file: Path, sample_store_file: Path) -> Path:
    return initialize(config_file, sample_store_file)


def sell(config: Path) -> None:
    auth = json.loads(fc(config, "sale", "authorize", "--card", CARD, "--pump", "7",
                         "--product", "DT", "--json").stdout)
    fc(config, "sale", "complete", auth["sale_id"], "--volume", "10000")


def test_without_the_daemon_it_reads_the_store_and_says_so(station: Path) -> None:
    code, data = status(station)
    assert code == ALARM_EXIT
    assert codes(data) == ["daemon_not_running"]
    assert (data["daemon_running"], data["online"], data["health"]) == (False, False, None)
    assert data["card_store_version"] == 17 and data["outbox_depth"] == 0
    text = fc(station, "status", check=False).stdout
    assert "daemon running             no" in text
    assert "ALARMS (1):\n  daemon_not_running: the station daemon is not running" in text


def test_a_healthy_station_exits_0(station: Path, daemon: subprocess.Popen[str]) -> None:
    sell(station)
    code, data = status(station)
    assert (code, data["alarms"]) == (0, [])
    assert data["daemon_running"] is True and data["daemon"]["pid"] == daemon.pid
    assert data["health"] == {"ok": True, "problems": []}
    assert data["outbox_depth"] == 1 and data["oldest_undelivered_at"] is not None
    assert data["stale_mode"] is None and data["disk"]["free_percent"] > 0
    assert fc(station, "status", check=False).stdout.endswith("no alarms\n")


def test_stale_card_data(station: Path) -> None:
    confirmed = utc_now() - timedelta(days=3)
    with sqlite3.connect(station.parent / "station" / "station.db") as conn:
        conn.execute("UPDATE sync_state SET value = ? WHERE key = 'card_store_confirmed_at'",
                     (iso(confirmed),))
    _code, data = status(station)
    stale = next(a for a in data["alarms"] if a["code"] == "card_data_stale")
    assert stale["message"] == ("card data is stale (older than [offline] max_data_age): the "
                                "offline policy 'restrict' is in force")
    assert stale["since"] == iso(confirmed + timedelta(hours=24))  # max_data_age = 24h
    assert data["stale_mode"] == "restrict"


def test_undelivered_sales_older_than_configured(station: Path) -> None:
    sell(station)
    assert "sales_undelivered" not in codes(status(station)[1])  # 24h by default
    set_key(station, "alarms", 'undelivered_after = "0s"')
    alarm = next(a for a in status(station)[1]["alarms"] if a["code"] == "sales_undelivered")
    assert alarm["message"].startswith("1 sale(s) not yet receipted by the head office")


def test_disk_nearly_full(station: Path) -> None:
    assert "disk_nearly_full" not in codes(status(station)[1])
    set_key(station, "alarms", "disk_min_free_percent = 100")  # no disk is 100% free
    alarm = next(a for a in status(station)[1]["alarms"] if a["code"] == "disk_nearly_full")
    assert "(alarm below 100%)" in alarm["message"]


def test_a_broken_journal_end(station: Path) -> None:
    sell(station)
    with sqlite3.connect(station.parent / "station" / "station.db") as conn:
        conn.execute("UPDATE journal SET hash = ? WHERE seq = 1", ("f" * 64,))
    alarm = next(a for a in status(station)[1]["alarms"] if a["code"] == "journal_broken")
    assert alarm["message"].startswith("journal broken at seq 1:")


READER = """
[[readers]]
id = "pump1-qr"
driver = "qr-serial"
device = "{absent}"
pump = 1
"""


def test_a_pump_and_a_reader_offline(config_file: Path, sample_store_file: Path,
                                     tmp_path: Path) -> None:
    # Only pump 1 (0x50) answers on the line; pump 2 (0x51) is configured but silent.
    config_file.write_text(config_file.read_text()
                           + READER.format(absent=tmp_path / "absent.tty"))
    config = line_station(config_file, sample_store_file,
                          [(1, 0x50, ["AI92", "AI95", "DT"]), (2, 0x51, ["DT"])])
    with simulated_pumps(tmp_path, [SimPump(0x50, [0, 0, 0])]):
        without = status(config)[1]
        assert [(p["pump"], p["state"]) for p in without["pumps"]] == [(1, "unknown"),
                                                                       (2, "unknown")]
        proc = start_daemon(config)
        try:
            def settled() -> dict[str, Any] | None:
                data = status(config)[1]
                pumps = {p["pump"]: p["online"] for p in data["pumps"]}
                return data if pumps == {1: True, 2: False} else None

            data = wait_for(settled, "pump 1 online, pump 2 not")
            assert sorted(codes(data)) == ["pump_offline", "reader_offline"]
            pump = next(a for a in data["alarms"] if a["code"] == "pump_offline")
            assert pump["message"] == "pump 2 is not answering on line island-1"
            assert pump["since"] is not None
            reader = next(a for a in data["alarms"] if a["code"] == "reader_offline")
            assert reader["message"].startswith("reader pump1-qr is ")
            text = fc(config, "status", check=False).stdout
            assert "pump 2 (island-1)" in text and "OFFLINE since" in text
        finally:
            stop_daemon(proc)


def test_a_chain_problem_reported_by_the_office(station: Path, broker: Broker) -> None:
    """The office's receipt says it quarantined our batch: an alarm until a receipt
    covers the refused sales. The test plays the office on a real broker, with the key
    the station trusts."""
    office = Ed25519PrivateKey.generate()
    text = station.read_text().replace('office_public_key = ""',
                                       f'office_public_key = "{public_text(office.public_key())}"')
    text = text.replace("enabled = false", "enabled = true", 1)
    text = text.replace("port = 1883", f"port = {broker.port}")
    station.write_text(text)
    sales: list[bytes] = []
    link = MqttLink(config=broker.mqtt_config(), client_id="test-office",
                    subscriptions=[(topics.station("forecourt/v1", "S-001", "sales"), 1)],
                    on_message=lambda _t, payload: sales.append(payload))
    link.start()
    proc = start_daemon(station)
    try:
        assert link.wait_connected(10)
        sell(station)
        wait_for(lambda: sales, "the station's batch")
        receipt_topic = topics.station("forecourt/v1", "S-001", "receipt")
        fork = "fork: seq 1 does not link to the stored seq 0: another history"
        body = {"station_id": "S-001", "up_to_seq": 0, "hash": "0" * 64, "stored": 0,
                "duplicates": 0, "quarantined": [fork]}
        assert link.publish(receipt_topic, seal("receipt", OFFICE, "S-001", body, office))
        data = wait_for(lambda: (d := status(station)[1])["office_problem"] and d,
                        "the office's problem recorded")
        alarm = next(a for a in data["alarms"] if a["code"] == "office_chain_problem")
        assert alarm["message"] == ("the head office refused this station's sales up to "
                                    f"seq 1: {fork}")
        assert status(station)[0] == ALARM_EXIT
        # The office stores seq 1 after all (its operator settled the fork): its receipt
        # covers the refused sale, and the alarm ends.
        with sqlite3.connect(station.parent / "station" / "station.db") as conn:
            hash_ = conn.execute("SELECT hash FROM journal WHERE seq = 1").fetchone()[0]
        body = {"station_id": "S-001", "up_to_seq": 1, "hash": hash_, "stored": 1,
                "duplicates": 0, "quarantined": []}
        assert link.publish(receipt_topic, seal("receipt", OFFICE, "S-001", body, office))
        data = wait_for(lambda: (d := status(station)[1])["outbox_depth"] == 0 and d,
                        "the receipt applied")
        assert data["office_problem"] is None and data["alarms"] == []
        assert data["online"] is True and data["online_changed_at"] is not None
        assert status(station)[0] == 0
    finally:
        stop_daemon(proc)
        link.stop()
    # Stopped while online: status remembers when the link was last up.
    data = status(station)[1]
    assert data["online"] is False and data["last_online_at"] is not None
    assert data["online_changed_at"] == data["last_online_at"]
