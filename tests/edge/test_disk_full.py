"""A full disk: the station refuses new sales (``disk_full``) and loses no fill.

The station's data directory is a small size-limited tmpfs (``mount -t tmpfs -o
size=...``: root or CAP_SYS_ADMIN; skipped otherwise, saying so); ``forecourt run``
drives DART pumps simulated on a pty; the test fills the file system to the last byte
while fills are under way.

Before each fill, the test empties SQLite's WAL file (``wal_checkpoint(TRUNCATE)``,
as a checkpoint may leave it): otherwise the completion would reuse the WAL's old
pages and never meet the full disk it is meant to meet.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.dart.application import PumpState
from drivers.dart.simulator import PumpSimulator
from edge.control import RemoteError, call
from offline_db.space import MB, RESERVE_NAME
from tests.edge.daemon_support import (
    CARD,
    authorize,
    journal,
    line_station,
    no_pump_live_without_a_sale,
    pump_ready,
    simulated_pumps,
    terminate,
)
from tests.support import daemon_log, fc, fc_json, start_daemon, wait_for

DISK_MB = 24


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PumpSimulator]:
    with simulated_pumps(tmp_path, flow_rate=1000.0) as simulator:
        yield simulator


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """The data directory on a tmpfs of DISK_MB megabytes."""
    where = tmp_path / "station"
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here: the full-disk test needs a size-limited tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0755", "tmpfs",
                           str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN): "
                    f"{done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def station(config_file: Path, sample_store_file: Path, sim: PumpSimulator, disk: Path
            ) -> Path:
    return line_station(config_file, sample_store_file, patient=True,
                        changes={"min_free_mb = 64": "min_free_mb = 4",
                                 "disk_reserve_mb = 1": "disk_reserve_mb = 0"})


def fill_disk(disk: Path) -> Path:
    """Write a file until the file system has not one byte left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = bytes(size)
            try:
                while True:
                    os.write(fd, block)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)
    st = os.statvfs(disk)
    assert st.f_bavail == 0
    return filler


def empty_wal(disk: Path) -> None:
    conn = sqlite3.connect(disk / "station.db")
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()
    assert (disk / "station.db-wal").stat().st_size == 0


def refused_for_disk(config: Path, pump: int) -> None:
    """A new sale is refused, one sentence and ``disk_full``, and fuels nothing."""
    sock = config.parent / "station" / "control.sock"
    with pytest.raises(RemoteError) as refused:
        call(sock, "sale.authorize", {"card": CARD, "pump": pump, "product": "AI95"},
             actor="test")
    assert refused.value.code == "disk_full"
    assert str(refused.value).startswith("the station's disk is too full for a new sale: ")
    assert str(refused.value).endswith("; free space there and try again")
    result = fc(config, "sale", "authorize", "--card", CARD, "--pump", str(pump), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def fill(sim: PumpSimulator, address: int, nozzle: int) -> None:
    sim.lift(address, nozzle)
    wait_for(lambda: sim.pumps[address].filled_volume > 500, "fuel flowing")
    sim.hang(address)


def test_full_disk_refuses_new_sales_and_loses_no_fill(station: Path, disk: Path,
                                                       sim: PumpSimulator) -> None:
    # 1. No reserve: a fill that ends on a full disk stays open, and is recorded from
    #    the pump's data as soon as there is room again.
    proc = start_daemon(station)
    try:
        pump_ready(station, 1)
        pump_ready(station, 2)
        first = authorize(station, 1, "AI92", 10000)
        assert first["pump_state"] == "authorized"
        empty_wal(disk)
        filler = fill_disk(disk)
        refused_for_disk(station, 2)
        fill(sim, 0x50, 1)
        wait_for(lambda: "sale.record_deferred" in daemon_log(station).read_text(),
                 "the completion deferred")
        assert journal(station) == []
        assert [r["sale_id"] for r in fc_json(station, "sale", "list", "--open")] == \
            [first["sale_id"]]
        no_pump_live_without_a_sale(station, sim)
        refused_for_disk(station, 1)  # the pump's last filling stays the proof
        filler.unlink()
        rows = wait_for(lambda: journal(station), "the deferred sale recorded")
        with sim.lock:
            assert [(r["sale_id"], r["volume_ml"]) for r in rows] == [
                (first["sale_id"], sim.pumps[0x50].totals_volume[0])]
    finally:
        assert terminate(proc) == 0

    # 2. With a reserve: the completion gives it up and is recorded on the full disk;
    #    new sales wait until the reserve is back.
    station.write_text(station.read_text().replace("disk_reserve_mb = 0",
                                                   "disk_reserve_mb = 2"))
    proc = start_daemon(station)
    try:
        pump_ready(station, 2)
        second = authorize(station, 2, "AI95", 10000)
        assert second["pump_state"] == "authorized"
        assert (disk / RESERVE_NAME).stat().st_size == 2 * MB
        empty_wal(disk)
        filler = fill_disk(disk)
        refused_for_disk(station, 1)
        fill(sim, 0x51, 1)
        wait_for(lambda: len(journal(station)) == 2, "the sale recorded on a full disk")
        assert "store.reserve_released" in daemon_log(station).read_text()
        assert not (disk / RESERVE_NAME).exists()
        refused_for_disk(station, 1)  # the reserve is gone and the disk still full
        filler.unlink()
        third = authorize(station, 1, "DT", 10000)
        assert third["pump_state"] == "authorized"
        assert (disk / RESERVE_NAME).stat().st_size == 2 * MB  # put back first
        fill(sim, 0x50, 3)
        wait_for(lambda: len(journal(station)) == 3, "the third sale")
    finally:
        assert terminate(proc) == 0

    with sim.lock:
        delivered = [sim.pumps[0x50].totals_volume[0], sim.pumps[0x51].totals_volume[0],
                     sim.pumps[0x50].totals_volume[2]]
        assert all(p.state not in (PumpState.AUTHORIZED, PumpState.FILLING)
                   for p in sim.pumps.values())
    assert [(r["sale_id"], r["volume_ml"]) for r in journal(station)] == list(zip(
        [first["sale_id"], second["sale_id"], third["sale_id"]], delivered, strict=True))
    assert fc_json(station, "sale", "list", "--open") == []
    assert "journal intact: 3 sales," in fc(station, "journal", "verify").stdout
