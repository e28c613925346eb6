"""ISO/IEC 7813 magnetic-stripe track parsing: pure functions, no I/O.

A reader (serial or keyboard wedge) delivers a swipe as text: track 1 and/or track 2,
each framed by a start sentinel and the end sentinel ``?``, sometimes followed by the
track's LRC character, sometimes wrapped in a reader prefix/suffix (``\\x02`` …
``\\r\\n``) and with or without separators between the tracks::

    %B4111111111111111^DOE/JOHN^2512101000000000000000000000000?;4111111111111111=25121010000000000000?

* Track 1: ``%`` format code (``B`` for financial cards; other letters are proprietary
  layouts) PAN ``^`` [country code] NAME (2–26 characters, ``SURNAME/GIVEN``) ``^``
  YYMM expiry, 3-digit service code, discretionary data ``?`` [LRC]; ≤ 79 characters.
* Track 2: ``;`` PAN ``=`` [country code] YYMM, service code, discretionary data ``?``
  [LRC]; digits only, ≤ 40 characters.

ISO/IEC 7813 details that public parsers (and real cards) rely on:

* A PAN has 12 to 19 digits (ISO/IEC 7812). On track 1 an American Express PAN may
  be grouped as printed, 4-6-5 digits with spaces (``%B3714 496353 98431^…``); it
  reads as its digits. No other spacing is accepted.
* A PAN that starts with ``59`` (an issuer outside the ISO registration) carries a
  3-digit country code (ISO 3166) right after the separator that ends the PAN: first in
  track 2's tail, first in track 1's name field.
* A separator (``^`` on track 1, ``=`` on track 2) standing where the expiry or the
  service code belongs means that field is absent: ``;PAN==101…?`` has no expiry,
  ``;PAN=2512=…?`` no service code. Absent fields are ``None``. The parser does not
  judge expiry: the card store's ``expires`` decides whether a card is valid, whatever
  (or whether) the track says.
* Track 3 (``+`` … ``?``) is recognised so a three-track reader's output parses, but not
  decoded; ``%E?`` / ``;E?`` / ``+E?`` (or an empty track) is a reader's "could not read
  this track" marker and counts as an absent track.

:func:`parse_swipe` returns a :class:`Swipe` or raises :class:`SwipeError` whose text
is one sentence a technician can act on (partial swipe, missing separator, bad
expiry…). It never raises anything else, whatever the input: reader output is
untrusted. Error messages show at most the last four digits of a PAN.

The Luhn check is reported (``luhn_ok``), not enforced: fleet and loyalty cards often
carry PANs that fail it. A passed-through LRC character is consumed but not verified
(readers check LRC and parity before they send); its computed value is used only to
tell an LRC that happens to be ``%`` or ``;`` from the start of the next track.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Longest track 1 / track 2, sentinels and LRC included (ISO/IEC 7813).
TRACK1_MAX = 79
TRACK2_MAX = 40
PAN_MIN, PAN_MAX = 12, 19
#: PANs with this prefix carry a 3-digit country code after the PAN's separator.
COUNTRY_CODE_PREFIX = "59"
#: A track 1 PAN grouped as American Express prints it (4-6-5 digits, spaces between).
_AMEX_GROUPED = re.compile(r"[0-9]{4} [0-9]{6} [0-9]{5}")
NAME_MIN, NAME_MAX = 2, 26

DIGITS = frozenset("0123456789")
#: Characters allowed between and around tracks: whitespace and ASCII control codes
#: (STX/ETX framing, CR/LF line ends).
SEPARATORS = frozenset([*(chr(c) for c in range(0x20)), " ", "\x7f"])
START_SENTINELS = {"%": "1", ";": "2", "+": "3"}
END_SENTINEL = "?"
#: A reader's marker for a track it could not decode (MagTek and most others).
ERROR_MARKERS = frozenset(["", "E"])
_SEPARATOR_CHARS = "".join(sorted(SEPARATORS))
#: A track 2 starting: its sentinel, a PAN and its separator.
TRACK2_START = re.compile(f";[0-9]{{{PAN_MIN},{PAN_MAX}}}=")
#: The PAN of a (possibly malformed) swipe: digits where a track starts (after its start
#: sentinel and track 1's format code), or at the very start of a swipe missing its sentinel.
_PAN_LIKE = re.compile(r"(?:^|[;%])[A-Z]?([0-9]{5,})")


class SwipeError(ValueError):
    """A swipe that cannot be decoded; ``str(error)`` is one sentence saying why."""


@dataclass(frozen=True)
class Swipe:
    """What a swipe decodes to.

    ``discretionary`` is track 2's discretionary data when track 2 was read (it is the
    track issuers rely on), else track 1's. ``format_code`` is track 1's format code
    (``B`` for financial cards) or None without track 1. ``expiry`` (YYMM) and
    ``service_code`` are None when the card leaves them absent; ``country_code`` is
    None unless the PAN starts with 59. ``name`` is None without track 1 or when the
    name field is blank.
    """

    pan: str
    name: str | None
    expiry: str | None  # YYMM
    service_code: str | None
    discretionary: str
    tracks: list[str]
    format_code: str | None
    luhn_ok: bool
    country_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The swipe as a JSON object (``forecourt readers decode --json``, read details)."""
        return {"pan": self.pan, "name": self.name, "country_code": self.country_code,
                "expiry": self.expiry, "service_code": self.service_code,
                "discretionary": self.discretionary, "tracks": list(self.tracks),
                "format_code": self.format_code, "luhn_ok": self.luhn_ok}


