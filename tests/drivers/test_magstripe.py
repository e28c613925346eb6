"""Magnetic-stripe readers: ISO/IEC 7813 parsing, keyboard-wedge decoding, the serial
reader over a real pty, and the keyboard-wedge reader's thin evdev layer.

* :func:`parse_swipe` decodes real-looking swipes (both tracks, one track, LRC, reader
  framing, proprietary format codes) and refuses every malformed one with a sentence
  naming the problem — and never raises anything but ``SwipeError`` (Hypothesis).
* Key events recorded from a keyboard wedge (built from text with the Shift handling a
  reader uses, plus auto-repeats and unknown keys) decode back to the swipe.
* ``SerialMagstripeReader`` opens the slave side of a :class:`PtyLine` like a serial
  port; the test plays the reader on the master side. Unplugging (closing the pty)
  puts the reader in ``failed`` without any exception escaping, and plugging a new
  pty in at the same path brings it back.
* ``HidMagstripeReader`` reports a clear failure without ``evdev``; its open/read/close
  path runs against a stand-in ``evdev`` module (these machines have no
  ``/dev/uinput`` for a real virtual keyboard).
"""

from __future__ import annotations

import importlib.util
import os
import queue
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ptyline import PtyLine
from drivers.readers import reader_class
from drivers.readers.base import CardRead, ReadEvent, ReadFailure
from drivers.readers.keymap import (
    EV_KEY,
    EV_SYN,
    KEY_0,
    KEY_1,
    KEY_2,
    KEY_5,
    KEY_6,
    KEY_A,
    KEY_B,
    KEY_CAPSLOCK,
    KEY_DOWN,
    KEY_ENTER,
    KEY_EQUAL,
    KEY_ESC,
    KEY_KP4,
    KEY_KPENTER,
    KEY_LEFTCTRL,
    KEY_LEFTSHIFT,
    KEY_REPEAT,
    KEY_RIGHTSHIFT,
    KEY_SEMICOLON,
    KEY_SLASH,
    KEY_UP,
    KeyDecoder,
    decode_keys,
    text_to_keys,
)
from drivers.readers.magstripe import (
    HidMagstripeReader,
    SerialMagstripeReader,
    SwipeAssembler,
    swipe_json,
)
from drivers.readers.track import Swipe, SwipeError, lrc, luhn_ok, masked_pan, parse_swipe
from tests.support import wait_for

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


# -- the parser: good swipes ----------------------------------------------------------

GOOD: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    # (text, expected fields, parse_swipe keyword arguments)
    (T1 + T2, {"pan": VISA, "name": "DOE/JOHN", "expiry": "2512", "service_code": "101",
               "discretionary": "0000000000000", "tracks": ["1", "2"]}, {}),
    (T1 + "\r\n" + T2 + "\r\n", {"pan": VISA, "tracks": ["1", "2"]}, {}),
    (T1 + "\n" + T2, {"pan": VISA, "tracks": ["1", "2"]}, {}),
    (T2 + T1, {"pan": VISA, "tracks": ["1", "2"], "name": "DOE/JOHN"}, {}),
    (T2, {"pan": VISA, "name": None, "expiry": "2512", "service_code": "101",
          "discretionary": "0000000000000", "tracks": ["2"], "format_code": None}, {}),
    (T1, {"pan": VISA, "name": "DOE/JOHN", "tracks": ["1"],
          "discretionary": "0000000000000000000000000", "format_code": "B"}, {}),
    # LRC characters as readers that pass them through send them
    (T1 + lrc(T1) + T2 + lrc(T2), {"pan": VISA, "tracks": ["1", "2"]}, {}),
    (T2 + lrc(T2), {"pan": VISA, "tracks": ["2"], "discretionary": "0000000000000"}, {}),
    (track2(MASTERCARD, "2703", "201", "") + "7", {"pan": MASTERCARD, "expiry": "2703",
                                                   "service_code": "201",
                                                   "discretionary": ""}, {}),
    # reader framing: STX ... ETX CR LF, a text prefix
    ("\x02" + T1 + T2 + "\x03\r\n", {"pan": VISA, "tracks": ["1", "2"]},
     {"prefix": "\x02", "suffix": "\x03\r\n"}),
    ("\x02" + T2 + "\x03", {"pan": VISA}, {"prefix": "\x02", "suffix": "\x03"}),
    ("CARD:" + T2 + "END\r\n", {"pan": VISA}, {"prefix": "CARD:", "suffix": "END"}),
    ("\x02" + T2 + "\r\n", {"pan": VISA}, {}),  # framing is stripped even unconfigured
    # names: padded, with a title, the minimum length
    (track1(AMEX, "SMITH/JANE MS.            ", "2804", "201", "15041234567") +
     track2(AMEX, "2804", "201", "15041234567"),
     {"pan": AMEX, "name": "SMITH/JANE MS.", "expiry": "2804", "luhn_ok": True}, {}),
    (track1(name="AB"), {"name": "AB"}, {}),
    (track1(name=" " * 26), {"name": None}, {}),  # a blank name field is no name
    # proprietary format codes: reported, parsed with the bank layout when it fits
    (track1(FLEET, "ACME HAULAGE/TRUCK 12", "3001", "799", "0042", fc="A") +
     track2(FLEET, "3001", "799", "0042"),
     {"pan": FLEET, "format_code": "A", "luhn_ok": False, "name": "ACME HAULAGE/TRUCK 12",
      "service_code": "799"}, {}),
    ("%F0042 ACME FLEET PROGRAMME?" + track2(FLEET19, "2912", "799", ""),
     {"pan": FLEET19, "format_code": "F", "name": None, "tracks": ["1", "2"],
      "luhn_ok": False}, {}),
    # a 19-digit PAN, longest allowed
    (track2(FLEET19, "2912", "799", "1"), {"pan": FLEET19, "discretionary": "1"}, {}),
    # a reader's "could not read this track" markers, a track 3
    ("%E?" + T2, {"pan": VISA, "tracks": ["2"]}, {}),
    (T1 + ";E?", {"pan": VISA, "tracks": ["1"]}, {}),
    (T1 + T2 + "+0112345678901234567890=1234?", {"pan": VISA, "tracks": ["1", "2", "3"]}, {}),
    (T1 + T2 + "+E?", {"tracks": ["1", "2"]}, {}),
    # discover, year 2000 expiry, no discretionary data
    (track2("6011000990139424", "0001", "101", ""), {"expiry": "0001", "luhn_ok": True}, {}),
]


