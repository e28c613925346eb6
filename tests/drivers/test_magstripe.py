"""Magnetic-stripe readers: keyboard-wedge decoding, swipe assembly, the serial reader
over a real pty, and the keyboard-wedge reader's thin evdev layer (the track parser's
own tests are in test_track.py).

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
from hypothesis import given
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
)
from drivers.readers.track import SwipeError, parse_swipe
from tests.drivers.swipes import MASTERCARD, T1, T2, VISA, track1, track2
from tests.support import wait_for

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
