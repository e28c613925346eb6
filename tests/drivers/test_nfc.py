"""The nfc reader (drivers/readers/nfc.py) against tags played over nfcpy's udp radio.

Each test gets a free UDP port; ``NfcReader`` polls ``udp:127.0.0.1:PORT`` while a
``TagEmulator`` (drivers/readers/nfc_tag.py, a second nfcpy frontend in a thread) plays
a Type 2, Type 3 or Type 4A tag on the same port. Placing a card = ``start()``, taking
it away = ``stop()``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import ndef  # type: ignore[import-untyped]
import pytest

from core.reasons import Reason
from drivers.readers import reader_class
from drivers.readers.base import CardRead, ReadEvent, ReadFailure
from drivers.readers.nfc import (
    CARD_RECORD_TYPE,
    NfcReader,
    card_ndef,
    card_number_from_ndef,
)
from drivers.readers.nfc_tag import (
    EmulatedTag,
    EmulatedType2Tag,
    EmulatedType3Tag,
    EmulatedType4ATag,
    TagEmulator,
)

UID2 = bytes.fromhex("3A1B2C3D4E5F60")
IDM3 = bytes.fromhex("02FE0A1B2C3D4E5F")
UID4 = bytes.fromhex("5C4D3E2F")
CARD = "7800001234567891"

#: tag type -> (factory of a tag with the given NDEF message, its UID in hex)
TAGS: dict[str, tuple[Callable[[bytes | None], EmulatedTag], str]] = {
    "type2": (lambda msg: EmulatedType2Tag(uid=UID2, ndef=msg), UID2.hex().upper()),
    "type3": (lambda msg: EmulatedType3Tag(idm=IDM3, ndef=msg), IDM3.hex().upper()),
    "type4a": (lambda msg: EmulatedType4ATag(uid=UID4, ndef=msg), UID4.hex().upper()),
}
#: commands a tag answers before it vanishes mid-read (after the first NDEF step)
VANISH_AFTER = {"type2": 1, "type3": 1, "type4a": 2}


class Events:
    """Events from a reader thread, waited for by the test."""

    def __init__(self) -> None:
        self.items: list[ReadEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: ReadEvent) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 6.0) -> list[ReadEvent]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} events within {timeout} s, "
                                     f"got {self.items}")
            return list(self.items)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_state(reader: NfcReader, state: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while reader.state != state:
        if time.monotonic() > deadline:
            raise AssertionError(f"reader state {reader.state!r}, expected {state!r}")
        time.sleep(0.02)


def _our_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("reader[nfc-", "nfc-tag["))]


@pytest.fixture
def device() -> str:
    return f"udp:127.0.0.1:{_free_udp_port()}"


@pytest.fixture
def emulators(device: str) -> Iterator[Callable[..., TagEmulator]]:
    """Factory of started tag emulators on ``device``; all are stopped afterwards."""
    made: list[TagEmulator] = []

    def make(tag: EmulatedTag, **faults: int) -> TagEmulator:
        emulator = TagEmulator(device, tag, **faults)
        made.append(emulator)
        return emulator.start()

    yield make
    for emulator in made:
        emulator.stop()
        assert emulator.error is None, emulator.error


@pytest.fixture
def reader(device: str) -> Iterator[tuple[NfcReader, Events]]:
    events = Events()
    rdr = NfcReader(reader_id="nfc-1", device=device, on_event=events, reopen_s=0.2)
    rdr.start()
    try:
        _wait_state(rdr, "ready")
        yield rdr, events
    finally:
        rdr.close()
        assert rdr.state == "stopped"


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 3
    while _our_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _our_threads() == []


# -- reading each tag type --------------------------------------------------------------
@pytest.mark.parametrize("tag_type", list(TAGS))
def test_reads_uid_of_a_tag_without_ndef(reader: tuple[NfcReader, Events],
                                         emulators: Callable[..., TagEmulator],
                                         tag_type: str) -> None:
    rdr, events = reader
    make, uid = TAGS[tag_type]
    emulators(make(None))
    (event,) = events.wait(1)
    assert isinstance(event, CardRead)
    assert (event.reader_id, event.kind, event.identifier, event.raw) == \
        ("nfc-1", "rfid", uid, uid)
    assert event.details == {"uid": uid, "tag_type": tag_type, "ndef_card": None}
    assert rdr.reads == 1


@pytest.mark.parametrize("form", ["external", "text"])
@pytest.mark.parametrize("tag_type", list(TAGS))
def test_reads_card_number_from_ndef(reader: tuple[NfcReader, Events],
                                     emulators: Callable[..., TagEmulator],
                                     tag_type: str, form: str) -> None:
    _, events = reader
    make, uid = TAGS[tag_type]
    message = card_ndef(CARD, form=form)
    emulators(make(message))
    (event,) = events.wait(1)
    assert isinstance(event, CardRead)
    assert event.identifier == CARD
    assert event.raw == message.hex().upper()
    assert event.details == {"uid": uid, "tag_type": tag_type, "ndef_card": CARD}


def test_other_ndef_records_leave_the_uid_as_identifier(
        reader: tuple[NfcReader, Events], emulators: Callable[..., TagEmulator]) -> None:
    _, events = reader
    message = b"".join(ndef.message_encoder([ndef.UriRecord("https://example.com")]))
    emulators(EmulatedType4ATag(uid=UID4, ndef=message))
    (event,) = events.wait(1)
    assert isinstance(event, CardRead)
    assert event.identifier == UID4.hex().upper()
    assert event.details["ndef_card"] is None


# -- one read per presentation ----------------------------------------------------------
@pytest.mark.parametrize("tag_type", list(TAGS))
def test_a_held_tag_is_read_once_and_again_after_it_left(
        reader: tuple[NfcReader, Events], emulators: Callable[..., TagEmulator],
        tag_type: str) -> None:
    rdr, events = reader
    make, _ = TAGS[tag_type]
    tag = make(card_ndef(CARD))
    emulator = emulators(tag)
    events.wait(1)
    time.sleep(2.5)  # held well beyond the 1.5 s debounce
    assert len(events.items) == 1
    assert emulator.activations == 1  # presence checks only, no second read
    emulator.stop()  # taken away ...
    deadline = time.monotonic() + 5
    while rdr._held is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    emulators(tag)  # ... and presented again, within the debounce time
    second = events.wait(2)[1]
    assert isinstance(second, CardRead)
    assert second.identifier == CARD
    assert rdr.reads == 2


# -- cards that cannot be read ----------------------------------------------------------
@pytest.mark.parametrize("tag_type", list(TAGS))
def test_a_tag_removed_mid_read_is_unreadable_and_the_reader_goes_on(
        reader: tuple[NfcReader, Events], emulators: Callable[..., TagEmulator],
        tag_type: str) -> None:
    rdr, events = reader
    make, uid = TAGS[tag_type]
    tag = make(card_ndef(CARD))
    pulled = emulators(tag, vanish_after=VANISH_AFTER[tag_type])
    (failure,) = events.wait(1)
    assert pulled.vanished.is_set()
    assert isinstance(failure, ReadFailure)
    assert failure.reason == Reason.CARD_UNREADABLE
    assert failure.raw == uid
    assert failure.message.endswith(".") and failure.message.count(".") == 1
    assert rdr.state == "ready"
    pulled.stop()
    emulators(tag)  # presented properly
    read = events.wait(2)[1]
    assert isinstance(read, CardRead) and read.identifier == CARD
    assert (rdr.reads, rdr.failures, rdr.state) == (1, 1, "ready")


@pytest.mark.parametrize("tag_type", list(TAGS))
def test_a_tag_answering_garbage_is_unreadable_once_while_held(
        reader: tuple[NfcReader, Events], emulators: Callable[..., TagEmulator],
        tag_type: str) -> None:
    rdr, events = reader
    make, uid = TAGS[tag_type]
    emulators(make(card_ndef(CARD)), garbage_after=1)
    (failure,) = events.wait(1)
    assert isinstance(failure, ReadFailure)
    assert (failure.reason, failure.raw) == (Reason.CARD_UNREADABLE, uid)
    time.sleep(1.0)  # still on the reader, still garbage: not reported again
    assert len(events.items) == 1
    assert rdr.state == "ready"


def test_a_malformed_card_record_is_unreadable(reader: tuple[NfcReader, Events],
                                               emulators: Callable[..., TagEmulator]) -> None:
    _, events = reader
    bad = b"".join(ndef.message_encoder([ndef.Record(CARD_RECORD_TYPE, "", b"78 00!")]))
    emulators(EmulatedType2Tag(uid=UID2, ndef=bad))
    (failure,) = events.wait(1)
    assert isinstance(failure, ReadFailure)
    assert failure.reason == Reason.CARD_UNREADABLE
    assert "card record holds no card number" in failure.message


# -- the reader device ------------------------------------------------------------------
def test_a_device_that_cannot_be_opened_leaves_the_reader_failed() -> None:
    events = Events()
    rdr = NfcReader(reader_id="nfc-usb", device="usb:ffff:ffff", on_event=events,
                    reopen_s=0.2)
    with rdr:
        rdr.start()
        _wait_state(rdr, "failed")
        status = rdr.status()
        assert status["state"] == "failed"
        assert status["error"].startswith("NFC reader 'usb:ffff:ffff' cannot be opened: "
                                          "no such device")
        time.sleep(0.5)  # it keeps retrying, quietly
        assert rdr.state in ("failed", "connecting")
    assert rdr.state == "stopped"
    assert events.items == []


def test_unknown_targets_option_leaves_the_reader_failed(device: str) -> None:
    rdr = NfcReader(reader_id="nfc-opt", device=device, on_event=Events(),
                    options={"targets": ["106X"]}, reopen_s=0.2)
    with rdr:
        rdr.start()
        _wait_state(rdr, "failed")
        assert "targets must be a list of 106A, 106B, 212F, 424F" in rdr.last_error


def test_the_registry_names_the_nfc_reader() -> None:
    assert reader_class("nfc") is NfcReader
    assert NfcReader.kind == "rfid"


# -- the card record --------------------------------------------------------------------
@pytest.mark.parametrize("form", ["external", "text"])
def test_card_record_round_trip(form: str) -> None:
    assert card_number_from_ndef(card_ndef(CARD, form=form)) == CARD


def encode(*records: object) -> bytes:
    return b"".join(ndef.message_encoder(records))


def test_card_record_rules() -> None:
    uri = ndef.UriRecord("https://example.com")
    text = ndef.TextRecord("hello")
    assert card_number_from_ndef(b"") is None
    assert card_number_from_ndef(encode(uri, text)) is None
    both = encode(uri, ndef.Record(CARD_RECORD_TYPE, "", CARD.encode()),
                  ndef.TextRecord("forecourt:card:" + CARD))
    assert card_number_from_ndef(both) == CARD
    upper = encode(ndef.Record("urn:nfc:ext:Forecourt.COM:Card", "", CARD.encode()))
    assert card_number_from_ndef(upper) == CARD
    with pytest.raises(ValueError, match="different numbers"):
        card_number_from_ndef(encode(ndef.Record(CARD_RECORD_TYPE, "", b"1"),
                                     ndef.Record(CARD_RECORD_TYPE, "", b"2")))
    with pytest.raises(ValueError, match="no card number"):
        card_number_from_ndef(encode(ndef.TextRecord("forecourt:card:")))
    with pytest.raises(ValueError, match="not ASCII"):
        card_number_from_ndef(encode(ndef.Record(CARD_RECORD_TYPE, "", "№1".encode())))
    with pytest.raises(ValueError, match="cannot be decoded"):
        card_number_from_ndef(b"\xff\x00")
    with pytest.raises(ValueError, match="not a card number"):
        card_ndef("12 34")


def test_the_emulator_refuses_what_it_cannot_play() -> None:
    with pytest.raises(ValueError, match="NXP"):
        EmulatedType2Tag(uid=bytes.fromhex("04A1B2C3D4E5F6"))
    with pytest.raises(ValueError, match="7 bytes"):
        EmulatedType2Tag(uid=UID4)
    with pytest.raises(ValueError, match="udp"):
        TagEmulator("usb:054c:06c3", EmulatedType4ATag())
