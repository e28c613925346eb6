"""Swipe texts shared by the magnetic-stripe tests: card numbers and track builders."""

from __future__ import annotations

VISA = "4111111111111111"
MASTERCARD = "5500005555555559"
AMEX = "371449635398431"
FLEET = "7800001234567893"  # a fleet card number: fails Luhn, as many do
FLEET19 = "7078661234567890123"


def track1(pan: str = VISA, name: str = "DOE/JOHN", expiry: str = "2512",
           service: str = "101", dd: str = "0000000000000000000000000", fc: str = "B") -> str:
    return f"%{fc}{pan}^{name}^{expiry}{service}{dd}?"


def track2(pan: str = VISA, expiry: str = "2512", service: str = "101",
           dd: str = "0000000000000") -> str:
    return f";{pan}={expiry}{service}{dd}?"


T1 = track1()
T2 = track2()
