"""Bulk ingest of a station's sales as journal lines (flash-drive bundles).

The same exactly-once ingest as :func:`office.ledger.ingest.ingest_batch`, for a
million sales at a time: the same table, the same ``(station_id, seq)`` identity,
the same fork, gap and chain rules, the same head advance (``chain.finish``) and the
same quarantine. What differs is only how rows are read: each line is the exact
canonical JSON the station hashed, so the chain is checked by hashing the line as it
is (no re-serialization), and rows are staged in a temporary table in chunks. The
rules shared by both databases are here (summary, chain anchors, counts, the MQTT
path's row verdict for a row the fast path cannot accept); each database's bulk path is
a module of its own: ``bulk_sqlite`` (SQLite's JSON functions check and unpack the
lines) and ``bulk_postgresql`` (rows checked as the MQTT path does, then ``COPY``).
Everything of one bundle is one transaction: stored whole, or quarantined whole with
nothing stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, cast

from cloud_sync import wire
from cloud_sync.bundle import MAX_LINE
from core.formats.journal import GENESIS
from core.formats.journal import canonical as canonical_row
from core.timefmt import iso
from office import db
from office.ledger.chain import finish, open_gaps, read_head
from office.ledger.ingest import IngestResult
from office.ledger.quarantine import quarantine
from office.ledger.sale_checks import HEX64, Refused, check_int, check_row, check_status
from office.ledger.stations import enrolled
from office.store import OfficeConnection

CHUNK_ROWS = 50_000
#: The first chunk is small: the COPY starts once it is hashed, not after 50,000 lines.
FIRST_CHUNK_ROWS = 2_048
#: One staged line: (seq, the line as text, the prev_hash it was hashed from, its hash).
Line = tuple[int, str, str, str]


class Dialect(Protocol):
    """A database's bulk path (``bulk_sqlite``, ``bulk_postgresql``)."""

    def session(self, conn: OfficeConnection) -> AbstractContextManager[None]:
        """Settings for the length of one bundle's ingest."""

    def store_chunks(self, conn: OfficeConnection, station_id: str,
                     chunks: Iterable[list[Line]], *, first: int, last: int, via: str,
                     at: str) -> tuple[int, int, str]:
        """Check and store the chunks of lines in order, refusing the first bad row or a
        fork with ``Refused`` (what the chunks iterator raises propagates); (rows
        stored, rows seen, the last line's hash, or "" when there was none)."""


def _dialect(conn: OfficeConnection) -> Dialect:
    if conn.vendor == "postgresql":
        from office.ledger import bulk_postgresql
        return cast(Dialect, bulk_postgresql)
    from office.ledger import bulk_sqlite
    return cast(Dialect, bulk_sqlite)


MAX_ALARMS = 50
META_FIELDS = frozenset({"station_id", "first_seq", "last_seq", "sales", "first_prev_hash",
                         "last_hash", "volume_ml", "amount", "status"})


def check_meta(meta: Any) -> dict[str, Any]:
    """The first line of a sales bundle: range, chain anchors, totals, status."""
    if not isinstance(meta, dict):
        raise Refused("malformed", "the bundle's summary line is not a JSON object")
    missing = sorted(META_FIELDS - meta.keys())
    if missing:
        raise Refused("malformed", f"the bundle's summary lacks {', '.join(missing)}")
    count = meta["sales"]
    check_int("the bundle", "sales", count)
    for total in ("volume_ml", "amount"):  # shown and logged by the office: whole numbers
        check_int("the bundle", total, meta[total])
    for name in ("first_prev_hash", "last_hash"):
        if not (isinstance(meta[name], str) and HEX64.fullmatch(meta[name])):
            raise Refused("malformed", f"the bundle's {name} must be 64 lower-case hex digits")
    if count:
        check_int("the bundle", "first_seq", meta["first_seq"], minimum=1)
        check_int("the bundle", "last_seq", meta["last_seq"], minimum=meta["first_seq"])
        if meta["last_seq"] - meta["first_seq"] + 1 != count:
            raise Refused("malformed", f"first_seq {meta['first_seq']} to last_seq "
                          f"{meta['last_seq']} needs {meta['last_seq'] - meta['first_seq'] + 1}"
                          f" sales, the bundle says {count}")
    check_status(meta["status"])
    alarms = meta["status"].get("alarms", [])
    if not (isinstance(alarms, list) and len(alarms) <= MAX_ALARMS and
            all(wire.is_text(a, max_len=500) for a in alarms)):
        raise Refused("malformed", f"the bundle's alarms must be a list of at most "
                      f"{MAX_ALARMS} sentences")
    return meta


