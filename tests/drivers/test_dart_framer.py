"""The DART link-layer framer (drivers/dart/framer.py) against reference/dart.md.

What the framer promises (its module docstring) and what these tests hold it to:

* ``decode`` never raises; it returns ``(consumed, frame)``: ``(0, None)`` = read more,
  ``(n, None)`` = n bytes of garbage skipped.
* A DATA frame is returned with ``crc_ok=True`` only if its CRC verifies; a structurally
  complete DATA frame with a bad CRC is returned with ``crc_ok=False`` (unless a valid
  frame hides inside it, which is then preferred).
* Control frames (``ADR CTRL FA``) carry no CRC. Corruption can therefore turn bytes into
  a *different* control frame (e.g. the tail ``50 20 FA`` of a damaged DATA frame reads
  as a POLL); no framer can prevent that, and these tests do not claim it. What holds is
  that a single corrupted byte never yields a CRC-valid DATA frame other than the sent
  one.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.dart.crc import CRC_VARIANTS, crc16_arc, crc16_ccitt
from drivers.dart.framer import (
    ADR_MAX,
    ADR_MIN,
    MAX_FRAME,
    Frame,
    Framer,
    FrameType,
    decode_all,
    stuff,
)
from tests.drivers.examples import DATA_EXAMPLES, EXAMPLES, Example

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- an independent reference: bitwise CRCs, unstuffing and frame check -----------------
def ref_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def ref_ccitt(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


REF_CRC = {"arc": ref_arc, "ccitt": ref_ccitt}


def ref_unstuff(wire: bytes) -> bytes:
    """``10 FA`` -> ``FA``; a lone 0x10 stays (the stuffing rule of reference/dart.md)."""
    out = bytearray()
    i = 0
    while i < len(wire):
        if wire[i] == 0x10 and i + 1 < len(wire) and wire[i + 1] == 0xFA:
            out.append(0xFA)
            i += 2
        else:
            out.append(wire[i])
            i += 1
    return bytes(out)


def ref_data_frame(address: int, tx: int, payload: bytes, crc: str) -> bytes:
    """A DATA frame built by hand from the reference's rules, not with the framer."""
    body = bytes((address, 0x30 | tx)) + payload
    value = REF_CRC[crc](body)
    crc_bytes = bytes((value & 0xFF, value >> 8))
    stuffed = b"".join(b"\x10\xfa" if b == 0xFA else bytes((b,)) for b in body + crc_bytes)
    return stuffed + b"\x03\xfa"


def assert_frame_sound(frame: Frame, crc: str) -> None:
    """A frame the framer calls good is good by the independent reference."""
    assert ADR_MIN <= frame.address <= ADR_MAX
    assert frame.raw[-1] == 0xFA
    if frame.type != FrameType.DATA:
        assert frame.raw == bytes((frame.address, frame.ctrl, 0xFA))
        assert frame.data == b""
        return
    # The raw bytes end with the frame (a skipped prefix is reported separately).
    unstuffed = ref_unstuff(frame.raw[:-1])
    assert unstuffed[-1] == 0x03
    content, crc_lo, crc_hi = unstuffed[:-3], unstuffed[-3], unstuffed[-2]
    assert content[0] == frame.address
    assert content[1] == frame.ctrl
    assert content[2:] == frame.data
    verifies = REF_CRC[crc](content) == crc_lo | (crc_hi << 8)
    assert frame.crc_ok == verifies


# -- CRC ---------------------------------------------------------------------------------
def test_crc_check_values() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D
    assert crc16_ccitt(b"123456789") == 0x31C3  # CRC-16/XMODEM: CCITT polynomial, init 0
    assert CRC_VARIANTS["arc"] is crc16_arc
    assert CRC_VARIANTS["ccitt"] is crc16_ccitt


def test_crc_of_empty_input_is_zero() -> None:
    assert crc16_arc(b"") == 0
    assert crc16_ccitt(b"") == 0


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_arc_residue_over_adr_to_crc_hi_is_zero(example: Example) -> None:
    wire = ref_unstuff(example.wire)
    assert crc16_arc(wire[:-2]) == 0  # ADR .. CRC-hi, ETX and SF excluded


@given(st.binary(max_size=64))
@FUZZ
def test_crc_tables_match_bitwise_reference(data: bytes) -> None:
    assert crc16_arc(data) == ref_arc(data)
    assert crc16_ccitt(data) == ref_ccitt(data)


def test_unknown_crc_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown CRC variant"):
        Framer("crc32")


