"""The station's flash-drive transfers, wired: its key and status into the wire's
endpoint (``cloud_sync.flash_station``), which knows neither the daemon nor its views."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from cloud_sync import flash_station
from core.config import Config
from edge.identity import load_station_key
from edge.lifecycle import Station
from edge.views import status as station_status

log = structlog.get_logger(__name__)
STATUS_FILE = "flash-status.json"


def export_sales(config: Config, conn: sqlite3.Connection, directory: Path, *,
                 now: datetime,
                 progress: Callable[[int, int], None] | None = None
                 ) -> flash_station.ExportSummary:
    """Write every sale not yet receipted, with the station's status, to ``directory``."""
    key = load_station_key(config.station.data_dir, conn, config.station.id)
    return flash_station.export_sales(
        config, conn, directory, now=now, key=key, progress=progress,
        status_of=lambda c: station_status(c, config, now))


def import_reply(station: Station, path: Path, *, actor: str) -> dict[str, Any]:
    """Apply a reply bundle from the office (the daemon's operation ``flash.import``)."""
    config = station.config
    key = load_station_key(config.station.data_dir, station.conn, config.station.id)
    return flash_station.import_reply(station, path, actor=actor, key=key)


def record(config: Config, result: dict[str, Any]) -> None:
    """Keep the last transfer's result for ``forecourt status`` (atomic replace)."""
    path = config.station.data_dir / STATUS_FILE
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("flash.status_not_saved", error=str(exc))


def last_result(config: Config) -> dict[str, Any] | None:
    """The last transfer's result (``flash-status.json``), if any."""
    try:
        data = json.loads((config.station.data_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