@dataclass(frozen=True)
class _Fields:
    """The fields of one decoded track."""

    pan: str
    country_code: str | None
    expiry: str | None
    service_code: str | None
    discretionary: str
    name: str | None = None
    format_code: str | None = None


def luhn_ok(pan: str) -> bool:
    """True when ``pan`` (ASCII digits) passes the Luhn (mod 10) check of ISO/IEC 7812."""
    if not pan or not set(pan) <= DIGITS:
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def lrc(track: str) -> str:
    """The LRC character of ``track`` (start through end sentinel) as a reader sends it.

    Track 1 uses 6-bit characters (``chr(c) - 0x20``), tracks 2 and 3 use 4-bit ones
    (``chr(c) - 0x30``); the LRC is the XOR of all of them, in the same alphabet.
    """
    if track.startswith("%"):
        base, mask = 0x20, 0x3F
    else:
        base, mask = 0x30, 0x0F
    value = 0
    for ch in track:
        value ^= (ord(ch) - base) & mask
    return chr(value + base)


def masked_pan(text: str) -> str:
    """What a malformed swipe may be recorded and shown as: ``****`` and the last four
    digits of the PAN it seems to carry (``****`` alone when none can be seen).

    Track data (the whole PAN, discretionary data with its PIN offset or CVV) must not
    be journaled or shown; a technician still wants to tell one refused card from
    another.
    """
    found = _PAN_LIKE.search(text.strip(_SEPARATOR_CHARS))
    return "****" + (found.group(1)[-4:] if found else "")


def _mask(pan: str) -> str:
    """A PAN shortened for messages: only the last four digits."""
    return "…" + pan[-4:] if len(pan) > 4 else pan


def _char(ch: str) -> str:
    """A character for a message: printable as itself, else as its code."""
    return repr(ch) if " " <= ch <= "~" else f"0x{ord(ch):02x}"


