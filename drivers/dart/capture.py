"""Decoding captured DART traffic for technicians (``forecourt pump decode``).

Input is hex, one frame per line or a whole stream; output is one JSON-ready dict
per frame with the address, frame type, TX#, ``crc_ok`` and named transactions.
The same TRANS code means different things from the controller and from a pump, so
each DATA frame gets a direction: from context when the capture has it (a DATA frame
answering a POLL to its address comes from the pump; otherwise from the controller),
else by which reading makes sense (a tie reads as controller, and says so with
``direction_certain: false``). ``--direction`` forces one.
"""

from __future__ import annotations

import re
import string
from typing import Any

from drivers.dart import application as app
from drivers.dart.framer import Frame, Framer, FrameType

#: What may stand between hex digits: white space, colons, commas, dashes and ``0x``.
_SEPARATORS = re.compile(r"0[xX]|[\s:,-]")


class CaptureError(ValueError):
    pass


def parse_hex(text: str) -> bytes:
    """Bytes from hex text; spaces, colons, commas, dashes and ``0x`` prefixes are ignored.

    Anything else is refused, naming it: dropped silently, a typo would shift the bytes.
    """
    cleaned = _SEPARATORS.sub("", text)
    stray = next((c for c in cleaned if c not in string.hexdigits), None)
    if stray is not None:
        raise CaptureError(f"not a hex digit nor a separator: {stray!r} in "
                           f"{text.strip()[:40]!a}")
    if len(cleaned) % 2:
        raise CaptureError(f"odd number of hex digits in {text.strip()[:40]!r}")
    return bytes.fromhex(cleaned)


def _score(messages: list[app.Decoded]) -> int:
    score = 0
    for m in messages:
        if isinstance(m, app.Malformed):
            score -= 10
        elif isinstance(m, app.Unknown):
            score -= 3
        elif isinstance(m, app.DC3):
            score += 2 if 1 <= m.nozzle <= 15 else 1
        elif isinstance(m, app.DC2 | app.DC101):
            score += 2
        elif isinstance(m, app.DC1) and not isinstance(m.status, app.PumpState):
            score -= 3
        else:
            score += 1
    return score


def _nozzle_byte_ok(data: bytes) -> bool:
    """DC3's NOZIO uses only bits 0-4: anything else means it is not a DC3."""
    i = 0
    while i + 1 < len(data):
        trans, length = data[i], data[i + 1]
        if trans == 0x03 and length == 4 and i + 5 < len(data) + 1 and data[i + 5] & 0xE0:
            return False
        i += 2 + length
    return True


def describe_frame(frame: Frame, *, direction: str = "auto",
                   previous: Frame | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"address": f"0x{frame.address:02X}", "type": frame.type.name,
                           "tx": frame.tx, "crc_ok": frame.crc_ok, "hex": frame.raw.hex(" ")}
    if frame.type != FrameType.DATA:
        return out
    certain = True
    if direction == "auto":
        if previous is not None and previous.type == FrameType.POLL \
                and previous.address == frame.address:
            direction = "pump"
        else:
            as_pump = app.decode(frame.data, to_pump=False)
            as_ctrl = app.decode(frame.data, to_pump=True)
            pump_score = _score(as_pump) if _nozzle_byte_ok(frame.data) else -10
            ctrl_score = _score(as_ctrl)
            certain = pump_score != ctrl_score
            direction = "pump" if pump_score > ctrl_score else "controller"
    messages = app.decode(frame.data, to_pump=direction == "controller")
    out["direction"] = direction
    out["direction_certain"] = certain
    out["transactions"] = [app.describe(m) for m in messages]
    return out


def decode_capture(data: bytes, *, crc: str = "arc", direction: str = "auto"
                   ) -> list[dict[str, Any]]:
    """Every frame in ``data`` described; bytes that are no frame are reported too."""
    framer = Framer(crc)
    out: list[dict[str, Any]] = []
    buf = bytearray(data)
    previous: Frame | None = None
    garbage = bytearray()
    while buf:
        used, frame = framer.decode(buf)
        if used == 0:
            garbage += buf
            break
        if frame is None:
            garbage += buf[:used]
        else:
            if garbage:
                out.append({"type": "GARBAGE", "hex": garbage.hex(" "), "crc_ok": False})
                garbage = bytearray()
            out.append(describe_frame(frame, direction=direction, previous=previous))
            previous = frame
        del buf[:used]
    if garbage:
        out.append({"type": "INCOMPLETE" if garbage and 0x50 <= garbage[0] <= 0x6F
                    else "GARBAGE", "hex": garbage.hex(" "), "crc_ok": False})
    return out
