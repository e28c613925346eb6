"""The demo's config.toml: one file for both sides, as on a test bench.

The station and the head office each keep their own data directory (as on two
machines); everything not written here takes the embedded defaults (config.toml at the
repository's root documents every key). Logs are JSON lines: the live view reads the
station daemon's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from demo.cards import NOZZLES
from demo.workspace import Workspace

STATION_ID = "S-001"
#: Pumps on the one line: number -> DART address.
PUMPS = {1: 0x50, 2: 0x51}


@dataclass(frozen=True)
class Reader:
    """A ``[[readers]]`` entry of the demo."""

    id: str
    kind: str  # magstripe, nfc, qr (demo.cards.Kind.name)
    pump: int
    driver: str
    device: str


@dataclass(frozen=True)
class Ports:
    web: int
    nfc: int
    mqtt: int | None  # None: no broker, the flash-drive path


def readers(ws: Workspace, ports: Ports) -> tuple[Reader, ...]:
    """Pump 1: a stripe reader and a QR scanner; pump 2: an NFC reader and a QR scanner."""
    return (Reader("pump1-swipe", "magstripe", 1, "magstripe-serial", str(ws.tty("swipe"))),
            Reader("pump1-qr", "qr", 1, "qr-serial", str(ws.tty("qr1"))),
            Reader("pump2-nfc", "nfc", 2, "nfc", f"udp:127.0.0.1:{ports.nfc}"),
            Reader("pump2-qr", "qr", 2, "qr-serial", str(ws.tty("qr2"))))


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text)


def config_text(ws: Workspace, ports: Ports, office_key: str = "") -> str:
    mqtt = ports.mqtt is not None
    lines = [
        "# forecourt demo: one configuration for the station and the head office.",
        "[station]", f"id = {_q(STATION_ID)}", 'name = "Demo station"',
        f"data_dir = {_q(str(ws.station_dir))}", f"office_public_key = {_q(office_key)}",
        "", "[logging]", 'level = "info"', 'format = "json"',
        "", "[office]", f"data_dir = {_q(str(ws.office_dir))}",
        f'web_bind = "127.0.0.1:{ports.web}"', "web_workers = 1",
        "", "[office_reports]", f"folder = {_q(str(ws.office_dir / 'reports'))}",
        "", "[reports]", f"folder = {_q(str(ws.station_dir / 'reports'))}",
        "", "[roles]", 'socket_group = ""',
        "", "[mqtt]", f"enabled = {'true' if mqtt else 'false'}", 'host = "127.0.0.1"',
        f"port = {ports.mqtt or 1883}", "keepalive_s = 10", "reconnect_min_s = 1",
        "reconnect_max_s = 2", "receipt_timeout_s = 5",
        "", "[[pump_lines]]", 'name = "island-1"', f"port = {_q(str(ws.tty('pumps')))}",
        'parity = "none"  # a pty has no parity',
    ]
    for number, address in PUMPS.items():
        lines += ["", "[[pump_lines.pumps]]", f"number = {number}", f"address = {address}",
                  f"nozzles = {json.dumps(list(NOZZLES))}"]
    for r in readers(ws, ports):
        lines += ["", "[[readers]]", f"id = {_q(r.id)}", f"driver = {_q(r.driver)}",
                  f"device = {_q(r.device)}", f"pump = {r.pump}"]
    return "\n".join(lines) + "\n"


def write_config(ws: Workspace, ports: Ports, office_key: str = "") -> None:
    tmp = ws.config.with_name(ws.config.name + ".tmp")
    tmp.write_text(config_text(ws, ports, office_key), encoding="utf-8")
    tmp.replace(ws.config)
