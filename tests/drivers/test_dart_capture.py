"""The capture decoder for technicians: drivers/dart/capture.py and ``forecourt pump decode``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from drivers.dart.capture import CaptureError, decode_capture, describe_frame, parse_hex
from drivers.dart.framer import Frame, Framer, FrameType
from tests.drivers.examples import DATA_EXAMPLES, EXAMPLES, Example

POLL_51 = "51 20 FA"
#: DC1 FILLING COMPLETED from a pump reads, byte for byte, like CD1 RESET to a pump.
AMBIGUOUS = Framer().data(0x51, 2, bytes.fromhex("01 01 05")).hex(" ")
LONE_CD1 = {"CD1 return status", "CD1 return filling info", "CD1 STOP", "CD1 RESET",
            "CD1 AUTHORIZE"}


def frame_of(text: str) -> Frame:
    used, frame = Framer().decode(bytes.fromhex(text))
    assert frame is not None and used == len(bytes.fromhex(text))
    return frame


# -- describe_frame / decode_capture on the example frames ------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.meaning)
def test_example_frame_description(example: Example) -> None:
    (out,) = decode_capture(example.wire)
    assert out["address"] == f"0x{example.address:02X}"
    assert out["type"] == example.type.name
    assert out["tx"] == example.tx
    assert out["crc_ok"] is True
    assert bytes.fromhex(out["hex"]) == example.wire
    if example.type != FrameType.DATA:
        assert "transactions" not in out
        return
    names = [t["name"] for t in out["transactions"]]
    if example.from_pump:
        assert out["direction"] == "pump"
        assert out["direction_certain"] is True
        assert all(n.startswith("DC") for n in names)
    else:
        assert out["direction"] == "controller"
        assert all(n.startswith("CD") for n in names)
        # A lone CD1 could be a DC1 as well: the decoder may say it is not sure.
        if example.meaning not in LONE_CD1:
            assert out["direction_certain"] is True
    json.dumps(out)  # JSON-ready


@pytest.mark.parametrize("example", DATA_EXAMPLES, ids=lambda e: e.meaning)
def test_forced_direction_is_certain(example: Example) -> None:
    direction = "pump" if example.from_pump else "controller"
    (out,) = decode_capture(example.wire, direction=direction)
    assert out["direction"] == direction
    assert out["direction_certain"] is True


def test_example_values_in_the_description() -> None:
    by_meaning = {e.meaning: decode_capture(e.wire)[0] for e in DATA_EXAMPLES}
    sale = by_meaning["DC1 FILLING; DC3 8123 nozzle 1 out; DC2 428/3477; DC3 again"]
    assert sale["transactions"] == [
        {"name": "DC1", "status": "FILLING"},
        {"name": "DC3", "price": 8123, "nozzle": 1, "nozzle_out": True},
        {"name": "DC2", "volume": 428, "amount": 3477},
        {"name": "DC3", "price": 8123, "nozzle": 1, "nozzle_out": True},
    ]
    totals = by_meaning["DC101 counter 1, totals 426633 / 426633 / 0"]
    assert totals["transactions"] == [
        {"name": "DC101", "counter": 1, "volume": 426633, "amount1": 426633, "amount2": 0}]
    prices = by_meaning["CD5 three nozzles: 1234, 5678, 2653"]
    assert prices["address"] == "0x52"
    assert prices["transactions"] == [{"name": "CD5", "prices": [1234, 5678, 2653]}]
    both = by_meaning["CD2 nozzles 1,2 and CD1 RESET"]
    assert both["transactions"] == [{"name": "CD2", "nozzles": [1, 2]},
                                    {"name": "CD1", "command": "RESET"}]
    preset = by_meaning["CD3 preset volume 99999999"]
    assert preset["transactions"] == [{"name": "CD3", "volume": 99999999}]


def test_whole_example_stream_in_one_go() -> None:
    stream = b"".join(e.wire for e in EXAMPLES)
    out = decode_capture(stream)
    assert len(out) == len(EXAMPLES)
    assert all(o["crc_ok"] for o in out)
    assert [o["type"] for o in out] == [e.type.name for e in EXAMPLES]


# -- direction from context --------------------------------------------------------------
def test_ambiguous_frame_without_context_reads_as_controller_uncertain() -> None:
    (out,) = decode_capture(bytes.fromhex(AMBIGUOUS))
    assert out["direction"] == "controller"
    assert out["direction_certain"] is False
    assert out["transactions"] == [{"name": "CD1", "command": "RESET"}]


def test_data_right_after_poll_to_same_address_is_the_pump() -> None:
    poll, data = decode_capture(bytes.fromhex(POLL_51 + AMBIGUOUS))
    assert poll["type"] == "POLL"
    assert data["direction"] == "pump"
    assert data["direction_certain"] is True
    assert data["transactions"] == [{"name": "DC1", "status": "FILLING_COMPLETED"}]


def test_data_after_poll_to_another_address_is_not_taken_as_the_answer() -> None:
    _, data = decode_capture(bytes.fromhex("52 20 FA" + AMBIGUOUS))
    assert data["direction"] == "controller"


def test_data_after_eot_is_not_taken_as_a_poll_answer() -> None:
    _, data = decode_capture(bytes.fromhex("51 70 FA" + AMBIGUOUS))
    assert data["direction"] == "controller"


def test_describe_frame_with_previous() -> None:
    frame = frame_of(AMBIGUOUS)
    assert describe_frame(frame, previous=frame_of(POLL_51))["direction"] == "pump"
    assert describe_frame(frame, previous=frame_of("51 C2 FA"))["direction"] == "controller"
    assert describe_frame(frame)["direction"] == "controller"
    assert describe_frame(frame, direction="pump")["transactions"] == [
        {"name": "DC1", "status": "FILLING_COMPLETED"}]


def test_describe_control_frame() -> None:
    assert describe_frame(frame_of("50 C5 FA")) == {
        "address": "0x50", "type": "ACK", "tx": 5, "crc_ok": True, "hex": "50 c5 fa"}


def test_a_poll_exchange_reads_naturally() -> None:
    """Controller sends CD1 RETURN_STATUS, pump ACKs; next poll, the pump answers DC1."""
    framer = Framer()
    stream = (framer.data(0x51, 1, bytes.fromhex("010100")) + bytes.fromhex("51 C1 FA")
              + bytes.fromhex(POLL_51) + framer.data(0x51, 1, bytes.fromhex("010101"))
              + bytes.fromhex("51 C1 FA"))
    out = decode_capture(stream)
    assert [o["type"] for o in out] == ["DATA", "ACK", "POLL", "DATA", "ACK"]
    assert out[0]["transactions"] == [{"name": "CD1", "command": "RETURN_STATUS"}]
    assert out[3]["direction"] == "pump"
    assert out[3]["transactions"] == [{"name": "DC1", "status": "RESET"}]


# -- bad frames and garbage --------------------------------------------------------------
def test_bad_crc_frame_is_shown_with_crc_ok_false() -> None:
    wire = bytearray(EXAMPLES[12].wire)  # DC3 price 8123 nozzle 1 out
    wire[6] = 0x24  # price 8124
    (out,) = decode_capture(bytes(wire))
    assert out["type"] == "DATA"
    assert out["crc_ok"] is False
    assert out["address"] == "0x51"
    assert out["transactions"] == [{"name": "DC3", "price": 8124, "nozzle": 1,
                                    "nozzle_out": True}]


def test_garbage_is_reported_before_the_frame() -> None:
    out = decode_capture(bytes.fromhex("00 11 22") + EXAMPLES[0].wire)
    assert out[0] == {"type": "GARBAGE", "hex": "00 11 22", "crc_ok": False}
    assert out[1]["type"] == "DATA" and out[1]["crc_ok"] is True


def test_garbage_between_frames_and_trailing_incomplete_frame() -> None:
    out = decode_capture(EXAMPLES[0].wire + b"\xff\xee" + EXAMPLES[15].wire
                         + bytes.fromhex("51 35 01"))
    assert [o["type"] for o in out] == ["DATA", "GARBAGE", "POLL", "INCOMPLETE"]
    assert out[1]["hex"] == "ff ee"
    assert out[3] == {"type": "INCOMPLETE", "hex": "51 35 01", "crc_ok": False}


def test_trailing_garbage_is_reported() -> None:
    out = decode_capture(EXAMPLES[15].wire + b"\x01\x02")
    assert out[-1] == {"type": "GARBAGE", "hex": "01 02", "crc_ok": False}


def test_only_garbage() -> None:
    assert decode_capture(b"\x00\x01") == [{"type": "GARBAGE", "hex": "00 01", "crc_ok": False}]
    assert decode_capture(b"") == []


def test_ccitt_capture() -> None:
    wire = Framer("ccitt").data(0x51, 1, bytes.fromhex("010100"))
    assert decode_capture(wire, crc="ccitt")[0]["crc_ok"] is True
    assert decode_capture(wire)[0]["crc_ok"] is False


# -- parse_hex ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["5020FA", "50 20 FA", "50:20:fa", "0x50, 0x20, 0xFA",
                                  "  50 20\tFA\n", "50 20 fa"])
def test_parse_hex_forms(text: str) -> None:
    assert parse_hex(text) == b"\x50\x20\xfa"


def test_parse_hex_odd_digits() -> None:
    with pytest.raises(CaptureError, match="odd number of hex digits"):
        parse_hex("50 2")


# -- the CLI: forecourt pump decode ------------------------------------------------------
def run_decode(args: list[str], stdin: str | None = None) -> tuple[int, list[dict[str, Any]],
                                                                  str]:
    result = CliRunner().invoke(main, ["pump", "decode", *args], input=stdin)
    if result.exit_code != 0:
        return result.exit_code, [], result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, objects, result.output


def assert_frame_json(obj: dict[str, Any], example: Example) -> None:
    assert set(obj) >= {"address", "type", "tx", "crc_ok"}
    assert obj["address"] == f"0x{example.address:02X}"
    assert obj["type"] == example.type.name
    assert obj["tx"] == example.tx
    assert obj["crc_ok"] is True
    if example.type == FrameType.DATA:
        assert isinstance(obj["transactions"], list) and obj["transactions"]


def test_cli_frames_as_arguments() -> None:
    examples = [EXAMPLES[10], EXAMPLES[11], EXAMPLES[15]]
    code, objects, _ = run_decode([examples[0].hex, examples[1].hex.replace(" ", ""),
                                   examples[2].hex.lower()])
    assert code == 0
    assert len(objects) == 3
    for obj, example in zip(objects, examples, strict=True):
        assert_frame_json(obj, example)
    assert objects[0]["transactions"][2] == {"name": "DC2", "volume": 428, "amount": 3477}


def test_cli_frames_on_stdin() -> None:
    text = "\n".join(e.hex if i % 2 else e.hex.replace(" ", "")
                     for i, e in enumerate(EXAMPLES)) + "\n\n"
    code, objects, _ = run_decode([], stdin=text)
    assert code == 0
    assert len(objects) == len(EXAMPLES)
    for obj, example in zip(objects, EXAMPLES, strict=True):
        assert_frame_json(obj, example)


def test_cli_each_output_line_is_one_json_object() -> None:
    result = CliRunner().invoke(main, ["pump", "decode", EXAMPLES[8].hex])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["transactions"] == [{"name": "CD5", "prices": [1234, 5678, 2653]}]


def test_cli_bad_crc_frame_is_shown() -> None:
    code, objects, _ = run_decode(["51 3A 03 04 00 81 24 11 26 14 03 FA"])
    assert code == 0
    assert objects[0]["crc_ok"] is False
    assert objects[0]["type"] == "DATA"


def test_cli_direction_and_crc_options() -> None:
    code, objects, _ = run_decode(["--direction", "pump", AMBIGUOUS])
    assert code == 0
    assert objects[0]["transactions"] == [{"name": "DC1", "status": "FILLING_COMPLETED"}]
    wire = Framer("ccitt").data(0x51, 1, bytes.fromhex("010100")).hex()
    code, objects, _ = run_decode(["--crc", "ccitt", wire])
    assert code == 0 and objects[0]["crc_ok"] is True


@pytest.mark.parametrize(("args", "stdin"), [(["51 3"], None), (["5020FA", "502"], None),
                                             ([], "50 20 FA\n51 35 0\n")])
def test_cli_odd_hex_digits_is_one_sentence_without_traceback(args: list[str],
                                                              stdin: str | None) -> None:
    result = CliRunner().invoke(main, ["pump", "decode", *args], input=stdin)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    assert "odd number of hex digits" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_unquoted_bytes_as_separate_arguments() -> None:
    """``forecourt pump decode 51 35 01 01 00 A2 50 03 FA`` typed in a shell, no quotes.

    "Spaces optional" means the shell splits a frame into one argument per byte. Today
    each argument is decoded as a capture of its own (nine INCOMPLETE/GARBAGE lines);
    the arguments should be one stream. (cli.py: join the arguments before decoding.)
    """
    code, objects, _ = run_decode(EXAMPLES[0].hex.split())
    assert code == 0
    assert len(objects) == 1
    assert_frame_json(objects[0], EXAMPLES[0])


def test_cli_stdin_lines_keep_poll_context() -> None:
    """A capture with one frame per line: the POLL on one line gives the DATA on the next
    its direction, as it does when both are on one line.

    Today cli.py decodes each line separately, so the pump's DC1 FILLING COMPLETED after
    a POLL is shown as the controller's CD1 RESET - a wrong reading for a technician.
    """
    code, objects, _ = run_decode([], stdin=f"{POLL_51}\n{AMBIGUOUS}\n")
    assert code == 0
    assert objects[1]["direction"] == "pump"
    assert objects[1]["transactions"] == [{"name": "DC1", "status": "FILLING_COMPLETED"}]


@pytest.mark.parametrize(("text", "found"), [("zz", "z"), ("50 gg 20 FA", "g"),
                                             ("50 20 F\u00c1", "\u00c1"),
                                             ("50\x1b[31m20", "\x1b")])
def test_parse_hex_refuses_what_is_no_hex_nor_separator(text: str, found: str) -> None:
    # Found verifying issue 10 #10 (text input): every character that was not a hex
    # digit was dropped silently, so 'zz' decoded to nothing (exit 0, no output) and a
    # typo inside a capture shifted the bytes that were decoded.
    with pytest.raises(CaptureError) as err:
        parse_hex(text)
    assert f"not a hex digit nor a separator: {found!r} in " in str(err.value)
    assert str(err.value).isprintable()
