"""``forecourt run`` as a real process: control socket, one writer, signals, crashes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.errors import WriterLockedError
from offline_db.connection import connect
from offline_db.journal import verify
from offline_db.store import StationStore
from tests.conftest import forecourt_exe
from tests.support import daemon_log, fc, fc_json, initialize, start_daemon, stop_daemon

CARD = "7800001234567893"  # digital card, day money limit 300000


@pytest.fixture
def initialized(config_file: Path, sample_store_file: Path) -> Path:
    return initialize(config_file, sample_store_file)


@pytest.fixture
def daemon(initialized: Path) -> Iterator[subprocess.Popen[str]]:
    proc = start_daemon(initialized)
    yield proc
    stop_daemon(proc)


def test_commands_go_through_the_daemon(initialized: Path,
                                        daemon: subprocess.Popen[str]) -> None:
    data_dir = initialized.parent / "station"
    with pytest.raises(WriterLockedError, match=r"in use by forecourt run \(pid \d+\)"):
        StationStore.open_writer(data_dir)
    auth = fc_json(initialized, "sale", "authorize", "--card", CARD, "--pump", "2",
                   "--product", "AI95")
    assert auth["approved"] is True
    done = fc_json(initialized, "sale", "complete", auth["sale_id"], "--volume", "20000")
    assert done["seq"] == 1
    status = fc_json(initialized, "status")
    assert (status["daemon_running"], status["outbox_depth"]) == (True, 1)
    refused = fc(initialized, "sale", "complete", auth["sale_id"], "--volume", "20000",
                 check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f"Error: sale {auth['sale_id']} is already completed "
                                      "as seq 1; nothing changed")
    second = subprocess.run([forecourt_exe(), "--config", str(initialized), "run"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert second.returncode == 1
    assert "is in use by forecourt run" in second.stderr
    assert daemon.poll() is None


def test_malformed_requests_do_not_stop_the_daemon(initialized: Path,
                                                   daemon: subprocess.Popen[str]) -> None:
    sock_path = initialized.parent / "station" / "control.sock"
    for payload in (b"garbage\n", b"\xff\xfe\n", b'{"op": "sale.complete"}\n',
                    b'{"op": "nope", "args": {}}\n',
                    b'{"op": "sale.authorize", "args": {"card": "x"}}\n'):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock_path))
            s.sendall(payload)
            answer = json.loads(s.makefile().readline())
        assert answer["ok"] is False and answer["error"]
    assert fc_json(initialized, "sale", "authorize", "--card", CARD, "--pump", "1")["approved"]


def test_sigterm_stops_cleanly(initialized: Path, daemon: subprocess.Popen[str]) -> None:
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    out = daemon_log(initialized).read_text().split("--- start\n")[-1]
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert events[-1] == "daemon.stopped" and "daemon.ready" in events
    assert not (initialized.parent / "station" / "control.sock").exists()
    # Without a daemon the CLI writes itself under the lock.
    assert fc_json(initialized, "sale", "authorize", "--card", CARD, "--pump", "1")["approved"]


def test_sigkill_loses_nothing_committed(initialized: Path) -> None:
    proc = start_daemon(initialized)
    sales = []
    for pump in (1, 2, 3):
        auth = fc_json(initialized, "sale", "authorize", "--card", CARD, "--pump", str(pump),
                       "--product", "AI92", "--volume", "10000")
        sales.append(auth["sale_id"])
    fc(initialized, "sale", "complete", sales[0], "--volume", "9000")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    data_dir = initialized.parent / "station"
    # The kernel released the lock: a new writer opens at once, and everything
    # answered before the kill is there.
    StationStore.open_writer(data_dir).close()
    conn = connect(data_dir / "station.db", readonly=True)
    assert verify(conn).rows == 1
    open_ids = {r["sale_id"] for r in conn.execute(
        "SELECT sale_id FROM authorizations WHERE state = 'open'")}
    assert open_ids == set(sales[1:])
    conn.close()
    restarted = start_daemon(initialized)
    restarted.send_signal(signal.SIGTERM)
    restarted.wait(timeout=30)
    log = daemon_log(initialized).read_text().split("--- start\n")[-1]
    reported = {json.loads(line)["sale_id"] for line in log.splitlines()
                if '"sale.open_at_startup"' in line}
    assert reported == set(sales[1:])
    listed = {r["sale_id"] for r in fc_json(initialized, "sale", "list", "--open")}
    assert listed == set(sales[1:])


def test_daemon_refuses_unsafe_key(initialized: Path) -> None:
    (initialized.parent / "station" / "station_key.pem").chmod(0o640)
    result = fc(initialized, "run", check=False)
    assert result.returncode == 1
    assert "readable by others" in result.stderr
    assert "Traceback" not in result.stderr


def test_hostile_requests_are_refused_naming_the_argument(initialized: Path,
                                                          daemon: subprocess.Popen[str]
                                                          ) -> None:
    """Issue 10 #8, #10: over the control socket, one answer each, nothing recorded."""
    sock_path = initialized.parent / "station" / "control.sock"
    cases = [
        (b"[" * 100_000 + b"\n", "control_error", "malformed request"),
        (b'{"op": "ping", "args": {"x": 1' + b"1" * 5000 + b"}}\n", "control_error",
         "malformed request"),
        (b'{"op": "sale.authorize", "args": {"card": "78\\ud800", "pump": 1}}\n',
         "input_invalid", "card must not contain"),
        (b'{"op": "sale.authorize", "args": {"card": "78\\u0000", "pump": 1}}\n',
         "input_invalid", "found U+0000"),
        (b'{"op": "sale.authorize", "args": {"card": "78", "pump": "1"}}\n',
         "input_invalid", "pump must be an integer"),
        (b'{"op": "sale.authorize", "args": {"card": "78", "pump": 1, "volume_ml": '
         b'9223372036854775808}}\n', "input_invalid", "volume_ml must be at most"),
    ]
    for payload, code, message in cases:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock_path))
            s.sendall(payload)
            answer = json.loads(s.makefile().readline())
        assert (answer["ok"], answer["code"]) == (False, code), answer
        assert message in answer["error"]
    assert fc_json(initialized, "sale", "list") == []
    assert daemon.poll() is None
    assert "Traceback" not in daemon_log(initialized).read_text()
