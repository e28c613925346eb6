"""The card-data staleness alarm (``[jobs] stale_alarm_after``, ``stale_check_every``).

Authorization already falls back to the offline policy when the card data is stale
(``core.freshness``, DESIGN invariant 6); nobody notices unless told. This check raises
the ``card_data_stale`` alarm (offline_db.alarms) while the data is stale for any
reason, or older than ``stale_alarm_after`` when that is set shorter than ``[offline]
max_data_age`` (a warning before the policy takes over), and clears it once fresh
data arrives.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from core.config import Config
from core.display import age
from core.timefmt import iso
from edge.cardview import freshness
from offline_db.alarms import clear_alarm, raise_alarm
from offline_db.connection import atomic

ALARM = "card_data_stale"
_WHY = {"never_loaded": "no card data was ever loaded",
        "clock": "its freshness mark lies ahead of the station's clock",
        "expired": "the head office's expiry of it has passed"}


def check_staleness(config: Config, conn: sqlite3.Connection,
                    lock: AbstractContextManager[Any], now: datetime) -> str | None:
    """Raise or clear the alarm for ``now``; the alarm's sentence while it is active."""
    limit = config.jobs.seconds("stale_alarm_after") if config.jobs.stale_alarm_after \
        else config.offline.max_data_age_s
    with lock, atomic(conn):
        fresh = freshness(conn, config, now)
        message = None
        if fresh.stale_reason in _WHY:
            message = f"card data is stale: {_WHY[fresh.stale_reason]}"
        elif fresh.age_s is not None and (fresh.stale or fresh.age_s > limit):
            message = (f"card data not confirmed by the head office for more than "
                       f"{age(limit)}" + ("; offline policy in force" if fresh.stale else ""))
        if message is None:
            clear_alarm(conn, ALARM)
        else:
            raise_alarm(conn, ALARM, message, at=iso(now))
    return message
