"""RFID/NFC card reader through nfcpy: tag UID and the forecourt card record.

Device (``[[readers]] device``) is an nfcpy path: ``usb:VID:PID`` / ``usb:BUS:DEV``,
``tty:PORT:DRIVER`` (e.g. ``tty:USB0:pn532``) or ``udp:HOST:PORT`` (nfcpy's software
radio, used by the tests with :mod:`drivers.readers.nfc_tag` playing the card).
Options: ``targets`` — the technologies polled, default ``["106A", "212F"]``
(ISO 14443-A: Type 1, 2 and 4A tags; FeliCa: Type 3); ``"106B"`` adds Type 4B.

Each poll is one discovery round bounded by the poll timeout. A tag found is
activated, its UID read (``tag.identifier``, hex upper-case) and, where present, its
NDEF message. The card number is carried by one NDEF record, in either form:

* canonical: an NFC Forum **external type** record ``urn:nfc:ext:forecourt.com:card``
  whose payload is the card number in ASCII (what personalisation writes);
* accepted too: an NFC Forum **Text** record ``forecourt:card:<card number>`` (what any
  phone NFC app can write).

A card number is 1–32 characters of ``0-9 A-Z a-z -``. The event is a :class:`CardRead`
with ``identifier`` = the card number when the tag carries one, else the UID;
``raw`` = the NDEF message in hex when there is one, else the UID; ``details`` =
``{"uid", "tag_type" (type1|type2|type3|type4a|type4b), "ndef_card" (or None)}``.

A tag that stops answering during the read (pulled away too early), answers
something that is not a valid tag answer, or carries a malformed forecourt record,
gives a :class:`ReadFailure` with reason ``card_unreadable`` — after one more attempt
on the same tag, so a single late answer is not reported. nfcpy reports "no NDEF"
and "NDEF read failed" alike, so after an empty NDEF result the reader asks the tag
itself (Type 2 capability container, Type 3 NDEF service, Type 4 NDEF application)
whether it has NDEF data at all.

One read per presentation: after a read the reader holds the tag and only checks its
presence (one command per poll); the tag is declared gone when a presence check and a
search by its UID (three rounds) fail. A card that failed is not reported again until
two discovery rounds in a row have found no card.
``_removed()`` tells the base debounce that the card left since the previous event.
Readers with an LED/buzzer (ACR122U) signal while a read card is held, as nfcpy's
``connect`` does.

Over ``udp:`` the simulated radio waits up to 1 s for each discovery answer; the reader
caps those waits so a poll without a card stays within its timeout.
"""

from __future__ import annotations

import contextlib
import errno
import re
import time
from typing import Any

import ndef  # type: ignore[import-untyped]
import nfc
import nfc.clf
import nfc.tag
import nfc.tag.tt2
import nfc.tag.tt3
import nfc.tag.tt4

from core.errors import DriverInitializationError, DriverOperationError
from core.reasons import Reason
from drivers.readers.base import CardRead, CardReader, ReadEvent, ReadFailure

__all__ = [
    "CARD_RECORD_TYPE",
    "CARD_TEXT_PREFIX",
    "DEFAULT_TARGETS",
    "NfcReader",
    "card_ndef",
    "card_number_from_ndef",
]

#: NFC Forum external type of the record carrying the card number (payload: ASCII).
CARD_RECORD_TYPE = "urn:nfc:ext:forecourt.com:card"
#: Prefix of the Text record form of the card number: ``forecourt:card:<card number>``.
CARD_TEXT_PREFIX = "forecourt:card:"
#: What a card number may look like.
CARD_NUMBER = re.compile(r"[0-9A-Za-z-]{1,32}")

#: Technologies polled unless ``options["targets"]`` says otherwise.
DEFAULT_TARGETS = ("106A", "212F")
_KNOWN_TARGETS = ("106A", "106B", "212F", "424F")

_NDEF_AIDS = ((bytes.fromhex("D2760000850101"), 256), (bytes.fromhex("D2760000850100"), 0))
#: Lower bound of one discovery answer wait on nfcpy's udp radio (see _cap_udp_waits).
_MIN_UDP_WAIT = 0.05
#: Empty discovery rounds in a row after which a card that failed to read has left.
_MISSES_GONE = 2


