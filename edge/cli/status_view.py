"""``forecourt status`` for people: one line per fact, then pumps, readers and alarms.

``--json`` prints the document of edge/station_status.py as it is; this turns it into
text: yes/no for true/false, ages next to times, sizes in MB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from core.display import age, ago

#: Shown in their own sections (or folded into another line), not as ``key value``.
_SECTIONS = frozenset({"pumps", "readers", "alarms", "disk", "daemon", "health",
                       "office_problem", "online_changed_at", "mqtt_enabled",
                       "last_online_at", "online"})
_TIMES = frozenset({"card_store_confirmed_at", "oldest_undelivered_at",
                    "card_store_expires_at"})


def _line(name: str, text: Any) -> None:
    click.echo(f"{name:<26} {text}")


def _online(d: dict[str, Any], now: datetime) -> str:
    if not d["mqtt_enabled"]:
        return "no: no MQTT link ([mqtt] enabled = false; flash drive only)"
    since = d.get("online_changed_at")
    text = "yes" if d["online"] else "no"
    return f"{text}, since {ago(since, now)}" if since else text


def show_status(d: dict[str, Any], now: datetime) -> None:
    daemon = d.get("daemon") or {}
    for key, value in d.items():
        if key in _SECTIONS:
            continue
        name, text = key.replace("_", " "), "-" if value is None else value
        if key == "card_data_age_s":  # seconds in JSON, days and hours for people
            name, text = "card data age", age(value)
        elif key in _TIMES:
            text = ago(value, now)
        elif isinstance(value, bool):  # yes/no for people, true/false in JSON
            text = "yes" if value else "no"
        if key == "daemon_running" and value:
            text = f"yes (pid {daemon.get('pid')}, started {ago(daemon.get('started_at'), now)})"
        _line(name, text)
        if key == "daemon_running":
            _line("online", _online(d, now))
    disk = d["disk"]
    _line("disk free", f"{disk['free_percent']}% ({disk['free_bytes'] // 1_000_000} MB of "
                       f"{disk['total_bytes'] // 1_000_000} MB)"
                       + (", NEW SALES REFUSED" if disk.get("refusing") else ""))
    for p in d["pumps"]:
        state = "unknown (the daemon is not running)" if p["online"] is None else (
            f"{'online' if p['online'] else 'OFFLINE'} since {ago(p.get('since'), now)}, "
            f"{p['state']}" + (f", sale {p['sale_id']}" if p.get("sale_id") else ""))
        _line(f"pump {p['pump']} ({p['line']})", state)
    for r in d["readers"]:
        state = r["state"] if r["state"] == "unknown" else (
            f"{r['state']} since {ago(r.get('since'), now)}"
            + (f": {r['error']}" if r.get("error") else ""))
        where = "the desk" if r.get("pump") == 0 else f"pump {r.get('pump')}"
        _line(f"reader {r['reader']} ({where})", state)
    if not d["alarms"]:
        click.echo("no alarms")
        return
    click.echo(f"ALARMS ({len(d['alarms'])}):")
    for a in d["alarms"]:
        since = f" (since {ago(a['since'], now)})" if a.get("since") else ""
        click.echo(f"  {a['code']}: {a['message']}{since}")
