"""Fuel-voucher (talon) codes: making them at the office, checking them at a station.

A voucher's **serial** is 12 digits: its batch number (6 digits, zero-padded) and its
sequence in the batch (6 digits, 1..count). Its **code** is 20 digits: the serial and 8
check digits, ``HMAC-SHA256(batch key, serial)``'s first 8 bytes as a big-endian integer
modulo 10**8. The code is printed in groups of five (``00001 20000 34123 45678``), and the
QR code on the voucher holds ``FCV1:`` and the same 20 digits, so the digits typed by an
attendant and the QR read by a scanner are verified the same way.

Pure: no I/O, no clock (``now`` is given), no logging; a refusal is a
:class:`VoucherError` whose ``reason`` is one of core.reasons.VOUCHER_REASONS, and the
caller logs it. Why the codes are safe enough offline: docs/pricing.md, "Vouchers".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

from core import bounds as B
from core.errors import ForecourtError
from core.formats.vouchers import MAX_COUNT, MAX_NUMBER, VoucherBatch
from core.reasons import Reason

#: What a voucher's QR code holds before the 20 digits.
QR_PREFIX = "FCV1:"
CODE_DIGITS = 20
SERIAL_DIGITS = 12
CHECK_MODULUS = 10**8
#: Longest text :func:`read_code` looks at (20 digits, separators, a prefix, blanks).
MAX_INPUT = 64
_CODE = re.compile(r"[0-9]{20}")


class VoucherError(ForecourtError):
    """A voucher code refused: ``reason`` (core.reasons.Reason) says why, the message
    says it in one sentence."""

    code = "voucher_refused"

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = reason.value


def serial_of(number: int, seq: int) -> str:
    """The 12-digit serial of voucher ``seq`` of batch ``number``."""
    if not 1 <= number <= MAX_NUMBER or not 1 <= seq <= MAX_COUNT:
        raise VoucherError(Reason.VOUCHER_MALFORMED,
                           f"a voucher serial needs a batch number 1..{MAX_NUMBER} and a "
                           f"sequence 1..{MAX_COUNT}, got {number} and {seq}")
    return f"{number:06d}{seq:06d}"


def _check_digits(key: bytes, serial: str) -> str:
    mac = hmac.new(key, serial.encode("ascii"), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % CHECK_MODULUS:08d}"


def code_for(batch: VoucherBatch, seq: int) -> str:
    """The 20-digit code of voucher ``seq`` (1..count) of ``batch``."""
    if not 1 <= seq <= batch.count:
        raise VoucherError(Reason.VOUCHER_MALFORMED,
                           f"batch {batch.batch_id} has vouchers 1..{batch.count}, not {seq}")
    serial = serial_of(batch.number, seq)
    return serial + _check_digits(batch.key, serial)


def printed(code: str) -> str:
    """The code as printed on the voucher: four groups of five digits."""
    return " ".join(code[i:i + 5] for i in range(0, len(code), 5))


def qr_text(code: str) -> str:
    """What the voucher's QR code holds: ``FCV1:`` and the 20 digits."""
    return QR_PREFIX + code


def read_code(text: str) -> str:
    """The 20 digits of a voucher as typed (spaces and dashes allowed: the printed form)
    or scanned (``FCV1:`` and 20 digits); anything else is ``voucher_malformed``."""
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        raise VoucherError(Reason.VOUCHER_MALFORMED,
                           "a voucher code is 20 digits (or FCV1: and 20 digits); this text "
                           f"is longer than {MAX_INPUT} characters")
    stripped = text.strip()
    if stripped[:len(QR_PREFIX)].upper() == QR_PREFIX:
        digits = stripped[len(QR_PREFIX):]
    else:
        digits = stripped.replace(" ", "").replace("-", "")
    if not _CODE.fullmatch(digits):
        raise VoucherError(Reason.VOUCHER_MALFORMED,
                           f"a voucher code is 20 digits (spaces and dashes allowed) or "
                           f"FCV1: and 20 digits, got {B.escaped(text)!r}")
    return digits


def is_genuine(batch: VoucherBatch, code: str) -> bool:
    """Whether the 20-digit ``code`` is one of ``batch``'s vouchers (its number, a
    sequence in 1..count, and the check digits its key makes), whatever the time."""
    if not _CODE.fullmatch(code) or int(code[:6]) != batch.number:
        return False
    serial = code[:SERIAL_DIGITS]
    genuine = hmac.compare_digest(code[SERIAL_DIGITS:], _check_digits(batch.key, serial))
    return genuine and 1 <= int(serial[6:]) <= batch.count


def check(batches: Mapping[int, VoucherBatch], text: str, now: datetime
          ) -> tuple[VoucherBatch, str]:
    """The batch and the 12-digit serial of a genuine voucher valid at ``now`` (aware).

    Refused, in this order: ``voucher_malformed`` (not a code), ``voucher_unknown`` (no
    batch with its number here), ``voucher_forged`` (check digits wrong, or a sequence
    outside 1..count), ``voucher_not_yet_valid`` (before ``valid_from``),
    ``voucher_expired`` (at or after ``valid_until``). Whether the serial was redeemed
    already is the caller's ledger's question (``voucher_used``).
    """
    code = read_code(text)
    serial, number = code[:SERIAL_DIGITS], int(code[:6])
    batch = batches.get(number)
    if batch is None:
        raise VoucherError(Reason.VOUCHER_UNKNOWN,
                           f"voucher {serial}: no voucher batch number {number} is known at "
                           "this station")
    if not is_genuine(batch, code):
        raise VoucherError(Reason.VOUCHER_FORGED,
                           f"voucher {serial}: the code is not one of batch "
                           f"{batch.batch_id}'s (wrong check digits or sequence)")
    if now < batch.valid_from:
        raise VoucherError(Reason.VOUCHER_NOT_YET_VALID,
                           f"voucher {serial}: batch {batch.batch_id} is valid from "
                           f"{batch.valid_from:%Y-%m-%d %H:%M} UTC")
    if now >= batch.valid_until:
        raise VoucherError(Reason.VOUCHER_EXPIRED,
                           f"voucher {serial}: batch {batch.batch_id} expired at "
                           f"{batch.valid_until:%Y-%m-%d %H:%M} UTC")
    return batch, serial