def card_ndef(card_number: str, *, form: str = "external") -> bytes:
    """NDEF message octets carrying ``card_number`` (``form``: ``external`` or ``text``)."""
    if not CARD_NUMBER.fullmatch(card_number):
        raise ValueError(f"not a card number: {card_number!r}")
    if form == "external":
        record = ndef.Record(CARD_RECORD_TYPE, "", card_number.encode("ascii"))
    elif form == "text":
        record = ndef.TextRecord(CARD_TEXT_PREFIX + card_number, "en")
    else:
        raise ValueError(f"unknown card record form {form!r} (external or text)")
    return b"".join(ndef.message_encoder([record]))


def card_number_from_ndef(octets: bytes) -> str | None:
    """The card number in an NDEF message; None when it has no forecourt card record.

    Raises ValueError when the message cannot be decoded, a forecourt record holds
    something that is not a card number, or two forecourt records disagree.
    """
    try:
        records = list(ndef.message_decoder(octets, errors="relax"))
    except ndef.DecodeError as exc:
        raise ValueError(f"the NDEF message cannot be decoded ({exc})") from None
    found: set[str] = set()
    for record in records:
        if str(record.type).lower() == CARD_RECORD_TYPE:
            try:
                number = bytes(record.data).decode("ascii")
            except UnicodeDecodeError:
                raise ValueError("the forecourt card record is not ASCII") from None
        elif isinstance(record, ndef.TextRecord) and str(record.text).startswith(
                CARD_TEXT_PREFIX):
            number = str(record.text)[len(CARD_TEXT_PREFIX):]
        else:
            continue
        if not CARD_NUMBER.fullmatch(number):
            raise ValueError(f"the forecourt card record holds no card number: {number[:40]!r}")
        found.add(number)
    if len(found) > 1:
        raise ValueError("the tag carries forecourt card records with different numbers")
    return found.pop() if found else None


class _Unreadable(Exception):
    """A found tag could not be read; ``str()`` is one sentence for people."""


