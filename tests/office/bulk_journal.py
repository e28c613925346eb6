"""A station's journal for the exactly-once tests of the bulk ingest, and the worker
process that imports part of it as a flash bundle (``import_range``).

The sales vary where the two bulk paths differ: plain sales (PostgreSQL's fast line
pattern), card ids JSON escapes (a quote, a backslash, non-ASCII: judged one by one
and escaped for COPY), wallet debits (rows of ``wallet_debits``), vehicles with
odometer readings and flags, completion times across a month's end in the office's
zone (the roll-ups).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from core.config import OfficeConfig
from core.formats.journal import GENESIS
from core.timefmt import iso
from office.ledger import ingest_bulk
from office.store import open_office

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 17}
STATION = "S-001"
CARDS = ("C-1", 'a"b', "K\\1", "\u03a9-7", "C 2", "C-1")
PRODUCTS = ("AI92", "AI95", "DT")
ZONE = "America/St_Johns"  # -03:30: a sale's local day is not its UTC day
START = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # local month's end: 2026-12-01T03:30Z


def journal(count: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    """``count`` chained sales of STATION (rows with their hashes, and their lines)."""
    rows: list[dict[str, Any]] = []
    for seq in range(1, count + 1):
        at = iso(START + timedelta(minutes=7 * seq))  # across midnight UTC and local
        row: dict[str, Any] = {
            "seq": seq, "sale_id": f"SALE-{seq}", "station_id": STATION,
            "card_id": CARDS[seq % len(CARDS)], "pump": 1 + seq % 8,
            "product": PRODUCTS[seq % 3], "volume_ml": 1000 * seq, "unit_price": 5299,
            "amount": 5299 * seq, "authorized_at": at, "completed_at": at,
            "wallet_debits": {"W-1": -5299 * seq, "W-0": seq} if seq % 4 == 0 else {}}
        if seq % 5 == 0:
            row.update(vehicle_id="V-1", odometer_km=100_000 + seq)
        if seq % 10 == 0:
            row["odometer_flag"] = "odometer_unreasonable"
        rows.append(row)
    return rechain(rows)


def rechain(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Hash the rows as a (buggy or hostile) station would: whatever fields they have."""
    prev = GENESIS
    out, lines = [], []
    for row in rows:
        fields = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        line = json.dumps(fields, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()
        digest = hashlib.sha256(prev.encode() + b"\n" + line).hexdigest()
        out.append({**fields, "prev_hash": prev, "hash": digest})
        lines.append(line)
        prev = digest
    return out, lines


def bundle_meta(rows: list[dict[str, Any]], first: int, last: int) -> dict[str, Any]:
    """The summary line of a bundle of seqs first..last of ``rows``."""
    part = rows[first - 1:last]
    return {"station_id": STATION, "first_seq": first, "last_seq": last, "sales": len(part),
            "first_prev_hash": part[0]["prev_hash"], "last_hash": part[-1]["hash"],
            "volume_ml": sum(r["volume_ml"] for r in part),
            "amount": sum(r["amount"] for r in part), "status": STATUS}


def import_range(database: str, data_dir: Path, count: int, first: int, last: int,
                 out: Path, pause: Path | None = None) -> None:
    """(A worker process.) Import seqs first..last of ``journal(count)`` as a flash
    bundle, in chunks of 5 lines, into the office; the result as JSON in ``out``.
    With ``pause``: after 12 lines (two chunks in the COPY) write ``pause`` and wait
    there forever, holding the station's lock in the middle of the import."""
    rows, lines = journal(count)

    def slowly() -> Iterator[bytes]:
        for i, line in enumerate(lines[first - 1:last]):
            if pause is not None and i == 12:
                pause.write_text("paused")
                while True:
                    time.sleep(60)
            yield line

    conn = open_office(OfficeConfig(data_dir=data_dir, database=database))
    with patch.object(ingest_bulk, "CHUNK_ROWS", 5):
        result = ingest_bulk.ingest_lines(conn, STATION, bundle_meta(rows, first, last),
                                          slowly(), via="flash", source=f"{first}-{last}",
                                          now=NOW)
    conn.close()
    out.write_text(json.dumps({"stored": result.stored, "duplicates": result.duplicates,
                               "quarantined": result.quarantined,
                               "contiguous_seq": result.contiguous_seq}))
