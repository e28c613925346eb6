"""Head-office ingest of station sale batches: verified, idempotent, exactly once.

A batch body (its shape: ``sale_checks``) is one transaction: it is stored (new rows
inserted, rows already held with the same hash skipped) or quarantined as a whole with
a reason (``malformed``, ``unknown_station``, ``bad_chain``, ``fork``) and never raises.
After storing, the station's contiguous head advances and its gaps are reconciled
(``chain.finish``); that head is what the office's signed receipt covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.formats.journal import GENESIS
from core.timefmt import iso
from office import db
from office.ledger import rollups
from office.ledger.chain import finish, open_gaps, read_head
from office.ledger.quarantine import quarantine
from office.ledger.sale_checks import Refused, check_chain, validate
from office.ledger.sale_rows import insert_sales
from office.ledger.stations import enrolled, storable
from office.store import OfficeConnection

VIA = ("mqtt", "flash")


@dataclass(frozen=True)
class IngestResult:
    """What one batch did. The office signs ``{station_id, up_to_seq, hash}`` (:meth:`receipt`)."""

    station_id: str | None
    stored: int
    duplicates: int
    quarantined: str | None
    contiguous_seq: int
    contiguous_hash: str
    gaps: list[tuple[int, int]] = field(default_factory=list)
    detail: str = ""
    #: The card-master version this ingest recorded (the vouchers its sales redeemed,
    #: office.vouchers.used), for the daemon to publish; None when it recorded none.
    card_version: int | None = None

    def receipt(self) -> dict[str, Any]:
        return {"station_id": self.station_id, "up_to_seq": self.contiguous_seq,
                "hash": self.contiguous_hash}


def ingest_batch(conn: OfficeConnection, body: dict[str, Any], *, via: str, envelope_id: str,
                 now: datetime, sender: str | None = None) -> IngestResult:
    """Store one verified batch exactly once, or quarantine it whole; never raises on input.

    ``sender`` is the station that signed the batch (its enrolled key and topic): the
    batch must be its own (``wrong_station`` otherwise). Database errors (disk full,
    locked) do propagate: then nothing was stored and no receipt may be sent, so the
    station keeps the sales and sends them again.
    """
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}, not {via!r}")
    at = iso(now)
    station_hint = body.get("station_id") if isinstance(body, dict) else None
    station_hint = station_hint if isinstance(station_hint, str) else None
    named, station_hint = station_hint, sender or station_hint
    with conn.atomic():
        if station_hint is not None and storable(station_hint):
            db.lock_station(station_hint)  # one station's batches one after the other
        try:
            if named != station_hint:
                raise Refused("wrong_station", f"the batch names station {named!r}, but "
                                               f"{sender!r} sent it")
            if station_hint is not None and not enrolled(conn, station_hint):
                raise Refused("unknown_station",
                              f"station {station_hint!r} is not enrolled at this office")
            station_id, first, last, sales, status = validate(body)
            check_chain(sales)
            stored, duplicates = _store(conn, station_id, first, last, sales, via=via, at=at)
        except Refused as refused:
            quarantine(conn, body, refused, envelope_id=envelope_id, at=at,
                       station_id=station_hint)
            known = station_hint is not None and storable(station_hint)
            head = read_head(conn, station_hint) if known and station_hint else (0, GENESIS)
            gaps = open_gaps(conn, station_hint) if known and station_hint else []
            return IngestResult(station_hint, 0, 0, refused.reason, head[0], head[1], gaps,
                                refused.detail)
        head, gaps, version = finish(conn, station_id, status, at,
                                     fresh=stored > 0 or not sales)
    return IngestResult(station_id, stored, duplicates, None, head[0], head[1], gaps,
                        card_version=version)


def _store(conn: OfficeConnection, station_id: str, first: int, last: int,
           sales: list[dict[str, Any]], *, via: str, at: str) -> tuple[int, int]:
    held: dict[int, str] = dict(conn.execute(
        "SELECT seq, hash FROM sales WHERE station_id = ? AND seq BETWEEN ? AND ?",
        (station_id, first - 1, last + 1)).fetchall())
    before = held.get(first - 1)
    if before is not None and before != sales[0]["prev_hash"]:
        raise Refused("fork", f"seq {first} does not link to the stored seq {first - 1}: "
                              "the station's history differs from what the office holds",
                      ("fork", first, last))
    after = conn.execute("SELECT prev_hash FROM sales WHERE station_id = ? AND seq = ?",
                         (station_id, last + 1)).fetchone()
    if after is not None and after[0] != sales[-1]["hash"]:
        raise Refused("fork", f"the stored seq {last + 1} does not link to seq {last} of the "
                              "batch: the station's history differs from what the office "
                              "holds", ("fork", first, last + 1))
    new: list[dict[str, Any]] = []
    for row in sales:
        stored_hash = held.get(row["seq"])
        if stored_hash is None:
            new.append(row)
        elif stored_hash != row["hash"]:
            raise Refused("fork", f"seq {row['seq']} is already stored with another hash: "
                                  "the station's history differs from what the office holds",
                          ("fork", row["seq"], last))
    conn.execute("INSERT INTO station_chain (station_id) VALUES (?) ON CONFLICT DO NOTHING",
                 (station_id,))
    if not new:
        return 0, len(sales)
    insert_sales(conn, station_id, new, via=via, at=at)  # with their wallet debits
    rollups.add_sales(conn, station_id, new)  # the dashboard's counts, in this transaction
    return len(new), len(sales) - len(new)
