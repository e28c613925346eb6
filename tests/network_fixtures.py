"""A station and a head office on one test bench, for every test folder (a plugin of the
root conftest): a real broker per test (own port, own persistence directory,
killable), the network configuration, ``forecourt office serve``, the flash desk.

The broker is mosquitto (MQTT 5). A test marked ``@pytest.mark.brokers`` runs on a
second broker too: nats-server with its MQTT 3.1.1 listener (JetStream in the test's
directory), the links on ``[mqtt] protocol = "3.1.1"``; with the SQLite office only
(the PostgreSQL office is the broker's concern nowhere, and suite time counts).

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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import MqttConfig
from tests.cloud_sync.flash_desk import Desk
from tests.conftest import forecourt_exe
from tests.office_fixtures import set_office_database
from tests.support import fc, fc_json, initialize, stop_daemon

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
#: The brokers a ``@pytest.mark.brokers`` test runs on.
BROKERS = ("mosquitto", "nats")


#: How long a test waits for a message.
INBOX_WAIT = 20.0


class Inbox:
    """Collects (topic, payload) from a link's on_message; waits for what is wanted."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()

    def __call__(self, topic: str, payload: bytes) -> None:
        with self.cond:
            self.items.append((topic, payload))
            self.cond.notify_all()

    def payloads(self, topic: str | None = None) -> list[bytes]:
        with self.cond:
            return [p for t, p in self.items if topic is None or t == topic]

    def wait_for(self, pred: Callable[[list[bytes]], bool], topic: str | None = None,
                 timeout: float = INBOX_WAIT) -> list[bytes]:
        """The payloads (of ``topic``) once ``pred`` holds for them; AssertionError after
        ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [p for t, p in self.items if topic is None or t == topic]
                if pred(got):
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; received {self.items!r}")
                self.cond.wait(left)

    def has(self, payload: bytes, timeout: float) -> bool:
        """Whether ``payload`` arrives within ``timeout``."""
        with self.cond:
            return self.cond.wait_for(lambda: any(p == payload for _t, p in self.items),
                                      timeout)

    def wait_for_payload(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Everything received once ``payload`` is among it."""
        with self.cond:
            assert self.cond.wait_for(lambda: any(p == payload for _t, p in self.items),
                                      INBOX_WAIT), self.items
            return list(self.items)


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
    #: What this broker is called in test ids and messages.
    name = "mosquitto"
    #: The ``[mqtt] protocol`` its clients use.
    protocol = "5"

    def __init__(self, directory: Path, extra: list[str] | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf, self.log = self._write_config(extra or [])

    def _write_config(self, extra: list[str]) -> tuple[Path, Path]:
        conf, log = self.directory / "mosquitto.conf", self.directory / "mosquitto.log"
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")
        lines += ["persistence true", f"persistence_location {self.directory}/",
                  "autosave_interval 1", f"log_dest file {log}",
                  "log_type error", "log_type warning", "log_type notice",
                  "log_type information", *extra]
        conf.write_text("\n".join(lines) + "\n")
        return conf, log

    def command(self) -> list[str]:
        return [MOSQUITTO, "-c", str(self.conf)]

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) on the same port and directory; wait until it accepts."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {err}"
                                   f"{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not listen on {self.port}: {self.log_text()}")

    def kill(self) -> None:
        """SIGKILL: no save (mosquitto loses sessions and messages since its last
        autosave)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: the broker saves what it holds and exits."""
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


class NatsBroker(Broker):
    """``nats-server -c CONF``: its MQTT 3.1.1 listener on ``host:port`` (the NATS client
    port is any free one), JetStream (where NATS keeps MQTT sessions, retained messages
    and unacknowledged QoS 1 messages) in ``directory``. NATS has no MQTT 5 and refuses
    a '.' or ' ' in a topic (docs/mqtt.md)."""

    name = "nats"
    protocol = "3.1.1"

    def _write_config(self, extra: list[str]) -> tuple[Path, Path]:
        conf, log = self.directory / "nats.conf", self.directory / "nats.log"
        lines = ['server_name: "forecourt-test"', f'listen: "{self.host}:-1"',
                 f'log_file: "{log}"',
                 f'jetstream {{ store_dir: "{self.directory}/js", max_memory_store: 64MB, '
                 "max_file_store: 1GB }",
                 f'mqtt {{ listen: "{self.host}:{self.port}" }}', *extra]
        conf.write_text("\n".join(lines) + "\n")
        return conf, log

    def command(self) -> list[str]:
        return [NATS_SERVER, "-c", str(self.conf)]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path, clients: list[str]) -> Path:
    """A test CA (``ca.crt``/``ca.key``), a server certificate for 127.0.0.1
    (``server.crt``/``.key``) and one client certificate per name in ``clients``
    (``<name>.crt``/``.key``, subject ``/CN=<name>``), all in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1"),
                      *((client, "extendedKeyUsage=clientAuth") for client in clients)]:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.crt", cwd=directory)
    return directory


def tls_lines(pki: Path) -> list[str]:
    """mosquitto listener lines: TLS with ``make_pki``'s server certificate, a client
    certificate required."""
    return [f"cafile {pki / 'ca.crt'}", f"certfile {pki / 'server.crt'}",
            f"keyfile {pki / 'server.key'}", "require_certificate true"]


def make_broker(kind: str, directory: Path, extra: list[str] | None = None) -> Broker:
    """A broker of ``kind`` (one of :data:`BROKERS`), not started."""
    return NatsBroker(directory, extra) if kind == "nats" else Broker(directory, extra)


def mqtt_config_for(broker: Broker, **overrides: Any) -> MqttConfig:
    base = MqttConfig(enabled=True, protocol=broker.protocol, host=broker.host,
                      port=broker.port, keepalive_s=5, reconnect_min_s=1, reconnect_max_s=2)
    return dataclasses.replace(base, **overrides)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.brokers``: the test runs on every broker of :data:`BROKERS`."""
    if metafunc.definition.get_closest_marker("brokers") is not None \
            and "broker_kind" in metafunc.fixturenames:
        metafunc.parametrize("broker_kind", BROKERS, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The second broker runs with the SQLite office only: the office's database is no
    broker's concern, and each broker run is a minute of CPU."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("broker_kind", "mosquitto") != "mosquitto" \
                and params.get("office_backend", "sqlite") != "sqlite":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Which broker this test runs on: mosquitto, or each of :data:`BROKERS` for a test
    marked ``@pytest.mark.brokers``."""
    return str(getattr(request, "param", "mosquitto"))


@pytest.fixture
def broker(tmp_path: Path, broker_kind: str) -> Iterator[Broker]:
    """A running broker for this test; killed afterwards whatever happened."""
    b = make_broker(broker_kind, tmp_path / broker_kind)
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
    text = text.replace('protocol = "5"', f'protocol = "{broker.protocol}"')
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
