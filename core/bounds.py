"""The documented ranges of every number and text that enters forecourt from outside.

Card-store snapshots and deltas, the configuration and the operator's commands all
check their values against these bounds where the data enters (issue 10 #4, #8,
#10), so nothing out of range is ever stored: no integer that overflows SQLite's
64-bit INTEGER (or a product of two that does), no PIN hash that stalls the one
writer, no text that SQLite cannot encode or a terminal would act on.

The money maxima are chosen so that every product the station computes stays far
below 2**63: ``MAX_VOLUME_ML * MAX_UNIT_PRICE = 10**17`` and a sum of 90 000 amounts of
``MAX_AMOUNT`` is below 2**63. Every bound is also below 2**53, so every value is
exact in any JSON implementation (JavaScript's doubles included).

The helpers return the *problem* as the end of a sentence (``"must be at most 10"``)
or ``None``; each caller raises its own error type with the field's name in front.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: Largest integer exact in every JSON implementation (2**53 - 1).
MAX_SAFE_INT = 2**53 - 1
#: Card-store versions and sale sequence numbers.
MAX_VERSION = MAX_SAFE_INT
MAX_SEQ = MAX_SAFE_INT
#: SQLite's largest INTEGER.
MAX_INT64 = 2**63 - 1
#: A usage update's revision: the office's clock in nanoseconds, stored as SQLite's
#: 64-bit INTEGER (the one bound above 2**53).
MAX_USAGE_REV = MAX_INT64
#: An odometer reading in a sale's journal line, km.
MAX_ODOMETER_KM = 10_000_000
#: Volumes in ml: 10 million litres (a limit, a litre wallet, a period's usage).
MAX_VOLUME_ML = 10**10
#: Money in minor units: 10**12 currency units (a limit, a wallet, a period's usage).
MAX_AMOUNT = 10**14
#: A unit price in minor units per litre: 100 000 currency units per litre.
MAX_UNIT_PRICE = 10**7
#: Counts: visits allowed or used in one period.
MAX_COUNT = 10**6
#: PBKDF2-HMAC-SHA256 of a PIN: rounds, salt and hash length (issue 10 #4). One
#: check of the top bound takes about 0.2 s on the station's class of CPU, under the
#: single writer; fewer than the bottom bound makes a stolen card store's PINs cheap.
PIN_ALGORITHMS = ("pbkdf2-sha256",)
PIN_MIN_ITERATIONS = 10_000
PIN_MAX_ITERATIONS = 1_000_000
PIN_SALT_BYTES = (8, 64)
PIN_HASH_BYTES = 32
#: Any one text value (an id, a name, a plate), in characters.
MAX_TEXT = 200
#: Longest digital-card (QR) token text, characters (cloud_sync.tokens).
MAX_TOKEN_LEN = 512
#: A SHA-256 hash as forecourt writes it, and a UTC time (journal, messages, bundles).
HEX64 = re.compile(r"[0-9a-f]{64}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)  # no other digits

#: Bidirectional embeddings, overrides and isolates: they reorder what a terminal or a
#: report shows (CVE-2021-42574), so text that shows an id must not carry them.
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
#: Control characters, unpaired surrogates, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def int_problem(value: Any, minimum: int, maximum: int, unit: str = "") -> str | None:
    """Why ``value`` is not an integer in ``minimum..maximum`` (booleans are not), or None."""
    suffix = f" ({unit})" if unit else ""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer{suffix}, got {_show(value)}"
    if value < minimum:
        return f"must be at least {minimum}{suffix}, got {_show(value)}"
    if value > maximum:
        return f"must be at most {maximum}{suffix}, got {_show(value)}"
    return None


def text_problem(value: str, max_chars: int = MAX_TEXT) -> str | None:
    """Why ``value`` cannot be stored and shown as one line of text, or None.

    Refused: C0 and C1 control characters (NUL, newline, escape, DEL...), unpaired
    surrogates (SQLite cannot encode them), line and paragraph separators and
    bidirectional overrides; and more than ``max_chars`` characters.
    """
    if len(value) > max_chars:
        return f"must be at most {max_chars} characters, got {len(value)}"
    for position, char in enumerate(value, 1):
        if char in _BIDI or unicodedata.category(char) in _BAD_CATEGORIES:
            return (f"must not contain control characters, line breaks, bidirectional "
                    f"overrides or unpaired surrogates; found U+{ord(char):04X} at "
                    f"character {position}")
    return None


def printable_problem(value: str, max_chars: int = MAX_TEXT) -> str | None:
    """:func:`text_problem`, and also no character Python does not call printable
    (spaces other than U+0020, invisible format characters, unassigned code points).

    For the identifiers that travel in a sale's journal line (card id, vehicle id):
    the head office accepts exactly this text there (``cloud_sync.wire.is_text``), so a
    station must not store an identifier whose sales the office would quarantine.
    """
    problem = text_problem(value, max_chars)
    if problem is not None:
        return problem
    for position, char in enumerate(value, 1):
        if not char.isprintable():
            return (f"must be printable: no spaces other than U+0020 and no invisible "
                    f"characters; found U+{ord(char):04X} at character {position}")
    return None


def is_printable_text(value: object, max_chars: int = MAX_TEXT) -> bool:
    """A non-empty string with no :func:`printable_problem`."""
    return isinstance(value, str) and bool(value) and printable_problem(value,
                                                                        max_chars) is None


def safe_key(key: str) -> str:
    """A field name fit for an error sentence: itself if clean, else its escaped repr."""
    return key if text_problem(key, 64) is None else repr(key)[1:-1]


def escaped(value: str, max_chars: int = 64) -> str:
    """``value`` fit to record and show: itself if clean, else with Python's escapes.

    For text that must be kept as evidence although it is unfit (a card reader's raw
    garbage): ``"\\x1b[2Jhello"`` instead of a terminal-clearing escape sequence.
    """
    text = value if text_problem(value, max_chars) is None else repr(value)[1:-1]
    return text[:max_chars]


def _show(value: Any) -> str:
    """A short, escaped rendering of a bad value for an error sentence."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
