"""The checks a station's sale batch passes before the office stores anything of it.

A batch body (already taken out of a verified envelope) is::

    {"station_id": "S-001", "first_seq": 41, "last_seq": 60, "sales": [row, ...],
     "status": {"outbox_depth": 20, "oldest_undelivered_at": "...Z" | None,
                "card_store_version": 17 | None}}

where every row holds exactly the journal fields (docs/journal.md). :func:`validate`
checks the body and each row's fields and bounds, :func:`check_chain` that the rows
hash and link as the station's journal does; a failed check raises :class:`Refused`
with the quarantine reason and a one-line sentence. The flash-drive ingest
(``ingest_bulk`` and its database paths) uses the same rows' checks and bounds.
"""

from __future__ import annotations

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
)

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
#: definition both ingests use: ``check_row`` here, ``_FAST_ACCEPT`` in bulk_sqlite,
#: ``_BOUNDED`` in bulk_postgresql.
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
HEX64 = wire.HEX64
_TS = wire.TIMESTAMP


class Refused(Exception):
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


# -- the body and its rows -----------------------------------------------------------------

def is_int(value: Any) -> bool:
    return wire.is_int(value, minimum=-MAX_INT)


_text = wire.is_text


def check_int(where: str, name: str, value: Any, *, minimum: int = 0,
              maximum: int = MAX_INT) -> None:
    if not is_int(value):
        raise Refused("malformed", f"{where}: {name} must be an integer, got "
                                   f"{type(value).__name__}")
    if value < minimum:
        raise Refused("malformed", f"{where}: {name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise Refused("malformed", f"{where}: {name} must be at most {maximum}, got {value}")


def check_row(i: int, row: Any, station_id: str, seq: int) -> None:
    where = f"sale {i + 1} of the batch"
    if not isinstance(row, dict):
        raise Refused("malformed", f"{where} is not a JSON object")
    missing = [k for k in ROW_FIELDS if k not in row]
    if missing:
        raise Refused("malformed", f"{where} lacks the field(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in row if k not in ROW_FIELDS and k not in OPTIONAL_FIELDS)
    if extra:
        raise Refused("malformed", f"{where} has unknown field(s) {', '.join(extra)}")
    check_int(where, "seq", row["seq"], minimum=1)
    if row["seq"] != seq:
        raise Refused("malformed", f"{where} has seq {row['seq']} where {seq} was expected "
                                   "(seqs must run consecutively from first_seq)")
    where = f"sale seq {seq}"
    if not _text(row["station_id"], max_len=64):
        raise Refused("malformed", f"{where}: station_id must be a non-empty printable "
                                   "string")
    if row["station_id"] != station_id:
        raise Refused("wrong_station", f"{where} belongs to station {row['station_id']!r}, "
                                       f"not {station_id!r}")
    for name in ("sale_id", "card_id", "product"):
        if not _text(row[name]):
            raise Refused("malformed", f"{where}: {name} must be a non-empty printable string")
    for name, (low, high) in SALE_INTS.items():
        check_int(where, name, row[name], minimum=low, maximum=high)
    for name in ("authorized_at", "completed_at"):
        if not (isinstance(row[name], str) and _TS.fullmatch(row[name])):
            raise Refused("malformed", f"{where}: {name} must be a UTC timestamp "
                                       "YYYY-MM-DDTHH:MM:SS.ffffffZ")
    debits = row["wallet_debits"]
    if not isinstance(debits, dict) or len(debits) > 100:
        raise Refused("malformed", f"{where}: wallet_debits must be an object of wallet id "
                                   "to integer")
    for wallet, value in debits.items():
        if not _text(wallet) or not is_int(value):
            raise Refused("malformed", f"{where}: wallet_debits must map wallet ids to "
                                       "integers (no floats)")
        if not -MAX_WALLET_DEBIT <= value <= MAX_WALLET_DEBIT:
            raise Refused("malformed", f"{where}: wallet_debits must map wallet ids to "
                                       f"integers from -{MAX_WALLET_DEBIT} to "
                                       f"{MAX_WALLET_DEBIT} (ml or minor units), got {value}")
    for name in ("prev_hash", "hash"):
        if not (isinstance(row[name], str) and HEX64.fullmatch(row[name])):
            raise Refused("malformed", f"{where}: {name} must be 64 lower-case hex digits")
    _check_vehicle(where, row)


def _check_vehicle(where: str, row: dict[str, Any]) -> None:
    """The optional vehicle fields: absent, or valid (an explicit null is malformed)."""
    if "vehicle_id" in row and not _text(row["vehicle_id"], max_len=MAX_VEHICLE_LEN):
        raise Refused("malformed", f"{where}: vehicle_id must be 1-{MAX_VEHICLE_LEN} "
                                   "printable characters")
    if "odometer_km" in row:
        check_int(where, "odometer_km", row["odometer_km"], maximum=MAX_ODOMETER_KM)
    if "odometer_flag" in row and row["odometer_flag"] not in ODOMETER_FLAGS:
        raise Refused("malformed", f"{where}: odometer_flag must be one of "
                                   f"{', '.join(ODOMETER_FLAGS)}")
    if "pricing" in row:
        problem = (pricing_problem(row["pricing"], station_id=row["station_id"],
                                   amount=row["amount"])
                   if isinstance(row["pricing"], dict) else "pricing is not a JSON object")
        if problem:
            raise Refused("malformed", f"{where}: {problem}")


def validate(body: Any) -> tuple[str, int, int, list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(body, dict):
        raise Refused("malformed", "the batch body is not a JSON object")
    missing = sorted(BODY_FIELDS - body.keys())
    if missing:
        raise Refused("malformed", f"the batch lacks the field(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in body if k not in BODY_FIELDS)
    if extra:
        raise Refused("malformed", f"the batch has unknown field(s) {', '.join(extra)}")
    station_id = body["station_id"]
    if not _text(station_id, max_len=64):
        raise Refused("malformed", "station_id must be a non-empty printable string")
    first, last, sales = body["first_seq"], body["last_seq"], body["sales"]
    check_int("the batch", "first_seq", first, minimum=1)
    check_int("the batch", "last_seq", last, minimum=first)
    if not isinstance(sales, list) or not sales:
        raise Refused("malformed", "sales must be a non-empty list")
    if len(sales) > MAX_BATCH_ROWS:
        raise Refused("malformed", f"the batch holds {len(sales)} sales, more than "
                                   f"{MAX_BATCH_ROWS}")
    if len(sales) != last - first + 1:
        raise Refused("malformed", f"first_seq {first} to last_seq {last} needs "
                                   f"{last - first + 1} sales, the batch holds {len(sales)}")
    for i, row in enumerate(sales):
        check_row(i, row, station_id, first + i)
    status = body["status"]
    check_status(status)
    return station_id, first, last, sales, status


def check_status(status: Any) -> None:
    """The station status a batch or a bundle carries (more fields are allowed)."""
    if not isinstance(status, dict):
        raise Refused("malformed", "status must be a JSON object")
    missing = sorted(STATUS_FIELDS - status.keys())
    if missing:
        raise Refused("malformed", f"status lacks the field(s) {', '.join(missing)}")
    check_int("status", "outbox_depth", status["outbox_depth"])
    oldest = status["oldest_undelivered_at"]
    if oldest is not None and not (isinstance(oldest, str) and _TS.fullmatch(oldest)):
        raise Refused("malformed", "status: oldest_undelivered_at must be null or a UTC "
                                   "timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if status["card_store_version"] is not None:
        check_int("status", "card_store_version", status["card_store_version"])
    if status.get("last_receipt_seq") is not None:
        check_int("status", "last_receipt_seq", status["last_receipt_seq"])


def check_chain(sales: list[dict[str, Any]]) -> None:
    prev = sales[0]["prev_hash"]
    if sales[0]["seq"] == 1 and prev != GENESIS:
        raise Refused("bad_chain", "seq 1 does not start from the genesis hash (64 zeros)",
                      ("bad_chain", 1, 1))
    for row in sales:
        seq = row["seq"]
        if row["prev_hash"] != prev:
            raise Refused("bad_chain", f"seq {seq} does not link to the hash of seq {seq - 1}",
                          ("bad_chain", seq, seq))
        if chain_hash(prev, row) != row["hash"]:
            raise Refused("bad_chain", f"seq {seq} was altered: its content does not match "
                                       "its hash", ("bad_chain", seq, seq))
        prev = row["hash"]