@pytest.mark.parametrize(("text", "expected", "kwargs"), GOOD)
def test_good_swipes_decode(text: str, expected: dict[str, Any],
                            kwargs: dict[str, str]) -> None:
    swipe = parse_swipe(text, **kwargs)
    got = swipe.to_json()
    for key, value in expected.items():
        assert got[key] == value, key


# -- Issue 10 #13: ISO/IEC 7813 country code, absent fields, PAN length ------------------

CC59 = "593456789012345"  # a PAN of a non-registered issuer (MII 59): a country code follows

ISO7813: list[tuple[str, dict[str, Any]]] = [
    # (text, expected fields)
    # a PAN starting with 59 carries a 3-digit country code after the separator
    (";593456789012345=3211010123?", {"pan": CC59, "country_code": "321", "expiry": "1010",
                                      "service_code": "123", "discretionary": ""}),
    (";593456789012345=32110101234567?", {"country_code": "321", "expiry": "1010",
                                          "service_code": "123", "discretionary": "4567"}),
    # ... on track 1 it opens the name field (ISO/IEC 7813; the 'plastic' parser)
    ("%B593456789012345^321DOE/JOHN^1010123?", {"pan": CC59, "country_code": "321",
                                               "name": "DOE/JOHN", "expiry": "1010",
                                               "service_code": "123"}),
    ("%B593456789012345^643PETROV/IVAN^1010123999?;593456789012345=6431010123999?",
     {"country_code": "643", "name": "PETROV/IVAN", "expiry": "1010",
      "discretionary": "999", "tracks": ["1", "2"]}),
    # other PANs have none
    (T2, {"country_code": None}),
    # a separator in place of the expiry or the service code: that field is absent
    (";4111111111111111==101123?", {"expiry": None, "service_code": "101",
                                    "discretionary": "123"}),
    (";4111111111111111=2512=123?", {"expiry": "2512", "service_code": None,
                                     "discretionary": "123"}),
    (";4111111111111111===?", {"expiry": None, "service_code": None, "discretionary": ""}),
    (";593456789012345=321==77?", {"country_code": "321", "expiry": None,
                                   "service_code": None, "discretionary": "77"}),
    ("%B4111111111111111^DOE/JOHN^^101000?", {"expiry": None, "service_code": "101",
                                              "discretionary": "000"}),
    ("%B4111111111111111^DOE/JOHN^2512^000?", {"expiry": "2512", "service_code": None,
                                               "discretionary": "000"}),
    # the ISO/IEC 7813 example of a track 1 without expiry and service code
    ("%B4815881002861896^YATES/EUGENE L ^^^356858 00998000000?",
     {"pan": "4815881002861896", "name": "YATES/EUGENE L", "expiry": None,
      "service_code": None, "discretionary": "356858 00998000000"}),
    # both tracks without an expiry agree
    ("%B4111111111111111^DOE/JOHN^^101?;4111111111111111==101?",
     {"expiry": None, "service_code": "101", "tracks": ["1", "2"]}),
    # PAN lengths: 12 is the shortest allowed
    (";455618692574=2512101?", {"pan": "455618692574"}),
    # vectors of the public 'magnetictrackparser' (A-G; H and J carry month 88 / 51)
    ("%B5350290149345177^FATEHI/SUALEH^16042010000000000000000000000000000567001000?"
     ";5350290149345177=16042010000056700100?",
     {"pan": "5350290149345177", "name": "FATEHI/SUALEH", "expiry": "1604",
      "service_code": "201", "discretionary": "0000056700100", "luhn_ok": True}),
    ("%B4181887684889366^FATEHI/SUALEH^1605101097670000000000120000000?"
     ";4181887684889366=160510101200009767?",
     {"pan": "4181887684889366", "expiry": "1605", "service_code": "101"}),
    ("%B5391285197433215^FATEHI/SUALEH             ^1701101000001540000000154000000?"
     ";5391285197433215=17011010000015400000?",
     {"name": "FATEHI/SUALEH", "expiry": "1701"}),
    ("%B6011460477609366^FATEHI/SUALEH             ^15101011000606818102?"
     ";6011460477609366=15101011000606818102?", {"expiry": "1510", "service_code": "101"}),
    ("%B6035320294113574^FATEHI/SUALEH^491210100316000000?;6035320294113574=491210110000316?",
     {"expiry": "4912", "discretionary": "10000316"}),
    ("%B4181887684889366^FATEHI/SUALEH^1502101072560000000000019000000?"
     ";4181887684889366=150210100190007256?", {"expiry": "1502"}),
    ("%B379580832431161^ /                        ^1508121140165241?"
     ";379580832431161=150812114016524100000?+6202408082356005=15046200000010000000000004976?",
     {"pan": "379580832431161", "expiry": "1508", "service_code": "121",
      "tracks": ["1", "2", "3"]}),
]


