"""The daemon's main loop between its waits: watchdog pings, ``STATUS=`` lines, the link.

``forecourt run`` is a ``Type=notify`` unit with ``WatchdogSec=`` (systemd/forecourt.service).
Each turn of the main loop (every 0.25 s) calls :meth:`Supervisor.tick`:

- every quarter of the watchdog interval it checks the daemon's health
  (edge/health.py) and pings ``WATCHDOG=1`` only when nothing is wrong; a finding is
  logged once (``daemon.unhealthy``) and shown by ``forecourt status``;
- it follows the head office's link (MQTT connected or not) and, when the link drops,
  records when it was last up (``last_online_at``, so status says "offline since" even
  across restarts);
- every ``STATUS_EVERY_S`` it recomputes the status (edge/station_status.py) on a
  read-only connection and sends ``STATUS=`` to systemd when the line changed.

Without systemd (no ``NOTIFY_SOCKET``) the same checks run; nothing is sent.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import structlog

from core.config import Config
from core.systemd import sd_notify, watchdog_seconds
from core.timefmt import iso, utc_now
from edge.health import DEFAULT_HUNG_AFTER_S, Health, WatchedLock
from edge.station_status import LAST_ONLINE_KEY, gather, status_line
from offline_db.connection import atomic
from offline_db.state import set_state

log = structlog.get_logger(__name__)
#: How often the STATUS= line is recomputed (it counts the outbox: cheap, not free).
STATUS_EVERY_S = 5.0
#: Without a watchdog, how often health is checked (for ``forecourt status``).
HEALTH_EVERY_S = 5.0


class Supervisor:
    """Watchdog, status line and link state of one running daemon (main thread only)."""

    def __init__(self, config: Config, daemon: Any, lock: WatchedLock, reader_conn: Any,
                 control_thread: threading.Thread) -> None:
        self.config = config
        self.daemon = daemon  # edge.daemon.Daemon: its forecourt, readers, sync, station
        self.lock = lock
        self.conn = reader_conn  # read-only, this loop's own
        self.watchdog_s = watchdog_seconds()
        hung_after = self.watchdog_s / 2 if self.watchdog_s else DEFAULT_HUNG_AFTER_S
        self.health = Health(
            store_conn=reader_conn, lock=lock, hung_after_s=hung_after,
            lines=lambda: list(daemon.forecourt.lines) if daemon.forecourt else [],
            readers=lambda: [r for _c, r, _e in daemon.readers.readers.values()
                             if r is not None] if daemon.readers else [],
            threads=lambda: {"control socket": control_thread})
        self.check_every = self.watchdog_s / 4 if self.watchdog_s else HEALTH_EVERY_S
        self.problems: list[str] = []
        self.started_at = iso(utc_now())
        self.online: bool | None = None
        self.online_changed_at: str | None = None
        self._checked = 0.0
        self._status_at = 0.0
        self._line = ""

    # -- each turn ------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            self._check()
        self._follow_link()
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self._send_status()

    def _check(self) -> None:
        problems = self.health.problems()
        if problems != self.problems:
            if problems:
                log.error("daemon.unhealthy", problems=problems,
                          watchdog_s=self.watchdog_s)
            else:
                log.info("daemon.healthy")
            self.problems = problems
        if not problems and self.watchdog_s:
            sd_notify("WATCHDOG=1")

    def _follow_link(self) -> None:
        sync = self.daemon.sync
        online = bool(sync.link.connected) if sync is not None else None
        if online == self.online:
            return
        was, self.online = self.online, online
        self.online_changed_at = iso(utc_now()) if was is not None or online else None
        if was and not online:
            self.remember_online()

    def remember_online(self) -> None:
        """Record now as the last moment the link was up (the link dropped, or we stop)."""
        station = self.daemon.station
        if station is None:
            return
        with self.lock, atomic(station.conn):
            set_state(station.conn, LAST_ONLINE_KEY, iso(utc_now()))

    def _send_status(self) -> None:
        try:
            data = gather(self.conn, self.config, utc_now(), self.runtime())
        except Exception:  # a status that cannot be computed must not stop the daemon
            log.exception("daemon.status_failed")
            return
        line = status_line(data)
        if line != self._line:
            self._line = line
            sd_notify(f"STATUS={line}")
            log.info("daemon.status", status=line)

    # -- for the control socket (any thread) ----------------------------------------------
    def runtime(self) -> dict[str, Any]:
        """What only the running daemon knows (the ``station.status`` operation)."""
        d = self.daemon
        return {"pid": os.getpid(), "started_at": self.started_at,
                "watchdog_s": self.watchdog_s,
                "online": self.online, "online_changed_at": self.online_changed_at,
                "sync": d.sync.status() if d.sync else {"enabled": False},
                "pumps": d.forecourt.status() if d.forecourt else [],
                "readers": d.readers.status() if d.readers else [],
                "health": {"ok": not self.problems, "problems": list(self.problems)}}
