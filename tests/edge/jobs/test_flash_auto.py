"""The automatic flash export onto a stick the kernel says is mounted: a directory
standing in for the stick, found through a by-label link and a mount table written as
the kernel writes them; the head office (SQLite and PostgreSQL) imports what it wrote."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from edge.flash import last_result
from edge.jobs.flash_auto import FlashAuto, mounted_sticks
from offline_db.state import get_state
from tests.cloud_sync.flash_desk import Desk


def kernel_view(root: Path, stick: Path, label: str = "FORECOURT") -> tuple[Path, Path]:
    """``/dev/disk/by-label/LABEL -> ../../sdz1`` and a mount table naming the stick."""
    dev = root / "dev"
    (dev / "disk" / "by-label").mkdir(parents=True)
    (dev / "sdz1").write_text("")
    (dev / "disk" / "by-label" / label).symlink_to("../../sdz1")
    mounts = root / "mounts"
    where = str(stick).replace(" ", "\\040")
    mounts.write_text(f"/dev/sda1 / ext4 rw,relatime 0 0\n"
                      f"{dev / 'sdz1'} {where} vfat rw,nosuid,nodev,noexec 0 0\n")
    return mounts, dev / "disk" / "by-label"


def test_mounted_sticks_are_found_by_label_and_read_only_ones_skipped(tmp_path: Path) -> None:
    stick = tmp_path / "media" / "my stick"
    stick.mkdir(parents=True)
    mounts, by_label = kernel_view(tmp_path, stick)
    assert mounted_sticks("FORECOURT", mounts=mounts, by_label=by_label) == [stick]
    assert mounted_sticks("OTHER", mounts=mounts, by_label=by_label) == []
    mounts.write_text(mounts.read_text().replace("vfat rw,", "vfat ro,"))
    assert mounted_sticks("FORECOURT", mounts=mounts, by_label=by_label) == []


def test_offline_long_enough_the_sales_go_onto_the_stick_once(desk: Desk) -> None:
    stick = desk.root / "media" / "forecourt stick"
    stick.mkdir(parents=True)
    mounts, by_label = kernel_view(desk.root, stick)
    online = [True]
    job = FlashAuto(desk.config, desk.station.conn, threading.Lock(), lambda: online[0],
                    mounts=mounts, by_label=by_label)
    desk.sell(4)
    start = desk.clock.now
    assert job.run(start) is None  # online: nothing to do
    online[0] = False
    assert job.run(start) is None  # offline from now on (kept in the store)
    assert get_state(desk.station.conn, "offline_since") is not None
    assert job.run(start + timedelta(minutes=59)) is None  # not an hour yet
    assert not list(stick.iterdir())
    result = job.run(start + timedelta(hours=1, minutes=1))
    assert result is not None and (result["sales"], result["last_seq"]) == (4, 4)
    bundle = stick / "forecourt-S-001-sales.fcb"
    assert Path(result["path"]) == bundle
    assert last_result(desk.config) is not None
    assert last_result(desk.config)["by"] == "daemon"  # type: ignore[index]
    assert job.run(start + timedelta(hours=2)) is None  # the same sales: not again
    desk.sell(2)
    again = job.run(start + timedelta(hours=3))
    assert again is not None and (again["sales"], again["last_seq"]) == (6, 6)
    imported = desk.office_import(bundle)
    assert (imported["stored"], imported["contiguous_seq"]) == (6, 6)
    online[0] = True
    assert job.run(start + timedelta(hours=4)) is None
    assert get_state(desk.station.conn, "offline_since") is None
