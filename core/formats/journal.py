"""The journal line and its hash chain: the format station and head office share.

Each sale line's ``hash`` is ``sha256(prev_hash + "\\n" + canonical JSON of the sale)``
in lower-case hex, where the canonical JSON holds exactly :data:`HASHED_FIELDS`, plus
those of :data:`OPTIONAL_FIELDS` that are present (not None), with sorted keys and no
spaces; the first line's ``prev_hash`` is 64 zeros. The station writes the chain
(``offline_db.journal``) and the head office recomputes it (docs/journal.md), so never
change this layout: a line without the optional fields (every line written before
they existed) hashes as it always did. :func:`malformed` is the one check of a line's
columns, run by both before a hash is recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.bounds import HEX64, MAX_INT64, MAX_ODOMETER_KM, TIMESTAMP

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
                 "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits")
#: Hashed only when present: the sale's vehicle, its odometer reading (km) and the
#: reasonability flag (``odometer_unreasonable``) when the policy flags instead of
#: refusing; ``pricing``, how the pricing rules priced the sale (core.formats.pricing_line,
#: a JSON object; JSON text in a database column, like ``wallet_debits``).
OPTIONAL_FIELDS = ("vehicle_id", "odometer_km", "odometer_flag", "pricing")
#: Optional fields that are JSON objects (kept as JSON text in database columns).
JSON_FIELDS = ("wallet_debits", "pricing")


def present(sale: dict[str, Any]) -> dict[str, Any]:
    """The optional fields ``sale`` carries (those not None)."""
    return {k: sale[k] for k in OPTIONAL_FIELDS if sale.get(k) is not None}


def canonical_sql(column: Callable[[str], str], wallet_debits: str | None = None) -> str:
    """A SQLite expression making :func:`canonical` of a row from its columns.

    ``column(name)`` is the SQL for a field; ``wallet_debits`` overrides the SQL of that
    (JSON text) field. SQLite escapes non-ASCII text differently from Python, so for
    such rows the result differs and the caller falls back to :func:`canonical`.
    """
    keys = sorted((*HASHED_FIELDS, *OPTIONAL_FIELDS))
    values = {k: column(k) for k in keys}
    values["wallet_debits"] = wallet_debits or f"json({column('wallet_debits')})"
    values["pricing"] = f"json({column('pricing')})"
    obj = "json_object(" + ", ".join(f"'{k}', {values[k]}" for k in keys) + ")"
    absent = ", ".join(f"CASE WHEN {column(k)} IS NULL THEN '$.{k}' ELSE '$.absent' END"
                       for k in OPTIONAL_FIELDS)
    return f"json_remove({obj}, {absent})"


def canonical(sale: dict[str, Any]) -> bytes:
    body = {k: sale[k] for k in HASHED_FIELDS}
    body.update(present(sale))
    for key in JSON_FIELDS:
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(prev_hash: str, sale: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(sale)).hexdigest()



INT_COLUMNS = ("pump", "volume_ml", "unit_price", "amount")
TEXT_COLUMNS = ("sale_id", "station_id", "card_id", "product")
TIME_COLUMNS = ("authorized_at", "completed_at")
HASH_COLUMNS = ("prev_hash", "hash")
#: The optional columns (offline_db.journal.OPTIONAL_FIELDS): NULL, or as the station writes them.
ODOMETER_FLAG_VALUES = ("odometer_unreasonable",)
ODOMETER_FLAGS = ODOMETER_FLAG_VALUES
_HASH = HEX64
_TIME = TIMESTAMP


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the journal: where (``seq``, if known), a code, a sentence."""

    seq: int | None
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "reason": self.reason, "message": self.message}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT64


def _debits_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wallet_debits is not text"
    try:
        debits = json.loads(value)
    except ValueError:
        return "wallet_debits is not JSON"
    if not isinstance(debits, dict) or not all(
            isinstance(k, str) and k and _is_int(v) for k, v in debits.items()):
        return "wallet_debits is not a JSON object of wallet ids to whole numbers"
    return None


def malformed(row: dict[str, Any]) -> str | None:
    """What is wrong with a journal row's columns (naming the column), or None.

    Runs before the hash is recomputed: a rehashed row can still hold values the
    station never writes (text for a volume, a NULL, a blob, a broken timestamp).
    Columns this function does not know are left to their own checks.
    """
    for column in (*TEXT_COLUMNS, *TIME_COLUMNS, *HASH_COLUMNS, *INT_COLUMNS,
                   "wallet_debits"):
        if column not in row:
            return f"the column {column} is missing"
        if row[column] is None:
            return f"{column} is empty (NULL)"
    for column in INT_COLUMNS:
        if not _is_int(row[column]):
            return f"{column} is not a whole number from 0 to 2^63-1 ({row[column]!r:.40})"
    if row["pump"] < 1:
        return f"pump is not a pump number ({row['pump']})"
    for column in TEXT_COLUMNS:
        if not isinstance(row[column], str) or not row[column]:
            return f"{column} is not non-empty text"
    for column in TIME_COLUMNS:
        if not isinstance(row[column], str) or not _TIME.fullmatch(row[column]):
            return f"{column} is not a UTC time YYYY-MM-DDTHH:MM:SS.ffffffZ"
    for column in HASH_COLUMNS:
        if not isinstance(row[column], str) or not _HASH.fullmatch(row[column]):
            return f"{column} is not 64 lower-case hex digits"
    return _debits_problem(row["wallet_debits"]) or _optional_problem(row)


def pricing_text(doc: dict[str, Any]) -> str:
    """The ``pricing`` field as the station stores it: sorted keys, no spaces, ASCII (the
    text SQLite's ``json()`` keeps as is, so canonical_sql matches canonical)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def pricing_problem(value: Any, *, station_id: Any, amount: Any) -> str | None:
    """What is wrong with a line's ``pricing`` (JSON text or object), or None.

    Read with core.formats.pricing_line.parse_line, the one reader of the field.
    """
    from core.errors import CardStoreFormatError
    from core.formats.pricing_line import parse_line

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return "pricing is not JSON"
    if not isinstance(value, dict):
        return "pricing is not a JSON object"
    if not isinstance(station_id, str) or not _is_int(amount):
        return None  # the line's own columns are refused by their checks
    try:
        parse_line(value, station_id=station_id, amount=amount)
    except CardStoreFormatError as exc:
        return str(exc)
    except RecursionError:
        return "pricing is nested too deeply"
    return None


def _optional_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with the vehicle, odometer and pricing columns (NULL when a sale
    has none)."""
    if row.get("pricing") is not None:
        problem = pricing_problem(row["pricing"], station_id=row.get("station_id"),
                                  amount=row.get("amount"))
        if problem:
            return problem
    vehicle, km, flag = (row.get(k) for k in ("vehicle_id", "odometer_km", "odometer_flag"))
    if vehicle is not None and (not isinstance(vehicle, str) or not vehicle):
        return "vehicle_id is not non-empty text"
    if km is not None and not (_is_int(km) and km <= MAX_ODOMETER_KM):
        return f"odometer_km is not a whole number from 0 to {MAX_ODOMETER_KM} ({km!r:.40})"
    if flag is not None and flag not in ODOMETER_FLAG_VALUES:
        return f"odometer_flag is not one of {', '.join(ODOMETER_FLAG_VALUES)} ({flag!r:.40})"
    return None
