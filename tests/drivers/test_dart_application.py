"""DART application layer (drivers/dart/application.py): CD/DC transactions and BCD."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.dart import application as app
from drivers.dart.application import (
    CD1,
    CD2,
    CD3,
    CD4,
    CD5,
    CD101,
    DC1,
    DC2,
    DC3,
    DC5,
    DC9,
    DC101,
    BCDError,
    Command,
    Malformed,
    PumpState,
    Unknown,
    bcd_decode,
    bcd_encode,
    decode,
    describe,
    encode,
)
from drivers.dart.framer import Framer
from tests.drivers.examples import DATA_EXAMPLES, Example

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: What reference/dart.md says each example frame carries.
EXPECTED: dict[str, list[app.Decoded]] = {
    "CD1 return status": [CD1(Command.RETURN_STATUS)],
    "CD1 return filling info": [CD1(Command.RETURN_FILLING_INFO)],
    "CD1 STOP": [CD1(Command.STOP)],
    "CD2 allowed nozzle 1": [CD2((1,))],
    "CD1 RESET": [CD1(Command.RESET)],
    "CD3 preset volume 99999999": [CD3(99999999)],
    "CD1 AUTHORIZE": [CD1(Command.AUTHORIZE)],
    "CD5 one nozzle, price 008123": [CD5((8123,))],
    "CD5 three nozzles: 1234, 5678, 2653": [CD5((1234, 5678, 2653))],
    "CD101 counter 2": [CD101(2)],
    "DC1 FILLING; DC3 8123 nozzle 1 out; DC2 428/3477; DC3 again": [
        DC1(PumpState.FILLING), DC3(8123, 1, True), DC2(428, 3477), DC3(8123, 1, True)],
    "DC101 counter 1, totals 426633 / 426633 / 0": [DC101(1, 426633, 426633, 0)],
    "DC3 price 8123 nozzle 1 out": [DC3(8123, 1, True)],
    "DC1 RESET, DC1 AUTHORIZED twice, DC3 nozzle 1 out": [
        DC1(PumpState.RESET), DC1(PumpState.AUTHORIZED), DC1(PumpState.AUTHORIZED),
        DC3(8123, 1, True)],
    "CD2 nozzles 1,2 and CD1 RESET": [CD2((1, 2)), CD1(Command.RESET)],
}


def test_every_data_example_has_an_expectation() -> None:
    assert {e.meaning for e in DATA_EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_example_transactions(example: Example) -> None:
    _, frame = Framer().decode(example.wire)
    assert frame is not None and frame.crc_ok
    messages = decode(frame.data, to_pump=not example.from_pump)
    assert messages == EXPECTED[example.meaning]


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_example_transactions_encode_back(example: Example) -> None:
    messages = EXPECTED[example.meaning]
    assert all(not isinstance(m, Malformed) for m in messages)
    data = encode([m for m in messages if not isinstance(m, Malformed)])
    assert data == bytes.fromhex(example.data)
    assert Framer().data(example.address, example.tx, data) == example.wire


def test_named_fields_of_the_f15_sale() -> None:
    """The values reference/dart.md spells out, checked field by field."""
    data = bytes.fromhex("01010403040081231102080000042800003477030400812311")
    dc1, dc3, dc2, _ = decode(data, to_pump=False)
    assert isinstance(dc1, DC1) and dc1.status is PumpState.FILLING
    assert isinstance(dc3, DC3) and (dc3.price, dc3.nozzle, dc3.nozzle_out) == (8123, 1, True)
    assert isinstance(dc2, DC2) and (dc2.volume, dc2.amount) == (428, 3477)
    (totals,) = decode(bytes.fromhex("651001000042663300004266330000000000"), to_pump=False)
    assert isinstance(totals, DC101)
    assert (totals.counter, totals.volume, totals.amount1, totals.amount2) == \
        (1, 426633, 426633, 0)


def test_same_trans_code_means_different_things_per_direction() -> None:
    data = bytes.fromhex("010105")
    assert decode(data, to_pump=True) == [CD1(Command.RESET)]
    assert decode(data, to_pump=False) == [DC1(PumpState.FILLING_COMPLETED)]


def test_nozzle_in_holster() -> None:
    assert decode(bytes.fromhex("0304 001234 02"), to_pump=False) == [DC3(1234, 2, False)]
    assert decode(bytes.fromhex("0304 001234 00"), to_pump=False) == [DC3(1234, 0, False)]


# -- BCD ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "length", "wire"), [
    (0, 1, "00"), (9, 1, "09"), (99, 1, "99"), (8123, 3, "008123"),
    (99999999, 4, "99999999"), (426633, 5, "0000426633"), (1234567890, 5, "1234567890"),
])
def test_bcd_round_trip(value: int, length: int, wire: str) -> None:
    assert bcd_encode(value, length) == bytes.fromhex(wire)
    assert bcd_decode(bytes.fromhex(wire)) == value


@pytest.mark.parametrize(("value", "length"), [(100, 1), (10**8, 4), (-1, 3), (1, 0)])
def test_bcd_encode_refuses_what_does_not_fit(value: int, length: int) -> None:
    with pytest.raises(BCDError, match="does not fit"):
        bcd_encode(value, length)


@pytest.mark.parametrize("wire", ["0A", "A0", "FF", "00 1F", "12 3B 45"])
def test_bcd_decode_refuses_bad_nibbles(wire: str) -> None:
    with pytest.raises(BCDError, match="not a BCD digit pair"):
        bcd_decode(bytes.fromhex(wire))


def test_bcd_decode_of_nothing_is_zero() -> None:
    assert bcd_decode(b"") == 0


def test_bcd_error_is_a_value_error() -> None:
    assert issubclass(BCDError, ValueError)


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n),
                                                      st.integers(0, 10 ** (2 * n) - 1))))
@FUZZ
def test_bcd_property(case: tuple[int, int]) -> None:
    length, value = case
    wire = bcd_encode(value, length)
    assert len(wire) == length
    assert wire.hex() == f"{value:0{2 * length}d}"
    assert bcd_decode(wire) == value


def test_bad_bcd_in_a_transaction_is_malformed() -> None:
    out = decode(bytes.fromhex("0208 0000042A 00003477 010104"), to_pump=False)
    assert isinstance(out[0], Malformed)
    assert out[0].trans == 0x02
    assert "BCD" in out[0].reason
    assert out[1] == DC1(PumpState.FILLING)  # the next transaction still decodes


def test_encoding_a_value_too_large_raises() -> None:
    with pytest.raises(BCDError):
        encode([CD3(10**8)])
    with pytest.raises(BCDError):
        encode([CD5((1234, 10**6))])


# -- structure: unknown, wrong length, truncated ----------------------------------------
def test_unknown_trans_is_skipped_by_its_lng() -> None:
    data = bytes.fromhex("99 03 AA BB CC 01 01 05")
    assert decode(data, to_pump=True) == [Unknown(0x99, bytes.fromhex("AABBCC")),
                                          CD1(Command.RESET)]
    assert decode(data, to_pump=False) == [Unknown(0x99, bytes.fromhex("AABBCC")),
                                           DC1(PumpState.FILLING_COMPLETED)]


def test_unknown_trans_with_zero_length() -> None:
    assert decode(bytes.fromhex("77 00 01 01 00"), to_pump=True) == [
        Unknown(0x77, b""), CD1(Command.RETURN_STATUS)]


def test_unknown_command_code_is_unknown_not_an_error() -> None:
    assert decode(bytes.fromhex("01 01 07"), to_pump=True) == [Unknown(0x01, b"\x07")]


def test_unknown_status_is_kept_as_an_integer() -> None:
    (msg,) = decode(bytes.fromhex("01 01 03"), to_pump=False)
    assert isinstance(msg, DC1)
    assert msg.status == 3
    assert not isinstance(msg.status, PumpState)


@pytest.mark.parametrize("data", ["01 05 00", "02 08 00 00 04 28", "65 10 01 00", "03 04",
                                  "01 01 00 02 FF 01"])
@pytest.mark.parametrize("to_pump", [True, False])
def test_lng_past_the_end_is_malformed(data: str, to_pump: bool) -> None:
    out = decode(bytes.fromhex(data), to_pump=to_pump)
    assert isinstance(out[-1], Malformed)
    assert "runs past the frame" in out[-1].reason


@pytest.mark.parametrize("to_pump", [True, False])
def test_truncated_header_is_malformed(to_pump: bool) -> None:
    out = decode(bytes.fromhex("01 01 00 65"), to_pump=to_pump)
    assert len(out) == 2
    assert isinstance(out[1], Malformed)
    assert out[1].reason == "truncated transaction header"


@pytest.mark.parametrize(("data", "to_pump"), [
    ("01 02 05 05", True), ("02 00", True), ("02 01 00", True), ("02 01 10", True),
    ("03 03 00 00 01", True), ("05 04 00 12 34 56", True), ("05 00", True),
    ("65 02 01 02", True), ("04 05 00 00 00 00 01", True),
    ("01 02 01 01", False), ("02 07 00 00 00 00 00 00 00", False), ("03 03 00 12 34", False),
    ("09 04 12 34 56 78", False), ("65 0F" + " 00" * 15, False), ("05 00", False),
])
def test_wrong_length_or_content_is_malformed(data: str, to_pump: bool) -> None:
    (msg,) = decode(bytes.fromhex(data), to_pump=to_pump)
    assert isinstance(msg, Malformed)


def test_empty_data_is_no_transactions() -> None:
    assert decode(b"", to_pump=True) == []
    assert decode(b"", to_pump=False) == []


def test_describe_named_fields() -> None:
    assert describe(CD1(Command.AUTHORIZE)) == {"name": "CD1", "command": "AUTHORIZE"}
    assert describe(DC1(PumpState.MAX_REACHED)) == {"name": "DC1", "status": "MAX_REACHED"}
    assert describe(DC1(3)) == {"name": "DC1", "status": 3}
    assert describe(CD2((1, 2))) == {"name": "CD2", "nozzles": [1, 2]}
    assert describe(CD5((1234, 5678))) == {"name": "CD5", "prices": [1234, 5678]}
    assert describe(DC2(428, 3477)) == {"name": "DC2", "volume": 428, "amount": 3477}
    assert describe(DC3(8123, 1, True)) == {"name": "DC3", "price": 8123, "nozzle": 1,
                                             "nozzle_out": True}
    assert describe(DC101(1, 426633, 426633, 0)) == {
        "name": "DC101", "counter": 1, "volume": 426633, "amount1": 426633, "amount2": 0}
    assert describe(Unknown(0x99, b"\xab")) == {"trans": "0x99", "name": "unknown",
                                                 "data": "ab"}
    assert describe(Malformed(0x02, b"\x00", "bad")) == {"trans": "0x02", "error": "bad",
                                                          "data": "00"}


# -- Hypothesis --------------------------------------------------------------------------
@given(st.binary(max_size=300), st.booleans())
@FUZZ
def test_fuzz_decode_random_bytes_never_raises(data: bytes, to_pump: bool) -> None:
    out = decode(data, to_pump=to_pump)
    # Only the last item may be Malformed for a structural reason; everything describes.
    for msg in out:
        describe(msg)
    for msg in out[:-1]:
        assert not (isinstance(msg, Malformed) and ("runs past" in msg.reason
                                                    or "truncated" in msg.reason))


transaction_like = st.lists(
    st.tuples(st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x09, 0x65, 0x99]),
              st.binary(max_size=20)),
    max_size=6,
).map(lambda ts: b"".join(bytes((t, len(d))) + d for t, d in ts))


@given(transaction_like, st.booleans())
@FUZZ
def test_fuzz_well_framed_transactions_never_raise(data: bytes, to_pump: bool) -> None:
    out = decode(data, to_pump=to_pump)
    for msg in out:
        describe(msg)
        assert not isinstance(msg, Malformed) or "runs past" not in msg.reason


bcd4 = st.integers(0, 10**8 - 1)
to_pump_messages: st.SearchStrategy[app.Message] = st.one_of(
    st.builds(CD1, st.sampled_from(list(Command))),
    st.builds(CD2, st.lists(st.integers(1, 15), min_size=1, max_size=15).map(tuple)),
    st.builds(CD3, bcd4),
    st.builds(CD4, bcd4),
    st.builds(CD5, st.lists(st.integers(0, 999999), min_size=1, max_size=15).map(tuple)),
    st.builds(CD101, st.integers(0, 255)),
    st.builds(Unknown, st.sampled_from([0x06, 0x07, 0x64, 0x99]), st.binary(max_size=10)),
)
to_controller_messages: st.SearchStrategy[app.Message] = st.one_of(
    st.builds(DC1, st.sampled_from(list(PumpState))),
    st.builds(DC2, bcd4, bcd4),
    st.builds(DC3, st.integers(0, 999999), st.integers(0, 15), st.booleans()),
    st.builds(DC5, st.integers(0, 255)),
    st.builds(DC9, st.integers(0, 10**10 - 1).map(lambda v: f"{v:010d}")),
    st.builds(DC101, st.integers(0, 255), *(st.integers(0, 10**10 - 1),) * 3),
    st.builds(Unknown, st.sampled_from([0x04, 0x06, 0x64, 0x99]), st.binary(max_size=10)),
)


@given(st.lists(to_pump_messages, max_size=6))
@FUZZ
def test_fuzz_controller_messages_round_trip(messages: list[app.Message]) -> None:
    assert decode(encode(messages), to_pump=True) == messages


@given(st.lists(to_controller_messages, max_size=6))
@FUZZ
def test_fuzz_pump_messages_round_trip(messages: list[app.Message]) -> None:
    assert decode(encode(messages), to_pump=False) == messages
