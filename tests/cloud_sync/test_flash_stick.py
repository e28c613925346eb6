"""Flash-drive transfer end to end, on a real USB-stick stand-in (issue 6, docs/bundles.md).

A stick here is a FAT image with a volume label, attached with ``losetup`` and mounted
with ``mount`` (class :class:`Stick`); every test drives the real ``forecourt`` CLI,
with station S-001 and its head office sharing one configuration as on a test bench and
no MQTT: the stick is the only link between them.

The FAT driver is the kernel's ``vfat`` where the kernel has one. Some kernels are built
without it (no ``vfat`` in /proc/filesystems and no modules to load); there the stick is
exFAT through exfat-fuse (``mount -t exfat-fuse``), the other format USB sticks come in
(sticks over 32 GB are exFAT from the factory), which reports a full drive (ENOSPC) and a
read-only one (EROFS) as the kernel does. fusefat is not used: it reports a full drive
as EPERM. With neither driver, or where losetup or mount are not permitted, the tests
that need a stick are skipped, naming why.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config_file
from core.formats.journal import chain_hash
from core.timefmt import iso, utc_now
from offline_db.connection import atomic
from offline_db.journal import last_entry
from offline_db.journal_checks import record_head_of_journal
from offline_db.store import StationStore
from tests.conftest import ROOT, forecourt_exe
from tests.network_fixtures import CARD
from tests.office_fixtures import set_office_database
from tests.support import fc, fc_json, initialize

SALES = "forecourt-S-001-sales.fcb"  # the contract: docs/bundles.md
REPLY = "forecourt-S-001-reply.fcb"
SBIN = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    args = [str(c) for c in cmd]
    args[0] = shutil.which(args[0], path=f"{os.environ.get('PATH', '')}:{SBIN}") or args[0]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def make_image(path: Path, size_mib: int) -> None:
    with path.open("wb") as f:
        f.truncate(size_mib << 20)


@functools.cache
def fat_driver() -> tuple[str, str]:
    """``("vfat" | "exfat", "")`` for the sticks on this machine, or ``("", why not)``."""
    missing = [tool for tool in ("losetup", "mount", "umount", "mkfs.vfat")
               if not shutil.which(tool, path=SBIN)]
    if missing:
        return "", f"{', '.join(missing)} not installed (scripts/setup.sh installs dosfstools)"
    with tempfile.TemporaryDirectory() as tmp:
        image, mnt = Path(tmp) / "probe.img", Path(tmp) / "mnt"
        mnt.mkdir()
        make_image(image, 4)
        run("mkfs.vfat", "-n", "PROBE", image)
        attached = run("losetup", "-f", "--show", image)
        if attached.returncode != 0:
            return "", f"losetup is not permitted: {attached.stderr.strip()}"
        device = attached.stdout.strip()
        try:
            mounted = run("mount", "-t", "vfat", device, mnt)
            if mounted.returncode == 0:
                run("umount", mnt)
                return "vfat", ""
        finally:
            run("losetup", "-d", device)
    if "unknown filesystem type" not in mounted.stderr:
        return "", f"mount is not permitted: {mounted.stderr.strip()}"
    if shutil.which("mount.exfat-fuse", path=SBIN) and shutil.which("mkfs.exfat", path=SBIN):
        return "exfat", ""
    return "", ("the kernel has no FAT (vfat) driver and exfat-fuse/exfatprogs (a FUSE "
                "exFAT driver) are not installed")


class Stick:
    """A USB stick stand-in: a labelled FAT image on a loop device, mounted at ``mountpoint``.

    ``insert``/``pull``/``replug`` as a technician would; ``close`` (the fixture's
    teardown) always unmounts and detaches the loop device, which is global to the machine.
    """

    def __init__(self, directory: Path, *, label: str = "FORECOURT", size_mib: int = 8,
                 options: str = "") -> None:
        self.kind, why = fat_driver()
        if not self.kind:
            pytest.skip(f"no USB-stick stand-in here: {why}")
        directory.mkdir(parents=True)
        self.image = directory / "stick.img"
        self.mountpoint = directory / "mnt"
        self.mountpoint.mkdir()
        self.options = options
        self.device = ""
        self.mounted = False
        self.ever_mounted = False
        make_image(self.image, size_mib)
        mkfs = ("mkfs.vfat", "-n") if self.kind == "vfat" else ("mkfs.exfat", "-L")
        made = run(*mkfs, label, self.image)
        assert made.returncode == 0, made.stderr

    def insert(self) -> None:
        attached = run("losetup", "-f", "--show", self.image)
        if attached.returncode != 0:
            assert not self.ever_mounted, attached.stderr
            pytest.skip(f"losetup is not permitted here: {attached.stderr.strip()}")
        self.device = attached.stdout.strip()
        fstype = "vfat" if self.kind == "vfat" else "exfat-fuse"
        options = ["-o", self.options] if self.options else []
        mounted = run("mount", "-t", fstype, *options, self.device, self.mountpoint)
        if mounted.returncode != 0:
            self.close()
            assert not self.ever_mounted, mounted.stderr
            pytest.skip(f"mount -t {fstype} is not permitted here: {mounted.stderr.strip()}")
        self.mounted = self.ever_mounted = True

    def pull(self) -> None:
        """Unmount, detach, and wait until the device is released: nothing left in flight."""
        if self.mounted:
            result = run("umount", self.mountpoint)
            assert result.returncode == 0, result.stderr
            self.mounted = False
        assert self._detach(), f"{self.image} is still attached after losetup -d"

    def replug(self) -> None:
        """Pull the stick and insert it again (carried to the office, or back)."""
        self.pull()
        self.insert()

    def lazy_unmount(self) -> None:
        """``umount -l``: gone from the tree at once, released when the last file closes."""
        result = run("umount", "-l", self.mountpoint)
        assert result.returncode == 0, result.stderr
        self.mounted = False

    def _detach(self) -> bool:
        if not self.device:
            return True
        device, self.device = self.device, ""
        run("losetup", "-d", device)  # autoclear if still busy: detached on last close
        deadline = time.monotonic() + 15
        while run("losetup", "-j", self.image).stdout.strip():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        """Teardown, whatever state the test left: unmount (lazily if busy) and detach."""
        if self.mounted or os.path.ismount(self.mountpoint):
            if run("umount", self.mountpoint).returncode != 0:
                run("umount", "-l", self.mountpoint)
            self.mounted = False
        self._detach()

    def fill(self, leave: int) -> None:
        """Write a junk file so that only about ``leave`` bytes stay free."""
        st = os.statvfs(self.mountpoint)
        size = st.f_bavail * st.f_frsize - leave
        block = b"\xa5" * (1 << 20)
        with (self.mountpoint / "JUNK.BIN").open("wb") as f:
            while size > 0:
                size -= f.write(block[:min(size, len(block))])
            f.flush()
            os.fsync(f.fileno())

    def names(self) -> list[str]:
        return sorted(os.listdir(self.mountpoint))

    def temporaries(self) -> list[str]:
        return [n for n in self.names() if n.startswith(".") and n.endswith(".tmp")]

    @property
    def path(self) -> str:
        return str(self.mountpoint)


@pytest.fixture
def sticks(tmp_path: Path) -> Iterator[Callable[..., Stick]]:
    """Make and insert sticks (``label``, ``size_mib``, ``options``); all removed afterwards."""
    made: list[Stick] = []

    def make(**kwargs: Any) -> Stick:
        stick = Stick(tmp_path / f"stick{len(made)}", **kwargs)
        made.append(stick)
        stick.insert()
        return stick

    yield make
    for stick in made:
        stick.close()


@pytest.fixture
def bench(config_file: Path, card_store: Path, office_database: str) -> Path:
    """Station S-001 and its head office (on SQLite or PostgreSQL) in one config (a test
    bench), without MQTT."""
    set_office_database(config_file, office_database)
    fc(config_file, "office", "init")
    office_key = fc(config_file, "office", "keys", "show").stdout.strip()
    text = config_file.read_text()
    assert 'office_public_key = ""' in text
    config_file.write_text(text.replace('office_public_key = ""',
                                        f'office_public_key = "{office_key}"'))
    initialize(config_file, card_store)
    station_key = fc(config_file, "keys", "show").stdout.strip()
    fc(config_file, "office", "station", "add", "S-001", "--public-key", station_key)
    return config_file


def sell(config: Path, count: int) -> list[str]:
    """``count`` sales through the CLI, as the attendant makes them; their sale ids."""
    ids: list[str] = []
    for _ in range(count):
        sale = fc_json(config, "sale", "authorize", "--card", CARD, "--pump", "1",
                       "--product", "AI95", "--volume", "10000")
        assert sale["approved"], sale
        fc(config, "sale", "complete", sale["sale_id"], "--volume", "10000")
        ids.append(sale["sale_id"])
    return ids


def add_sales(config: Path, count: int, seed: int = 6) -> None:
    """Append ``count`` valid sales straight to the journal and outbox (as bench/sync.py).

    Through the CLI a sale takes half a second; these are the rows the station writes
    (next seqs, the hash chain, queued in the outbox), varied so that a bundle of them
    compresses like real sales and takes a moment to write.
    """
    station = load_config_file(config).station
    rng = random.Random(seed)
    start = utc_now() - timedelta(days=7)
    journal: list[tuple[Any, ...]] = []
    outbox: list[tuple[int, str]] = []
    with StationStore.open_writer(station.data_dir, holder="test_flash_stick") as store, \
            atomic(store.conn) as conn:
        seq, prev = last_entry(conn)
        for i in range(count):
            seq += 1
            volume = rng.randrange(5_000, 80_000)
            done = iso(start + timedelta(seconds=3 * i, microseconds=rng.randrange(10**6)))
            sale = {"seq": seq, "sale_id": f"T{seq:08d}{rng.getrandbits(24):06X}",
                    "station_id": station.id, "card_id": CARD, "pump": rng.randrange(1, 9),
                    "product": "AI95", "volume_ml": volume, "unit_price": 5299,
                    "amount": (volume * 5299 + 500) // 1000, "authorized_at": done,
                    "completed_at": done, "wallet_debits": {}}
            digest = chain_hash(prev, sale)
            journal.append((seq, sale["sale_id"], station.id, CARD, sale["pump"], "AI95",
                            volume, 5299, sale["amount"], done, done, "{}", prev, digest))
            outbox.append((seq, done))
            prev = digest
        conn.executemany(
            "INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, volume_ml, "
            "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", journal)
        conn.executemany("INSERT INTO outbox (seq, queued_at) VALUES (?, ?)", outbox)
        record_head_of_journal(conn)


def assert_one_sentence_failure(returncode: int | None, stderr: str, word: str) -> None:
    assert returncode not in (0, None), stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one sentence (DESIGN.md 5, CLI): {stderr!r}"
    assert word in lines[0], lines[0]


STORE_KEYS = ("journal_last_seq", "outbox_depth", "last_receipt_seq", "card_store_version")


def assert_store_unchanged(config: Path, before: dict[str, Any]) -> None:
    after = fc_json(config, "status")
    assert {k: after[k] for k in STORE_KEYS} == {k: before[k] for k in STORE_KEYS}
    assert "intact" in fc(config, "journal", "verify").stdout


def assert_failure_shown(config: Path, word: str) -> None:
    status = fc_json(config, "status")
    assert status["flash_last_ok"] is False, status
    assert word in status["flash_last"], status["flash_last"]
    assert "FAILED" in fc(config, "status").stdout


def test_technician_round_trip_on_a_labelled_stick(bench: Path,
                                                   sticks: Callable[..., Stick]) -> None:
    sale_ids = sell(bench, 3)
    stick = sticks(label="FORECOURT")
    out = fc_json(bench, "flash", "auto", stick.path)
    assert out["ok"] and out["imports"] == [], out
    assert (out["export"]["sales"], out["export"]["first_seq"], out["export"]["last_seq"]) == \
        (3, 1, 3)
    assert stick.names() == [SALES]

    stick.replug()  # carried to the head office
    assert stick.names() == [SALES]
    bundle = f"{stick.path}/{SALES}"
    first = fc_json(bench, "office", "flash", "import", bundle)
    assert [(r["sales"], r["stored"], r["duplicates"], r["contiguous_seq"], r["quarantined"])
            for r in first] == [(3, 3, 0, 3, None)]
    again = fc_json(bench, "office", "flash", "import", bundle)
    assert [(r["stored"], r["duplicates"]) for r in again] == [(0, 3)]
    reply = fc_json(bench, "office", "flash", "export", "--station", "S-001", stick.path)
    assert [(Path(r["file"]).name, r["up_to_seq"]) for r in reply] == [(REPLY, 3)]

    stick.replug()  # back at the station
    assert stick.names() == [REPLY, SALES]
    back = fc_json(bench, "flash", "auto", stick.path)
    assert back["ok"], back
    assert [(i["file"], i["ok"]) for i in back["imports"]] == [(REPLY, True)]
    assert "3 sales delivered" in back["imports"][0]["line"]
    assert (back["export"]["sales"], back["export"]["outbox_depth"]) == (0, 0)
    status = fc_json(bench, "status")
    assert (status["outbox_depth"], status["last_receipt_seq"]) == (0, 3)
    assert status["card_store_version"] == 17  # the office's empty card master never wins
    assert status["flash_last_ok"] is True
    assert f"imported {REPLY}" in status["flash_last"]

    rows = fc_json(bench, "office", "sales", "--station", "S-001")
    assert sorted(r["seq"] for r in rows) == [1, 2, 3]
    assert sorted(r["sale_id"] for r in rows) == sorted(sale_ids)

    stick.replug()  # the old reply is still on the stick next time: harmless
    later = fc_json(bench, "flash", "auto", stick.path)
    assert later["ok"] and [i["ok"] for i in later["imports"]] == [True], later
    assert fc_json(bench, "status")["last_receipt_seq"] == 3


def test_full_stick_fails_cleanly(bench: Path, sticks: Callable[..., Stick]) -> None:
    add_sales(bench, 20_000)  # a bundle of about 0.7 MB
    before = fc_json(bench, "status")
    stick = sticks(size_mib=8)
    stick.fill(leave=128 * 1024)
    result = fc(bench, "flash", "export", stick.path, check=False)
    assert_one_sentence_failure(result.returncode, result.stderr, "full")
    assert SALES not in stick.names() and stick.temporaries() == []
    assert_store_unchanged(bench, before)
    assert_failure_shown(bench, "full")
    stick.replug()  # and on the medium itself, not only in the page cache
    assert SALES not in stick.names() and stick.temporaries() == []


def test_read_only_stick_fails_cleanly(bench: Path, sticks: Callable[..., Stick]) -> None:
    sell(bench, 2)
    before = fc_json(bench, "status")
    stick = sticks(options="ro")
    result = fc(bench, "flash", "export", stick.path, check=False)
    assert_one_sentence_failure(result.returncode, result.stderr, "read-only")
    assert SALES not in stick.names() and stick.temporaries() == []
    assert_store_unchanged(bench, before)
    assert_failure_shown(bench, "read-only")
    # The office writes its replies with the same writer, and says so the same way.
    office = fc(bench, "office", "flash", "export", "--station", "S-001", stick.path,
                check=False)
    assert_one_sentence_failure(office.returncode, office.stderr, "read-only")
    assert stick.names() == []


def start_export(config: Path, stick: Stick) -> subprocess.Popen[str]:
    return subprocess.Popen([forecourt_exe(), "--config", str(config), "flash", "export",
                             stick.path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_temporary(stick: Stick, proc: subprocess.Popen[str]) -> None:
    """Until the export's temporary file is on the stick (the write is under way)."""
    deadline = time.monotonic() + 60
    while not stick.temporaries():
        assert proc.poll() is None, (f"the export ended ({proc.returncode}) before its "
                                     "temporary file was seen: make the bundle bigger")
        assert time.monotonic() < deadline, "no temporary file appeared on the stick"
        time.sleep(0.002)


