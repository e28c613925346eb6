"""ISO/IEC 7813 track parsing (drivers/readers/track.py), pure functions.

:func:`parse_swipe` decodes real-looking swipes (both tracks, one track, LRC, reader
framing, proprietary format codes, the country code of a 59 PAN, fields left absent by
their separator, the vectors of public parsers) and refuses every malformed one with a
sentence naming the problem — and never raises anything but ``SwipeError``
(Hypothesis).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.readers.magstripe import (
    swipe_json,
)
from drivers.readers.track import Swipe, SwipeError, lrc, luhn_ok, masked_pan, parse_swipe
from tests.drivers.swipes import AMEX, FLEET, FLEET19, MASTERCARD, T1, T2, VISA, track1, track2

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
    # vectors of the public 'plastic' parser (with the sentinels a reader sends)
    ("%B123456789012345^Dorsey/Jack.Dr^1010^123?",
     {"pan": "123456789012345", "name": "Dorsey/Jack.Dr", "expiry": "1010",
      "service_code": None, "discretionary": "123"}),
    ("%B593456789012345^101Dorsey/Jack.Dr^1010123?",
     {"pan": CC59, "country_code": "101", "name": "Dorsey/Jack.Dr", "expiry": "1010",
      "service_code": "123"}),
    ("%B593456789012345^101Dorsey/Jack.Dr^1010^123?",
     {"country_code": "101", "expiry": "1010", "service_code": None}),
    (";593456789012345=321=123?", {"country_code": "321", "expiry": None,
                                   "service_code": "123"}),
    (";593456789012345=3211010=?", {"country_code": "321", "expiry": "1010",
                                    "service_code": None}),
    (";123456789012=0909=?", {"pan": "123456789012", "expiry": "0909", "service_code": None}),
    (";123456789012345=1010=23?", {"expiry": "1010", "service_code": None,
                                   "discretionary": "23"}),
    # an American Express track 1 may carry its PAN grouped 4-6-5 with spaces
    ("%B1234 567890 12345^Dorsey/Jack.Dr^1010123?", {"pan": "123456789012345"}),
    ("%B3714 496353 98431^SMITH/JANE^2804201?;371449635398431=2804201?",
     {"pan": AMEX, "tracks": ["1", "2"], "luhn_ok": True}),
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
    # the vectors 'plastic' refuses
    ("%B1^N^1230?", "the PAN on track 1 has 1 digit"),
    (";593456789012345=1?", "track 2 ends before its 3-digit country code"),
    (";593456789012345=?", "track 2 ends before its 3-digit country code"),
    (";123456789012345=1010?123?", "unexpected text '23?' after track 2"),  # '1': LRC
    (";12345678901234567890=1010123?", "has 20 digits"),
    # spaces in a PAN only as American Express groups them, and only on track 1
    ("%B3714 4963 5398431^SMITH/JANE^2804201?", "must be digits only, found ' '"),
    (";3714 496353 98431=2804201?", "track 2 may hold only digits and '='"),
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