@pytest.mark.parametrize(("text", "expected"), ISO7813)
def test_iso7813_country_code_and_absent_fields(text: str, expected: dict[str, Any]) -> None:
    got = parse_swipe(text).to_json()
    for key, value in expected.items():
        assert got[key] == value, key


ISO7813_BAD: list[tuple[str, str]] = [
    (";1=2512123?", "the PAN on track 2 has 1 digit; a PAN has 12 to 19"),
    (";45561869257=2512101?", "the PAN on track 2 has 11 digits; a PAN has 12 to 19"),
    ("%B41111111111^DOE/JOHN^2512101?", "the PAN on track 1 has 11 digits"),
    # a 59 PAN whose country code is missing or not digits
    (";593456789012345=32?", "track 2 ends before its 3-digit country code"),
    (";593456789012345=3A11010123?", "track 2 may hold only digits"),
    ("%B593456789012345^DOE/JOHN^1010123?", "the country code 'DOE' on track 1"),
    ("%B593456789012345^321X^1010123?", "the name on track 1 is 1 characters long"),
    (";593456789012345=3211010123?;593456789012345=3221010123?", "holds track 2 twice"),
    ("%B593456789012345^321DOE/JOHN^1010123?;593456789012345=3221010123?",
     "disagree on the country code (321 vs 322)"),
    # an absent field is a separator, not a shortened field
    ("%B4111111111111111^DOE/JOHN^^10?", "track 1 ends before its 3-digit service code"),
    (";4111111111111111=25=123?", "the expiry date '25=1' on track 2 is not four digits"),
    (";593456789012345=3=2512101?", "the country code '3=2' on track 2 must be 3 digits"),
    # tracks disagree when only one of them has the field
    ("%B4111111111111111^DOE/JOHN^^101?;4111111111111111=2512101?",
     "disagree on the expiry date (none vs 2512)"),
]


@pytest.mark.parametrize(("text", "reason"), ISO7813_BAD)
def test_iso7813_malformed_swipes_say_why(text: str, reason: str) -> None:
    with pytest.raises(SwipeError) as info:
        parse_swipe(text)
    message = str(info.value)
    assert reason in message
    assert CC59 not in message and "\n" not in message and len(message) < 160


def test_swipe_fields_and_json_keys() -> None:
    swipe = parse_swipe(T1 + T2)
    assert swipe == Swipe(pan=VISA, name="DOE/JOHN", expiry="2512", service_code="101",
                          discretionary="0000000000000", tracks=["1", "2"], format_code="B",
                          luhn_ok=True, country_code=None)
    data = swipe.to_json()
    assert {"pan", "name", "expiry", "service_code", "discretionary", "tracks"} <= set(data)
    assert set(data) - {"pan", "name", "expiry", "service_code", "discretionary",
                        "tracks"} == {"format_code", "luhn_ok", "country_code"}
    assert swipe_json(T1 + T2) == data
    assert swipe_json("\x02" + T2, prefix="\x02")["tracks"] == ["2"]


def test_lrc_that_looks_like_a_start_sentinel() -> None:
    """An LRC of ';' before track 2 is told from track 2's own start sentinel."""
    t1 = track1(dd="00000")  # its LRC is ';'
    assert lrc(t1) == ";"
    assert parse_swipe(t1 + ";" + T2).tracks == ["1", "2"]  # with the LRC
    assert parse_swipe(t1 + T2).tracks == ["1", "2"]  # without: ';' starts track 2


def test_track1_discretionary_data_may_hold_a_semicolon() -> None:
    swipe = parse_swipe(track1(dd="12;34") + T2)
    assert swipe.tracks == ["1", "2"]
    # ';' + digits + '=' starts a track 2 only with a PAN's 12 to 19 digits
    swipe = parse_swipe(track1(dd="1;0=2") + T2)
    assert swipe.tracks == ["1", "2"] and swipe.to_json()["expiry"] == "2512"


def test_luhn() -> None:
    assert luhn_ok(VISA) and luhn_ok(MASTERCARD) and luhn_ok(AMEX)
    assert not luhn_ok(FLEET) and not luhn_ok("4111111111111112")
    assert not luhn_ok("") and not luhn_ok("12a4")
    assert parse_swipe(track2(FLEET)).luhn_ok is False  # reported, not refused


# -- the parser: malformed swipes ---------------------------------------------------