# -- the example frames ------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.meaning)
def test_example_frame_decodes(example: Example) -> None:
    framer = Framer()
    used, frame = framer.decode(example.wire)
    assert used == len(example.wire)
    assert frame is not None
    assert frame.crc_ok is True
    assert frame.address == example.address
    assert frame.type == example.type
    assert frame.tx == example.tx
    assert frame.data == bytes.fromhex(example.data)
    assert frame.raw == example.wire
    assert_frame_sound(frame, "arc")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.meaning)
def test_example_frame_reencodes_byte_identically(example: Example) -> None:
    framer = Framer()
    _, frame = framer.decode(example.wire)
    assert frame is not None
    assert framer.encode(frame) == example.wire
    rebuilt = Frame(example.address, example.type, example.tx, bytes.fromhex(example.data))
    assert framer.encode(rebuilt) == example.wire
    if example.type == FrameType.DATA:
        assert framer.data(example.address, example.tx, bytes.fromhex(example.data)) \
            == example.wire
        assert ref_data_frame(example.address, example.tx, bytes.fromhex(example.data),
                              "arc") == example.wire
    else:
        assert framer.control(example.address, example.type, example.tx) == example.wire


def test_all_examples_as_one_stream() -> None:
    stream = b"".join(e.wire for e in EXAMPLES)
    frames = decode_all(Framer(), stream)
    assert [f.raw for f in frames] == [e.wire for e in EXAMPLES]
    assert all(f.crc_ok for f in frames)


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_example_frames_do_not_match_ccitt(example: Example) -> None:
    """reference/dart.md: no real pump frame matches CCITT; the variant must matter."""
    used, frame = Framer("ccitt").decode(example.wire)
    assert used == len(example.wire)
    assert frame is not None
    assert frame.crc_ok is False


def test_ccitt_frames_round_trip_with_ccitt_framer_only() -> None:
    ccitt, arc = Framer("ccitt"), Framer("arc")
    wire = ccitt.data(0x51, 5, bytes.fromhex("010100"))
    assert wire == ref_data_frame(0x51, 5, bytes.fromhex("010100"), "ccitt")
    assert wire != bytes.fromhex("51 35 01 01 00 A2 50 03 FA")
    _, frame = ccitt.decode(wire)
    assert frame is not None and frame.crc_ok and frame.data == bytes.fromhex("010100")
    _, as_arc = arc.decode(wire)
    assert as_arc is not None and as_arc.crc_ok is False


# -- byte stuffing -----------------------------------------------------------------------
def test_payload_fa_is_stuffed_and_comes_back() -> None:
    framer = Framer()
    payload = bytes.fromhex("05 03 00 FA 23")
    wire = framer.data(0x51, 1, payload)
    assert b"\x00\x10\xfa\x23" in wire
    assert wire.count(0xFA) == 2  # the stuffed data byte and the stop flag
    assert wire == ref_data_frame(0x51, 1, payload, "arc")
    used, frame = framer.decode(wire)
    assert used == len(wire)
    assert frame is not None and frame.crc_ok and frame.data == payload


@pytest.mark.parametrize("position", [0, 1])
def test_crc_byte_fa_is_stuffed_and_comes_back(position: int) -> None:
    """Find a payload whose CRC has 0xFA in the low (0) or high (1) byte."""
    framer = Framer()
    for n in range(70000):
        payload = b"\x01\x01" + n.to_bytes(3, "big")
        crc = crc16_arc(bytes((0x52, 0x33)) + payload)
        if crc.to_bytes(2, "little")[position] == 0xFA:
            break
    else:  # pragma: no cover - the search space covers every CRC value
        pytest.fail("no payload with 0xFA in the CRC found")
    wire = framer.data(0x52, 3, payload)
    crc_wire = wire[2 + len(payload):-2]
    assert len(crc_wire) == 3  # one CRC byte stuffed
    assert crc_wire == stuff(crc.to_bytes(2, "little"))
    used, frame = framer.decode(wire)
    assert used == len(wire)
    assert frame is not None and frame.crc_ok and frame.data == payload


def test_lone_dle_is_ordinary_data() -> None:
    framer = Framer()
    payload = bytes.fromhex("10 01 10")
    wire = framer.data(0x50, 2, payload)
    assert wire[2:5] == payload  # not stuffed, not escaped
    used, frame = framer.decode(wire)
    assert used == len(wire)
    assert frame is not None and frame.crc_ok and frame.data == payload


