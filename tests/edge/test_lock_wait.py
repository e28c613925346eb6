"""``forecourt run`` waits ([station] lock_wait) for a writer lock another process holds
briefly, then gives up with one sentence naming the holder.

The holder is a real process that takes the lock as a CLI command working without the
daemon does (offline_db.lock.WriterLock) and lets it go when the test says so.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.control import call
from tests.support import daemon_log, fc, initialize, launch_daemon, stop_daemon, wait_for

HOLDER = """
import sys
from pathlib import Path
from offline_db.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), holder="forecourt cards import").acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
lock.release()
"""


@pytest.fixture
def station(config_file: Path, sample_store_file: Path) -> Path:
    return initialize(config_file, sample_store_file)


def with_lock_wait(config: Path, wait: str) -> None:
    config.write_text(config.read_text().replace('lock_wait = "10s"', f'lock_wait = "{wait}"'))


@pytest.fixture
def holder(station: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(station.parent / "station")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_run_waits_for_a_brief_holder(station: Path, holder: subprocess.Popen[str]) -> None:
    with_lock_wait(station, "60s")
    daemon = launch_daemon(station)
    try:
        wait_for(lambda: "daemon.lock_wait" in daemon_log(station).read_text(),
                 "the daemon waiting for the lock")
        text = daemon_log(station).read_text()
        assert f"forecourt cards import (pid {holder.pid})" in text
        assert daemon.poll() is None and "daemon.ready" not in text
        release(holder)
        wait_for(lambda: "daemon.ready" in daemon_log(station).read_text(), "the daemon ready")
        sock = station.parent / "station" / "control.sock"
        assert call(sock, "ping", {}, actor="test") == {"station_id": "S-001"}
    finally:
        stop_daemon(daemon)
    assert daemon.returncode == 0


def test_run_gives_up_on_a_long_holder(station: Path, holder: subprocess.Popen[str]) -> None:
    with_lock_wait(station, "1s")
    result = fc(station, "run", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: the station database in {station.parent / 'station'} is still in use by "
        f"forecourt cards import (pid {holder.pid}) after 1 s of waiting; stop that process "
        "or start again when it is done")
    assert "Traceback" not in result.stderr + result.stdout
    assert holder.poll() is None  # the holder keeps its lock and its work
    release(holder)


def test_cli_commands_still_fail_at_once(station: Path, holder: subprocess.Popen[str]) -> None:
    # Only the daemon waits: a command without the daemon says who holds the lock.
    result = fc(station, "sale", "cancel", "ANOSUCHSALE", check=False)
    assert result.returncode == 1
    assert f"is in use by forecourt cards import (pid {holder.pid}); stop it or send the " \
        "command through the running daemon" in result.stderr
    release(holder)