BAD: list[tuple[str, str]] = [
    # (text, a fragment of the one-sentence reason)
    ("", "empty read"),
    ("\r\n", "empty read"),
    ("\x02\x03", "empty read"),
    ("%E?;E?", "could not read any track"),
    ("%B4111111111111111^DOE/JOHN^2512", "partial swipe: track 1 has no end sentinel"),
    ("%B4111111111111111^DO" + T2, "partial swipe: track 1 has no end sentinel"),
    (T1 + ";4111111111111111=2512", "partial swipe: track 2 has no end sentinel"),
    (";41111111" + T2, "partial swipe: track 2 has no end sentinel"),
    ("B4111111111111111^DOE/JOHN^2512101?", "partial swipe: the data starts with 'B'"),
    ("4111111111111111=2512101?", "partial swipe: the data starts with '4'"),
    ("1111^DOE/JOHN^2512101?" + T2, "instead of a start sentinel"),
    ("%B4111111111111111DOE/JOHN^2512101?", "no field separator '^' after the PAN"),
    ("%B4111111111111111?", "no field separator '^' after the PAN"),
    ("%B4111111111111111^DOE/JOHN2512101?", "no field separator '^' after the name"),
    (";41111111111111112512101?", "no field separator '=' after the PAN"),
    ("%B4111 1111^DOE/JOHN^2512101?", "the PAN on track 1 must be digits only, found ' '"),
    ("%B41111X1111^DOE/JOHN^2512101?", "the PAN on track 1 must be digits only, found 'X'"),
    ("%B^DOE/JOHN^2512101?", "track 1 has an empty PAN"),
    (";=2512101?", "track 2 has an empty PAN"),
    (track1(pan="4" * 20), "the PAN on track 1 has 20 digits; a PAN has 12 to 19"),
    (track2(pan="4" * 20, dd=""), "the PAN on track 2 has 20 digits; a PAN has 12 to 19"),
    (track2(expiry="2513"), "month 13; months run 01 to 12"),
    (track1(expiry="2500"), "month 00"),
    (track1(expiry="25A2"), "the expiry date '25A2' on track 1 is not four digits YYMM"),
    ("%B4111111111111111^DOE/JOHN^25?", "track 1 ends before its expiry date"),
    (";4111111111111111=25?", "track 2 ends before its expiry date"),
    ("%B4111111111111111^DOE/JOHN^251210?", "track 1 ends before its 3-digit service code"),
    (track1(service="1X1"), "the service code '1X1' on track 1 must be 3 digits"),
    (";4111111111111111=2512A01?", "track 2 may hold only digits and '=', found 'A'"),
    (";4111111111111111=2512101 00?", "track 2 may hold only digits and '='"),
    (";4111111111111111^2512101?", "track 2 may hold only digits and '=', found '^'"),
    (T1 + track2(MASTERCARD), "track 1 and track 2 disagree on the PAN (…1111 vs …5559)"),
    (T1 + track2(expiry="2612"), "disagree on the expiry date (2512 vs 2612)"),
    (T1 + track2(service="201"), "disagree on the service code (101 vs 201)"),
    (track1(dd="0" * 50), "track 1 is 86 characters long; ISO 7813 allows at most 79"),
    (track2(dd="0" * 17), "track 2 is 43 characters long; ISO 7813 allows at most 40"),
    (track1(name="X"), "the name on track 1 is 1 characters long; ISO 7813 allows 2 to 26"),
    (track1(name="Y" * 27, dd=""), "27 characters long; ISO 7813 allows 2 to 26"),
    ("%4111111111111111^DOE/JOHN^2512101?", "where its format code"),
    ("%B4111111111111111^DOE/\x00JOHN^2512101?", "control character 0x00"),
    (T1 + T1, "the swipe holds track 1 twice"),
    (T2 + "\r\n" + T2, "the swipe holds track 2 twice"),
    (T1 + "caf\u00e9", "non-ASCII character"),
    ("\u00ff\u00fe\x00\x13", "non-ASCII character (0xff at position 0)"),
    (T1 + T2 + "garbage", "unexpected text"),
    ("+0112345678?", "only track 3"),
    # a bank (format B) track 1 must follow the bank layout even next to a good track 2
    ("%B4111111111111111 DOE?" + T2, "no field separator '^' after the PAN"),
]


@pytest.mark.parametrize(("text", "reason"), BAD)
def test_malformed_swipes_say_why(text: str, reason: str) -> None:
    with pytest.raises(SwipeError) as info:
        parse_swipe(text)
    message = str(info.value)
    assert reason in message
    assert VISA not in message  # never a whole PAN in a message
    assert "\n" not in message and message[0].islower() and len(message) < 160
    with pytest.raises(SwipeError):
        swipe_json(text)


@pytest.mark.parametrize(("text", "card"), [
    (T1 + track2(MASTERCARD), "****1111"),
    ("4111111111111111=2512101?", "****1111"),  # no start sentinel: the PAN still hides
    (";593456789012345=32?", "****2345"),
    ("%B41^DOE/JOHN^2512101?", "****"),
    ("\x02\x03garbage", "****"),
])
def test_masked_pan_never_shows_track_data(text: str, card: str) -> None:
    assert masked_pan(text) == card


def test_swipe_error_is_a_value_error() -> None:
    assert issubclass(SwipeError, ValueError)


TRACKISH = "%;+?^=/ BE0123456789\r\n\x02"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200),
                 st.text(alphabet=TRACKISH, max_size=120),
                 st.lists(st.sampled_from([T1, T2, "%", ";", "?", "^", "=", "E", "\r\n",
                                           "4111", "2512101", "DOE/JOHN", "\x02", "\u00e9"]),
                          max_size=12).map("".join)),
       st.sampled_from(["", "\x02", "%", ";B"]), st.sampled_from(["", "\r\n", "?"]))