def test_dle_before_stuffed_fa() -> None:
    """Data ``10 FA`` goes out as ``10 10 FA``: a literal 0x10, then a stuffed 0xFA."""
    framer = Framer()
    payload = bytes.fromhex("10 FA")
    wire = framer.data(0x50, 2, payload)
    assert wire[2:5] == bytes.fromhex("10 10 FA")
    _, frame = framer.decode(wire)
    assert frame is not None and frame.crc_ok and frame.data == payload


def test_dle_is_not_part_of_the_crc() -> None:
    framer = Framer()
    payload = bytes.fromhex("FA FA")
    wire = framer.data(0x50, 1, payload)
    crc = crc16_arc(bytes((0x50, 0x31)) + payload)
    assert ref_unstuff(wire)[-4:-2] == crc.to_bytes(2, "little")


def test_stuff_only_touches_fa() -> None:
    assert stuff(bytes(range(256))) == bytes(range(0xFA)) + b"\x10\xfa" + bytes(range(0xFB, 256))


# -- corruption and resynchronisation ---------------------------------------------------
@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_one_changed_byte_never_yields_a_valid_data_frame(example: Example) -> None:
    """Every position, every other value: no CRC-valid DATA frame comes out.

    The frame may come out with ``crc_ok=False``, not at all, or - control frames carry
    no CRC - as a control frame made of the damaged bytes (``.. 50 20 FA`` is a POLL).
    """
    framer = Framer()
    wire = example.wire
    for i in range(len(wire)):
        for value in range(256):
            if value == wire[i]:
                continue
            damaged = wire[:i] + bytes((value,)) + wire[i + 1:]
            for frame in decode_all(framer, damaged):
                assert_frame_sound(frame, "arc")
                if frame.type == FrameType.DATA:
                    assert frame.crc_ok is False, (i, value, frame)


def test_damaged_tail_can_read_as_a_control_frame() -> None:
    """The documented limit: control frames have no CRC to protect them.

    ``51 35 01 01 00 A2 50 03 FA`` with its ETX hit by noise (03 -> 20) ends in
    ``50 20 FA``: the damaged DATA frame is dropped and a POLL to 0x50 is read.
    """
    damaged = bytes.fromhex("51 35 01 01 00 A2 50 20 FA")
    frames = decode_all(Framer(), damaged)
    assert [(f.type, f.address, f.crc_ok) for f in frames] == [(FrameType.POLL, 0x50, True)]


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_flipped_data_byte_is_reported_with_bad_crc(example: Example) -> None:
    """A flip that leaves the structure intact gives the frame back with crc_ok False."""
    framer = Framer()
    wire = bytearray(example.wire)
    wire[3] ^= 0x01  # inside the application data, never 0xFA/0x10/ETX here
    used, frame = framer.decode(bytes(wire))
    assert used == len(wire)
    assert frame is not None
    assert frame.crc_ok is False
    assert frame.type == FrameType.DATA
    assert frame.address == example.address


@pytest.mark.parametrize("garbage", [b"\x00", b"\xff\x01\x02", b"\x03\xfa", b"\x10\xfa\x10",
                                     bytes(range(0x20)), b"\x70\xfa\xfa\xfa"])
def test_garbage_before_a_frame_is_skipped(garbage: bytes) -> None:
    framer = Framer()
    wire = EXAMPLES[0].wire
    buf = garbage + wire
    used, frame = framer.decode(buf)
    assert frame is None
    assert used == len(garbage)  # every non-address byte skipped at once
    used2, frame = framer.decode(buf[used:])
    assert used2 == len(wire)
    assert frame is not None and frame.raw == wire and frame.crc_ok


@pytest.mark.parametrize("garbage", [b"\x50", b"\x51\x99", b"\x55\x00\x01", b"\x6f\x31\x10"])
def test_garbage_starting_with_an_address_byte_is_skipped(garbage: bytes) -> None:
    """Garbage that looks like a frame start: the valid frame behind it is still found."""
    wire = EXAMPLES[10].wire
    frames = decode_all(Framer(), garbage + wire)
    assert [f.raw for f in frames if f.crc_ok] == [wire]
    # decode prefers the valid frame hidden after the garbage over a bad-CRC reading
    assert all(f.crc_ok for f in frames)


