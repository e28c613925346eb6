"""One normalisation of every card identifier kind (issue 10 #3).

A card is presented by its card id, its PAN (track 2, the chip, a typed number), its
RFID tag's UID or a digital card's token id; the same identifiers are written in the
card store, the stop list, deltas from the office and operators' commands. Each
kind has one written form, applied wherever an identifier enters (card-store import,
delta apply, the office's card master) and wherever one is looked up (every reader
kind, ``--card``, the stop list, ``cards show``, ``office cards block``):

- **PAN**: digits only. Groups separated by single spaces or dashes
  (``7800 0012 3456 7890``, ``7800-0012-3456-7890``) are the same PAN; 8-19 digits.
- **RFID UID**: hexadecimal, upper case, no separators. ``04a1b2c3``,
  ``04:A1:B2:C3`` and ``04 a1 b2 c3`` are the same UID; 8-20 hex digits.
- **card id, token id**: exactly as issued (case and every character count).

The stop list holds identifiers of any kind without saying which, so its entries and
every identifier checked against it take the :func:`canonical` form: a PAN's digits
if the text reads as a PAN, else a UID's form if it reads as one, else as issued. A
card id that reads as hex (``deadbeef01``) therefore also matches its upper-case
spelling on the stop list: that errs on the side of refusing.
"""

from __future__ import annotations

import re

PAN_DIGITS = (8, 19)
UID_HEX_DIGITS = (8, 20)
_PAN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_UID_PLAIN = re.compile(r"[0-9A-Fa-f]+")
_UID_GROUPED = re.compile(r"[0-9A-Fa-f]{2}(?:([:\- ])[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2})*")


def pan(text: str) -> str | None:
    """The PAN ``text`` spells (digits only), or None if it does not read as a PAN."""
    text = text.strip()
    if not _PAN.fullmatch(text):
        return None
    digits = text.replace(" ", "").replace("-", "")
    return digits if PAN_DIGITS[0] <= len(digits) <= PAN_DIGITS[1] else None


def uid(text: str) -> str | None:
    """The RFID UID ``text`` spells (upper-case hex), or None if it does not read as one."""
    text = text.strip()
    if _UID_PLAIN.fullmatch(text):
        digits = text
    elif _UID_GROUPED.fullmatch(text):
        digits = re.sub(r"[:\- ]", "", text)
    else:
        return None
    return digits.upper() if UID_HEX_DIGITS[0] <= len(digits) <= UID_HEX_DIGITS[1] else None


def canonical(text: str) -> str:
    """The form of an identifier of unknown kind (a stop-list entry, a lookup)."""
    return pan(text) or uid(text) or text


def lookups(identifier: str) -> list[tuple[str, str]]:
    """``(column, value)`` pairs of the ``cards`` table to look ``identifier`` up by."""
    pairs = [("card_id", identifier)]
    as_pan, as_uid = pan(identifier), uid(identifier)
    if as_pan is not None:
        pairs.append(("pan", as_pan))
    if as_uid is not None:
        pairs.append(("rfid_uid", as_uid))
    pairs.append(("token_id", identifier))
    return pairs
