"""Voucher codes (core.vouchers) and the batch format (core.formats.vouchers): codes made
for a batch verify, and every kind of bad code is refused with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import CardStoreFormatError
from core.formats.vouchers import VoucherBatch, batch_doc, parse_batch
from core.reasons import DESCRIPTIONS, VOUCHER_REASONS, Reason
from core.vouchers import (
    VoucherError,
    check,
    code_for,
    printed,
    qr_text,
    read_code,
    serial_of,
)

FROM = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
UNTIL = datetime(2026, 12, 31, 8, 0, tzinfo=UTC)
KEY = bytes(range(32))
BATCH = VoucherBatch(batch_id="VB000012", number=12, count=100, product="AI95",
                     volume_ml=20_000, amount=None, valid_from=FROM, valid_until=UNTIL,
                     key=KEY)
# A second batch whose number differs from BATCH's by one digit, with another key.
NEIGHBOUR = VoucherBatch(batch_id="VB000013", number=13, count=100, product=None,
                         volume_ml=None, amount=50_000, valid_from=FROM, valid_until=UNTIL,
                         key=bytes(32))
BATCHES = {b.number: b for b in (BATCH, NEIGHBOUR)}
NOW = FROM + timedelta(days=1)


def refused(text: str, now: datetime = NOW) -> Reason:
    with pytest.raises(VoucherError) as caught:
        check(BATCHES, text, now)
    assert str(caught.value)  # one sentence
    return caught.value.reason


# -- the code ----------------------------------------------------------------------------

def test_serial_and_code_layout() -> None:
    assert serial_of(12, 7) == "000012000007"
    code = code_for(BATCH, 7)
    assert len(code) == 20 and code.isdigit() and code.startswith("000012000007")
    mac = hmac.new(KEY, b"000012000007", hashlib.sha256).digest()
    assert code[12:] == f"{int.from_bytes(mac[:8], 'big') % 10**8:08d}"
    assert printed(code) == f"{code[:5]} {code[5:10]} {code[10:15]} {code[15:]}"
    assert qr_text(code) == "FCV1:" + code


def test_every_code_of_a_batch_round_trips_in_each_form() -> None:
    for seq in (1, 2, 50, 100):
        code = code_for(BATCH, seq)
        for form in (code, printed(code), qr_text(code), code.replace(" ", "-"),
                     "-".join(printed(code).split()), f"  {printed(code)}\n"):
            assert read_code(form) == code
            assert check(BATCHES, form, NOW) == (BATCH, code[:12])


def test_codes_differ_between_vouchers_and_batches() -> None:
    codes = {code_for(BATCH, seq) for seq in range(1, 101)}
    assert len(codes) == 100
    assert code_for(NEIGHBOUR, 1)[12:] != code_for(BATCH, 1)[12:]


def test_a_sequence_outside_the_batch_cannot_be_made() -> None:
    with pytest.raises(VoucherError):
        code_for(BATCH, 0)
    with pytest.raises(VoucherError):
        code_for(BATCH, 101)
    with pytest.raises(VoucherError):
        serial_of(0, 1)


# -- each refusal ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "", "1234", "0" * 19, "0" * 21, "FCV1:" + "0" * 19, "FCV1: " + "0" * 20,
    "FCV2:" + "0" * 20, "0000a000000000000000", "٠" * 20, "0" * 10 + "_" + "0" * 10,
    "0" * 200, "\x1b[2J" + "0" * 20,
])
def test_malformed(text: str) -> None:
    assert refused(text) == Reason.VOUCHER_MALFORMED


def test_unknown_batch() -> None:
    assert refused("000099" + code_for(BATCH, 1)[6:]) == Reason.VOUCHER_UNKNOWN


def test_forged_check_digits_and_sequences_outside_the_batch() -> None:
    code = code_for(BATCH, 5)
    assert refused(code[:12] + f"{(int(code[12:]) + 1) % 10**8:08d}") == Reason.VOUCHER_FORGED
    # Right MACs (someone holding the key) for sequences the batch does not have.
    for seq in (0, 101, 999_999):
        serial = f"000012{seq:06d}"
        mac = hmac.new(KEY, serial.encode(), hashlib.sha256).digest()
        text = serial + f"{int.from_bytes(mac[:8], 'big') % 10**8:08d}"
        assert refused(text) == Reason.VOUCHER_FORGED
    # Another batch's code with this batch's number.
    other = code_for(NEIGHBOUR, 5)
    assert refused("000012" + other[6:]) == Reason.VOUCHER_FORGED


def test_validity_window() -> None:
    code = code_for(BATCH, 1)
    assert refused(code, FROM - timedelta(seconds=1)) == Reason.VOUCHER_NOT_YET_VALID
    assert check(BATCHES, code, FROM)[1] == code[:12]  # from is inclusive
    assert check(BATCHES, code, UNTIL - timedelta(seconds=1))[1] == code[:12]
    assert refused(code, UNTIL) == Reason.VOUCHER_EXPIRED  # until is exclusive


def test_a_forged_code_is_refused_as_forged_even_out_of_its_window() -> None:
    code = code_for(BATCH, 1)
    assert refused(code[:19] + str((int(code[19]) + 1) % 10),
                   UNTIL + timedelta(days=1)) == Reason.VOUCHER_FORGED


def test_voucher_reasons_are_described_and_never_change() -> None:
    assert {r.value for r in VOUCHER_REASONS} == {
        "voucher_malformed", "voucher_unknown", "voucher_forged", "voucher_not_yet_valid",
        "voucher_expired", "voucher_used", "voucher_product"}
    assert set(DESCRIPTIONS) >= VOUCHER_REASONS


@given(seq=st.integers(1, 100), position=st.integers(0, 19), delta=st.integers(1, 9))
def test_any_code_with_one_digit_changed_is_refused(seq: int, position: int,
                                                    delta: int) -> None:
    code = code_for(BATCH, seq)
    digit = str((int(code[position]) + delta) % 10)
    changed = code[:position] + digit + code[position + 1:]
    with pytest.raises(VoucherError) as caught:
        check(BATCHES, changed, NOW)
    if position < 6:
        # Another batch number: none here, or the neighbour batch whose key differs.
        assert caught.value.reason in {Reason.VOUCHER_UNKNOWN, Reason.VOUCHER_FORGED}
        if int(changed[:6]) == NEIGHBOUR.number:
            assert caught.value.reason == Reason.VOUCHER_FORGED
    else:
        assert caught.value.reason == Reason.VOUCHER_FORGED


@given(st.text(max_size=40))
def test_any_text_is_a_code_or_malformed(text: str) -> None:
    try:
        code = read_code(text)
    except VoucherError as exc:
        assert exc.reason == Reason.VOUCHER_MALFORMED
    else:
        assert len(code) == 20 and all(c in "0123456789" for c in code)


# -- the batch format --------------------------------------------------------------------

def doc(**changes: Any) -> dict[str, Any]:
    out = batch_doc(BATCH)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def test_batch_doc_round_trips_through_json() -> None:
    for batch in (BATCH, NEIGHBOUR,
                  VoucherBatch("VB999999", 999_999, 999_999, "DT", 1, None,
                               FROM.replace(microsecond=123), UNTIL, KEY)):
        text = json.dumps(batch_doc(batch))
        assert parse_batch(json.loads(text), "pricing.vouchers[0]") == batch
    assert batch_doc(BATCH)["valid_from"] == "2026-12-01T08:00:00Z"
    assert batch_doc(BATCH)["key"] == KEY.hex()
    assert "product" not in batch_doc(NEIGHBOUR)  # an amount voucher for any product
    assert KEY.hex() not in repr(BATCH)


@pytest.mark.parametrize(("raw", "message"), [
    ([], "pricing.vouchers[2] must be a JSON object"),
    (doc(colour="red"), "pricing.vouchers[2].colour is not a known field"),
    (doc(amount=100), "pricing.vouchers[2] must have exactly one of volume_ml and amount, "
                      "got both"),
    (doc(volume_ml=None), "pricing.vouchers[2] must have exactly one of volume_ml and "
                          "amount, got neither"),
    (doc(product=None), "pricing.vouchers[2].product is missing: a volume voucher"),
    (doc(count=10.0), "pricing.vouchers[2].count must be an integer"),
    (doc(count=True), "pricing.vouchers[2].count must be an integer"),
    (doc(count=0), "pricing.vouchers[2].count must be at least 1"),
    (doc(count=1_000_000), "pricing.vouchers[2].count must be at most 999999"),
    (doc(number=0), "pricing.vouchers[2].number must be at least 1"),
    (doc(number="12"), "pricing.vouchers[2].number must be an integer"),
    (doc(volume_ml=0), "pricing.vouchers[2].volume_ml must be at least 1"),
    (doc(volume_ml=10**11), "pricing.vouchers[2].volume_ml must be at most"),
    (doc(volume_ml=None, amount=-5), "pricing.vouchers[2].amount must be at least 1"),
    (doc(key="zz" * 32), "pricing.vouchers[2].key must be 64 lower-case hex digits"),
    (doc(key="ab" * 16), "pricing.vouchers[2].key must be 64 lower-case hex digits"),
    (doc(key=None), "pricing.vouchers[2].key is missing"),
    (doc(valid_until="2026-12-01T08:00:00Z"), "pricing.vouchers[2].valid_until must be "
                                              "later than valid_from"),
    (doc(valid_until="2026-11-01T08:00:00Z"), "pricing.vouchers[2].valid_until must be "
                                              "later than valid_from"),
    (doc(valid_from="2026-12-01T08:00:00"), "pricing.vouchers[2].valid_from must include "
                                            "a UTC offset"),
    (doc(valid_from="tomorrow"), "pricing.vouchers[2].valid_from must be an ISO 8601 time"),
    (doc(valid_from=None), "pricing.vouchers[2].valid_from is missing"),
    (doc(batch_id="B1"), "pricing.vouchers[2].batch_id has an invalid value"),
    (doc(product="AI 95"), "pricing.vouchers[2].product has an invalid value"),
])
def test_parse_batch_is_strict(raw: Any, message: str) -> None:
    with pytest.raises(CardStoreFormatError) as caught:
        parse_batch(raw, "pricing.vouchers[2]")
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_time_with_an_offset_is_read_as_utc() -> None:
    batch = parse_batch(doc(valid_from="2026-12-01T11:00:00+03:00"), "v")
    assert batch.valid_from == FROM and batch.valid_from.tzinfo == UTC
