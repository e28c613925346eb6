"""What the head office shows of the sales it stored: per-station overview, sale lists.

Read-only views over the office store that ``office.ledger.ingest`` fills; ``forecourt
office stations`` and ``forecourt office sales`` print them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from core.errors import ForecourtError
from core.formats.journal import GENESIS
from core.timefmt import iso
from office.ledger.sale_rows import SALE_COLUMNS
from office.ledger.stations import lost_range
from office.store import OfficeConnection


def station_overview(conn: OfficeConnection) -> list[dict[str, Any]]:
    """Per enrolled station: the contiguous head, reported status, open problems, quarantine."""
    out: list[dict[str, Any]] = []
    for st in conn.execute(
            "SELECT s.station_id, c.contiguous_seq, c.contiguous_hash, c.last_seen_at, "
            "c.outbox_depth, c.oldest_undelivered_at, c.card_store_version, c.receipted_seq, "
            "(SELECT MAX(seq) FROM sales WHERE station_id = s.station_id) AS max_seq, "
            "(SELECT COUNT(*) FROM quarantine q WHERE q.station_id = s.station_id) AS q "
            "FROM stations s LEFT JOIN station_chain c USING (station_id) "
            "ORDER BY s.station_id").fetchall():
        problems: dict[str, list[dict[str, Any]]] = {"gap": [], "fork": [], "bad_chain": []}
        for p in conn.execute("SELECT kind, first_seq, last_seq, detail, found_at "
                              "FROM chain_problems WHERE station_id = ? AND resolved_at IS NULL "
                              "ORDER BY first_seq, id", (st["station_id"],)):
            problems[p["kind"]].append({"first_seq": p["first_seq"], "last_seq": p["last_seq"],
                                        "detail": p["detail"], "found_at": p["found_at"]})
        lost = lost_range(st["contiguous_seq"] or 0, st["receipted_seq"])
        out.append({
            "station_id": st["station_id"],
            "contiguous_seq": st["contiguous_seq"] or 0,
            "contiguous_hash": st["contiguous_hash"] or GENESIS,
            "last_seq": st["max_seq"] or 0,
            "last_seen_at": st["last_seen_at"],
            "outbox_depth": st["outbox_depth"],
            "oldest_undelivered_at": st["oldest_undelivered_at"],
            "card_store_version": st["card_store_version"],
            "gaps": problems["gap"],
            "forks": problems["fork"],
            "bad_chains": problems["bad_chain"],
            "quarantined": st["q"],
            # What the station says this office receipted and it does not hold (a
            # restore from an older backup): asked for again (office.sync.resend).
            "receipted_seq": st["receipted_seq"],
            "lost_receipted": None if lost is None else list(lost),
        })
    return out


class SinceError(ForecourtError, ValueError):
    """``since`` is neither an ISO date nor an ISO date-time."""

    code = "bad_since"


def _since_text(since: str | datetime | date) -> str:
    """``since`` as text comparable with the fixed-width UTC ``completed_at``."""
    if isinstance(since, datetime):
        return iso(since if since.tzinfo else since.replace(tzinfo=UTC))
    if isinstance(since, date):
        return since.isoformat()
    text = since.strip()
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            return date.fromisoformat(text).isoformat()
        return _since_text(datetime.fromisoformat(text))
    except ValueError:
        raise SinceError(f"since must be an ISO date (2026-11-18) or date-time "
                         f"(2026-11-18T10:00:00Z), not {since!r}") from None


def list_sales(conn: OfficeConnection, station_id: str | None = None,
               since: str | datetime | date | None = None, limit: int | None = None
               ) -> list[dict[str, Any]]:
    """Stored sales by station and seq; ``since`` keeps those completed at or after it.

    ``since`` is an ISO date (``2026-11-18``, that day in UTC) or date-time (naive means
    UTC); a value that is not one raises :class:`SinceError` (a ``ValueError``).
    ``limit`` keeps the newest (by ``completed_at``) that many, still listed in order.
    """
    sql = f"SELECT {', '.join(SALE_COLUMNS)} FROM sales"
    where: list[str] = []
    params: list[Any] = []
    if station_id is not None:
        where.append("station_id = ?")
        params.append(station_id)
    if since is not None:
        where.append("completed_at >= ?")
        params.append(_since_text(since))
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY completed_at DESC, station_id DESC, seq DESC " \
              "LIMIT ?) AS newest"
        params.append(limit)
    sql += " ORDER BY station_id, seq"
    out = []
    for raw in conn.execute(sql, params):
        row = dict(zip(SALE_COLUMNS, raw, strict=True))
        row["wallet_debits"] = json.loads(row["wallet_debits"])
        out.append(row)
    return out
