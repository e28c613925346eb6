"""Talking to systemd's service manager: ``sd_notify`` and the watchdog's interval.

Both the station daemon (``forecourt run``) and the head office's ingest (``forecourt
office serve``) run as ``Type=notify`` units: they say ``READY=1`` once they serve,
``STOPPING=1`` when they begin to stop, ``STATUS=...`` for ``systemctl status``, and the
station pings ``WATCHDOG=1`` while it is healthy (edge/health.py). Outside systemd
(no ``NOTIFY_SOCKET``) every call does nothing. The protocol is sd_notify(3): one
datagram of ``KEY=value`` lines to the Unix socket named by ``NOTIFY_SOCKET`` (a path,
or ``@name`` in the abstract namespace).
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger(__name__)


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd if it asked for notifications; True when sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("systemd.notify_failed", error=str(exc))
            return False
    return True


def watchdog_seconds() -> float | None:
    """The unit's ``WatchdogSec`` in seconds when systemd watches this process, else None.

    systemd sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, the process it watches) for
    the main process of a unit with ``WatchdogSec=``. A ``WATCHDOG_PID`` naming another
    process (inherited by a child) means the watchdog is not ours (sd_watchdog_enabled(3)).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000