def test_parse_swipe_only_ever_raises_swipe_error(text: str, prefix: str, suffix: str) -> None:
    try:
        swipe = parse_swipe(text, prefix=prefix, suffix=suffix)
    except SwipeError as exc:
        assert str(exc)
    else:
        assert set(swipe.pan) <= set("0123456789") and 12 <= len(swipe.pan) <= 19
        assert swipe.expiry is None or (len(swipe.expiry) == 4
                                        and 1 <= int(swipe.expiry[2:]) <= 12)
        assert swipe.service_code is None or len(swipe.service_code) == 3
        assert (swipe.country_code is not None) == swipe.pan.startswith("59")


digits = st.one_of(st.text(alphabet="0123456789", min_size=12, max_size=19),
                   st.text(alphabet="0123456789", min_size=10, max_size=17).map("59".__add__))
names = st.from_regex(r"[A-Z][A-Z .]{0,11}/[A-Z .]{1,12}", fullmatch=True)


@given(pan=digits, name=names, yy=st.integers(0, 99), mm=st.integers(1, 12),
       service=st.text(alphabet="0123456789", min_size=3, max_size=3),
       dd=st.text(alphabet="0123456789", max_size=8), with_lrc=st.booleans(),
       separator=st.sampled_from(["", "\r\n", "\n", " "]),
       country=st.text(alphabet="0123456789", min_size=3, max_size=3),
       absent=st.sampled_from([(), ("expiry",), ("service",), ("expiry", "service")]),
       t2_first=st.booleans())
def test_generated_swipes_round_trip(pan: str, name: str, yy: int, mm: int, service: str,
                                     dd: str, with_lrc: bool, separator: str, country: str,
                                     absent: tuple[str, ...], t2_first: bool) -> None:
    """Any well-formed pair of tracks reads back, in either order, with or without LRC
    characters (which may look like sentinels): country code when the PAN starts with
    59, an expiry or service code left absent by its separator."""
    expiry = f"{yy:02d}{mm:02d}"
    cc = country if pan.startswith("59") else ""
    e1, s1 = ("^" if "expiry" in absent else expiry), ("^" if "service" in absent else service)
    e2, s2 = ("=" if "expiry" in absent else expiry), ("=" if "service" in absent else service)
    t1, t2 = track1(pan, cc + name, e1, s1, dd), track2(pan, cc + e2, s2, dd)
    if with_lrc:
        t1, t2 = t1 + lrc(t1), t2 + lrc(t2)
    swipe = parse_swipe(t2 + separator + t1 if t2_first else t1 + separator + t2)
    assert (swipe.pan, swipe.name, swipe.country_code, swipe.discretionary) == \
        (pan, name.strip(), cc or None, dd)
    assert swipe.expiry == (None if "expiry" in absent else expiry)
    assert swipe.service_code == (None if "service" in absent else service)
    assert swipe.tracks == ["1", "2"] and swipe.luhn_ok == luhn_ok(pan)


# -- keyboard wedge: key events → text ---------------------------------------------

#: ";41=2512101?" then Enter as a wedge reader sends it (EV_KEY events only, raw codes):
#: ';' and '=' are unshifted keys, '?' is Shift + '/'.
RECORDED = [
    (KEY_SEMICOLON, 1), (KEY_SEMICOLON, 0),
    (5, 1), (5, 0),  # KEY_4
    (KEY_1, 1), (KEY_1, 0),
    (KEY_EQUAL, 1), (KEY_EQUAL, 0),
    (KEY_2, 1), (KEY_2, 0), (6, 1), (6, 0),  # KEY_5
    (KEY_1, 1), (KEY_1, 0), (KEY_2, 1), (KEY_2, 0),
    (KEY_1, 1), (KEY_1, 0), (KEY_0, 1), (KEY_0, 0), (KEY_1, 1), (KEY_1, 0),
    (42, 1), (53, 1), (53, 0), (42, 0),  # Shift + '/' = '?'
    (28, 1), (28, 0),  # Enter
]


def test_recorded_sequence_decodes() -> None:
    got = decode_keys(RECORDED)
    assert got.text == ";41=2512101?\n"
    assert (got.unknown, got.repeats) == (0, 0)
    with pytest.raises(SwipeError, match="has 2 digits; a PAN has 12 to 19"):
        parse_swipe(got.text)  # the recording's PAN is too short to be a card's


def test_sentinels_and_separators_need_shift() -> None:
    shifted = [(KEY_RIGHTSHIFT, 1), (KEY_5, 1), (KEY_5, 0), (KEY_B, 1), (KEY_B, 0),
               (KEY_6, 1), (KEY_6, 0), (KEY_SLASH, 1), (KEY_SLASH, 0), (KEY_RIGHTSHIFT, 0)]
    assert decode_keys(shifted).text == "%B^?"  # Shift held across several characters
    plain = [(KEY_5, 1), (KEY_5, 0), (KEY_B, 1), (KEY_B, 0), (KEY_6, 1), (KEY_6, 0),
             (KEY_SLASH, 1), (KEY_SLASH, 0)]
    assert decode_keys(plain).text == "5b6/"
    # both Shift keys: releasing one leaves the other held
    both = [(KEY_LEFTSHIFT, 1), (KEY_RIGHTSHIFT, 1), (KEY_LEFTSHIFT, 0), (KEY_A, 1),
            (KEY_A, 0), (KEY_RIGHTSHIFT, 0), (KEY_A, 1), (KEY_A, 0)]
    assert decode_keys(both).text == "Aa"


