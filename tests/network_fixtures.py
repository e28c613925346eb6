"""A station and a head office on one test bench, for every test folder (a plugin of the
root conftest): a real mosquitto per test (own port, own persistence directory,
killable), the network configuration, ``forecourt office serve``, the flash desk.

Config per ../shared/reference/test-peers.md: ``user root`` when running as root (else
mosquitto drops to user ``mosquitto`` and silently cannot write its persistence into a
0700 temporary directory), persistence with ``autosave_interval 1``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import MqttConfig
from tests.cloud_sync.flash_desk import Desk
from tests.conftest import forecourt_exe
from tests.office_fixtures import set_office_database
from tests.support import fc, fc_json, initialize, stop_daemon

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """``mosquitto -c CONF`` on ``host:port`` with its data in ``directory``.

    ``extra`` lines go at the end of the file and so apply to the one listener (TLS).
    """

    host = "127.0.0.1"

    def __init__(self, directory: Path, extra: list[str] | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")
        lines += ["persistence true", f"persistence_location {directory}/",
                  "autosave_interval 1", f"log_dest file {self.log}",
                  "log_type error", "log_type warning", "log_type notice",
                  "log_type information", *(extra or [])]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) on the same port and directory; wait until it accepts."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}"
                                   f"{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_text()}")

    def kill(self) -> None:
        """SIGKILL: no save, sessions and messages since the last autosave are lost."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def mqtt_config(self, **overrides: Any) -> MqttConfig:
        """An enabled :class:`MqttConfig` for this broker with fast reconnects."""
        return mqtt_config_for(self, **overrides)


def mqtt_config_for(broker: Broker, **overrides: Any) -> MqttConfig:
    base = MqttConfig(enabled=True, host=broker.host, port=broker.port, keepalive_s=5,
                      reconnect_min_s=1, reconnect_max_s=2)
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running mosquitto for this test; killed afterwards whatever happened."""
    b = Broker(tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.kill()


# -- a station and a head office on one test bench ------------------------------------------
CARD = "FLEET-UNLIMITED"  # added to the sample card store: no limits, no wallets
LIMITED = "FLEET-50L-DAY"  # added too: 50 litres a day, network-wide




@pytest.fixture
def card_store(tmp_path: Path, sample_store_file: Path) -> Path:
    doc = json.loads(sample_store_file.read_text())
    doc["cards"].append({"card_id": CARD, "kind": "rfid", "status": "active"})
    doc["cards"].append({"card_id": LIMITED, "kind": "rfid", "status": "active",
                         "limits": [{"period": "day", "unit": "volume", "value": 50000}]})
    path = tmp_path / "card-store.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def network(config_file: Path, card_store: Path, broker: Broker, office_database: str) -> Path:
    """One config for both sides (as on a test bench): station S-001 and the office, the
    office on SQLite or PostgreSQL (``office_database``: each test runs on both)."""
    set_office_database(config_file, office_database)
    fc(config_file, "office", "init")
    office_key = fc(config_file, "office", "keys", "show").stdout.strip()
    text = config_file.read_text()
    text = text.replace('office_public_key = ""', f'office_public_key = "{office_key}"')
    text = text.replace("enabled = false", "enabled = true")
    text = text.replace("port = 1883", f"port = {broker.port}")
    text = text.replace("reconnect_max_s = 60", "reconnect_max_s = 2")
    text = text.replace("batch_max_sales = 500", "batch_max_sales = 100")
    config_file.write_text(text)
    initialize(config_file, card_store)
    station_key = fc(config_file, "keys", "show").stdout.strip()
    fc(config_file, "office", "station", "add", "S-001", "--public-key", station_key)
    return config_file


@pytest.fixture
def office(network: Path) -> Iterator[subprocess.Popen[str]]:
    with (network.parent / "office.log").open("a") as log:
        proc = subprocess.Popen([forecourt_exe(), "--config", str(network), "office", "serve"],
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    yield proc
    stop_daemon(proc)


def office_sales(config: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = fc_json(config, "office", "sales", "--station", "S-001")
    return rows


@pytest.fixture
def desk(tmp_path: Path, office_database: str) -> Iterator[Desk]:
    """A station and a head office (on SQLite or PostgreSQL) on one desk, for flash-drive
    round trips."""
    d = Desk(tmp_path, database=office_database)
    try:
        yield d
    finally:
        d.close()
