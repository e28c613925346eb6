"""Bulk ingest of a station's sales as journal lines (flash-drive bundles).

The same exactly-once ingest as :func:`office.ledger.ingest.ingest_batch`, for a
million sales at a time: the same table, the same ``(station_id, seq)`` identity,
the same fork, gap and chain rules, the same head advance (``ingest.finish``) and the
same quarantine. What differs is only how rows are read: each line is the exact
canonical JSON the station hashed, so the chain is checked by hashing the line as it
is (no re-serialization), rows are staged in a temporary table in chunks, and
SQLite's JSON functions check and unpack them. A row that SQLite cannot accept at
once (a wrong type, non-ASCII text) goes to the MQTT path's own row check
(``ingest._check_row``), which gives the verdict and the sentence. Everything of one
bundle is one transaction: stored whole, or quarantined whole with nothing stored.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from cloud_sync import wire
from cloud_sync.bundle import MAX_LINE
from core.formats.journal import GENESIS, ODOMETER_FLAGS, OPTIONAL_FIELDS, canonical_sql
from core.formats.journal import canonical as canonical_row
from core.timefmt import iso
from office.ledger.ingest import (
    _HEX64,
    MAX_ODOMETER_KM,
    MAX_VEHICLE_LEN,
    MAX_WALLET_DEBIT,
    SALE_INTS,
    IngestResult,
    _check_int,
    _check_row,
    _enrolled,
    _head,
    _open_gaps,
    _quarantine,
    _Refused,
    check_status,
    finish,
)
from offline_db.connection import atomic

CHUNK_ROWS = 50_000
#: The office store's page cache during a bulk ingest (KiB): the random inserts into the
#: ``sales_card`` index of a million sales touch ~16,000 pages; with SQLite's default
#: 2 MB cache each is written and read back many times (insert 9.5 s, 6 s with this).
BULK_CACHE_KIB = 256 * 1024
_ASCII = "*[^ -~]*"  # GLOB: any character that is not printable ASCII
_TS_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]." \
           "[0-9][0-9][0-9][0-9][0-9][0-9]Z"
_TEXT = ("sale_id", "card_id", "product")
_COLUMNS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
            "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
            *OPTIONAL_FIELDS)

#: Staging: each line's fields are extracted once, by SQLite, as it is inserted.
_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS bulk_stage (seq INTEGER PRIMARY KEY, "
          "line TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
          + ", ".join(f"{c}_" for c in _COLUMNS if c != "seq") + ")")  # no type: no affinity
_STAGE_INSERT = (
    "INSERT INTO temp.bulk_stage VALUES (?1, ?2, ?3, ?4, "
    + ", ".join(f"json_extract(?2, '$.{c}')" for c in _COLUMNS if c != "seq") + ")")

#: Rows that certainly pass ``ingest._check_row``: every condition is at least as strict
#: as the Python check, so a row it does not accept is judged in Python. The line must
#: be exactly the canonical JSON of its extracted fields (re-encoded by SQLite): that
#: proves it has the 12 fields, the optional ones present only when not null, and no
#: others, with these types and values.
_FAST_ACCEPT = " AND ".join([
    "line = " + canonical_sql(
        lambda c: "seq" if c == "seq" else f"{c}_",
        "CASE WHEN json_valid(wallet_debits_) THEN json(wallet_debits_) END"),
    "station_id_ = :station",
    *(f"typeof({c}_) = 'text' AND length({c}_) BETWEEN 1 AND 200 AND {c}_ NOT GLOB '{_ASCII}'"
      for c in _TEXT),
    *(f"typeof({c}_) = 'integer' AND {c}_ BETWEEN {low} AND {high}"
      for c, (low, high) in SALE_INTS.items()),
    *(f"typeof({c}_) = 'text' AND {c}_ GLOB '{_TS_GLOB}'"
      for c in ("authorized_at", "completed_at")),
    "(wallet_debits_ = '{}' OR (json_valid(wallet_debits_) AND "
    "json_type(wallet_debits_) = 'object' AND "
    "(SELECT COUNT(*) FROM json_each(wallet_debits_)) <= 100 AND "
    "NOT EXISTS (SELECT 1 FROM json_each(wallet_debits_) WHERE type != 'integer' "
    f"OR value NOT BETWEEN -{MAX_WALLET_DEBIT} AND {MAX_WALLET_DEBIT} "
    f"OR length(key) NOT BETWEEN 1 AND 200 OR key GLOB '{_ASCII}')))",
    f"(vehicle_id_ IS NULL OR (typeof(vehicle_id_) = 'text' AND length(vehicle_id_) "
    f"BETWEEN 1 AND {MAX_VEHICLE_LEN} AND vehicle_id_ NOT GLOB '{_ASCII}'))",
    f"(odometer_km_ IS NULL OR (typeof(odometer_km_) = 'integer' AND odometer_km_ "
    f"BETWEEN 0 AND {MAX_ODOMETER_KM}))",
    "(odometer_flag_ IS NULL OR odometer_flag_ IN ("
    + ", ".join(f"'{f}'" for f in ODOMETER_FLAGS) + "))",
])

_INSERT = (
    "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, volume_ml, "
    "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, "
    "received_at, via, vehicle_id, odometer_km, odometer_flag) SELECT :station, seq, "
    "sale_id_, card_id_, pump_, product_, volume_ml_, unit_price_, amount_, authorized_at_, "
    "completed_at_, wallet_debits_, prev_hash, hash, :at, :via, vehicle_id_, odometer_km_, "
    "odometer_flag_ "
    "FROM temp.bulk_stage WHERE true ON CONFLICT (station_id, seq) DO NOTHING")

MAX_ALARMS = 50
META_FIELDS = frozenset({"station_id", "first_seq", "last_seq", "sales", "first_prev_hash",
                         "last_hash", "volume_ml", "amount", "status"})


def check_meta(meta: Any) -> dict[str, Any]:
    """The first line of a sales bundle: range, chain anchors, totals, status."""
    if not isinstance(meta, dict):
        raise _Refused("malformed", "the bundle's summary line is not a JSON object")
    missing = sorted(META_FIELDS - meta.keys())
    if missing:
        raise _Refused("malformed", f"the bundle's summary lacks {', '.join(missing)}")
    count = meta["sales"]
    _check_int("the bundle", "sales", count)
    for total in ("volume_ml", "amount"):  # shown and logged by the office: whole numbers
        _check_int("the bundle", total, meta[total])
    for name in ("first_prev_hash", "last_hash"):
        if not (isinstance(meta[name], str) and _HEX64.fullmatch(meta[name])):
            raise _Refused("malformed", f"the bundle's {name} must be 64 lower-case hex digits")
    if count:
        _check_int("the bundle", "first_seq", meta["first_seq"], minimum=1)
        _check_int("the bundle", "last_seq", meta["last_seq"], minimum=meta["first_seq"])
        if meta["last_seq"] - meta["first_seq"] + 1 != count:
            raise _Refused("malformed", f"first_seq {meta['first_seq']} to last_seq "
                           f"{meta['last_seq']} needs {meta['last_seq'] - meta['first_seq'] + 1}"
                           f" sales, the bundle says {count}")
    check_status(meta["status"])
    alarms = meta["status"].get("alarms", [])
    if not (isinstance(alarms, list) and len(alarms) <= MAX_ALARMS and
            all(wire.is_text(a, max_len=500) for a in alarms)):
        raise _Refused("malformed", f"the bundle's alarms must be a list of at most "
                       f"{MAX_ALARMS} sentences")
    return meta


def ingest_lines(conn: sqlite3.Connection, station_id: str, meta: Any, lines: Iterable[bytes],
                 *, via: str, source: str, now: datetime) -> IngestResult:
    """Store a bundle's sales exactly once, or quarantine the bundle whole.

    ``meta`` is the bundle's summary line (parsed), ``lines`` the sale lines in seq
    order. ``source`` names the bundle in the quarantine. Database errors propagate
    (nothing is stored then).
    """
    at = iso(now)
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        return _ingest(conn, station_id, meta, lines, via=via, source=source, at=at)
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache)}")


def _ingest(conn: sqlite3.Connection, station_id: str, meta: Any, lines: Iterable[bytes], *,
            via: str, source: str, at: str) -> IngestResult:
    stored = duplicates = 0
    with atomic(conn):
        try:
            with atomic(conn):  # the sales: rolled back whole if the bundle is refused
                if not _enrolled(conn, station_id):
                    raise _Refused("unknown_station",
                                   f"station {station_id!r} is not enrolled at this office")
                check_meta(meta)
                if meta["station_id"] != station_id:
                    raise _Refused("wrong_station", f"the bundle's summary is for station "
                                   f"{meta['station_id']!r}, not {station_id!r}")
                if meta["sales"]:
                    stored, duplicates = _store_lines(conn, station_id, meta, lines,
                                                      via=via, at=at)
        except _Refused as refused:
            detail = {"bundle": source, "station_id": station_id,
                      "first_seq": meta.get("first_seq") if isinstance(meta, dict) else None,
                      "last_seq": meta.get("last_seq") if isinstance(meta, dict) else None,
                      "refused": refused.detail}
            _quarantine(conn, detail, refused, envelope_id=source, at=at)
            head = _head(conn, station_id)
            return IngestResult(station_id, 0, 0, refused.reason, head[0], head[1],
                                _open_gaps(conn, station_id), refused.detail)
        head, gaps = finish(conn, station_id, meta["status"], at,
                            fresh=stored > 0 or not meta["sales"])
    return IngestResult(station_id, stored, duplicates, None, head[0], head[1], gaps)


def _chunks(lines: Iterable[bytes], first: int, prev: str
            ) -> Iterator[list[tuple[int, str, str, str]]]:
    sha256 = hashlib.sha256
    seq = first
    prev_b = prev.encode()
    chunk: list[tuple[int, str, str, str]] = []
    for line in lines:
        digest = sha256(prev_b + b"\n" + line).hexdigest()
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise _Refused("malformed", f"sale seq {seq} is not ASCII JSON (the journal's "
                           "canonical form escapes every other character)") from None
        chunk.append((seq, text, prev_b.decode(), digest))
        prev_b = digest.encode()
        seq += 1
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _store_lines(conn: sqlite3.Connection, station_id: str, meta: dict[str, Any],
                 lines: Iterable[bytes], *, via: str, at: str) -> tuple[int, int]:
    first, last, prev = meta["first_seq"], meta["last_seq"], meta["first_prev_hash"]
    if first == 1 and prev != GENESIS:
        raise _Refused("bad_chain", "seq 1 does not start from the genesis hash (64 zeros)",
                       ("bad_chain", 1, 1))
    before = conn.execute("SELECT hash FROM sales WHERE station_id = ? AND seq = ?",
                          (station_id, first - 1)).fetchone()
    if before is not None and before[0] != prev:
        raise _Refused("fork", f"seq {first} does not link to the stored seq {first - 1}: "
                       "the station's history differs from what the office holds",
                       ("fork", first, last))
    conn.execute("DROP TABLE IF EXISTS temp.bulk_stage")
    conn.execute(_STAGE)
    conn.execute("INSERT OR IGNORE INTO station_chain (station_id) VALUES (?)", (station_id,))
    stored = seen = 0
    last_hash = prev
    try:
        for chunk in _chunks(lines, first, prev):
            if chunk[-1][0] > last:
                raise _Refused("malformed", f"the bundle holds more sales than its range "
                               f"{first}-{last}")
            try:
                conn.executemany(_STAGE_INSERT, chunk)
            except sqlite3.OperationalError:  # a line SQLite cannot parse as JSON
                _judge_all(chunk, station_id)
                raise _Refused("malformed", f"a sale line in seq {chunk[0][0]}-"
                               f"{chunk[-1][0]} is not JSON") from None
            _check_chunk(conn, station_id)
            fork = conn.execute(  # CROSS JOIN: probe sales by key for each staged row
                "SELECT b.seq FROM temp.bulk_stage b CROSS JOIN sales s "
                "WHERE s.station_id = ? AND s.seq = b.seq AND s.hash != b.hash "
                "ORDER BY b.seq LIMIT 1", (station_id,)).fetchone()
            if fork is not None:
                raise _Refused("fork", f"seq {fork[0]} is already stored with another hash: "
                               "the station's history differs from what the office holds",
                               ("fork", fork[0], last))
            stored += conn.execute(_INSERT, {"station": station_id, "at": at,
                                             "via": via}).rowcount
            seen += len(chunk)
            last_hash = chunk[-1][3]
            conn.execute("DELETE FROM temp.bulk_stage")
    finally:
        conn.execute("DELETE FROM temp.bulk_stage")
    if seen != meta["sales"]:
        raise _Refused("malformed", f"the bundle holds {seen} sales where its summary says "
                       f"{meta['sales']}")
    if last_hash != meta["last_hash"]:
        raise _Refused("bad_chain", f"the sales do not hash to the chain end the station "
                       f"signed (seq {last}): a line is not the journal's canonical form",
                       ("bad_chain", first, last))
    after = conn.execute("SELECT prev_hash FROM sales WHERE station_id = ? AND seq = ?",
                         (station_id, last + 1)).fetchone()
    if after is not None and after[0] != last_hash:
        raise _Refused("fork", f"the stored seq {last + 1} does not link to seq {last} of the "
                       "bundle: the station's history differs from what the office holds",
                       ("fork", first, last + 1))
    return stored, seen - stored


def _check_chunk(conn: sqlite3.Connection, station_id: str) -> None:
    """Judge every staged row SQLite cannot accept at once with the MQTT row check."""
    # IS NOT 1, not NOT (...): a NULL anywhere makes the whole test NULL, not false.
    query = (f"SELECT seq, line, prev_hash, hash FROM temp.bulk_stage "
             f"WHERE ({_FAST_ACCEPT}) IS NOT 1 ORDER BY seq")
    try:
        doubtful = conn.execute(query, {"station": station_id}).fetchall()
    except sqlite3.OperationalError:  # a value SQLite's JSON functions refuse: judge all
        doubtful = conn.execute("SELECT seq, line, prev_hash, hash FROM temp.bulk_stage "
                                "ORDER BY seq").fetchall()
    _judge_all(doubtful, station_id)


def _judge_all(rows: Iterable[tuple[int, str, str, str]], station_id: str) -> None:
    """The MQTT path's verdict on each row; raises _Refused at the first bad one."""
    for seq, line, prev_hash, digest in rows:
        row = wire.decode(line.encode(), what=f"sale seq {seq}", max_bytes=MAX_LINE,
                          error=_Refused)
        if isinstance(row, dict):
            row = {**row, "prev_hash": prev_hash, "hash": digest}
        _check_row(seq - 1, row, station_id, seq)  # raises with the MQTT path's sentence
        if canonical_row(row).decode() != line:
            raise _Refused("bad_chain", f"sale seq {seq} is not in the journal's canonical "
                           "form", ("bad_chain", seq, seq))
