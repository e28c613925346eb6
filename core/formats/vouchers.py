"""A fuel-voucher batch as the office sends it to stations (docs/pricing.md, "Vouchers").

A batch is what a station needs to verify every voucher (talon) of it offline: the
batch number (the first six digits of each serial), how many vouchers it has, what each
buys (a volume of one product, or an amount of money), when the batch is valid, and the
32-byte HMAC key that signs its codes (core.vouchers). It travels inside the signed card
store only, never on its own.

Parsing is as strict as the card store's (core.formats.snapshot): an unknown key, a float
where an integer is due, both or neither of ``volume_ml``/``amount``, a key that is not 64
hex digits or a validity that ends before it starts is a :class:`CardStoreFormatError`
naming the exact place (``pricing.vouchers[2].count``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core import bounds as B
from core.errors import CardStoreFormatError

# The card store's strict JSON-object reader: the same messages and bounds for every
# document the station receives.
from core.formats.snapshot import _Obj

#: The largest batch number and the largest count: six digits each in the serial.
MAX_NUMBER = 999_999
MAX_COUNT = 999_999
#: Bytes of a batch's HMAC-SHA256 key.
KEY_BYTES = 32
BATCH_ID = r"VB\d{6}"
PRODUCT = r"[A-Za-z0-9_.-]{1,32}"
_FIELDS = {"batch_id", "number", "count", "product", "volume_ml", "amount", "valid_from",
           "valid_until", "key"}


@dataclass(frozen=True)
class VoucherBatch:
    """One batch of vouchers: serials ``number`` + 000001..``count``, each buying
    ``volume_ml`` of ``product`` or ``amount`` minor units (of ``product``, or of any
    product when it is None), valid from ``valid_from`` (inclusive) to ``valid_until``
    (exclusive), signed with ``key``."""

    batch_id: str
    number: int
    count: int
    product: str | None
    volume_ml: int | None
    amount: int | None
    valid_from: datetime
    valid_until: datetime
    key: bytes

    def __repr__(self) -> str:
        """Everything but the key (a repr ends up in logs and tracebacks)."""
        return (f"VoucherBatch(batch_id={self.batch_id!r}, number={self.number}, "
                f"count={self.count}, product={self.product!r}, volume_ml={self.volume_ml}, "
                f"amount={self.amount}, valid_from={self.valid_from.isoformat()}, "
                f"valid_until={self.valid_until.isoformat()})")


def parse_batch(raw: Any, where: str) -> VoucherBatch:
    """One batch object of the pricing document; ``where`` names it in error sentences
    (``pricing.vouchers[2]``)."""
    obj = _Obj(raw, where, _FIELDS)
    batch_id = obj.req_str("batch_id", pattern=BATCH_ID)
    number = obj.get_int("number", minimum=1, maximum=MAX_NUMBER, what="the batch number")
    count = obj.get_int("count", minimum=1, maximum=MAX_COUNT, what="vouchers")
    product = obj.get_str("product", required=False, pattern=PRODUCT)
    has_volume, has_amount = raw.get("volume_ml") is not None, raw.get("amount") is not None
    if has_volume == has_amount:
        raise CardStoreFormatError(
            f"{where} must have exactly one of volume_ml and amount, "
            f"got {'both' if has_volume else 'neither'}")
    volume_ml = amount = None
    if has_volume:
        volume_ml = obj.get_int("volume_ml", minimum=1, maximum=B.MAX_VOLUME_ML, what="ml")
        if product is None:
            raise CardStoreFormatError(
                f"{obj.at('product')} is missing: a volume voucher buys one product")
    else:
        amount = obj.get_int("amount", minimum=1, maximum=B.MAX_AMOUNT, what="minor units")
    valid_from = _time(obj, "valid_from")
    valid_until = _time(obj, "valid_until")
    if valid_until <= valid_from:
        raise CardStoreFormatError(
            f"{obj.at('valid_until')} must be later than valid_from, got "
            f"{raw['valid_until']!r} for {raw['valid_from']!r}")
    key_text = obj.req_str("key")
    if len(key_text) != 2 * KEY_BYTES or not B.HEX64.fullmatch(key_text):
        raise CardStoreFormatError(
            f"{obj.at('key')} must be {2 * KEY_BYTES} lower-case hex digits "
            f"({KEY_BYTES} bytes), got {len(key_text)} characters")
    return VoucherBatch(batch_id=batch_id, number=number, count=count, product=product,
                        volume_ml=volume_ml, amount=amount, valid_from=valid_from,
                        valid_until=valid_until, key=bytes.fromhex(key_text))


def _time(obj: _Obj, key: str) -> datetime:
    value = obj.get_timestamp(key)
    if value is None:
        raise CardStoreFormatError(f"{obj.at(key)} is missing")
    return value


def time_text(ts: datetime) -> str:
    """``2026-12-01T00:00:00Z`` (with ``.ffffff`` only when there are microseconds, so
    :func:`parse_batch` gives back exactly the same time)."""
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if utc.microsecond else "") + "Z")


def batch_doc(batch: VoucherBatch) -> dict[str, Any]:
    """The JSON object of a batch: :func:`parse_batch` reads it back as ``batch``."""
    doc: dict[str, Any] = {"batch_id": batch.batch_id, "number": batch.number,
                           "count": batch.count}
    if batch.product is not None:
        doc["product"] = batch.product
    if batch.volume_ml is not None:
        doc["volume_ml"] = batch.volume_ml
    if batch.amount is not None:
        doc["amount"] = batch.amount
    doc["valid_from"] = time_text(batch.valid_from)
    doc["valid_until"] = time_text(batch.valid_until)
    doc["key"] = batch.key.hex()
    return doc


#: The most serials one ``vouchers_used`` delta operation carries (the office splits a
#: longer list into several operations of one version).
MAX_USED_PER_OP = 10_000
#: The most serials a snapshot's ``vouchers_used`` carries (every redeemed voucher of the
#: batches not yet expired).
MAX_USED_IN_SNAPSHOT = 1_000_000
_SERIAL = re.compile(r"[0-9]{12}")


def parse_serials(raw: Any, where: str, maximum: int) -> list[str]:
    """A list of redeemed voucher serials (12 digits: a batch number 1..999999 and a
    sequence 1..999999), at most ``maximum`` of them, sorted and without repeats;
    ``where`` names the list in error sentences (``ops[3].serials``)."""
    if not isinstance(raw, list):
        raise CardStoreFormatError(f"{where} must be a JSON array of voucher serials")
    if len(raw) > maximum:
        raise CardStoreFormatError(f"{where} has {len(raw)} serials; at most {maximum} are "
                                   "allowed")
    for i, serial in enumerate(raw):
        if not isinstance(serial, str) or not _SERIAL.fullmatch(serial) \
                or not 1 <= int(serial[:6]) <= MAX_NUMBER \
                or not 1 <= int(serial[6:]) <= MAX_COUNT:
            shown = repr(B.escaped(serial)) if isinstance(serial, str) else repr(serial)[:64]
            raise CardStoreFormatError(
                f"{where}[{i}] must be a voucher serial of 12 digits (a batch number and a "
                f"sequence, neither 000000), got {shown}")
    return sorted(set(raw))
