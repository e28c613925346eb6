"""Running the real ``forecourt`` command and daemon from tests."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.alarms import ALARM_EXIT
from tests.conftest import forecourt_exe


def fc(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([forecourt_exe(), "--config", str(config), *args],
                            capture_output=True, text=True, timeout=60, check=False)
    if check:
        # ``forecourt status`` exits 3 while an alarm is active (the daemon not running is
        # one): a status all the same.
        ok = (0, ALARM_EXIT) if args[:1] == ("status",) else (0,)
        assert result.returncode in ok, result.stderr
    return result


def fc_json(config: Path, *args: str) -> Any:
    return json.loads(fc(config, *args, "--json").stdout)


def daemon_log(config: Path) -> Path:
    """Where a daemon started by :func:`start_daemon` writes its log (appended)."""
    return config.parent / "daemon.log"


def launch_daemon(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``forecourt run`` started (``env``: its environment, else ours), not waited for."""
    # The log goes to a file, never to a pipe nobody reads: a full pipe would block
    # the daemon's next log line, and with it whichever thread wrote it.
    with daemon_log(config).open("a") as log:
        log.write("--- start\n")
        log.flush()
        return subprocess.Popen([forecourt_exe(), "--config", str(config), "run"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def start_daemon(config: Path) -> subprocess.Popen[str]:
    """:func:`launch_daemon`, then wait until its control socket answers."""
    proc = launch_daemon(config)
    sock = config.parent / "station" / "control.sock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sock.exists() and proc.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                return proc
            except OSError:
                pass
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited: {daemon_log(config).read_text()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("daemon did not become ready")


def initialize(config: Path, store_file: Path) -> Path:
    """``forecourt init`` and the card store, as an operator would."""
    fc(config, "init")
    fc(config, "cards", "import", str(store_file))
    return config


def stop_daemon(proc: subprocess.Popen[str]) -> None:
    """SIGTERM and wait; SIGKILL if it does not stop (the test then fails elsewhere)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