def test_valid_frame_after_truncated_frame_is_preferred() -> None:
    """A frame cut short (no SF) followed by a good one: the good one wins."""
    cut = EXAMPLES[0].wire[:5]
    good = EXAMPLES[4].wire
    framer = Framer()
    used, frame = framer.decode(cut + good)
    assert frame is None
    assert 0 < used <= len(cut)
    frames = decode_all(framer, cut + good)
    assert [f.raw for f in frames] == [good]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.meaning)
def test_incomplete_frame_asks_for_more(example: Example) -> None:
    framer = Framer()
    for cut in range(1, len(example.wire)):
        assert framer.decode(example.wire[:cut]) == (0, None)


def test_empty_buffer_asks_for_more() -> None:
    assert Framer().decode(b"") == (0, None)
    assert Framer().decode(bytearray()) == (0, None)


def test_trailing_dle_waits_for_the_next_byte() -> None:
    """``... 10`` at the end may be the start of a stuffed 0xFA: read more."""
    framer = Framer()
    wire = framer.data(0x51, 1, b"\xfa")
    cut = wire.index(b"\x10\xfa") + 1
    assert framer.decode(wire[:cut]) == (0, None)


def test_runaway_frame_start_is_given_up() -> None:
    """An address byte with no stop flag in sight is skipped, not waited on forever."""
    framer = Framer()
    buf = b"\x51" + b"\x00" * (MAX_FRAME + 10)
    assert framer.decode(buf) == (1, None)


def test_oversized_data_frame_is_not_a_frame() -> None:
    framer = Framer()
    wire = framer.data(0x51, 1, b"\x00" * (MAX_FRAME + 10))
    frames = decode_all(framer, wire)
    assert all(f.type != FrameType.DATA or not f.crc_ok for f in frames)


def test_control_frame_with_extra_byte_is_not_a_frame() -> None:
    assert decode_all(Framer(), bytes.fromhex("50 20 00 FA")) == []


def test_data_frame_without_etx_is_not_a_frame() -> None:
    wire = bytearray(EXAMPLES[0].wire)
    wire[-2] = 0x04
    assert [f for f in decode_all(Framer(), bytes(wire)) if f.type == FrameType.DATA] == []


def test_unknown_frame_type_is_not_a_frame() -> None:
    assert decode_all(Framer(), bytes.fromhex("50 90 FA 50 00 FA 50 F0 FA")) == []


def test_decode_accepts_bytearray_and_does_not_modify_it() -> None:
    buf = bytearray(b"\x00" + EXAMPLES[0].wire)
    copy = bytes(buf)
    Framer().decode(buf)
    assert bytes(buf) == copy


# -- Hypothesis: random byte streams -----------------------------------------------------
INTERESTING = [0x50, 0x51, 0x5F, 0x6F, 0x70, 0x20, 0x30, 0x31, 0x3F, 0x55, 0xC5, 0xE1,
               0x10, 0xFA, 0x03, 0x00, 0x01, 0xFF, 0x4F]
byte_streams = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(INTERESTING) | st.integers(0, 255), max_size=400).map(bytes),
)


def decode_loop(framer: Framer, data: bytes) -> tuple[list[Frame], bytes]:
    """The link layer's loop: frames found and the unfinished tail left waiting."""
    buf = bytearray(data)
    frames: list[Frame] = []
    while buf:
        before = len(buf)
        used, frame = framer.decode(buf)
        assert 0 <= used <= before
        if used == 0:
            assert frame is None
            break
        if frame is not None:
            assert frame.raw == bytes(buf[used - len(frame.raw):used])
            frames.append(frame)
        del buf[:used]
    return frames, bytes(buf)


@given(byte_streams, st.sampled_from(["arc", "ccitt"]))
@FUZZ
def test_fuzz_random_bytes(data: bytes, crc: str) -> None:
    framer = Framer(crc)
    frames, tail = decode_loop(framer, data)
    for frame in frames:
        assert_frame_sound(frame, crc)
    # "read more" is only ever said for something that may still become a frame, and
    # a stop flag (after a non-DLE byte) always lets the decoder move on.
    if tail:
        assert ADR_MIN <= tail[0] <= ADR_MAX
        used, _ = framer.decode(tail + b"\x00\xfa")
        assert used > 0


