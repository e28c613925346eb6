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


#: How long one notification may wait for room in the manager's queue. A Unix datagram
#: send blocks while the receiver's queue is full (``net.unix.max_dgram_qlen``, 10 by
#: default); a manager that stalls must not hang the watchdog's thread or a shutdown.
SEND_TIMEOUT_S = 2.0


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd if it asked for notifications; True when sent.

    A notification the manager cannot take within ``SEND_TIMEOUT_S`` is dropped and
    logged: a lost ping is followed by the next one, and a daemon that waits forever
    on its manager is the hang the watchdog is there to catch.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(SEND_TIMEOUT_S)
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
