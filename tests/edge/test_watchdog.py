"""systemd's notify protocol and watchdog, against a real ``forecourt run`` process.

The test plays systemd: it owns the Unix datagram socket named by ``NOTIFY_SOCKET`` and
sets ``WATCHDOG_USEC`` as systemd does for a unit with ``WatchdogSec=``. The daemon
drives a simulated DART pump on a real pty. A pump that stops answering is not a
hang (its line thread keeps polling and the pump is reported offline); what hangs a
line is its output held by flow control (XOFF, or CTS low on an RS-232 adapter): the
line thread blocks in ``write`` and stops turning. The test holds the pty's output
exactly so (``tcflow(TCOOFF)``): the pings must stop, status must say why, and they
must come back once the output flows again.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ForecourtError
from drivers.dart.simulator import SimPump
from drivers.ptyline import PtyLine
from edge.alarms import ALARM_EXIT
from edge.control import call
from tests.edge.daemon_support import TWO_PUMPS, line_station, simulated_pumps
from tests.support import daemon_log, fc, fc_json, initialize, launch_daemon, stop_daemon, wait_for

#: WatchdogSec=2s: the daemon pings every 0.5 s and calls a part silent for 1 s hung.
WATCHDOG_USEC = 2_000_000


class Systemd:
    """The notify socket's receiving end, as systemd holds it: always read.

    A thread drains the socket as it fills, as systemd's event loop does. A test that
    read only when it looked would let the pings fill the queue (``max_dgram_qlen``,
    10 by default) while it ran a CLI command, and the daemon's next message would
    wait for room.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        self.times: list[tuple[float, str]] = []  # (monotonic arrival, message)
        self._arrived: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="systemd-notify", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:  # closed
                return
            message = data.decode()
            self.times.append((time.monotonic(), message))
            self._arrived.put(message)

    def receive(self, timeout: float) -> list[str]:
        """Every message that arrives within ``timeout`` seconds (also kept in order)."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self._arrived.get(timeout=left))
            except queue.Empty:
                break
        self.messages += got
        return got

    def wait_for(self, predicate: str, timeout: float = 30.0) -> str:
        """The first message from now on that starts with ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.receive(0.2):
                if message.startswith(predicate):
                    return message
        raise AssertionError(f"no {predicate!r} from the daemon; got {self.messages[-10:]}")

    def status_with(self, text: str, timeout: float = 30.0) -> str:
        """The latest ``STATUS=`` line once it contains ``text`` (sent on change only)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [m for m in self.messages if m.startswith("STATUS=")]
            if lines and text in lines[-1]:
                return lines[-1]
            self.receive(0.2)
        raise AssertionError(f"no STATUS= with {text!r}; got {self.messages[-10:]}")

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader's recv
        self.sock.close()
        self._reader.join(timeout=5)


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyLine]:
    with simulated_pumps(tmp_path, [SimPump(0x50, [0, 0, 0], flow_rate=4000.0)]) as sim:
        assert isinstance(sim.line, PtyLine)
        yield sim.line
        sim.line.release_output()  # never leave the daemon's line thread blocked


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    notify = Systemd(tmp_path / "notify.sock")
    yield notify
    notify.close()


def start(config: Path, systemd: Systemd, **extra: str) -> subprocess.Popen[str]:
    """``forecourt run`` as systemd starts a unit with ``WatchdogSec=`` (and ``extra``)."""
    return launch_daemon(config, env={**os.environ, "NOTIFY_SOCKET": str(systemd.path),
                                      "WATCHDOG_USEC": str(WATCHDOG_USEC), **extra})


def test_ready_status_and_pings_stop_while_a_pump_line_hangs(
        config_file: Path, sample_store_file: Path, line: PtyLine, systemd: Systemd) -> None:
    config = line_station(config_file, sample_store_file, TWO_PUMPS[:1])
    proc = start(config, systemd)
    try:
        systemd.wait_for("READY=1")
        first = systemd.wait_for("STATUS=")
        assert first.startswith("STATUS=no MQTT link (flash drive only); outbox 0;"), first
        # pings keep coming while the pump line turns
        pings = [m for m in systemd.receive(2.0) if m == "WATCHDOG=1"]
        assert len(pings) >= 2, systemd.messages[-10:]
        wait_for(lambda: fc_json(config, "pump", "status")[0]["online"], "pump 1 online")
        systemd.status_with("no alarms")
        assert fc(config, "status").returncode == 0

        line.hold_output()  # the line thread blocks in its next write
        systemd.status_with("daemon_unhealthy")
        # From now on no ping: the daemon found its line hung. Three ping intervals.
        later = systemd.receive(1.5)
        assert "WATCHDOG=1" not in later, later
        status = fc(config, "status", "--json", check=False)
        assert status.returncode == ALARM_EXIT
        assert "pump line island-1: its thread has not turned" in status.stdout
        assert proc.poll() is None  # the daemon itself still answers: systemd restarts it

        line.release_output()
        systemd.wait_for("WATCHDOG=1")
        systemd.status_with("no alarms")
        assert fc(config, "status").returncode == 0
    finally:
        line.release_output()
        stop_daemon(proc)
    assert systemd.wait_for("STOPPING=1", timeout=5)
    assert proc.returncode == 0, daemon_log(config).read_text()[-2000:]


def test_no_pings_without_a_watchdog_or_for_another_process(
        config_file: Path, sample_store_file: Path, systemd: Systemd) -> None:
    """``WATCHDOG_PID`` naming another process: the watchdog is not ours (a child that
    inherited the environment must not ping for its parent)."""
    config = initialize(config_file, sample_store_file)
    proc = start(config, systemd, WATCHDOG_PID="1")
    try:
        systemd.wait_for("READY=1")
        systemd.wait_for("STATUS=")
        assert "WATCHDOG=1" not in systemd.receive(1.5)
    finally:
        stop_daemon(proc)


def test_pings_stop_while_the_store_is_locked_by_another_process(
        config_file: Path, sample_store_file: Path, systemd: Systemd) -> None:
    """A writer stuck in SQLite (another process holds a write transaction on the file:
    the daemon's write waits out its 5 s busy timeout) holds the daemon's writer lock
    without progress: the pings stop for that long, and come back after."""
    config = initialize(config_file, sample_store_file)
    data_dir = config.parent / "station"
    proc = start(config, systemd)
    try:
        systemd.wait_for("READY=1")
        systemd.status_with("no alarms")
        other = sqlite3.connect(data_dir / "station.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # this test's process holds the file's write lock
        answers: list[str] = []

        def authorize() -> None:
            try:
                call(data_dir / "control.sock", "sale.authorize",
                     {"card": "7800001234567893", "pump": 7, "product": "DT"}, actor="test")
                answers.append("approved")
            except ForecourtError as exc:
                answers.append(str(exc))

        began = time.monotonic()
        writer = threading.Thread(target=authorize)
        writer.start()
        while writer.is_alive():
            systemd.receive(0.2)
        ended = time.monotonic()
        other.execute("ROLLBACK")
        other.close()
        assert answers and "locked" in answers[0], answers  # refused whole, nothing half-done
        pings = [at for at, m in systemd.times if m == "WATCHDOG=1" and began <= at <= ended]
        edges = [began, *pings, ended]
        # every 0.5 s while healthy; stuck after 1 s of the ~5 s wait: a long silence
        assert max(b - a for a, b in itertools.pairwise(edges)) > 2.5, edges
        events = [json.loads(line) for line in daemon_log(config).read_text().splitlines()
                  if line.startswith("{")]
        unhealthy = [e for e in events if e["event"] == "daemon.unhealthy"]
        assert unhealthy and unhealthy[0]["problems"][0].startswith(
            "the store's writer has been busy for"), unhealthy
        systemd.wait_for("WATCHDOG=1")  # healthy again
        assert fc_json(config, "sale", "list", "--open") == []
    finally:
        stop_daemon(proc)
