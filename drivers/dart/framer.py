"""DART link-layer frames: encoding, byte stuffing, CRC, and a resynchronising decoder.

Wire layout::

    control frame:  ADR CTRL FA                        (3 bytes, no CRC)
    data frame:     ADR CTRL DATA... CRC-lo CRC-hi 03 FA

``ADR`` is 0x50-0x6F (one per fuelling point). ``CTRL``'s high nibble is the frame
type, its low nibble the sequence number TX#: POLL 0x20, DATA 0x3n, IAP 0x4n,
NAK 0x5n, EOT 0x7n, ACK 0xCn, ACKPOLL 0xEn. In a data frame, a data or CRC byte equal
to 0xFA is sent as ``10 FA``; nothing else is stuffed, and the 0x10 is not part of
the CRC. The CRC covers ADR through the last data byte.

:meth:`Framer.decode` never raises: it returns how many bytes it consumed and the
frame found, if any. ``(0, None)`` means "read more"; ``(n, None)`` means n bytes
of garbage were skipped. A structurally complete data frame whose CRC does not match
is returned with ``crc_ok=False`` (technicians want to see it; the link layer drops
it) unless a valid frame hides inside it after garbage, which is then preferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.dart.crc import CRC_VARIANTS

ADR_MIN, ADR_MAX = 0x50, 0x6F
SF = 0xFA  # stop flag
DLE = 0x10  # stuffing prefix
ETX = 0x03
#: Longest data frame accepted (unstuffed); real frames stay far below.
MAX_FRAME = 256


class FrameType(IntEnum):
    POLL = 0x2
    DATA = 0x3
    IAP = 0x4
    NAK = 0x5
    EOT = 0x7
    ACK = 0xC
    ACKPOLL = 0xE


CONTROL_TYPES = frozenset({FrameType.POLL, FrameType.NAK, FrameType.EOT, FrameType.ACK,
                           FrameType.ACKPOLL, FrameType.IAP})


@dataclass(frozen=True)
class Frame:
    """One decoded frame. ``data`` is the application data of a DATA frame."""

    address: int
    type: FrameType
    tx: int
    data: bytes = b""
    crc_ok: bool = True
    raw: bytes = b""

    @property
    def ctrl(self) -> int:
        return (self.type << 4) | self.tx

    def __str__(self) -> str:
        return f"{self.type.name}(adr=0x{self.address:02X}, tx={self.tx}, data={self.data.hex()})"


def stuff(data: bytes) -> bytes:
    return data.replace(b"\xfa", b"\x10\xfa")


class Framer:
    """Encodes and decodes DART frames with a chosen CRC variant (``arc`` or ``ccitt``)."""

    def __init__(self, crc: str = "arc") -> None:
        if crc not in CRC_VARIANTS:
            raise ValueError(f"unknown CRC variant {crc!r} (use {', '.join(CRC_VARIANTS)})")
        self.crc_name = crc
        self._crc = CRC_VARIANTS[crc]

    # -- encoding -----------------------------------------------------------------------
    def control(self, address: int, ftype: FrameType, tx: int = 0) -> bytes:
        return bytes((address, (ftype << 4) | (tx & 0x0F), SF))

    def data(self, address: int, tx: int, payload: bytes) -> bytes:
        body = bytes((address, (FrameType.DATA << 4) | (tx & 0x0F))) + payload
        crc = self._crc(body)
        return stuff(body + bytes((crc & 0xFF, crc >> 8))) + bytes((ETX, SF))

    def encode(self, frame: Frame) -> bytes:
        if frame.type == FrameType.DATA:
            return self.data(frame.address, frame.tx, frame.data)
        return self.control(frame.address, frame.type, frame.tx)

    # -- decoding -----------------------------------------------------------------------
    def decode(self, buf: bytes | bytearray) -> tuple[int, Frame | None]:
        """Find the next frame at the start of ``buf``; see the module docstring."""
        n = len(buf)
        start = 0
        while start < n and not ADR_MIN <= buf[start] <= ADR_MAX:
            start += 1
        if start:
            return start, None
        if n < 3:
            return 0, None
        end, body = self._candidate(buf, 0)
        if end is None:
            if len(body) > MAX_FRAME + 4:
                return 1, None  # no stop flag in sight: not a frame start
            return 0, None
        frame = self._parse(body, bytes(buf[:end]))
        if frame is None:
            return 1, None  # structurally wrong: resynchronise from the next byte
        if not frame.crc_ok:
            inner = self._inner_valid_start(buf, end)
            if inner is not None:
                return inner, None
        return end, frame

    @staticmethod
    def _candidate(buf: bytes | bytearray, pos: int) -> tuple[int | None, bytearray]:
        """Unstuffed bytes from ``pos`` up to the next stop flag, and the end offset."""
        body = bytearray()
        i, n = pos, len(buf)
        while i < n:
            byte = buf[i]
            if byte == DLE and i + 1 < n and buf[i + 1] == SF:
                body.append(SF)
                i += 2
                continue
            if byte == DLE and i + 1 == n:
                return None, body  # a trailing 0x10 may start a stuffed 0xFA
            if byte == SF:
                return i + 1, body
            body.append(byte)
            i += 1
            if len(body) > MAX_FRAME + 4:
                return None, body
        return None, body

    def _parse(self, body: bytearray, raw: bytes) -> Frame | None:
        address, ctrl = body[0], body[1] if len(body) > 1 else -1
        if ctrl < 0:
            return None
        try:
            ftype = FrameType(ctrl >> 4)
        except ValueError:
            return None
        tx = ctrl & 0x0F
        if ftype in CONTROL_TYPES:
            return Frame(address, ftype, tx, raw=raw) if len(body) == 2 else None
        # DATA: ADR CTRL data... CRClo CRChi ETX
        if len(body) < 5 or body[-1] != ETX:
            return None
        content, crc_bytes = bytes(body[:-3]), body[-3:-1]
        crc_ok = self._crc(content) == crc_bytes[0] | (crc_bytes[1] << 8)
        return Frame(address, ftype, tx, content[2:], crc_ok, raw)

    def _inner_valid_start(self, buf: bytes | bytearray, end: int) -> int | None:
        """Offset of a CRC-valid frame that starts inside ``buf[1:end]``, if any."""
        for pos in range(1, end - 2):
            if ADR_MIN <= buf[pos] <= ADR_MAX:
                inner_end, body = self._candidate(buf, pos)
                if inner_end == end:
                    frame = self._parse(body, bytes(buf[pos:end]))
                    if frame is not None and frame.crc_ok:
                        return pos
        return None


def decode_all(framer: Framer, data: bytes) -> list[Frame]:
    """Every frame in ``data`` (garbage skipped; an unfinished tail ignored)."""
    frames = []
    buf = bytearray(data)
    while buf:
        used, frame = framer.decode(buf)
        if used == 0:
            break
        del buf[:used]
        if frame is not None:
            frames.append(frame)
    return frames
