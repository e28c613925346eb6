"""The example frames of reference/dart.md ("Example frames"), shared by the driver tests.

Each entry: the frame as captured, its address, frame type, TX#, application data and
the reading the reference gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.dart.framer import FrameType


@dataclass(frozen=True)
class Example:
    hex: str
    address: int
    type: FrameType
    tx: int
    data: str  # application data, hex
    meaning: str
    from_pump: bool = False

    @property
    def wire(self) -> bytes:
        return bytes.fromhex(self.hex)


EXAMPLES: tuple[Example, ...] = (
    Example("51 35 01 01 00 A2 50 03 FA", 0x51, FrameType.DATA, 5, "010100",
            "CD1 return status"),
    Example("51 3E 01 01 04 A1 B7 03 FA", 0x51, FrameType.DATA, 14, "010104",
            "CD1 return filling info"),
    Example("51 3E 01 01 08 A1 B2 03 FA", 0x51, FrameType.DATA, 14, "010108", "CD1 STOP"),
    Example("51 32 02 01 01 92 E4 03 FA", 0x51, FrameType.DATA, 2, "020101",
            "CD2 allowed nozzle 1"),
    Example("51 33 01 01 05 62 DB 03 FA", 0x51, FrameType.DATA, 3, "010105", "CD1 RESET"),
    Example("51 35 03 04 99 99 99 99 04 89 03 FA", 0x51, FrameType.DATA, 5, "030499999999",
            "CD3 preset volume 99999999"),
    Example("51 36 01 01 06 22 16 03 FA", 0x51, FrameType.DATA, 6, "010106", "CD1 AUTHORIZE"),
    Example("51 3F 05 03 00 81 23 A8 07 03 FA", 0x51, FrameType.DATA, 15, "0503008123",
            "CD5 one nozzle, price 008123"),
    Example("52 3C 05 09 00 12 34 00 56 78 00 26 53 A9 46 03 FA", 0x52, FrameType.DATA, 12,
            "0509001234005678002653", "CD5 three nozzles: 1234, 5678, 2653"),
    Example("51 33 65 01 02 62 C6 03 FA", 0x51, FrameType.DATA, 3, "650102", "CD101 counter 2"),
    Example("51 31 01 01 04 03 04 00 81 23 11 02 08 00 00 04 28 00 00 34 77 03 04 00 81 23 11"
            " 83 55 03 FA", 0x51, FrameType.DATA, 1,
            "01010403040081231102080000042800003477030400812311",
            "DC1 FILLING; DC3 8123 nozzle 1 out; DC2 428/3477; DC3 again", from_pump=True),
    Example("51 39 65 10 01 00 00 42 66 33 00 00 42 66 33 00 00 00 00 00 A4 F0 03 FA", 0x51,
            FrameType.DATA, 9, "651001000042663300004266330000000000",
            "DC101 counter 1, totals 426633 / 426633 / 0", from_pump=True),
    Example("51 3A 03 04 00 81 23 11 26 14 03 FA", 0x51, FrameType.DATA, 10, "030400812311",
            "DC3 price 8123 nozzle 1 out", from_pump=True),
    Example("51 3D 01 01 01 01 01 02 01 01 02 03 04 00 81 23 11 B1 CE 03 FA", 0x51,
            FrameType.DATA, 13, "010101010102010102030400812311",
            "DC1 RESET, DC1 AUTHORIZED twice, DC3 nozzle 1 out", from_pump=True),
    Example("50 34 02 02 01 02 01 01 05 70 ED 03 FA", 0x50, FrameType.DATA, 4,
            "02020102010105", "CD2 nozzles 1,2 and CD1 RESET"),
    Example("50 20 FA", 0x50, FrameType.POLL, 0, "", "POLL"),
    Example("50 70 FA", 0x50, FrameType.EOT, 0, "", "EOT"),
    Example("50 C5 FA", 0x50, FrameType.ACK, 5, "", "ACK TX#5"),
    Example("50 55 FA", 0x50, FrameType.NAK, 5, "", "NAK TX#5"),
)

DATA_EXAMPLES = tuple(e for e in EXAMPLES if e.type == FrameType.DATA)
