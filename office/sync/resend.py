"""Receipted sales the office no longer holds: ask the station to send them again.

An office restored from a backup has lost the sales stored after that backup, though it
receipted them and the stations deleted them from their outboxes. Every station says in
its status (retained, and inside each sales batch) the last seq the office receipted;
when that is beyond what the office holds contiguously, the office sends a signed
``resend`` request for the missing range on the station's ``receipt`` topic, and the
station queues those sales again from its journal (offline_db.resend). The ingest's
exactly-once storage makes a repeated request or a repeated sale harmless; a request is
repeated at most every :data:`ASK_AGAIN_S` while the office still lacks the range (the
station may have been offline, or its status older than its requeue).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from office.ledger.stations import lost_receipted

log = structlog.get_logger(__name__)
ASK_AGAIN_S = 60.0


class LostSales:
    """Which stations to ask for lost receipted sales, and when last asked (this
    process's memory: another worker asking too is harmless)."""

    def __init__(self, ask_again_s: float = ASK_AGAIN_S) -> None:
        self.ask_again_s = ask_again_s
        self._asked: dict[str, tuple[tuple[int, int], float]] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def request_for(self, conn: Any, station_id: str, status: Any) -> dict[str, Any] | None:
        """The ``resend`` body to send ``station_id`` now, or None.

        ``status`` is the station's status body (a ``status`` message's, or the one a
        sales batch carries); one without ``last_receipt_seq`` (an older station) asks
        for nothing.
        """
        if not isinstance(status, dict):
            return None
        reported = status.get("last_receipt_seq")
        if not isinstance(reported, int) or isinstance(reported, bool) or reported < 1:
            return None
        wanted = lost_receipted(conn, station_id, reported)
        if wanted is None:
            return None
        now = time.monotonic()
        with self._lock:
            last = self._asked.get(station_id)
            if last is not None and last[0] == wanted and now - last[1] < self.ask_again_s:
                return None
            self._asked[station_id] = (wanted, now)
            self.requests += 1
        log.warning("office.resend_asked", station_id=station_id, from_seq=wanted[0],
                    to_seq=wanted[1], contiguous_seq=wanted[0] - 1, station_receipted=reported)
        return {"station_id": station_id, "from_seq": wanted[0], "to_seq": wanted[1]}