@contextlib.contextmanager
def exporting(config: Path, stick: Stick) -> Iterator[subprocess.Popen[str]]:
    """An export in the background, caught mid-write; never left running."""
    proc = start_export(config, stick)
    try:
        wait_for_temporary(stick, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def export_then_office_import(config: Path, stick: Stick, sales: int) -> None:
    """A new export now succeeds, and the office takes every sale from it once."""
    out = fc_json(config, "flash", "export", stick.path)
    assert out["sales"] == sales
    stick.replug()
    rows = fc_json(config, "office", "flash", "import", f"{stick.path}/{SALES}")
    assert [(r["stored"], r["duplicates"], r["contiguous_seq"], r["quarantined"], r["gaps"])
            for r in rows] == [(sales, 0, sales, None, [])]


def test_export_killed_mid_write_leaves_no_bundle(bench: Path,
                                                  sticks: Callable[..., Stick]) -> None:
    add_sales(bench, 80_000)  # about 2.7 MB: a write that takes a moment
    stick = sticks(size_mib=32)
    with exporting(bench, stick) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    assert SALES not in stick.names()
    stick.replug()
    assert SALES not in stick.names()
    export_then_office_import(bench, stick, 80_000)


def test_stick_unmounted_mid_write_leaves_no_bundle(bench: Path,
                                                    sticks: Callable[..., Stick]) -> None:
    # Deterministic: once the temporary file is seen, 'umount -l' takes the stick out of
    # the tree while the export writes on through its open file; the read-back (or the
    # rename) then finds no such file, as when the stick is pulled out.
    add_sales(bench, 80_000)
    stick = sticks(size_mib=32)
    with exporting(bench, stick) as proc:
        stick.lazy_unmount()
        proc.wait(timeout=60)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert_one_sentence_failure(proc.returncode, err, "pulled out")
    assert_failure_shown(bench, "pulled out")
    stick.replug()  # the export has exited, so the lazily unmounted stick is released
    assert SALES not in stick.names()
    export_then_office_import(bench, stick, 80_000)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze", path=SBIN)
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (ROOT / "systemd" / "forecourt-flash@.service").read_text()
    assert "ExecStart=/opt/forecourt/.venv/bin/forecourt flash auto " in text
    unit = tmp_path / "forecourt-flash@sdb1.service"
    unit.write_text(text.replace("/opt/forecourt/.venv/bin/forecourt", forecourt_exe()))
    result = run(analyze, "verify", unit)
    assert result.returncode == 0, result.stderr
    # A line systemd cannot parse is only a warning ("... ignoring"): none allowed.
    assert unit.name not in result.stdout + result.stderr


def test_udev_rule_is_the_shipped_file_and_follows_the_label(config_file: Path,
                                                            tmp_path: Path) -> None:
    shipped = (ROOT / "systemd" / "99-forecourt-flash.rules").read_text()
    assert fc(config_file, "flash", "udev-rule").stdout == shipped
    assert "forecourt-flash@%k.service" in shipped
    assert (ROOT / "systemd" / "forecourt-flash@.service").is_file()

    text = config_file.read_text()
    assert text.count('label = "FORECOURT"') == 1
    config_file.write_text(text.replace('label = "FORECOURT"', 'label = "DEPOT7"'))
    rule = fc(config_file, "flash", "udev-rule").stdout
    assert 'ENV{ID_FS_LABEL}=="DEPOT7"' in rule
    assert rule == shipped.replace('"FORECOURT"', '"DEPOT7"')

    # What udev would see on a stick formatted with that label (libblkid, as udev's
    # blkid builtin): every ID_FS_* match of the rule holds.
    if not (shutil.which("blkid", path=SBIN) and shutil.which("mkfs.vfat", path=SBIN)):
        pytest.skip("blkid or mkfs.vfat is not installed")
    image = tmp_path / "depot7.img"
    make_image(image, 8)
    assert run("mkfs.vfat", "-n", "DEPOT7", image).returncode == 0
    probed = run("blkid", "-p", "-o", "udev", image)
    assert probed.returncode == 0, probed.stderr
    props = dict(line.split("=", 1) for line in probed.stdout.splitlines() if "=" in line)
    matches = re.findall(r'ENV\{(ID_FS_\w+)\}=="([^"]*)"', rule)
    assert {k for k, _ in matches} == {"ID_FS_LABEL", "ID_FS_USAGE"}
    assert all(props.get(k) == v for k, v in matches), (matches, props)


def test_export_on_a_terminal_shows_progress_and_ends_with_one_line(bench: Path,
                                                                   tmp_path: Path) -> None:
    """A technician's terminal: a progress bar on stderr, then the summary on stdout."""
    import pty

    add_sales(bench, 30_000)
    folder = tmp_path / "folder"
    folder.mkdir()
    main, side = pty.openpty()
    try:
        proc = subprocess.run([forecourt_exe(), "--config", str(bench), "flash", "export",
                               str(folder)], stdout=subprocess.PIPE, stderr=side, text=True,
                              timeout=120, check=False)
        os.close(side)
        side = -1
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
            while chunk := os.read(main, 65536):
                shown += chunk
    finally:
        os.close(main)
        if side >= 0:
            os.close(side)
    assert proc.returncode == 0
    assert b"exporting sales" in shown and b"100%" in shown
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exported 30,000 sales, seq 1-30000: ")
    assert " l, amount " in lines[0] and lines[0].endswith(("kB)", "MB)"))  # 902.9 kB


def test_auto_with_a_damaged_reply_still_exports_and_says_what_failed(bench: Path,
                                                                      tmp_path: Path) -> None:
    """On the stick: a damaged reply for us, someone else's file, a stranger's bundle."""
    sell(bench, 2)
    folder = tmp_path / "stick"
    folder.mkdir()
    fc(bench, "flash", "export", str(folder))
    fc(bench, "office", "flash", "import", str(folder / SALES))
    fc(bench, "office", "flash", "export", "--station", "S-001", str(folder))
    reply = folder / REPLY
    data = bytearray(reply.read_bytes())
    data[-100] ^= 0x04  # a bit flipped in the body
    reply.write_bytes(bytes(data))
    (folder / "holiday.fcb").write_bytes(b"\x89PNG not a bundle at all")
    out = fc(bench, "flash", "auto", str(folder), "--json", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert [i["ok"] for i in result["imports"]] == [False]
    assert "altered or damaged" in result["imports"][0]["line"]
    assert result["export"]["ok"] and result["export"]["sales"] == 2  # still not receipted
    status = fc_json(bench, "status")
    assert status["outbox_depth"] == 2 and status["last_receipt_seq"] == 0
    assert status["flash_last_ok"] is False and "altered or damaged" in status["flash_last"]
