"""Starting the long-running parts and waiting until each one really works.

Order: the broker, the office's console and ingest, the pump simulator, then the
station daemon (its pump line and readers must exist when it starts). Ready means:
the console lets the demo's administrator log in; the office's ingest is connected to
the broker; the daemon answers on its control socket with both pumps online, every
reader ready and, over MQTT, its uplink connected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.config import Config
from demo.children import Child
from demo.errors import DemoError
from demo.view import ACTOR, LogTail
from edge.control import DaemonNotRunning, call

READY_WAIT_S = 90.0


def wait_until(check: Callable[[], Any], what: str, child: Child,
               timeout: float = READY_WAIT_S) -> Any:
    """Poll ``check`` until it returns something true; DemoError naming ``what`` if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check()
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise DemoError(f"{what} did not happen within {timeout:.0f} s; see {child.log}")


def wait_logged(child: Child, event: str) -> None:
    """Until ``child``'s JSON log holds ``event`` (``office.ready``, ``mqtt.connected``)."""
    tail = LogTail(child.log)
    wait_until(lambda: any(doc.get("event") == event for doc in tail.read()),
               f"{child.name} logging {event}", child)


def _ask(config: Config, op: str) -> Any:
    try:
        return call(config.station.socket_path, op, {}, actor=ACTOR, timeout=10)
    except DaemonNotRunning:
        return None


def wait_station(config: Config, daemon: Child, mqtt: bool) -> None:
    """Until the daemon answers with both pumps online, readers ready, (MQTT) online."""
    wait_until(lambda: _ask(config, "pump.status") is not None,
               "the station daemon's control socket answering", daemon)

    def pumps_online() -> bool:
        rows = _ask(config, "pump.status") or []
        return bool(rows) and all(r.get("online") for r in rows)

    wait_until(pumps_online, "both pumps online on the line", daemon)

    def readers_ready() -> bool:
        rows = _ask(config, "readers.status") or []
        return bool(rows) and all(r.get("state") == "ready" for r in rows)

    wait_until(readers_ready, "every card reader ready", daemon)
    if mqtt:
        wait_until(lambda: (_ask(config, "sync.status") or {}).get("connected"),
                   "the station's uplink connected to the broker", daemon)