class NfcReader(CardReader):
    """A contactless reader on an nfcpy device path; see the module docstring."""

    kind = "rfid"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clf: Any = None
        self._targets: tuple[str, ...] = DEFAULT_TARGETS
        #: While True, nfcpy's udp radio waits at most ``_discovery_wait`` per answer.
        self._discovering = False
        self._discovery_wait = 0.1
        self._held: Any = None  # nfcpy Tag read in this presentation and still present
        self._held_target: Any = None
        self._failed_uid: str | None = None  # UID whose read failed in this presentation
        self._left = True  # the last card has left since the last event
        self._misses = 0  # discovery rounds in a row that found no card
        self._event_after_removal = True

    # -- CardReader hooks ----------------------------------------------------------------
    def _open(self) -> None:
        self._targets = self._configured_targets()
        try:
            clf = nfc.ContactlessFrontend(self.device)
        except OSError as exc:
            raise DriverInitializationError(_open_error(self.device, exc)) from None
        except Exception as exc:  # a malformed path (ValueError) or a USB library error
            raise DriverInitializationError(
                f"NFC reader {self.device!r} cannot be opened: {type(exc).__name__}: {exc}"
            ) from None
        if self.device.startswith("udp"):
            self._cap_udp_waits(clf)
        self._clf = clf
        self._forget()

    def _close(self) -> None:
        if self._held is not None:
            self._indicate(False)
        clf, self._clf = self._clf, None
        self._forget()
        if clf is not None:
            with contextlib.suppress(Exception):  # closing must not raise
                clf.close()

    def _removed(self) -> bool:
        return self._event_after_removal

    def _poll(self, timeout: float) -> ReadEvent | None:
        if self._clf is None:
            raise DriverOperationError(f"NFC reader {self.device!r} is not open")
        deadline = time.monotonic() + timeout
        if self._held is not None:
            if self._held_is_present():
                self._stop.wait(max(0.0, deadline - time.monotonic()))
            else:
                self._held = self._held_target = None
                self._left = True
                self._indicate(False)
            return None
        target = self._discover(timeout)
        if target is None:
            self._misses += 1
            if self._misses >= _MISSES_GONE:
                self._failed_uid = None
                self._left = True
            return None
        self._misses = 0
        return self._read(target)

    # -- discovery -----------------------------------------------------------------------
    def _configured_targets(self) -> tuple[str, ...]:
        targets = self.options.get("targets", DEFAULT_TARGETS)
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list | tuple) or not targets or \
                any(t not in _KNOWN_TARGETS for t in targets):
            raise DriverInitializationError(
                f"NFC reader {self.reader_id}: targets must be a list of "
                f"{', '.join(_KNOWN_TARGETS)} (got {targets!r})")
        return tuple(targets)

    def _cap_udp_waits(self, clf: Any) -> None:
        """Bound nfcpy's udp radio discovery waits (1 s per technology) by the poll timeout.

        Only the waits during discovery are capped; tag commands keep nfcpy's timing.
        """
        device = clf.device
        receive = device._recv_data

        def bounded_receive(timeout: float | None, *brty: str) -> Any:
            if self._discovering and timeout is not None:
                timeout = min(timeout, self._discovery_wait)
            return receive(timeout, *brty)

        device._recv_data = bounded_receive

    def _sense(self, *targets: Any, wait: float, iterations: int = 1) -> Any:
        self._discovering, self._discovery_wait = True, wait
        try:
            return self._clf.sense(*targets, iterations=iterations, interval=0.05)
        except nfc.clf.UnsupportedTargetError as exc:
            raise DriverOperationError(
                f"NFC reader {self.device!r} cannot poll {self._targets}: {exc}") from None
        finally:
            self._discovering = False

    def _discover(self, timeout: float) -> Any:
        """One discovery round over the configured technologies; the card found or None."""
        wait = max(timeout / len(self._targets), _MIN_UDP_WAIT)
        target = self._sense(*[nfc.clf.RemoteTarget(t) for t in self._targets], wait=wait)
        if target is None or not _is_card(target):
            return None
        return target

    def _find_again(self, target: Any) -> Any:
        """Look for the tag of ``target`` by its UID (three rounds); the new target or None."""
        uid = _target_uid(target)
        probe = nfc.clf.RemoteTarget(target.brty)
        if target.brty.endswith("A") and target.sdd_res is not None:
            probe.sel_req = bytearray(target.sdd_res)
        found = self._sense(probe, wait=max(self._discovery_wait, 0.1), iterations=3)
        if found is None or _target_uid(found) != uid:
            return None
        return found

    # -- reading -------------------------------------------------------------------------
    def _read(self, target: Any) -> ReadEvent | None:
        uid = _target_uid(target)
        try:
            tag, result = self._read_tag(target)
        except _Unreadable as first:
            # once more on the same tag: one late answer is not an unreadable card
            again = self._find_again(target)
            failure: _Unreadable | None = first
            if again is not None:
                try:
                    tag, result = self._read_tag(again)
                    target, failure = again, None
                except _Unreadable as second:
                    failure = second
            if failure is not None:
                if uid == self._failed_uid:
                    return None  # still the same presentation: reported already
                self._failed_uid = uid
                return self._event(ReadFailure(
                    reader_id=self.reader_id, kind=self.kind, reason=Reason.CARD_UNREADABLE,
                    message=str(failure), raw=uid))
        self._held, self._held_target, self._failed_uid = tag, target, None
        self._indicate(True)
        return self._event(result)

    def _read_tag(self, target: Any) -> tuple[Any, CardRead]:
        """Activate and read one tag; _Unreadable when it does not answer as a tag."""
        try:
            tag = nfc.tag.activate(self._clf, target)
        except OSError:
            raise
        except Exception:  # nfcpy indexes into whatever came back
            raise _Unreadable("The tag answered its activation with nonsense.") from None
        if tag is None:
            raise _Unreadable("The tag was found but did not answer its activation.")
        try:
            found = tag.ndef
            octets = bytes(found.octets) if found is not None else None
        except OSError:
            raise
        except Exception:
            raise _Unreadable("The tag's NDEF data could not be read.") from None
        if octets is None:
            self._check_no_ndef(tag)
        card: str | None = None
        if octets:
            try:
                card = card_number_from_ndef(octets)
            except ValueError as exc:
                raise _Unreadable(f"The tag's NDEF data is unusable: {exc}.") from None
        uid = bytes(tag.identifier).hex().upper()
        details = {"uid": uid, "tag_type": _tag_type(tag, target), "ndef_card": card}
        return tag, CardRead(reader_id=self.reader_id, kind=self.kind,
                             identifier=card or uid, raw=octets.hex().upper() if octets else uid,
                             details=details)

    def _check_no_ndef(self, tag: Any) -> None:
        """nfcpy found no NDEF message: make sure the tag has none, rather than failed."""
        try:
            if isinstance(tag, nfc.tag.tt2.Type2Tag):
                cc = bytes(tag.read(0))[12:16]
                if cc[:1] == b"\xe1":
                    raise _Unreadable("The tag is NDEF formatted but its message "
                                      "could not be read.")
            elif isinstance(tag, nfc.tag.tt3.Type3Tag):
                self._check_type3(tag)
            elif isinstance(tag, nfc.tag.tt4.Type4Tag):
                self._check_type4(tag)
            elif not tag.is_present:
                raise _Unreadable("The tag stopped answering while it was read.")
        except nfc.tag.TagCommandError:
            raise _Unreadable("The tag stopped answering while it was read.") from None

    @staticmethod
    def _check_type3(tag: Any) -> None:
        try:
            if tag.sys != 0x12FC:
                try:
                    tag.idm, tag.pmm = tag.polling(0x12FC)
                except nfc.tag.tt3.Type3TagCommandError as exc:
                    if exc.errno == nfc.tag.TIMEOUT_ERROR and tag.is_present:
                        return  # present, but silent for system 12FC: not an NDEF card
                    raise
                tag.sys = 0x12FC
            tag.read_from_ndef_service(0)
        except nfc.tag.tt3.Type3TagCommandError as exc:
            if exc.errno > 0xFF:
                return  # status flags: the card has no NDEF service
            raise
        raise _Unreadable("The tag has an NDEF service but its message could not be read.")

    @staticmethod
    def _check_type4(tag: Any) -> None:
        for aid, mrl in _NDEF_AIDS:
            try:
                tag.send_apdu(0, 0xA4, 0x04, 0x00, aid, mrl)
            except nfc.tag.tt4.Type4TagCommandError as exc:
                if exc.errno > 0:
                    continue  # a status word: no such application
                raise
            raise _Unreadable("The tag has an NDEF application but its message "
                              "could not be read.")

    def _held_is_present(self) -> bool:
        """Presence of the tag read in this presentation (a check, then a search by UID)."""
        try:
            if self._held.is_present:
                return True
        except OSError:
            raise
        except Exception:  # a garbled answer counts as no answer
            pass
        again = self._find_again(self._held_target)
        if again is None:
            return False
        try:
            tag = nfc.tag.activate(self._clf, again)
        except OSError:
            raise
        except Exception:
            tag = None
        if tag is None:
            return False
        self._held, self._held_target = tag, again
        return True

    # -- bookkeeping ---------------------------------------------------------------------
    def _indicate(self, on: bool) -> None:
        """LED/buzzer of readers that have them (ACR122U), on while a read card is held."""
        device = getattr(self._clf, "device", None)
        if device is None:
            return
        with contextlib.suppress(Exception):  # an indicator never fails a read
            if on:
                device.turn_on_led_and_buzzer()
            else:
                device.turn_off_led_and_buzzer()

    def _event(self, event: ReadEvent) -> ReadEvent:
        self._event_after_removal, self._left = self._left, False
        return event

    def _forget(self) -> None:
        self._held = self._held_target = None
        self._failed_uid = None
        self._left = True
        self._misses = 0