def _split(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Cut ``text`` into ``(track number, track text)`` segments.

    Returns the readable tracks and the numbers of tracks the reader marked as
    unreadable. Track text runs from the start sentinel through the end sentinel; a
    trailing LRC character is dropped.
    """
    tracks: list[tuple[str, str]] = []
    unreadable: list[str] = []
    seen: set[str] = set()
    last = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in SEPARATORS:
            i += 1
            continue
        if ch not in START_SENTINELS:
            if not last:
                raise SwipeError(
                    f"partial swipe: the data starts with {_char(ch)} instead of a start "
                    "sentinel ('%' for track 1, ';' for track 2)")
            raise SwipeError(
                f"unexpected text {text[i:i + 12]!r} after track {last}; "
                "a track must start with '%' or ';'")
        number = START_SENTINELS[ch]
        end = text.find(END_SENTINEL, i + 1)
        # Another track starting before the end sentinel means this one was cut short.
        body_end = n if end < 0 else end
        cut = any(_starts_track(text, j, number) for j in range(i + 1, body_end))
        if end < 0 or cut:
            raise SwipeError(f"partial swipe: track {number} has no end sentinel '?' "
                             "(the card was swiped too fast or not all the way through)")
        if number in seen:
            raise SwipeError(f"the swipe holds track {number} twice (two swipes run together)")
        seen.add(number)
        last = number
        segment = text[i:end + 1]
        i = end + 1
        if i < n and text[i] not in SEPARATORS:  # an LRC character, if that is what it is
            nxt = text[i + 1] if i + 1 < n else ""
            if text[i] not in START_SENTINELS or (
                    text[i] == lrc(segment)
                    and (not nxt or nxt in SEPARATORS or nxt in START_SENTINELS)):
                i += 1
        if segment[1:-1] in ERROR_MARKERS:
            unreadable.append(number)
        else:
            tracks.append((number, segment))
    return tracks, unreadable


def _starts_track(text: str, j: int, inside: str) -> bool:
    """True when ``text[j]`` inside track ``inside`` is really the start of another track.

    Track 2 and 3 hold digits only, so any sentinel there starts a track. Track 1 may
    carry ``;`` or ``+`` in its discretionary data: only ``%`` or ``;`` followed by a
    PAN (12 to 19 digits) and ``=`` counts there.
    """
    ch = text[j]
    if ch not in START_SENTINELS:
        return False
    if inside != "1" or ch == "%":
        return True
    return ch == ";" and TRACK2_START.match(text, j) is not None


def _check_pan(pan: str, track: str) -> None:
    if not pan:
        raise SwipeError(f"track {track} has an empty PAN")
    bad = next((c for c in pan if c not in DIGITS), None)
    if bad is not None:
        raise SwipeError(f"the PAN on track {track} must be digits only, found {_char(bad)}")
    if not PAN_MIN <= len(pan) <= PAN_MAX:
        digits = "digit" if len(pan) == 1 else "digits"
        raise SwipeError(f"the PAN on track {track} has {len(pan)} {digits}; a PAN has "
                         f"{PAN_MIN} to {PAN_MAX}")


def _country_code(pan: str, text: str, track: str) -> tuple[str | None, str]:
    """Split off the 3-digit country code a PAN starting with 59 carries (ISO/IEC 7813)."""
    if not pan.startswith(COUNTRY_CODE_PREFIX):
        return None, text
    code = text[:3]
    if len(code) < 3:
        raise SwipeError(f"track {track} ends before its 3-digit country code "
                         "(the PAN starts with 59)")
    if not set(code) <= DIGITS:
        raise SwipeError(f"the country code {code!r} on track {track} must be 3 digits "
                         "(the PAN starts with 59)")
    return code, text[3:]


def _tail(tail: str, track: str, separator: str) -> tuple[str | None, str | None, str]:
    """Split ``YYMM`` + service code + discretionary data, checking the first two.

    ``separator`` in place of the expiry or of the service code means the card leaves
    that field absent (None).
    """
    expiry: str | None = None
    if tail.startswith(separator):
        tail = tail[1:]
    else:
        expiry, tail = tail[:4], tail[4:]
        if len(expiry) < 4:
            raise SwipeError(f"track {track} ends before its expiry date (YYMM)")
        if not set(expiry) <= DIGITS:
            raise SwipeError(
                f"the expiry date {expiry!r} on track {track} is not four digits YYMM")
        if not 1 <= int(expiry[2:]) <= 12:
            raise SwipeError(f"the expiry date {expiry!r} on track {track} has month "
                             f"{expiry[2:]}; months run 01 to 12")
    service: str | None = None
    if tail.startswith(separator):
        tail = tail[1:]
    else:
        service, tail = tail[:3], tail[3:]
        if len(service) < 3:
            raise SwipeError(f"track {track} ends before its 3-digit service code")
        if not set(service) <= DIGITS:
            raise SwipeError(
                f"the service code {service!r} on track {track} must be 3 digits")
    return expiry, service, tail


def _track1(segment: str) -> _Fields:
    """Decode ``%`` FC PAN ``^`` NAME ``^`` YYMM SC DD ``?``."""
    if len(segment) > TRACK1_MAX:
        raise SwipeError(f"track 1 is {len(segment)} characters long; "
                         f"ISO 7813 allows at most {TRACK1_MAX}")
    body = segment[1:-1]
    bad = next((c for c in body if c in SEPARATORS and c != " "), None)
    if bad is not None:
        raise SwipeError(f"track 1 contains the control character {_char(bad)}")
    fc = body[0]
    if not "A" <= fc <= "Z":
        raise SwipeError(f"track 1 starts with {_char(fc)} where its format code "
                         "(a letter, 'B' for bank cards) belongs")
    parts = body[1:].split("^", 2)
    if len(parts) < 3:
        # One '^' is missing: which one shows in whether the PAN runs into the name.
        if len(parts) == 1 or not set(parts[0]) <= DIGITS:
            raise SwipeError("track 1 has no field separator '^' after the PAN")
        raise SwipeError("track 1 has no field separator '^' after the name")
    pan = parts[0]
    if _AMEX_GROUPED.fullmatch(pan):
        pan = pan.replace(" ", "")  # the card's number is the digits
    _check_pan(pan, "1")
    country, name = _country_code(pan, parts[1], "1")
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise SwipeError(f"the name on track 1 is {len(name)} characters long; "
                         f"ISO 7813 allows {NAME_MIN} to {NAME_MAX}")
    expiry, service, discretionary = _tail(parts[2], "1", "^")
    return _Fields(pan=pan, country_code=country, expiry=expiry, service_code=service,
                   discretionary=discretionary, name=name.strip() or None, format_code=fc)


def _track2(segment: str) -> _Fields:
    """Decode ``;`` PAN ``=`` YYMM SC DD ``?``."""
    if len(segment) > TRACK2_MAX:
        raise SwipeError(f"track 2 is {len(segment)} characters long; "
                         f"ISO 7813 allows at most {TRACK2_MAX}")
    body = segment[1:-1]
    bad = next((c for c in body if c not in DIGITS and c != "="), None)
    if bad is not None:
        raise SwipeError(f"track 2 may hold only digits and '=', found {_char(bad)}")
    pan, sep, tail = body.partition("=")
    if not sep:
        raise SwipeError("track 2 has no field separator '=' after the PAN")
    _check_pan(pan, "2")
    country, tail = _country_code(pan, tail, "2")
    expiry, service, discretionary = _tail(tail, "2", "=")
    return _Fields(pan=pan, country_code=country, expiry=expiry, service_code=service,
                   discretionary=discretionary)


def strip_framing(text: str, prefix: str = "", suffix: str = "") -> str:
    """Remove the reader's prefix and suffix (when present) and surrounding separators."""
    # Try before and after stripping: the prefix may begin with STX, the suffix end in CR/LF.
    for candidate in (text, text.strip(_SEPARATOR_CHARS)):
        if prefix and candidate.startswith(prefix):
            text = candidate[len(prefix):]
            break
    for candidate in (text, text.strip(_SEPARATOR_CHARS)):
        if suffix and candidate.endswith(suffix):
            text = candidate[:-len(suffix)]
            break
    return text.strip(_SEPARATOR_CHARS)


def parse_swipe(text: str, *, prefix: str = "", suffix: str = "") -> Swipe:
    """Decode the text of one swipe (track 1 and/or track 2, in either order).

    ``prefix`` / ``suffix`` are what the reader is configured to wrap each swipe in;
    they are removed when present. Raises :class:`SwipeError` with one sentence for
    anything that is not a well-formed swipe.
    """
    if not isinstance(text, str):
        raise SwipeError("the swipe must be text")
    text = strip_framing(text, prefix, suffix)
    if not text:
        raise SwipeError("empty read: the reader sent no track data")
    odd = next((i for i, c in enumerate(text) if not c.isascii()), None)
    if odd is not None:
        raise SwipeError(
            f"the swipe contains a non-ASCII character ({_char(text[odd])} at position "
            f"{odd}): check the reader's baud rate and keyboard layout")
    segments, unreadable = _split(text)
    if not segments:
        if unreadable:
            raise SwipeError("the reader could not read any track (it sent only error "
                             "markers); swipe the card again")
        raise SwipeError("empty read: the reader sent no track data")
    found = dict(segments)
    t2 = _track2(found["2"]) if "2" in found else None
    t1: _Fields | None = None
    if "1" in found:
        try:
            t1 = _track1(found["1"])
        except SwipeError:
            # A proprietary track 1 layout (format code other than B) need not follow
            # the bank layout; track 2 then carries the card data alone.
            if t2 is None or found["1"][1:2] == "B":
                raise
    if t1 is not None and t2 is not None:
        for what, a, b in (("PAN", t1.pan, t2.pan),
                           ("country code", t1.country_code, t2.country_code),
                           ("expiry date", t1.expiry, t2.expiry),
                           ("service code", t1.service_code, t2.service_code)):
            if a != b:
                shown = (_mask(a or ""), _mask(b or "")) if what == "PAN" else \
                    (a or "none", b or "none")
                raise SwipeError(f"track 1 and track 2 disagree on the {what} "
                                 f"({shown[0]} vs {shown[1]}): they are not from the same "
                                 "card or one was misread")
    main = t2 or t1
    if main is None:  # only track 3: nothing this station can use
        raise SwipeError("the swipe holds only track 3; this station needs track 1 or 2")
    return Swipe(pan=main.pan, name=t1.name if t1 else None, expiry=main.expiry,
                 service_code=main.service_code, discretionary=main.discretionary,
                 tracks=sorted(found), format_code=found["1"][1] if "1" in found else None,
                 luhn_ok=luhn_ok(main.pan), country_code=main.country_code)
