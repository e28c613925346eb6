"""The station's active alarms: what a person (or a monitor) must act on now.

One list for ``forecourt status`` (human and ``--json``; its exit code), the daemon's
``STATUS=`` line to systemd, and monitoring. Each alarm has a stable ``code``, one
sentence, and since when it holds where that is known:

- ``daemon_not_running``: nobody serves the pumps and readers (status without the daemon);
- ``daemon_unhealthy``: a pump line, a reader or the store hangs (the watchdog's
  findings, edge/health.py; systemd restarts the daemon soon after);
- ``card_data_stale``: the offline policy is in force (``[offline]``);
- ``sales_undelivered``: the oldest sale not receipted by the head office is older
  than ``[alarms] undelivered_after``;
- ``pump_offline`` / ``reader_offline``: one per pump or reader that does not answer;
- ``disk_full``: new sales are refused for want of space (``[station] min_free_mb``
  and the space reserve, offline_db.space: the same look the sale refusal takes);
- ``disk_nearly_full``: less than twice ``min_free_mb``, or less than ``[alarms]
  disk_min_free_percent``, free where the station keeps its data;
- ``office_chain_problem``: the head office refused (quarantined) this station's sales,
  until its receipts cover them (offline_db.outbox);
- ``journal_broken``: the journal's last sale or last receipted sale does not match
  what the station recorded with it (a cut or rehashed tail).

Alarms raised by the station's scheduled checks (edge/jobs, kept in the store by
offline_db.alarms so that they outlive a restart, e.g. ``card_data_stale`` before the
offline policy takes over) join this one list: where both tell the same code, the
stored one's ``since`` (when the check first saw it) is kept.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from core.config import Config
from core.timefmt import iso, parse_iso
from offline_db.alarms import active_alarms
from offline_db.journal_checks import head_problems, receipt_problems
from offline_db.outbox import office_problem
from offline_db.space import disk_space

#: ``forecourt status`` exits with this while any alarm is active (0 when none; 1 when the
#: status cannot be read at all; 2 is click's usage error).
ALARM_EXIT = 3


@dataclass(frozen=True)
class Alarm:
    code: str
    message: str
    since: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def disk_status(config: Config) -> dict[str, Any]:
    """The data directory's disk as the sale refusal sees it (offline_db.space), with the
    free share for the percentage alarm."""
    space = disk_space(config.station.data_dir, min_free_mb=config.station.min_free_mb,
                       reserve_mb=config.station.disk_reserve_mb)
    percent = 100.0 * space.free / space.total if space.total else 0.0
    return {**space.as_json(), "free_percent": round(percent, 1),
            "alarm": space.alarm()}


def store_alarms(conn: sqlite3.Connection, config: Config, now: datetime,
                 status: dict[str, Any]) -> list[Alarm]:
    """Alarms the store and the disk tell, with or without the daemon.

    ``status`` is :func:`edge.views.status` of the same connection and moment (plus
    ``disk``).
    """
    out: list[Alarm] = []
    if status["card_data_stale"]:
        reason = status["card_data_stale_reason"]
        since = None
        if reason == "age" and status["card_store_confirmed_at"]:
            since = iso(parse_iso(status["card_store_confirmed_at"])
                        + timedelta(seconds=config.offline.max_data_age_s))
        elif reason == "expired" and status["card_store_expires_at"]:
            since = iso(parse_iso(status["card_store_expires_at"]))
        out.append(Alarm("card_data_stale", f"card data is stale ({_STALE[reason]}): the "
                         f"offline policy '{config.offline.stale_policy}' is in force", since))
    oldest = status["oldest_undelivered_at"]
    limit = config.alarms.undelivered_after_s
    if oldest is not None and now - parse_iso(oldest) >= timedelta(seconds=limit):
        out.append(Alarm("sales_undelivered", f"{status['outbox_depth']} sale(s) not yet "
                         "receipted by the head office, the oldest older than "
                         f"[alarms] undelivered_after ({config.alarms.undelivered_after})",
                         iso(parse_iso(oldest) + timedelta(seconds=limit))))
    disk = status["disk"]
    if disk["refusing"]:
        out.append(Alarm("disk_full", str(disk["alarm"])))
    elif disk["nearly_full"]:
        out.append(Alarm("disk_nearly_full", str(disk["alarm"])))
    elif disk["free_percent"] < config.alarms.disk_min_free_percent:
        out.append(Alarm("disk_nearly_full", f"disk nearly full: only "
                         f"{disk['free_percent']}% ({disk['free_bytes'] // 1_000_000} MB) "
                         f"free on the disk of {config.station.data_dir} (alarm below "
                         f"{config.alarms.disk_min_free_percent}%)"))
    problem = office_problem(conn)
    if problem is not None:
        said = "; ".join(problem.get("problems") or ["no reason given"])
        out.append(Alarm("office_chain_problem", "the head office refused this station's "
                         f"sales up to seq {problem['through_seq']}: {said}",
                         problem.get("at")))
    # The cheap anchors (a few indexed reads): the outbox and authorization checks of
    # 'journal verify' scan tables that grow with the station's history.
    for tail in [*head_problems(conn), *receipt_problems(conn)]:
        where = f" at seq {tail.seq}" if tail.seq is not None else ""
        out.append(Alarm("journal_broken", f"journal broken{where}: {tail.message} "
                         f"[{tail.reason}]; run 'forecourt journal verify'"))
    return _with_stored(out, active_alarms(conn))


def _with_stored(computed: list[Alarm], stored: list[dict[str, Any]]) -> list[Alarm]:
    """The computed alarms and the stored ones (the scheduled checks'), one per code:
    a stored alarm's ``since`` wins (the check saw it first), and an alarm only a check
    raises (an early staleness warning) is listed with its own sentence."""
    by_code = {a["code"]: a for a in stored}
    out = [Alarm(a.code, a.message, by_code[a.code]["since"] or a.since)
           if a.code in by_code else a for a in computed]
    told = {a.code for a in computed}
    out += [Alarm(a["code"], a["message"], a["since"]) for a in stored if a["code"] not in told]
    return out


_STALE = {"never_loaded": "never loaded", "clock": "its freshness mark lies ahead of the clock",
          "expired": "its expiry has passed", "age": "older than [offline] max_data_age"}


def runtime_alarms(runtime: dict[str, Any] | None) -> list[Alarm]:
    """Alarms only the running daemon can tell (``runtime``: its ``station.status``);
    ``None``: the daemon is not running."""
    if runtime is None:
        return [Alarm("daemon_not_running", "the station daemon is not running: no pump "
                      "or reader is served (systemctl status forecourt)")]
    if "error" in runtime:  # a socket that takes the call but no answer comes
        return [Alarm("daemon_unhealthy", f"the daemon does not answer: {runtime['error']}")]
    out: list[Alarm] = []
    health = runtime.get("health") or {}
    if not health.get("ok", True):
        out.append(Alarm("daemon_unhealthy", "the daemon is unhealthy: "
                         + "; ".join(health.get("problems") or [])))
    for pump in runtime.get("pumps") or []:
        if not pump["online"]:
            out.append(Alarm("pump_offline", f"pump {pump['pump']} is not answering on line "
                             f"{pump['line']}", pump.get("since")))
    for reader in runtime.get("readers") or []:
        if reader["state"] != "ready":
            why = f": {reader['error']}" if reader.get("error") else ""
            out.append(Alarm("reader_offline", f"reader {reader['reader']} is "
                             f"{reader['state']}{why}", reader.get("since")))
    return out