def _is_card(target: Any) -> bool:
    """False for peer-to-peer devices (a phone offering NFC-DEP only)."""
    if target.brty.endswith("A") and target.sel_res is not None:
        return bool(target.sel_res[0] & 0x60 != 0x40)
    if target.brty.endswith("F") and target.sensf_res is not None:
        return bool(target.sensf_res[1:3] != b"\x01\xfe")
    return True


def _target_uid(target: Any) -> str:
    if target.brty.endswith("A"):
        uid = target.sdd_res if target.sdd_res is not None else target.rid_res[2:6]
    elif target.brty.endswith("F"):
        uid = target.sensf_res[1:9]
    else:
        uid = target.sensb_res[1:5]
    return bytes(uid).hex().upper()


def _tag_type(tag: Any, target: Any) -> str:
    name = str(tag.type).lower().removesuffix("tag")  # Type2Tag -> type2
    if name == "type4":
        name += "a" if target.brty.endswith("A") else "b"
    return name


def _open_error(device: str, exc: OSError) -> str:
    if exc.errno == errno.ENODEV:
        why = "no such device (check the path: usb:VID:PID, tty:PORT:DRIVER or udp:HOST:PORT)"
    elif exc.errno == errno.EACCES:
        why = "permission denied (add the service user to the group owning the device)"
    elif exc.errno == errno.EBUSY:
        why = "the device is in use by another process"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return f"NFC reader {device!r} cannot be opened: {why}"
