"""DART application layer: CD (controller -> pump) and DC (pump -> controller)
transactions as typed messages, and packed BCD.

The data of a DATA frame is one or more transactions ``TRANS LNG DATA(LNG)``. The
same TRANS code means different things in each direction, so decoding takes the
direction. Decoding never raises: an unknown TRANS becomes :class:`Unknown` (skipped
by its LNG), a transaction that does not fit becomes :class:`Malformed` and ends the
list. Numbers are raw pump integers; decimals are applied by the pump device layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Command(IntEnum):
    """CD1 commands."""

    RETURN_STATUS = 0x00
    RETURN_PARAMETERS = 0x02
    RETURN_IDENTITY = 0x03
    RETURN_FILLING_INFO = 0x04
    RESET = 0x05
    AUTHORIZE = 0x06
    STOP = 0x08
    SWITCH_OFF = 0x0A
    SUSPEND = 0x0D
    RESUME = 0x0E
    RETURN_PRICES = 0x0F


class PumpState(IntEnum):
    """DC1 pump status."""

    NOT_PROGRAMMED = 0
    RESET = 1
    AUTHORIZED = 2
    FILLING = 4
    FILLING_COMPLETED = 5
    MAX_REACHED = 6
    SWITCHED_OFF = 7
    SUSPENDED = 8


def state_name(state: object) -> str:
    """A DC1 status for people: its name, or the raw value if it is not a known state."""
    return state.name if isinstance(state, PumpState) else str(state)


class BCDError(ValueError):
    pass


def bcd_encode(value: int, length: int) -> bytes:
    """``value`` as ``length`` bytes of packed BCD, most significant digit first."""
    if value < 0 or value >= 10 ** (2 * length):
        raise BCDError(f"{value} does not fit in {length} BCD bytes")
    digits = f"{value:0{2 * length}d}"
    return bytes(int(digits[i:i + 2], 16) for i in range(0, 2 * length, 2))


def bcd_decode(data: bytes) -> int:
    value = 0
    for byte in data:
        hi, lo = byte >> 4, byte & 0x0F
        if hi > 9 or lo > 9:
            raise BCDError(f"0x{byte:02X} is not a BCD digit pair")
        value = value * 100 + hi * 10 + lo
    return value


# -- controller -> pump -----------------------------------------------------------------
@dataclass(frozen=True)
class CD1:
    command: Command
    TRANS = 0x01

    def body(self) -> bytes:
        return bytes((self.command,))


@dataclass(frozen=True)
class CD2:
    """Allowed logical nozzles (1-15)."""

    nozzles: tuple[int, ...]
    TRANS = 0x02

    def body(self) -> bytes:
        return bytes(self.nozzles)


@dataclass(frozen=True)
class CD3:
    """Preset volume (raw pump units)."""

    volume: int
    TRANS = 0x03

    def body(self) -> bytes:
        return bcd_encode(self.volume, 4)


@dataclass(frozen=True)
class CD4:
    """Preset amount (raw pump units)."""

    amount: int
    TRANS = 0x04

    def body(self) -> bytes:
        return bcd_encode(self.amount, 4)


@dataclass(frozen=True)
class CD5:
    """Unit prices per logical nozzle, nozzle 1 first (raw pump units)."""

    prices: tuple[int, ...]
    TRANS = 0x05

    def body(self) -> bytes:
        return b"".join(bcd_encode(p, 3) for p in self.prices)


@dataclass(frozen=True)
class CD101:
    """Request the totals of counter ``counter`` (1-9: per logical nozzle)."""

    counter: int
    TRANS = 0x65

    def body(self) -> bytes:
        return bytes((self.counter,))


# -- pump -> controller -----------------------------------------------------------------
@dataclass(frozen=True)
class DC1:
    status: PumpState | int
    TRANS = 0x01

    def body(self) -> bytes:
        return bytes((int(self.status),))


@dataclass(frozen=True)
class DC2:
    """Volume and amount filled so far (raw pump units)."""

    volume: int
    amount: int
    TRANS = 0x02

    def body(self) -> bytes:
        return bcd_encode(self.volume, 4) + bcd_encode(self.amount, 4)


@dataclass(frozen=True)
class DC3:
    """Price of the selected nozzle, the nozzle (0 = none) and whether it is out."""

    price: int
    nozzle: int
    nozzle_out: bool
    TRANS = 0x03

    def body(self) -> bytes:
        return bcd_encode(self.price, 3) + bytes(((self.nozzle & 0x0F)
                                                  | (0x10 if self.nozzle_out else 0),))


@dataclass(frozen=True)
class DC5:
    alarm: int
    TRANS = 0x05

    def body(self) -> bytes:
        return bytes((self.alarm,))


@dataclass(frozen=True)
class DC9:
    identity: str
    TRANS = 0x09

    def body(self) -> bytes:
        return bcd_encode(int(self.identity), 5)


@dataclass(frozen=True)
class DC101:
    """Totalizers of one counter (raw pump units)."""

    counter: int
    volume: int
    amount1: int
    amount2: int
    TRANS = 0x65

    def body(self) -> bytes:
        return (bytes((self.counter,)) + bcd_encode(self.volume, 5) + bcd_encode(self.amount1, 5)
                + bcd_encode(self.amount2, 5))


@dataclass(frozen=True)
class Unknown:
    trans: int
    data: bytes

    def body(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Malformed:
    trans: int
    data: bytes
    reason: str


Message = CD1 | CD2 | CD3 | CD4 | CD5 | CD101 | DC1 | DC2 | DC3 | DC5 | DC9 | DC101 | Unknown
Decoded = Message | Malformed


def encode(messages: list[Message] | tuple[Message, ...]) -> bytes:
    """The application data of one DATA frame carrying ``messages``."""
    out = bytearray()
    for msg in messages:
        body = msg.body()
        trans = msg.trans if isinstance(msg, Unknown) else msg.TRANS
        out += bytes((trans, len(body))) + body
    return bytes(out)


def _to_controller(trans: int, d: bytes) -> Message:
    if trans == 0x01 and len(d) == 1:
        try:
            return DC1(PumpState(d[0]))
        except ValueError:
            return DC1(d[0])
    if trans == 0x02 and len(d) == 8:
        return DC2(bcd_decode(d[:4]), bcd_decode(d[4:]))
    if trans == 0x03 and len(d) == 4:
        return DC3(bcd_decode(d[:3]), d[3] & 0x0F, bool(d[3] & 0x10))
    if trans == 0x05 and len(d) == 1:
        return DC5(d[0])
    if trans == 0x09 and len(d) == 5:
        return DC9(f"{bcd_decode(d):010d}")
    if trans == 0x65 and len(d) == 16:
        return DC101(d[0], bcd_decode(d[1:6]), bcd_decode(d[6:11]), bcd_decode(d[11:16]))
    if trans in (0x01, 0x02, 0x03, 0x05, 0x09, 0x65):
        raise BCDError(f"length {len(d)} is wrong for this transaction")
    return Unknown(trans, d)


def _to_pump(trans: int, d: bytes) -> Message:
    if trans == 0x01 and len(d) == 1:
        try:
            return CD1(Command(d[0]))
        except ValueError:
            return Unknown(trans, d)
    if trans == 0x02 and 1 <= len(d) <= 15 and all(1 <= n <= 15 for n in d):
        return CD2(tuple(d))
    if trans == 0x03 and len(d) == 4:
        return CD3(bcd_decode(d))
    if trans == 0x04 and len(d) == 4:
        return CD4(bcd_decode(d))
    if trans == 0x05 and d and len(d) % 3 == 0:
        return CD5(tuple(bcd_decode(d[i:i + 3]) for i in range(0, len(d), 3)))
    if trans == 0x65 and len(d) == 1:
        return CD101(d[0])
    if trans in (0x01, 0x02, 0x03, 0x04, 0x05, 0x65):
        raise BCDError(f"length or content {d.hex()} is wrong for this transaction")
    return Unknown(trans, d)


def decode(data: bytes, *, to_pump: bool) -> list[Decoded]:
    """The transactions in one DATA frame's data; never raises."""
    out: list[Decoded] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            out.append(Malformed(data[i], data[i:], "truncated transaction header"))
            break
        trans, length = data[i], data[i + 1]
        body = data[i + 2:i + 2 + length]
        if len(body) < length:
            out.append(Malformed(trans, data[i:], f"LNG {length} runs past the frame"))
            break
        try:
            out.append((_to_pump if to_pump else _to_controller)(trans, body))
        except BCDError as exc:
            out.append(Malformed(trans, body, str(exc)))
        i += 2 + length
    return out


def describe(msg: Decoded) -> dict[str, Any]:
    """A JSON-ready description with named fields (used by ``forecourt pump decode``)."""
    if isinstance(msg, Malformed):
        return {"trans": f"0x{msg.trans:02X}", "error": msg.reason, "data": msg.data.hex()}
    if isinstance(msg, Unknown):
        return {"trans": f"0x{msg.trans:02X}", "name": "unknown", "data": msg.data.hex()}
    name = type(msg).__name__
    fields: dict[str, Any] = {"name": name}
    if isinstance(msg, CD1):
        fields["command"] = msg.command.name
    elif isinstance(msg, DC1):
        fields["status"] = msg.status.name if isinstance(msg.status, PumpState) else msg.status
    elif isinstance(msg, CD2):
        fields["nozzles"] = list(msg.nozzles)
    elif isinstance(msg, CD5):
        fields["prices"] = list(msg.prices)
    else:
        fields.update(vars(msg))
    return fields
