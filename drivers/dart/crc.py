"""CRC-16 variants used on DART lines.

CRC-16/ARC (reflected polynomial 0xA001, init 0, no final XOR) matches every real
pump frame seen; CRC-16/CCITT (0x1021, init 0) is what several open-source drivers
use. The variant is a per-line setting (``[[pump_lines]] crc``), ARC by default.
Both are sent low byte first.
"""

from __future__ import annotations

from collections.abc import Callable


def _arc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _ccitt_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_ARC = _arc_table()
_CCITT = _ccitt_table()


def crc16_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _ARC[(crc ^ byte) & 0xFF]
    return crc


def crc16_ccitt(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CCITT[((crc >> 8) ^ byte) & 0xFF]
    return crc


CRC_VARIANTS: dict[str, Callable[[bytes], int]] = {"arc": crc16_arc, "ccitt": crc16_ccitt}
