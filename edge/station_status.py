"""``forecourt status``: the station's whole state in one document, and its alarms.

Two sources, one shape. The store (read-only, so it works with or without the
daemon): identity, card-store version and age, stale mode, outbox depth and the
oldest undelivered sale, the office's reported problems, the disk. The running
daemon (its ``station.status`` over the control socket, :func:`runtime` here): whether
the head office link is up and since when, each pump and reader, its own health.
Without the daemon the pumps and readers are listed from the configuration with
state ``unknown`` and the ``daemon_not_running`` alarm is raised. The alarms are
edge/alarms.py's; the daemon's ``STATUS=`` line to systemd is :func:`status_line`.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from core.config import Config
from edge.alarms import disk_status, runtime_alarms, store_alarms
from edge.views import status as store_status
from offline_db.outbox import office_problem
from offline_db.state import get_state

#: sync_state key: the last moment the daemon saw the head office's link up (written
#: when the link drops and when the daemon stops while online).
LAST_ONLINE_KEY = "last_online_at"


def gather(conn: sqlite3.Connection, config: Config, now: datetime,
           runtime: dict[str, Any] | None) -> dict[str, Any]:
    """The status document: the store's part, ``runtime`` (None: no daemon), alarms."""
    data = store_status(conn, config, now)
    data["stale_mode"] = config.offline.stale_policy if data["card_data_stale"] else None
    data["disk"] = disk_status(config)
    data["office_problem"] = office_problem(conn)
    data["daemon_running"] = runtime is not None and "error" not in runtime
    data["daemon"] = None if runtime is None else {
        k: runtime.get(k) for k in ("pid", "started_at", "watchdog_s", "error")}
    last_online = get_state(conn, LAST_ONLINE_KEY)
    data["mqtt_enabled"] = config.mqtt.enabled
    if runtime is not None and runtime.get("online") is not None:
        data["online"] = bool(runtime["online"])
        # Not yet online since the daemon started: offline since it was last seen online
        # (a record from before the start), else since the start.
        data["online_changed_at"] = runtime.get("online_changed_at") or (
            None if data["online"] else last_online or runtime.get("started_at"))
    else:  # no link configured, or nobody to hold one: offline since last seen online
        data["online"] = False
        data["online_changed_at"] = last_online if config.mqtt.enabled else None
    data["last_online_at"] = last_online
    sync = (runtime or {}).get("sync") or {"enabled": False}
    if sync.get("enabled", True):
        for name in ("connected", "receipts", "refused", "replays"):
            data[f"sync_{name}"] = sync.get(name)
    if runtime is not None and "error" not in runtime:
        data["pumps"] = runtime.get("pumps") or []
        data["readers"] = runtime.get("readers") or []
        data["health"] = runtime.get("health")
    else:
        data["pumps"] = [{"pump": p.number, "line": line.name or line.port, "online": None,
                          "state": "unknown"} for line in config.pump_lines for p in line.pumps]
        data["readers"] = [{"reader": r.id, "driver": r.driver, "pump": r.pump,
                            "state": "unknown"} for r in config.readers]
        data["health"] = None
    alarms = store_alarms(conn, config, now, data) + runtime_alarms(runtime)
    data["alarms"] = [a.as_json() for a in alarms]
    return data


def status_line(data: dict[str, Any]) -> str:
    """One line for ``systemctl status`` (``STATUS=``): link, outbox, alarms."""
    if not data["mqtt_enabled"]:
        link = "no MQTT link (flash drive only)"
    elif data["online"]:
        link = "online"
    else:
        link = "offline"
    since = data.get("online_changed_at")
    if data["mqtt_enabled"] and since:
        link += f" since {since[:19]}Z"
    outbox = f"outbox {data['outbox_depth']}"
    if data["oldest_undelivered_at"]:
        outbox += f" (oldest {data['oldest_undelivered_at'][:19]}Z)"
    codes: dict[str, int] = {}
    for alarm in data["alarms"]:
        codes[alarm["code"]] = codes.get(alarm["code"], 0) + 1
    alarms = "no alarms" if not codes else "ALARMS: " + ", ".join(
        code if n == 1 else f"{code} x{n}" for code, n in codes.items())
    return f"{link}; {outbox}; {alarms}"