@pytest.mark.parametrize("shift_key", [KEY_LEFTSHIFT, KEY_RIGHTSHIFT])
def test_whole_swipe_from_key_events(shift_key: int) -> None:
    text = "%B4111111111111111^DOE/JOHN^2512101000?;4111111111111111=2512101000?\n"
    events = text_to_keys(text, shift_key=shift_key)
    assert sum(1 for _, value in events if value == KEY_DOWN) > len(text)  # Shift presses
    got = decode_keys(events)
    assert got.text == text
    assert parse_swipe(got.text).to_json()["name"] == "DOE/JOHN"


def test_repeats_and_unknown_keys_in_a_swipe() -> None:
    events = text_to_keys(T2 + "\n")
    noisy: list[tuple[int, int]] = [(KEY_ESC, 1), (KEY_ESC, 0), (240, 1), (240, 0)]
    for code, value in events:
        noisy.append((code, value))
        if value == KEY_DOWN and code == KEY_1:
            noisy.append((code, KEY_REPEAT))  # kernel auto-repeat of a held key
        if value == KEY_DOWN and code == KEY_EQUAL:
            noisy += [(59, 1), (59, 0), (KEY_LEFTCTRL, 1), (KEY_LEFTCTRL, 0)]  # F1, Ctrl
    got = decode_keys(noisy)
    assert got.text == T2 + "\n"
    assert got.unknown == 3  # Esc, KEY_UNKNOWN (240), F1; Ctrl is a known modifier
    assert got.repeats == T2.count("1")
    typed = decode_keys(noisy, type_repeats=True).text
    assert typed.count("1") == 2 * T2.count("1")


def test_caps_lock_keypad_and_enter() -> None:
    events = [(KEY_CAPSLOCK, 1), (KEY_CAPSLOCK, 0), (KEY_A, 1), (KEY_A, 0),
              (KEY_LEFTSHIFT, 1), (KEY_A, 1), (KEY_A, 0), (KEY_1, 1), (KEY_1, 0),
              (KEY_LEFTSHIFT, 0), (KEY_KP4, 1), (KEY_KP4, 0), (KEY_KPENTER, 1),
              (KEY_KPENTER, 0), (KEY_ENTER, 1), (KEY_ENTER, 0)]
    assert decode_keys(events).text == "Aa!4\n\n"


def test_decoder_feeds_one_event_at_a_time() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(KEY_LEFTSHIFT, KEY_DOWN) == ""
    assert decoder.feed(KEY_5, KEY_DOWN) == "%"
    assert decoder.feed(KEY_5, KEY_UP) == ""
    decoder.reset()
    assert decoder.feed(KEY_5, KEY_DOWN) == "5"


def test_text_to_keys_refuses_untypable_characters() -> None:
    with pytest.raises(ValueError, match="no US-layout key"):
        text_to_keys("\x02")


@given(st.text(alphabet="%;?^=/ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789.-!@#$&*()_+[]{}:'\"`~\\|,<>\n\t", max_size=80))
def test_typed_text_round_trips(text: str) -> None:
    assert decode_keys(text_to_keys(text)).text == text


# -- swipe assembly (line ends and idle gaps), on a driven clock --------------------

def test_assembler_line_ends_idle_gaps_and_partials() -> None:
    asm = SwipeAssembler(idle_s=0.1, partial_s=0.5)
    # tracks on separate lines join; the swipe completes after the idle gap
    assert asm.feed(T1 + "\r\n" + T2 + "\r\n", 0.0) == []
    assert asm.due(0.05) == []
    assert asm.due(0.15) == [T1 + "\n" + T2]
    # no line end: complete once idle after the end sentinel
    assert asm.feed(T2, 1.0) == []
    assert asm.due(1.15) == [T2]
    # back-to-back swipes: the next swipe's first line ends the previous one
    assert asm.feed(T2 + "\r\n" + T2 + "\r\n", 2.0) == [T2]
    assert asm.due(2.15) == [T2]
    # a cut-short swipe is given up after partial_s, never glued to the next
    assert asm.feed("%B4111111", 3.0) == []
    assert asm.due(3.4) == []
    assert asm.due(3.5) == ["%B4111111"]
    assert not asm.pending()
    # blank lines and NUL noise are no swipes
    assert asm.feed("\r\n\x00\r\n", 4.0) == []
    assert asm.due(5.0) == []
    # endless noise without line ends is cut off
    assert asm.feed("x" * 600, 6.0) == []
    assert asm.due(6.15) == ["x" * 600]
    # silence mid-line ends it: a cut swipe does not stick to the next one
    assert asm.feed("%B41111", 7.0) == []
    assert asm.feed(T2 + "\r\n", 7.2) == ["%B41111"]
    assert asm.due(7.35) == [T2]
    # a track 1 holding ';' and digits in its discretionary data still gets its track 2
    t1 = track1(dd="1;23")
    assert asm.feed(t1 + "\r\n" + T2 + "\r\n", 8.0) == []
    assert asm.due(8.15) == [t1 + "\n" + T2]


# -- the serial reader over a real pty -----------------------------------------------