def ingest_lines(conn: OfficeConnection, station_id: str, meta: Any, lines: Iterable[bytes],
                 *, via: str, source: str, now: datetime) -> IngestResult:
    """Store a bundle's sales exactly once, or quarantine the bundle whole.

    ``meta`` is the bundle's summary line (parsed), ``lines`` the sale lines in seq
    order. ``source`` names the bundle in the quarantine. Database errors propagate
    (nothing is stored then).
    """
    at = iso(now)
    dialect = _dialect(conn)
    with dialect.session(conn):
        return _ingest(conn, dialect, station_id, meta, lines, via=via, source=source, at=at)


def _ingest(conn: OfficeConnection, dialect: Dialect, station_id: str, meta: Any,
            lines: Iterable[bytes], *, via: str, source: str, at: str) -> IngestResult:
    stored = duplicates = 0
    with conn.atomic():
        if "\x00" not in station_id:
            db.lock_station(station_id)  # one station's bundles and batches one at a time
        try:
            with conn.atomic():  # the sales: rolled back whole if the bundle is refused
                if not enrolled(conn, station_id):
                    raise Refused("unknown_station",
                                  f"station {station_id!r} is not enrolled at this office")
                check_meta(meta)
                if meta["station_id"] != station_id:
                    raise Refused("wrong_station", f"the bundle's summary is for station "
                                  f"{meta['station_id']!r}, not {station_id!r}")
                if meta["sales"]:
                    stored, duplicates = _store_lines(conn, dialect, station_id, meta, lines,
                                                      via=via, at=at)
        except Refused as refused:
            detail = {"bundle": source, "station_id": station_id,
                      "first_seq": meta.get("first_seq") if isinstance(meta, dict) else None,
                      "last_seq": meta.get("last_seq") if isinstance(meta, dict) else None,
                      "refused": refused.detail}
            quarantine(conn, detail, refused, envelope_id=source, at=at)
            head = read_head(conn, station_id)
            return IngestResult(station_id, 0, 0, refused.reason, head[0], head[1],
                                open_gaps(conn, station_id), refused.detail)
        head, gaps, version = finish(
            conn, station_id, meta["status"], at, fresh=stored > 0 or not meta["sales"],
            chained=(meta["first_seq"], meta["last_seq"], meta["last_hash"])
            if meta["sales"] else None)
    return IngestResult(station_id, stored, duplicates, None, head[0], head[1], gaps,
                        card_version=version)


def _chunks(lines: Iterable[bytes], first: int, prev: str) -> Iterator[list[Line]]:
    sha256 = hashlib.sha256
    seq = first
    prev_nl = prev.encode() + b"\n"  # what a line's hash covers before the line
    chunk: list[Line] = []
    append = chunk.append
    limit = min(FIRST_CHUNK_ROWS, CHUNK_ROWS)
    for line in lines:
        digest = sha256(prev_nl + line).hexdigest()
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise Refused("malformed", f"sale seq {seq} is not ASCII JSON (the journal's "
                          "canonical form escapes every other character)") from None
        append((seq, text, prev, digest))
        prev = digest
        prev_nl = digest.encode() + b"\n"
        seq += 1
        if len(chunk) >= limit:
            yield chunk
            chunk = []
            append = chunk.append
            limit = CHUNK_ROWS
    if chunk:
        yield chunk


