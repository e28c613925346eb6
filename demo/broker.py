"""A private mosquitto for the demo: its own port, its own config and log, no persistence.

Found on PATH or at /usr/sbin/mosquitto (Debian's package puts it there, outside a
normal user's PATH). Run as root it must be told to stay root: otherwise it drops to
user ``mosquitto``, which cannot write the demo's log.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from demo.children import Child, Children
from demo.errors import DemoError

HOST = "127.0.0.1"


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now, on 127.0.0.1 (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_broker(children: Children, exe: str, folder: Path, port: int,
                 timeout: float = 20.0) -> Child:
    """Start mosquitto on ``HOST:port``; return once it accepts connections."""
    conf = folder / "mosquitto.conf"
    lines = [f"listener {port} {HOST}", "allow_anonymous true", "persistence false",
             f"log_dest file {folder / 'mosquitto.log'}", "log_type error",
             "log_type warning", "log_type notice", "log_type information"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    child = children.start("mosquitto", [exe, "-c", str(conf)],
                           log=folder / "mosquitto.out")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check()
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return child
        except OSError:
            time.sleep(0.05)
    raise DemoError(f"mosquitto did not listen on {HOST}:{port} within {timeout:.0f} s; "
                    f"its log is in {folder}")