@given(byte_streams, st.lists(st.integers(1, 40), min_size=1, max_size=50))
@FUZZ
def test_fuzz_chunked_reads_find_the_same_frames(data: bytes, cuts: list[int]) -> None:
    """Bytes arriving in pieces (as from a serial port) decode as the whole stream does."""
    framer = Framer()
    whole, whole_tail = decode_loop(framer, data)
    buf = bytearray()
    frames: list[Frame] = []
    pos = 0
    cut_iter = iter(cuts * (len(data) // max(1, sum(cuts)) + 2))
    while pos < len(data):
        step = next(cut_iter)
        buf += data[pos:pos + step]
        pos += step
        while buf:
            used, frame = framer.decode(buf)
            if used == 0:
                break
            if frame is not None:
                frames.append(frame)
            del buf[:used]
    assert [(f.raw, f.crc_ok) for f in frames] == [(f.raw, f.crc_ok) for f in whole]
    assert bytes(buf) == whole_tail


# -- Hypothesis: valid frames, then damage -----------------------------------------------
def payloads() -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from([0xFA, 0x10, 0x03, 0x50, 0x20]) | st.integers(0, 255),
                    min_size=0, max_size=40).map(bytes)


control_frames = st.builds(
    Frame,
    st.integers(ADR_MIN, ADR_MAX),
    st.sampled_from([FrameType.POLL, FrameType.EOT, FrameType.ACK, FrameType.NAK,
                     FrameType.ACKPOLL]),
    st.integers(0, 15),
)
data_frames = st.builds(lambda a, tx, d: Frame(a, FrameType.DATA, tx, d),
                        st.integers(ADR_MIN, ADR_MAX), st.integers(0, 15), payloads())
frame_lists = st.lists(data_frames | control_frames, min_size=1, max_size=8)


@st.composite
def mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    buf = bytearray(wire)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if kind == "insert" or not buf:
            pos = draw(st.integers(0, len(buf)))
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=5))
            continue
        pos = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del buf[pos:pos + draw(st.integers(1, 4))]
        else:
            buf[pos] = draw(st.sampled_from([0xFA, 0x10, 0x03, 0x50, 0x20]))
    return bytes(buf)


@given(frame_lists, st.sampled_from(["arc", "ccitt"]))
@FUZZ
def test_fuzz_valid_frames_round_trip(frames: list[Frame], crc: str) -> None:
    framer = Framer(crc)
    wires = [framer.encode(f) for f in frames]
    for frame, wire in zip(frames, wires, strict=True):
        if frame.type == FrameType.DATA:
            assert wire == ref_data_frame(frame.address, frame.tx, frame.data, crc)
    got = decode_all(framer, b"".join(wires))
    assert [(f.address, f.type, f.tx, f.data, f.crc_ok) for f in got] == \
        [(f.address, f.type, f.tx, f.data, True) for f in frames]
    assert [f.raw for f in got] == wires


@given(st.data(), frame_lists, st.sampled_from(["arc", "ccitt"]),
       st.lists(st.binary(max_size=6), min_size=9, max_size=9))
@FUZZ
def test_fuzz_mutated_frames(data: st.DataObject, frames: list[Frame], crc: str,
                             between: list[bytes]) -> None:
    framer = Framer(crc)
    wires = [framer.encode(f) for f in frames]
    stream = bytearray()
    for wire, junk in zip(wires, between, strict=False):
        stream += junk + wire
    damaged = data.draw(mutations(bytes(stream)))
    originals = {(f.address, f.tx, f.data) for f in frames if f.type == FrameType.DATA}
    got, _ = decode_loop(framer, damaged)
    for frame in got:
        assert_frame_sound(frame, crc)  # crc_ok True <=> the CRC independently verifies
        if frame.type == FrameType.DATA and frame.crc_ok:
            key = (frame.address, frame.tx, frame.data)
            # either a frame that was sent, or bytes that really carry a matching CRC
            content = bytes((frame.address, frame.ctrl)) + frame.data
            assert key in originals or ref_unstuff(frame.raw)[-4:-2] == \
                REF_CRC[crc](content).to_bytes(2, "little")


def test_arc_cannot_see_a_zero_inserted_before_etx() -> None:
    """A limit of CRC-16/ARC (init 0, no final XOR), stated so nobody relies on more.

    The residue over ADR..CRC-hi is 0, so CRC(ADR..data CRC-lo) = CRC-hi: a 0x00 that
    sneaks in before ETX makes a CRC-valid frame with one more data byte (the old CRC-lo).
    The application layer then meets a truncated transaction and reports it Malformed.
    """
    damaged = bytes.fromhex("51 35 01 01 00 A2 50 00 03 FA")
    frames = decode_all(Framer(), damaged)
    assert len(frames) == 1
    assert frames[0].crc_ok is True
    assert frames[0].data == bytes.fromhex("01 01 00 A2")
