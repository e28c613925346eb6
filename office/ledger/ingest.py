"""Head-office ingest of station sale batches: verified, idempotent, exactly once.

A batch body (already taken out of a verified envelope) is::

    {"station_id": "S-001", "first_seq": 41, "last_seq": 60, "sales": [row, ...],
     "status": {"outbox_depth": 20, "oldest_undelivered_at": "...Z" | None,
                "card_store_version": 17 | None}}

where every row holds exactly the journal fields (docs/journal.md). One batch is one
transaction: it is stored (new rows inserted, rows already held with the same hash
skipped) or quarantined as a whole with a reason (``malformed``, ``unknown_station``,
``bad_chain``, ``fork``) and never raises. Per station the office keeps the
*contiguous* head — the highest seq such that 1..seq are all stored and chained — which
is what its signed receipt covers; missing ranges above it are open ``gap`` problems,
resolved when a later batch (MQTT or flash drive, in any order) fills them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud_sync import wire
from core import bounds
from core.formats.journal import (
    GENESIS,
    HASHED_FIELDS,
    ODOMETER_FLAGS,
    OPTIONAL_FIELDS,
    chain_hash,
    pricing_problem,
    pricing_text,
)
from core.timefmt import iso
from office import db
from office.ledger import rollups
from office.store import OfficeConnection

VIA = ("mqtt", "flash")
MAX_BATCH_ROWS = 50_000
MAX_TEXT = wire.MAX_TEXT
MAX_INT = wire.MAX_INT
ROW_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")
#: A vehicle id as any text field: the station bounds what an operator types to 64
#: characters, but a card's own vehicle id (card store) may be any stored text.
MAX_VEHICLE_LEN = MAX_TEXT
MAX_ODOMETER_KM = bounds.MAX_ODOMETER_KM
#: A sale line's integers: name -> (smallest, largest), the station's own ranges
#: (offline_db/bounds.py; pumps 1-99 as in the station's config and commands). The one
#: definition both ingests use: ``_check_row`` here, ``_FAST_ACCEPT`` in ingest_bulk.
SALE_INTS: dict[str, tuple[int, int]] = {
    "pump": (1, 99),
    "volume_ml": (0, bounds.MAX_VOLUME_ML),
    "unit_price": (0, bounds.MAX_UNIT_PRICE),
    "amount": (0, bounds.MAX_AMOUNT),
}
#: A wallet debit is ml or minor units, either sign: bounded by the larger, money.
MAX_WALLET_DEBIT = bounds.MAX_AMOUNT
BODY_FIELDS = frozenset({"station_id", "first_seq", "last_seq", "sales", "status"})
STATUS_FIELDS = frozenset({"outbox_depth", "oldest_undelivered_at", "card_store_version"})
_HEX64 = wire.HEX64
_TS = wire.TIMESTAMP

SALE_COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product", "volume_ml",
                "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
                "prev_hash", "hash", "received_at", "via", *OPTIONAL_FIELDS)


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


class _Refused(Exception):
    """A batch refused as a whole; ``reason`` is the quarantine reason.

    ``detail`` may quote the hostile input (a field name, a value): it is kept printable,
    so it can be stored (PostgreSQL's text holds no NUL), logged and shown as one line.
    """

    def __init__(self, reason: str, detail: str, problem: tuple[str, int, int] | None = None
                 ) -> None:
        detail = wire.printable(detail, max_len=1000)
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.problem = problem  # (kind, first_seq, last_seq) for chain_problems


# -- validation ---------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return wire.is_int(value, minimum=-MAX_INT)


_text = wire.is_text


def _check_int(where: str, name: str, value: Any, *, minimum: int = 0,
               maximum: int = MAX_INT) -> None:
    if not _is_int(value):
        raise _Refused("malformed", f"{where}: {name} must be an integer, got "
                                    f"{type(value).__name__}")
    if value < minimum:
        raise _Refused("malformed", f"{where}: {name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise _Refused("malformed", f"{where}: {name} must be at most {maximum}, got {value}")


def _check_row(i: int, row: Any, station_id: str, seq: int) -> None:
    where = f"sale {i + 1} of the batch"
    if not isinstance(row, dict):
        raise _Refused("malformed", f"{where} is not a JSON object")
    missing = [k for k in ROW_FIELDS if k not in row]
    if missing:
        raise _Refused("malformed", f"{where} lacks the field(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in row if k not in ROW_FIELDS and k not in OPTIONAL_FIELDS)
    if extra:
        raise _Refused("malformed", f"{where} has unknown field(s) {', '.join(extra)}")
    _check_int(where, "seq", row["seq"], minimum=1)
    if row["seq"] != seq:
        raise _Refused("malformed", f"{where} has seq {row['seq']} where {seq} was expected "
                                    "(seqs must run consecutively from first_seq)")
    where = f"sale seq {seq}"
    if not _text(row["station_id"], max_len=64):
        raise _Refused("malformed", f"{where}: station_id must be a non-empty printable "
                                    "string")
    if row["station_id"] != station_id:
        raise _Refused("wrong_station", f"{where} belongs to station {row['station_id']!r}, "
                                        f"not {station_id!r}")
    for name in ("sale_id", "card_id", "product"):
        if not _text(row[name]):
            raise _Refused("malformed", f"{where}: {name} must be a non-empty printable string")
    for name, (low, high) in SALE_INTS.items():
        _check_int(where, name, row[name], minimum=low, maximum=high)
    for name in ("authorized_at", "completed_at"):
        if not (isinstance(row[name], str) and _TS.fullmatch(row[name])):
            raise _Refused("malformed", f"{where}: {name} must be a UTC timestamp "
                                        "YYYY-MM-DDTHH:MM:SS.ffffffZ")
    debits = row["wallet_debits"]
    if not isinstance(debits, dict) or len(debits) > 100:
        raise _Refused("malformed", f"{where}: wallet_debits must be an object of wallet id "
                                    "to integer")
    for wallet, value in debits.items():
        if not _text(wallet) or not _is_int(value):
            raise _Refused("malformed", f"{where}: wallet_debits must map wallet ids to "
                                        "integers (no floats)")
        if not -MAX_WALLET_DEBIT <= value <= MAX_WALLET_DEBIT:
            raise _Refused("malformed", f"{where}: wallet_debits must map wallet ids to "
                                        f"integers from -{MAX_WALLET_DEBIT} to "
                                        f"{MAX_WALLET_DEBIT} (ml or minor units), got {value}")
    for name in ("prev_hash", "hash"):
        if not (isinstance(row[name], str) and _HEX64.fullmatch(row[name])):
            raise _Refused("malformed", f"{where}: {name} must be 64 lower-case hex digits")
    _check_vehicle(where, row)


def _check_vehicle(where: str, row: dict[str, Any]) -> None:
    """The optional vehicle fields: absent, or valid (an explicit null is malformed)."""
    if "vehicle_id" in row and not _text(row["vehicle_id"], max_len=MAX_VEHICLE_LEN):
        raise _Refused("malformed", f"{where}: vehicle_id must be 1-{MAX_VEHICLE_LEN} "
                                    "printable characters")
    if "odometer_km" in row:
        _check_int(where, "odometer_km", row["odometer_km"], maximum=MAX_ODOMETER_KM)
    if "odometer_flag" in row and row["odometer_flag"] not in ODOMETER_FLAGS:
        raise _Refused("malformed", f"{where}: odometer_flag must be one of "
                                    f"{', '.join(ODOMETER_FLAGS)}")
    if "pricing" in row:
        problem = (pricing_problem(row["pricing"], station_id=row["station_id"],
                                   amount=row["amount"])
                   if isinstance(row["pricing"], dict) else "pricing is not a JSON object")
        if problem:
            raise _Refused("malformed", f"{where}: {problem}")


def _validate(body: Any) -> tuple[str, int, int, list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(body, dict):
        raise _Refused("malformed", "the batch body is not a JSON object")
    missing = sorted(BODY_FIELDS - body.keys())
    if missing:
        raise _Refused("malformed", f"the batch lacks the field(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in body if k not in BODY_FIELDS)
    if extra:
        raise _Refused("malformed", f"the batch has unknown field(s) {', '.join(extra)}")
    station_id = body["station_id"]
    if not _text(station_id, max_len=64):
        raise _Refused("malformed", "station_id must be a non-empty printable string")
    first, last, sales = body["first_seq"], body["last_seq"], body["sales"]
    _check_int("the batch", "first_seq", first, minimum=1)
    _check_int("the batch", "last_seq", last, minimum=first)
    if not isinstance(sales, list) or not sales:
        raise _Refused("malformed", "sales must be a non-empty list")
    if len(sales) > MAX_BATCH_ROWS:
        raise _Refused("malformed", f"the batch holds {len(sales)} sales, more than "
                                    f"{MAX_BATCH_ROWS}")
    if len(sales) != last - first + 1:
        raise _Refused("malformed", f"first_seq {first} to last_seq {last} needs "
                                    f"{last - first + 1} sales, the batch holds {len(sales)}")
    for i, row in enumerate(sales):
        _check_row(i, row, station_id, first + i)
    status = body["status"]
    check_status(status)
    return station_id, first, last, sales, status


def check_status(status: Any) -> None:
    """The station status a batch or a bundle carries (more fields are allowed)."""
    if not isinstance(status, dict):
        raise _Refused("malformed", "status must be a JSON object")
    missing = sorted(STATUS_FIELDS - status.keys())
    if missing:
        raise _Refused("malformed", f"status lacks the field(s) {', '.join(missing)}")
    _check_int("status", "outbox_depth", status["outbox_depth"])
    oldest = status["oldest_undelivered_at"]
    if oldest is not None and not (isinstance(oldest, str) and _TS.fullmatch(oldest)):
        raise _Refused("malformed", "status: oldest_undelivered_at must be null or a UTC "
                                    "timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if status["card_store_version"] is not None:
        _check_int("status", "card_store_version", status["card_store_version"])
    if status.get("last_receipt_seq") is not None:
        _check_int("status", "last_receipt_seq", status["last_receipt_seq"])


def _check_chain(sales: list[dict[str, Any]]) -> None:
    prev = sales[0]["prev_hash"]
    if sales[0]["seq"] == 1 and prev != GENESIS:
        raise _Refused("bad_chain", "seq 1 does not start from the genesis hash (64 zeros)",
                       ("bad_chain", 1, 1))
    for row in sales:
        seq = row["seq"]
        if row["prev_hash"] != prev:
            raise _Refused("bad_chain", f"seq {seq} does not link to the hash of seq {seq - 1}",
                           ("bad_chain", seq, seq))
        if chain_hash(prev, row) != row["hash"]:
            raise _Refused("bad_chain", f"seq {seq} was altered: its content does not match "
                                        "its hash", ("bad_chain", seq, seq))
        prev = row["hash"]


# -- the transaction ----------------------------------------------------------------------

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
        if station_hint is not None and _storable(station_hint):
            db.lock_station(station_hint)  # one station's batches one after the other
        try:
            if named != station_hint:
                raise _Refused("wrong_station", f"the batch names station {named!r}, but "
                                                f"{sender!r} sent it")
            if station_hint is not None and not _enrolled(conn, station_hint):
                raise _Refused("unknown_station",
                               f"station {station_hint!r} is not enrolled at this office")
            station_id, first, last, sales, status = _validate(body)
            _check_chain(sales)
            stored, duplicates = _store(conn, station_id, first, last, sales, via=via, at=at)
        except _Refused as refused:
            _quarantine(conn, body, refused, envelope_id=envelope_id, at=at,
                        station_id=station_hint)
            known = station_hint is not None and _storable(station_hint)
            head = _head(conn, station_hint) if known and station_hint else (0, GENESIS)
            gaps = _open_gaps(conn, station_hint) if known and station_hint else []
            return IngestResult(station_hint, 0, 0, refused.reason, head[0], head[1], gaps,
                                refused.detail)
        head, gaps, version = finish(conn, station_id, status, at,
                                     fresh=stored > 0 or not sales)
    return IngestResult(station_id, stored, duplicates, None, head[0], head[1], gaps,
                        card_version=version)


def finish(conn: OfficeConnection, station_id: str, status: dict[str, Any], at: str,
           *, fresh: bool = True, chained: tuple[int, int, str] | None = None
           ) -> tuple[tuple[int, str], list[tuple[int, int]], int | None]:
    """After storing rows: advance the contiguous head, settle the priced sales it passed,
    reconcile gaps, keep the status; (head, gaps, the card-master version settling
    recorded or None).

    A batch that brought no new sale (``fresh`` false: a replay, or a resend whose
    receipt was lost) only marks the station seen: its status may be older than the
    one held, and an old status must not roll back the office's view of the station.
    ``chained`` (first, last, hash of last): seqs first..last were just checked stored
    and chained, linked to the stored first - 1 (see :func:`_advance`).
    """
    before = _head(conn, station_id)[0]
    head = _advance(conn, station_id, at, chained)
    version = None
    if head[0] > before:
        from office.pricing.settle import settle_range

        version = settle_range(conn, station_id, before, head[0]).version
    gaps = _reconcile_gaps(conn, station_id, head[0], at)
    if not fresh:
        conn.execute("UPDATE station_chain SET last_seen_at = ? WHERE station_id = ?",
                     (at, station_id))
        return head, gaps, version
    conn.execute(
        "UPDATE station_chain SET last_seen_at = ?, outbox_depth = ?, "
        "oldest_undelivered_at = ?, card_store_version = ?, receipted_seq = ? "
        "WHERE station_id = ?",
        (at, status["outbox_depth"], status["oldest_undelivered_at"],
         status["card_store_version"], status.get("last_receipt_seq"), station_id))
    return head, gaps, version


def _storable(text: str) -> bool:
    """Whether text can be a key in the store: PostgreSQL's text holds no NUL character
    (such a station id is never enrolled: enrolment takes printable ids only)."""
    return "\x00" not in text


def _enrolled(conn: OfficeConnection, station_id: str) -> bool:
    if not _storable(station_id):
        return False
    return conn.execute("SELECT 1 FROM stations WHERE station_id = ?",
                        (station_id,)).fetchone() is not None


def _head(conn: OfficeConnection, station_id: str) -> tuple[int, str]:
    row = conn.execute("SELECT contiguous_seq, contiguous_hash FROM station_chain "
                       "WHERE station_id = ?", (station_id,)).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _store(conn: OfficeConnection, station_id: str, first: int, last: int,
           sales: list[dict[str, Any]], *, via: str, at: str) -> tuple[int, int]:
    held: dict[int, str] = dict(conn.execute(
        "SELECT seq, hash FROM sales WHERE station_id = ? AND seq BETWEEN ? AND ?",
        (station_id, first - 1, last + 1)).fetchall())
    before = held.get(first - 1)
    if before is not None and before != sales[0]["prev_hash"]:
        raise _Refused("fork", f"seq {first} does not link to the stored seq {first - 1}: "
                               "the station's history differs from what the office holds",
                       ("fork", first, last))
    after = conn.execute("SELECT prev_hash FROM sales WHERE station_id = ? AND seq = ?",
                         (station_id, last + 1)).fetchone()
    if after is not None and after[0] != sales[-1]["hash"]:
        raise _Refused("fork", f"the stored seq {last + 1} does not link to seq {last} of the "
                               "batch: the station's history differs from what the office "
                               "holds", ("fork", first, last + 1))
    new: list[dict[str, Any]] = []
    for row in sales:
        stored_hash = held.get(row["seq"])
        if stored_hash is None:
            new.append(row)
        elif stored_hash != row["hash"]:
            raise _Refused("fork", f"seq {row['seq']} is already stored with another hash: "
                                   "the station's history differs from what the office holds",
                           ("fork", row["seq"], last))
    conn.execute("INSERT INTO station_chain (station_id) VALUES (?) ON CONFLICT DO NOTHING",
                 (station_id,))
    if not new:
        return 0, len(sales)
    conn.executemany(
        f"INSERT INTO sales ({', '.join(SALE_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in SALE_COLUMNS)})",
        [(station_id, r["seq"], r["sale_id"], r["card_id"], r["pump"], r["product"],
          r["volume_ml"], r["unit_price"], r["amount"], r["authorized_at"], r["completed_at"],
          json.dumps(r["wallet_debits"], sort_keys=True, separators=(",", ":")),
          r["prev_hash"], r["hash"], at, via, *(_column(r, k) for k in OPTIONAL_FIELDS))
         for r in new])
    conn.executemany(  # one row per wallet debit (office.cards.wallets sums them)
        "INSERT INTO wallet_debits (station_id, seq, wallet_id, value) VALUES (?, ?, ?, ?)",
        [(station_id, r["seq"], wallet, value) for r in new
         for wallet, value in sorted(r["wallet_debits"].items())])
    rollups.add_sales(conn, station_id, new)  # the dashboard's counts, in this transaction
    return len(new), len(sales) - len(new)


def _column(row: dict[str, Any], key: str) -> Any:
    """An optional field as its column holds it (``pricing``: JSON text)."""
    value = row.get(key)
    return pricing_text(value) if key == "pricing" and value is not None else value


def _problem(conn: OfficeConnection, station_id: str, kind: str, first: int, last: int, *,
             detail: str, at: str) -> None:
    """Record an open chain problem unless the same one is already open."""
    if conn.execute("SELECT 1 FROM chain_problems WHERE station_id = ? AND kind = ? AND "
                    "first_seq = ? AND last_seq = ? AND resolved_at IS NULL",
                    (station_id, kind, first, last)).fetchone() is None:
        conn.execute("INSERT INTO chain_problems (station_id, kind, first_seq, last_seq, detail, "
                     "found_at) VALUES (?, ?, ?, ?, ?, ?)",
                     (station_id, kind, first, last, detail, at))


def _quarantine(conn: OfficeConnection, body: Any, refused: _Refused, *, envelope_id: str,
                at: str, station_id: str | None = None) -> None:
    if station_id is None:
        named = body.get("station_id") if isinstance(body, dict) else None
        station_id = named if isinstance(named, str) else None
    if station_id is not None and not _storable(station_id):
        station_id = None  # kept in the payload; no station has such an id
    first = body.get("first_seq") if isinstance(body, dict) else None
    last = body.get("last_seq") if isinstance(body, dict) else None
    first = first if _is_int(first) else None
    last = last if _is_int(last) else None
    try:
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                             default=repr)
    except (ValueError, TypeError, RecursionError):
        payload = repr(body)
    digest = hashlib.sha256(payload.encode()).hexdigest()
    seen = conn.execute(
        "SELECT id FROM quarantine WHERE station_id IS NOT DISTINCT FROM ? AND "
        "payload_sha256 = ? AND reason = ?",
        (station_id, digest, refused.reason)).fetchone()
    if seen is not None:  # the same batch sent again: count it, keep one copy
        conn.execute("UPDATE quarantine SET repeats = repeats + 1, last_received_at = ? "
                     "WHERE id = ?", (at, seen[0]))
    else:
        conn.execute(
            "INSERT INTO quarantine (station_id, first_seq, last_seq, reason, detail, "
            "envelope_id, received_at, payload, payload_sha256, last_received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (station_id, first, last, refused.reason, refused.detail, envelope_id, at, payload,
             digest, at))
    if refused.problem is not None and station_id is not None:
        kind, p_first, p_last = refused.problem
        _problem(conn, station_id, kind, p_first, p_last, detail=refused.detail, at=at)


def _advance(conn: OfficeConnection, station_id: str, at: str,
             chained: tuple[int, int, str] | None = None) -> tuple[int, str]:
    """Move the contiguous head over stored rows that follow it and link to it.

    ``chained`` (first, last, hash of last): a range the caller has just checked is
    stored whole and chained, linked to the stored seq first - 1 (a bundle after its
    fork checks). A head inside it or just before it jumps to its end at once instead
    of reading a million rows back: each of those rows links to the one before.
    """
    seq, head = _head(conn, station_id)
    start = seq
    if chained is not None and chained[0] - 1 <= seq < chained[1]:
        seq, head = chained[1], chained[2]
    cur = conn.execute("SELECT seq, prev_hash, hash FROM sales WHERE station_id = ? AND "
                       "seq > ? ORDER BY seq", (station_id, seq))
    for row_seq, prev_hash, row_hash in cur:
        if row_seq != seq + 1:
            break
        if prev_hash != head:
            _problem(conn, station_id, "fork", seq + 1, seq + 1, at=at,
                     detail=f"the stored seq {seq + 1} does not link to the stored seq {seq}")
            break
        seq, head = int(row_seq), str(row_hash)
    cur.close()
    if seq != start:
        conn.execute("UPDATE station_chain SET contiguous_seq = ?, contiguous_hash = ? "
                     "WHERE station_id = ?", (seq, head, station_id))
    return seq, head


def _missing(conn: OfficeConnection, station_id: str, contiguous: int) -> list[tuple[int, int]]:
    """Ranges of seqs above the contiguous head that are not stored but something after is."""
    out: list[tuple[int, int]] = []
    expected = contiguous + 1
    for (seq,) in conn.execute("SELECT seq FROM sales WHERE station_id = ? AND seq > ? "
                               "ORDER BY seq", (station_id, contiguous)):
        if seq > expected:
            out.append((expected, seq - 1))
        expected = seq + 1
    return out


def _gap_detail(first: int, last: int) -> str:
    return f"seq {first} is missing" if first == last else f"seqs {first}-{last} are missing"


def _reconcile_gaps(conn: OfficeConnection, station_id: str, contiguous: int, at: str
                    ) -> list[tuple[int, int]]:
    """Open, shrink, split and resolve the station's ``gap`` problems; the open gaps returned."""
    missing = _missing(conn, station_id, contiguous)
    covered: set[tuple[int, int]] = set()
    for pid, g_first, g_last in conn.execute(
            "SELECT id, first_seq, last_seq FROM chain_problems WHERE station_id = ? AND "
            "kind = 'gap' AND resolved_at IS NULL ORDER BY first_seq", (station_id,)).fetchall():
        inside = [(max(a, g_first), min(b, g_last)) for a, b in missing
                  if a <= g_last and b >= g_first]
        if not inside:
            conn.execute("UPDATE chain_problems SET resolved_at = ? WHERE id = ?", (at, pid))
            continue
        a, b = inside[0]  # a partly filled gap keeps its first piece; the rest are new rows
        if (a, b) != (g_first, g_last):
            conn.execute("UPDATE chain_problems SET first_seq = ?, last_seq = ?, detail = ? "
                         "WHERE id = ?", (a, b, _gap_detail(a, b), pid))
        covered.add((a, b))
    for a, b in missing:
        for p_first, p_last in _uncovered(a, b, covered):
            conn.execute(
                "INSERT INTO chain_problems (station_id, kind, first_seq, last_seq, detail, "
                "found_at) VALUES (?, 'gap', ?, ?, ?, ?)",
                (station_id, p_first, p_last, _gap_detail(p_first, p_last), at))
    return missing


def _uncovered(first: int, last: int, covered: set[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = first
    for a, b in sorted(covered):
        if b < pos or a > last:
            continue
        if a > pos:
            out.append((pos, a - 1))
        pos = max(pos, b + 1)
    if pos <= last:
        out.append((pos, last))
    return out


def _open_gaps(conn: OfficeConnection, station_id: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in conn.execute(
        "SELECT first_seq, last_seq FROM chain_problems WHERE station_id = ? AND kind = 'gap' "
        "AND resolved_at IS NULL ORDER BY first_seq", (station_id,))]