def _in_range(chunks: Iterable[list[Line]], first: int, last: int) -> Iterator[list[Line]]:
    """The chunks, refusing the first that goes beyond the bundle's range."""
    for chunk in chunks:
        if chunk[-1][0] > last:
            raise Refused("malformed", f"the bundle holds more sales than its range "
                          f"{first}-{last}")
        yield chunk


def _store_lines(conn: OfficeConnection, dialect: Dialect, station_id: str,
                 meta: dict[str, Any], lines: Iterable[bytes], *, via: str, at: str
                 ) -> tuple[int, int]:
    first, last, prev = meta["first_seq"], meta["last_seq"], meta["first_prev_hash"]
    if first == 1 and prev != GENESIS:
        raise Refused("bad_chain", "seq 1 does not start from the genesis hash (64 zeros)",
                      ("bad_chain", 1, 1))
    before = conn.execute("SELECT hash FROM sales WHERE station_id = ? AND seq = ?",
                          (station_id, first - 1)).fetchone()
    if before is not None and before[0] != prev:
        raise Refused("fork", f"seq {first} does not link to the stored seq {first - 1}: "
                      "the station's history differs from what the office holds",
                      ("fork", first, last))
    conn.execute("INSERT INTO station_chain (station_id) VALUES (?) ON CONFLICT DO NOTHING",
                 (station_id,))
    chunks = _in_range(_chunks(lines, first, prev), first, last)
    stored, seen, last_hash = dialect.store_chunks(conn, station_id, chunks, first=first,
                                                   last=last, via=via, at=at)
    if not seen:
        last_hash = prev
    if seen != meta["sales"]:
        raise Refused("malformed", f"the bundle holds {seen} sales where its summary says "
                      f"{meta['sales']}")
    if last_hash != meta["last_hash"]:
        raise Refused("bad_chain", f"the sales do not hash to the chain end the station "
                      f"signed (seq {last}): a line is not the journal's canonical form",
                      ("bad_chain", first, last))
    after = conn.execute("SELECT prev_hash FROM sales WHERE station_id = ? AND seq = ?",
                         (station_id, last + 1)).fetchone()
    if after is not None and after[0] != last_hash:
        raise Refused("fork", f"the stored seq {last + 1} does not link to seq {last} of the "
                      "bundle: the station's history differs from what the office holds",
                      ("fork", first, last + 1))
    return stored, seen - stored


def stored_fork(seq: int, last: int) -> Refused:
    """A staged row whose seq the office holds with another hash."""
    return Refused("fork", f"seq {seq} is already stored with another hash: the "
                   "station's history differs from what the office holds", ("fork", seq, last))


def judge(seq: int, line: str, prev_hash: str, digest: str, station_id: str
          ) -> dict[str, Any]:
    """The MQTT path's verdict on one line (raises Refused with its sentence); the row
    (its fields, prev_hash and hash) when it passes."""
    row = wire.decode(line.encode(), what=f"sale seq {seq}", max_bytes=MAX_LINE,
                      error=Refused)
    if isinstance(row, dict):
        row = {**row, "prev_hash": prev_hash, "hash": digest}
    check_row(seq - 1, row, station_id, seq)  # raises with the MQTT path's sentence
    if canonical_row(row).decode() != line:
        raise Refused("bad_chain", f"sale seq {seq} is not in the journal's canonical "
                      "form", ("bad_chain", seq, seq))
    return dict(row)


def judge_all(rows: Iterable[Line], station_id: str) -> None:
    """The MQTT path's verdict on each row; raises Refused at the first bad one."""
    for seq, line, prev_hash, digest in rows:
        judge(seq, line, prev_hash, digest, station_id)
