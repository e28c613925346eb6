"""``forecourt demo`` end to end: the real command as a subprocess, with everything real
behind it (mosquitto, the office's ingest and console, the pump simulator on a pty, the
station daemon, the card readers' peers).

Each run must end with the exactly-once summary, which the test checks again on its own
through both sides' commands, and must leave nothing running: no process in the process
group of any child it reported, none whose command line names its folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from demo.broker import find_mosquitto
from demo.children import group_members
from tests.conftest import forecourt_exe

pytestmark = pytest.mark.slow
MILESTONES = ("card read", "authorized", "delivering", "completed", "sent", "receipted")
KINDS = ("magstripe swipe", "NFC tag", "QR token")
NUL = b"\0"


def demo_argv(folder: Path, *options: str) -> list[str]:
    return [forecourt_exe(), "demo", "--dir", str(folder), *options]


def leftovers(folder: Path, pids: list[int]) -> list[str]:
    """Processes still running from the demo: in a child's group, or naming its folder."""
    found = [f"group {pid}: {group_members(pid)}" for pid in pids if group_members(pid)]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if str(folder).encode() in cmdline:
            found.append(f"{entry}: {cmdline.replace(NUL, b' ').decode(errors='replace')}")
    return found


def fc_json(folder: Path, *args: str) -> Any:
    result = subprocess.run([forecourt_exe(), "--config", str(folder / "config.toml"), *args,
                             "--json"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_demo(folder: Path, *options: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(demo_argv(folder, "--sales", "3", "--json", *options),
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout), result.stderr


def check_run(folder: Path, doc: dict[str, Any], live: str, transport: str) -> None:
    summary = doc["summary"]
    assert doc["ok"] and summary["exactly_once"] and summary["problems"] == []
    assert summary["transport"] == transport
    station, office = summary["station"], summary["office"]
    assert station["sales"] == office["sales"] == 3
    assert (station["volume_ml"], station["amount"]) == (office["volume_ml"], office["amount"])
    assert station["volume_ml"] > 0 and station["amount"] > 0
    assert sorted(station["sale_ids"]) == sorted(office["sale_ids"])
    assert len(set(office["sale_ids"])) == 3
    # The live view: every milestone of every sale, one line each, every kind of card.
    for number in (1, 2, 3):
        for what in MILESTONES:
            lines = [ln for ln in live.splitlines()
                     if re.search(rf"  sale +{number}  pump \d  {what}\b", ln)]
            assert len(lines) == 1, (number, what, live)
    for kind in KINDS:
        assert f"{kind} at reader" in live
    assert "every sale reached the office exactly once" in live
    assert doc["console"]["url"] in live and doc["console"]["password"] in live
    # The folder (--dir) is kept: both sides say the same on their own.
    assert doc["work_dir_kept"]
    journal = fc_json(folder, "journal", "list")
    stored = fc_json(folder, "office", "sales", "--station", "S-001")
    assert sorted(r["sale_id"] for r in journal) == sorted(r["sale_id"] for r in stored) \
        == sorted(station["sale_ids"])
    assert sum(r["volume_ml"] for r in stored) == station["volume_ml"]
    assert sum(r["amount"] for r in stored) == station["amount"]
    assert sorted((r["seq"], r["hash"]) for r in journal) == \
        sorted((r["seq"], r["hash"]) for r in stored)  # the same chain, sale by sale
    pids = [p["pid"] for p in doc["processes"]]
    assert leftovers(folder, pids) == []


@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
def test_demo_over_mqtt(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    doc, live = run_demo(folder)
    check_run(folder, doc, live, "mqtt")
    assert [p["name"] for p in doc["processes"]] == [
        "mosquitto", "office console", "office ingest", "pump simulator", "station daemon"]
    assert "over MQTT, in a batch of seq" in live
    assert "by the office: signed receipt up to seq" in live


def test_demo_by_flash_drive(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    doc, live = run_demo(folder, "--no-mqtt")
    check_run(folder, doc, live, "flash")
    assert [p["name"] for p in doc["processes"]] == [
        "office console", "pump simulator", "station daemon"]
    assert "the same bundle again: 0 stored, 3 duplicates ignored" in live
    assert (folder / "stick" / "forecourt-S-001-reply.fcb").exists()


def start_and_wait(folder: Path, marker: str) -> tuple[subprocess.Popen[str], list[int], str]:
    """The demo running (human output), read until ``marker``; its children's pids."""
    proc = subprocess.Popen(demo_argv(folder, "--sales", "6"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids: dict[str, int] = {}
    seen = ""
    for line in proc.stdout:
        seen += line
        found = re.match(r"  (\S.*?) {2,}.*\(pid (\d+)\)$", line)
        if found:
            pids[found.group(1).strip()] = int(found.group(2))
        if marker in line:
            return proc, list(pids.values()), seen
    proc.wait(60)
    raise AssertionError(f"the demo ended before {marker!r}: {seen}")


def test_sigterm_mid_sale_stops_everything(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc, pids, _seen = start_and_wait(folder, "delivering")
    assert len(pids) >= 3
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == ("the demo was stopped by SIGTERM before its end; "
                                            "everything it started is stopped")
    assert "Traceback" not in err
    assert "nothing the demo started is running" in out
    assert f"work folder kept: {folder}" in out
    assert leftovers(folder, pids) == []


def test_a_part_that_dies_fails_the_demo_in_one_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc, pids, seen = start_and_wait(folder, "authorized")
    found = re.search(r"station daemon +forecourt run \(pid (\d+)\)", seen)
    assert found is not None, seen
    daemon = int(found[1])
    os.kill(daemon, signal.SIGKILL)  # the demo started it; it must notice and stop the rest
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = [ln for ln in err.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert re.fullmatch(r"Error: station daemon stopped unexpectedly \(exit code -9\); its "
                        r"log is .*station\.log", errors[0]), errors[0]
    assert "nothing the demo started is running" in out
    deadline = time.monotonic() + 5
    while leftovers(folder, pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(folder, pids) == []


def test_a_folder_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "busy.txt").write_text("mine")
    result = subprocess.run(demo_argv(tmp_path), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: --dir {tmp_path} is not an empty folder: the "
                                     "demo needs a new or empty one (it writes a whole office "
                                     "and station there)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.txt"]
