"""MQTT and the flash drive together never double a sale, in either order.

The real CLI, a real station daemon, a real ``forecourt office serve`` and a real
mosquitto started by the test: the same sales reach the office by both roads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cloud_sync.test_uplink import delivered, sell
from tests.conftest import forecourt_exe
from tests.network_fixtures import Broker, office_sales
from tests.support import fc, fc_json, start_daemon, stop_daemon, wait_for

SALES = 40


def start_office(config: Path) -> subprocess.Popen[str]:
    with (config.parent / "office.log").open("a") as log:
        return subprocess.Popen([forecourt_exe(), "--config", str(config), "office", "serve"],
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def exactly_once(config: Path) -> list[str]:
    rows = office_sales(config)
    assert [r["seq"] for r in rows] == list(range(1, SALES + 1))
    journal = {r["seq"]: r["hash"] for r in fc_json(config, "journal", "list")}
    assert all(journal[r["seq"]] == r["hash"] for r in rows)
    overview = fc_json(config, "office", "stations")[0]
    assert (overview["contiguous_seq"], overview["gaps"], overview["forks"],
            overview["quarantined"]) == (SALES, [], [], 0)
    return [str(r["via"]) for r in rows]


def test_mqtt_first_then_the_same_sales_by_flash(network: Path, broker: Broker,
                                                 tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    sell(network, SALES)
    fc(network, "flash", "export", str(stick))  # the technician leaves with the stick...
    office = start_office(network)
    station = start_daemon(network)
    try:  # ...while the network comes back and MQTT delivers everything
        wait_for(lambda: delivered(network, SALES), "the sales at the office by MQTT")
    finally:
        stop_daemon(station)
        stop_daemon(office)
    out = fc(network, "office", "flash", "import", str(stick / "forecourt-S-001-sales.fcb"))
    assert f"0 new, {SALES} already held" in out.stdout
    assert set(exactly_once(network)) == {"mqtt"}
    # The reply is harmless too: everything in it is already applied.
    fc(network, "office", "flash", "export", "--station", "S-001", str(stick))
    late = fc(network, "flash", "import", str(stick / "forecourt-S-001-reply.fcb"), check=False)
    assert late.returncode == 1 and "older than what this station has applied" in late.stderr
    assert fc_json(network, "status")["outbox_depth"] == 0


def test_flash_first_then_the_same_sales_by_mqtt(network: Path, broker: Broker,
                                                 tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    sell(network, SALES)
    fc(network, "flash", "export", str(stick))
    out = fc(network, "office", "flash", "import", str(stick / "forecourt-S-001-sales.fcb"))
    assert f"{SALES} new, 0 already held" in out.stdout
    # The station never got the reply: its outbox still holds every sale, and MQTT
    # sends them all when the network is back.
    assert fc_json(network, "status")["outbox_depth"] == SALES
    office = start_office(network)
    station = start_daemon(network)
    try:
        wait_for(lambda: fc_json(network, "status")["outbox_depth"] == 0,
                 "the office's receipt by MQTT")
        sell(network, 2)  # and life goes on by MQTT
        wait_for(lambda: len(office_sales(network)) == SALES + 2, "two more sales")
    finally:
        stop_daemon(station)
        stop_daemon(office)
    rows = office_sales(network)
    assert [r["via"] for r in rows] == ["flash"] * SALES + ["mqtt"] * 2
    assert [r["seq"] for r in rows] == list(range(1, SALES + 3))


def test_flash_import_while_the_office_serves_mqtt(network: Path, broker: Broker,
                                                   tmp_path: Path) -> None:
    """Both roads at the same moment: the office ingests each sale once."""
    stick = tmp_path / "stick"
    stick.mkdir()
    sell(network, SALES)
    fc(network, "flash", "export", str(stick))
    office = start_office(network)
    station = start_daemon(network)
    try:
        fc(network, "office", "flash", "import", str(stick / "forecourt-S-001-sales.fcb"))
        wait_for(lambda: delivered(network, SALES), "every sale at the office")
    finally:
        stop_daemon(station)
        stop_daemon(office)
    assert len(exactly_once(network)) == SALES
