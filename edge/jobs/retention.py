"""The daily retention job (``[jobs] retention``, ``retention_at``): offline_db.retention,
run from the daemon in short batches under its writer lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import structlog

from core.config import Config
from offline_db.retention import Batch, prune, replacements
from offline_db.store import StationStore

log = structlog.get_logger(__name__)


def run_retention(config: Config, conn: sqlite3.Connection,
                  lock: AbstractContextManager[Any], now: datetime, *,
                  should_stop: Callable[[], bool] = lambda: False) -> Batch | None:
    """Delete what ``[jobs] retention`` lets go at ``now``; None when retention is off."""
    keep = config.jobs.seconds("retention")
    if keep == 0:
        return None
    before = now - timedelta(seconds=keep)
    # Which cards replaced which: a scan of the card store, on a connection of its own
    # so that the writer lock is held only by the short deleting batches.
    reader = StationStore.open_reader(config.station.data_dir)
    try:
        readers = replacements(reader.conn)
    finally:
        reader.close()
    result = prune(conn, before=before, now=now, lock=lock, readers=readers,
                   should_stop=should_stop)
    held = None if result.held is None else {"seq": result.held[0], "why": result.held[1]}
    log.info("retention.done", before=before.isoformat(), sales=result.sales,
             authorizations=result.authorizations, anchor_seq=result.anchor_seq, held=held)
    return result