class Rig:
    """A serial magstripe reader on a pty: ``line`` plays the reader hardware."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.link = tmp_path / "swipe.tty"
        self.line = PtyLine(self.link)
        self.events: queue.Queue[ReadEvent] = queue.Queue()
        self.reader = SerialMagstripeReader(
            reader_id="pump1-swipe", device=str(self.link), on_event=self.events.put,
            options={"baudrate": 9600, "partial_s": 0.3, **options}, debounce_s=1.5,
            reopen_s=0.1)

    def start(self) -> Rig:
        self.reader.start()
        wait_for(lambda: self.reader.state == "ready", "the reader to open the pty")
        return self

    def next(self, timeout: float = 3.0) -> ReadEvent:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.reader.close()
        self.line.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path).start()
    yield rig
    rig.close()


def test_registry_names_the_magstripe_classes() -> None:
    assert reader_class("magstripe-serial") is SerialMagstripeReader
    assert reader_class("magstripe-hid") is HidMagstripeReader


def test_serial_swipe_becomes_a_card_read(rig: Rig) -> None:
    rig.line.write((T1 + T2 + "\r\n").encode())
    event = rig.next()
    assert isinstance(event, CardRead)
    assert (event.reader_id, event.kind, event.identifier) == ("pump1-swipe", "magstripe", VISA)
    assert event.raw == T1 + T2
    assert event.details == parse_swipe(T1 + T2).to_json()
    assert event.details["tracks"] == ["1", "2"]
    assert rig.reader.status()["reads"] == 1 and rig.reader.state == "ready"


def test_serial_tracks_on_two_lines_and_byte_by_byte(rig: Rig) -> None:
    for byte in (T1 + "\r\n" + track2() + "\r\n").encode():
        rig.line.write(bytes([byte]))
    event = rig.next()
    assert isinstance(event, CardRead) and event.details["tracks"] == ["1", "2"]


def test_serial_swipe_without_line_end_completes_after_idle(rig: Rig) -> None:
    rig.line.write(track2(MASTERCARD).encode())
    started = time.monotonic()
    event = rig.next()
    assert isinstance(event, CardRead) and event.identifier == MASTERCARD
    assert time.monotonic() - started >= 0.09  # the idle gap after '?'


def test_serial_reader_strips_configured_framing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, prefix="\x02", suffix="\x03").start()
    try:
        rig.line.write(("\x02" + T1 + T2 + "\x03\r\n").encode())
        event = rig.next()
        assert isinstance(event, CardRead) and event.identifier == VISA
    finally:
        rig.close()


def test_malformed_swipe_is_a_failure_with_its_reason(rig: Rig) -> None:
    rig.line.write((T1 + track2(MASTERCARD) + "\r\n").encode())
    event = rig.next()
    assert isinstance(event, ReadFailure)
    assert event.reason == "swipe_malformed" and event.kind == "magstripe"
    assert "disagree on the PAN" in event.message
    assert event.raw == T1 + track2(MASTERCARD)
    assert event.card == "****1111"  # what the station records: never the track data
    rig.line.write(b";4111111111111111=2513101?\r\n")
    event = rig.next()
    assert isinstance(event, ReadFailure) and "month 13" in event.message
    assert rig.reader.status()["failures"] == 2


def test_partial_swipe_then_a_good_one(rig: Rig) -> None:
    rig.line.write(b"%B4111111111111111^DOE/JO")  # the card left the slot half-way
    event = rig.next()
    assert isinstance(event, ReadFailure) and "partial swipe" in event.message
    rig.line.write((T2 + "\r\n").encode())
    assert isinstance(rig.next(), CardRead)


def test_garbage_bytes_give_a_failure_not_a_crash(rig: Rig) -> None:
    rig.line.write(bytes(range(128, 256)) + b"\x00\x01\xff\r\n")
    event = rig.next()
    assert isinstance(event, ReadFailure) and "non-ASCII" in event.message
    assert event.card == "****"  # no PAN to be seen
    rig.line.write(os.urandom(64) + b"\r\n")
    assert isinstance(rig.next(), ReadFailure | CardRead)  # whatever it is, an event
    time.sleep(0.3)  # random bytes may hold line ends: let every piece come out
    while not rig.events.empty():
        rig.events.get()
    assert rig.reader.state == "ready"
    rig.line.write((T2 + "\r\n").encode())
    event = rig.next()
    assert isinstance(event, CardRead) and event.identifier == VISA


def test_a_cut_swipe_never_sticks_to_the_next(rig: Rig) -> None:
    rig.line.write(b"%B4111111111111111^DOE/JO")  # no line end, no end sentinel
    time.sleep(0.15)  # the customer swipes again at once
    rig.line.write((track2(MASTERCARD) + "\r\n").encode())
    first, second = rig.next(), rig.next()
    assert isinstance(first, ReadFailure) and "partial swipe" in first.message
    assert isinstance(second, CardRead) and second.identifier == MASTERCARD


def test_same_card_twice_within_debounce_is_one_read(rig: Rig) -> None:
    rig.line.write((T1 + T2 + "\r\n" + T1 + T2 + "\r\n").encode())  # back to back
    assert isinstance(rig.next(), CardRead)
    time.sleep(0.2)
    rig.line.write((T2 + "\r\n").encode())  # same card again, track 2 only
    time.sleep(0.3)
    rig.line.write((track2(MASTERCARD) + "\r\n").encode())
    event = rig.next()
    assert isinstance(event, CardRead) and event.identifier == MASTERCARD
    assert rig.events.empty()
    assert rig.reader.status()["reads"] == 2


def test_unplug_fails_and_replug_recovers(rig: Rig, tmp_path: Path) -> None:
    rig.line.close()  # unplugged
    wait_for(lambda: rig.reader.state == "failed", "the reader to notice the unplug")
    assert rig.reader.last_error
    time.sleep(0.3)  # it keeps trying to reopen; nothing escapes the thread
    assert rig.reader.running
    assert rig.reader.state in ("failed", "connecting")
    rig.line = PtyLine(rig.link)  # plugged in again, at the same path
    wait_for(lambda: rig.reader.state == "ready", "the reader to reopen")
    rig.line.write((T2 + "\r\n").encode())
    event = rig.next()
    assert isinstance(event, CardRead) and event.identifier == VISA


def test_missing_port_is_a_failed_state(tmp_path: Path) -> None:
    events: queue.Queue[ReadEvent] = queue.Queue()
    reader = SerialMagstripeReader(reader_id="r", device=str(tmp_path / "nope"),
                                   on_event=events.put, reopen_s=0.1).start()
    try:
        wait_for(lambda: reader.state == "failed", "the open to fail")
        assert "cannot open magstripe reader" in reader.last_error
    finally:
        reader.close()
    assert reader.state == "stopped" and events.empty()


# -- the keyboard-wedge reader ---------------------------------------------------------

EVDEV_INSTALLED = importlib.util.find_spec("evdev") is not None


def test_hid_reader_without_evdev_or_device_fails_clearly() -> None:
    events: queue.Queue[ReadEvent] = queue.Queue()
    reader = HidMagstripeReader(reader_id="desk-swipe", device="/dev/input/event99",
                                on_event=events.put, reopen_s=0.1).start()
    try:
        wait_for(lambda: reader.state == "failed", "the open to fail")
        expected = "/dev/input/event99" if EVDEV_INSTALLED else "pip install evdev"
        assert expected in reader.last_error
        assert reader.status()["state"] == "failed"
    finally:
        reader.close()


class FakeInputDevice:
    """Stands in for ``evdev.InputDevice``: events the test queues, readable via a pipe."""

    instances: ClassVar[list[FakeInputDevice]] = []

    def __init__(self, path: str) -> None:
        if not path.startswith("/dev/input/event"):
            raise FileNotFoundError(2, "No such file or directory", path)
        self.path = path
        self.fd, self._wake = os.pipe()
        self.pending: list[types.SimpleNamespace] = []
        self.grabbed = False
        self.closed = False
        self.unplugged = False
        FakeInputDevice.instances.append(self)

    def push(self, events: list[tuple[int, int, int]]) -> None:
        self.pending += [types.SimpleNamespace(type=t, code=c, value=v) for t, c, v in events]
        os.write(self._wake, b"x")

    def unplug(self) -> None:
        self.unplugged = True
        os.write(self._wake, b"x")

    def read(self) -> Iterator[types.SimpleNamespace]:
        os.read(self.fd, 4096)
        if self.unplugged:
            raise OSError(19, "No such device")
        if not self.pending:
            raise BlockingIOError
        out, self.pending = self.pending, []
        return iter(out)

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        self.closed = True
        os.close(self.fd)
        os.close(self._wake)


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeInputDevice]]:
    module = types.ModuleType("evdev")
    module.InputDevice = FakeInputDevice  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "evdev", module)
    FakeInputDevice.instances = []
    yield FakeInputDevice.instances


def key_events(text: str) -> list[tuple[int, int, int]]:
    """What evdev reports for a wedge typing ``text``: EV_KEY events, each with a SYN."""
    out: list[tuple[int, int, int]] = []
    for code, value in text_to_keys(text):
        out += [(EV_KEY, code, value), (EV_SYN, 0, 0)]
    return out


def test_hid_reader_grabs_decodes_and_recovers(fake_evdev: list[FakeInputDevice]) -> None:
    events: queue.Queue[ReadEvent] = queue.Queue()
    reader = HidMagstripeReader(reader_id="desk-swipe", device="/dev/input/event7",
                                on_event=events.put, reopen_s=0.1).start()
    try:
        wait_for(lambda: reader.state == "ready", "the reader to open")
        device = fake_evdev[-1]
        assert device.grabbed
        swipe = key_events(T1 + T2 + "\n")
        device.push(swipe[: len(swipe) // 2])  # a swipe arrives in several reads
        device.push(swipe[len(swipe) // 2:])
        event = events.get(timeout=3)
        assert isinstance(event, CardRead) and event.identifier == VISA
        assert event.details["name"] == "DOE/JOHN"
        device.push(key_events(";4111111111111111=2513101?\n"))
        event = events.get(timeout=3)
        assert isinstance(event, ReadFailure) and event.reason == "swipe_malformed"
        device.unplug()
        wait_for(lambda: len(fake_evdev) > 1 and reader.state == "ready", "a reopen")
        assert device.closed and not device.grabbed
        fake_evdev[-1].push(key_events(track2(MASTERCARD) + "\n"))
        event = events.get(timeout=3)
        assert isinstance(event, CardRead) and event.identifier == MASTERCARD
    finally:
        reader.close()


def test_hid_feed_events_skips_non_key_events() -> None:
    reader = HidMagstripeReader(reader_id="r", device="/dev/input/event0",
                                on_event=lambda e: None)
    try:
        typed = reader.feed_events([(EV_SYN, 0, 0), (EV_KEY, KEY_LEFTSHIFT, 1),
                                    (EV_KEY, KEY_5, 1), (4, 4, 458786),  # EV_MSC scan code
                                    (EV_KEY, KEY_5, 0), (EV_KEY, KEY_LEFTSHIFT, 0)])
        assert typed == "%"
        assert isinstance(reader.event_for(T2), CardRead)
        failure = reader.event_for("%B41")
        assert isinstance(failure, ReadFailure) and "partial swipe" in failure.message
    finally:
        reader.close()
