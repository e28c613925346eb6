"""The automatic flash export: offline too long, and the station's stick is mounted.

A stick left in the box (mounted by an fstab line such as ``LABEL=FORECOURT
/media/forecourt vfat noauto,nofail,x-systemd.automount,uid=forecourt,umask=0077``;
docs/operations.md) is found the way the kernel knows it: ``/dev/disk/by-label/<[flash]
label>`` names the device, ``/proc/self/mounts`` where it is mounted (read-write). When
the station has had no connection to the broker for ``[jobs] flash_export_after`` (or
has MQTT off), the job writes every undelivered sale onto it exactly as ``forecourt
flash export`` does (a read-only connection: the daemon keeps serving), and again only
when there are sales newer than the ones it last wrote there. When it went offline is
kept in the store (``offline_since``), so a restart does not start the wait anew.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from core.config import Config
from core.errors import ForecourtError
from core.timefmt import iso, parse_iso
from edge.flash import export_sales, record
from offline_db.connection import atomic
from offline_db.outbox import newest_undelivered_seq
from offline_db.state import delete_state, get_state, set_state
from offline_db.store import StationStore

log = structlog.get_logger(__name__)
MOUNTS = Path("/proc/self/mounts")
BY_LABEL = Path("/dev/disk/by-label")
OFFLINE_KEY = "offline_since"
LAST_KEY = "flash_auto_last"


def _unescape(field: str) -> str:
    """A mount table field: space, tab, newline and backslash are octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounted_sticks(label: str, *, mounts: Path = MOUNTS, by_label: Path = BY_LABEL
                   ) -> list[Path]:
    """Where the filesystem labelled ``label`` is mounted read-write (none: [])."""
    try:
        device = (by_label / label).resolve(strict=True)
        table = mounts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4 or "ro" in fields[3].split(","):
            continue
        try:
            if Path(_unescape(fields[0])).resolve() == device:
                found.append(Path(_unescape(fields[1])))
        except (OSError, RuntimeError):
            continue
    return found


def offline_since(conn: sqlite3.Connection, *, online: bool, now: datetime) -> datetime | None:
    """When the station went offline (kept in the store), None while online."""
    text = get_state(conn, OFFLINE_KEY)
    if online:
        if text is not None:
            delete_state(conn, OFFLINE_KEY)
        return None
    if text is None:
        set_state(conn, OFFLINE_KEY, iso(now))
        return now
    try:
        return parse_iso(text)
    except ValueError:
        set_state(conn, OFFLINE_KEY, iso(now))
        return now


class FlashAuto:
    """The job: ``run(now)`` exports if offline long enough and a stick is there."""

    def __init__(self, config: Config, conn: sqlite3.Connection,
                 lock: AbstractContextManager[Any], online: Callable[[], bool], *,
                 mounts: Path = MOUNTS, by_label: Path = BY_LABEL) -> None:
        self.config = config
        self.conn = conn
        self.lock = lock
        self.online = online
        self.mounts = mounts
        self.by_label = by_label

    def run(self, now: datetime) -> dict[str, Any] | None:
        """The export's result when one was written, else None; never raises."""
        try:
            return self._run(now)
        except (ForecourtError, OSError) as exc:
            log.error("flash.auto_export_failed", error=str(exc))
            record(self.config, {"at": iso(now), "action": "export", "ok": False,
                                 "by": "daemon", "error": str(exc)})
        return None

    def _run(self, now: datetime) -> dict[str, Any] | None:
        after = self.config.jobs.seconds("flash_export_after")
        online = self.online()
        with self.lock, atomic(self.conn):
            since = offline_since(self.conn, online=online, now=now)
            last = get_state(self.conn, LAST_KEY)
        if since is None or after == 0 or now - since < timedelta(seconds=after):
            return None
        sticks = mounted_sticks(self.config.flash.label, mounts=self.mounts,
                                by_label=self.by_label)
        if not sticks:
            return None
        stick = sticks[0]
        store = StationStore.open_reader(self.config.station.data_dir)
        try:
            newest = newest_undelivered_seq(store.conn)
            mark = f"{newest} {stick}"
            if mark == last:
                return None  # these sales are on this stick already
            summary = export_sales(self.config, store.conn, stick, now=now)
        finally:
            store.close()
        with self.lock, atomic(self.conn):
            set_state(self.conn, LAST_KEY, mark)
        result = {"path": summary.path, "sales": summary.sales,
                  "first_seq": summary.first_seq, "last_seq": summary.last_seq,
                  "volume_ml": summary.volume_ml, "amount": summary.amount,
                  "size": summary.size, "outbox_depth": summary.status["outbox_depth"],
                  "card_store_version": summary.status["card_store_version"],
                  "alarms": summary.status["alarms"]}
        record(self.config, {"at": iso(now), "action": "export", "ok": True, "by": "daemon",
                             **result})
        log.info("flash.auto_exported", stick=str(stick), sales=summary.sales,
                 first_seq=summary.first_seq, last_seq=summary.last_seq,
                 offline_since=iso(since))
        return result
