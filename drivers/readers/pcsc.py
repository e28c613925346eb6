"""Contact smart cards through PC/SC (pyscard's low-level ``smartcard.scard`` API).

``[[readers]] driver = "pcsc"``; ``device`` is a PC/SC reader name or a prefix of it
(``""`` = the first reader pcscd lists). Options: ``issuer_key`` — the 16-byte
issuer master key (the daemon reads it from ``[cards] issuer_key_file`` with
:func:`load_issuer_key`); without it every card is refused as ``card_not_genuine``.

Each insertion gives exactly one event (docs/cards.md has the application):

1. ``SELECT`` the fuel-card application, ``READ BINARY`` the card file, parse it;
2. ``INTERNAL AUTHENTICATE`` with 16 bytes from ``os.urandom`` and check the MAC
   against the key diversified from the issuer master key for the card's PAN;
3. a genuine card → ``CardRead(kind="smart", identifier=PAN, verified=True,
   details={card_id, expiry, holder?, atr})``; a wrong MAC, a refused challenge or
   no issuer key → ``ReadFailure("card_not_genuine")``; a card pulled mid-read, a
   foreign card (``6A 82``), a malformed answer or card file →
   ``ReadFailure("card_unreadable")``. Each failure carries one sentence, and the
   PAN as ``raw`` once it is known (the daemon journals it as the refused card).

Watching: ``SCardGetStatusChange`` on the one reader with the poll timeout. A card
is new when the slot turns from empty to present, or when pcsc-lite's event counter
(the high 16 bits of the event state) moves while a card is present — a swap
between two polls. A card already in the slot when the reader opens is read too.
``_removed()`` tells the base debounce whether the previous card was seen leaving,
so the same card taken out and put back within the debounce time is read again.

Failures of the service itself (pcscd stopped: ``SCARD_E_NO_SERVICE`` and kin) and
a reader that disappears raise from ``_poll``: the base marks the reader ``failed``,
closes the context and reopens it every ``reopen_s`` until pcscd is back.

Timing seen with pcscd + vpcd: a card insertion is reported about 0.3-0.4 s after
the card powers up (pcscd polls the slot); the four APDUs take under 5 ms.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from smartcard import scard

from core.errors import DriverInitializationError, DriverOperationError, KeyFileError
from core.reasons import Reason
from drivers.readers import smartcard_app as app
from drivers.readers.base import CardRead, CardReader, ReadEvent, ReadFailure

log = structlog.get_logger(__name__)

#: Errors meaning the PC/SC service (not the card) is gone: the reader fails and reopens.
SERVICE_ERRORS = frozenset({
    scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR,
    scard.SCARD_F_INTERNAL_ERROR, scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_NO_READERS_AVAILABLE,
})
#: Slot states meaning the reader itself is gone (pcsc-lite: unplugged reader).
#: ``SCARD_STATE_UNAVAILABLE`` alone is not one: the slot is just unusable for now.
_READER_GONE = scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE
_MAX_GET_RESPONSE = 8


def _hr(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).rstrip('.')} ({hresult & 0xFFFFFFFF:08X})"


def load_issuer_key(path: Path | str) -> bytes:
    """The issuer master key from ``path``: 32 hex digits (whitespace ignored), mode 0600.

    Raises KeyFileError with one sentence when the file is missing, accessible by
    group or others, or does not hold exactly one AES-128 key.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"the issuer key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"the issuer key file {path} cannot be read: "
                           f"{exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the issuer key file {path} is accessible by group or others "
                           f"(mode {stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'")
    try:
        text = "".join(raw.decode("ascii").split())
        key = bytes.fromhex(text) if len(text) == 2 * app.KEY_LEN else b""
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != app.KEY_LEN:
        raise KeyFileError(f"the issuer key file {path} does not hold one AES-128 key "
                           "as 32 hex digits")
    return key


class _CardGone(Exception):
    """The card stopped answering during a command (pulled, reset, mute)."""


class PcscReader(CardReader):
    """One PC/SC reader slot running the forecourt fuel-card application."""

    kind = "smart"

    def __init__(self, *, reader_id: str, device: str, on_event: Callable[[ReadEvent], None],
                 options: dict[str, Any] | None = None, debounce_s: float = 1.5,
                 reopen_s: float = 2.0) -> None:
        key = (options or {}).get("issuer_key")
        if key is not None and (not isinstance(key, bytes) or len(key) != app.KEY_LEN):
            raise DriverInitializationError(
                f"reader {reader_id}: the issuer key must be {app.KEY_LEN} bytes (AES-128)")
        self._issuer_key: bytes | None = key
        self._context: int | None = None
        self._reader = ""
        self._state = scard.SCARD_STATE_UNAWARE
        self._present = False
        self._count = -1
        self._left = False  # the last card was seen leaving since the last event
        self._fresh = False  # the event being delivered follows a seen removal
        super().__init__(reader_id=reader_id, device=device, on_event=on_event,
                         options=options, debounce_s=debounce_s, reopen_s=reopen_s)

    # -- lifecycle hooks ------------------------------------------------------------------
    def _open(self) -> None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise DriverInitializationError(
                f"the PC/SC service (pcscd) is not available: {_hr(hresult)}")
        try:
            hresult, readers = scard.SCardListReaders(context, [])
            if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
                readers = []
            elif hresult != scard.SCARD_S_SUCCESS:
                raise DriverInitializationError(f"PC/SC cannot list readers: {_hr(hresult)}")
            names = [r for r in readers if r.startswith(self.device)]
            if not names:
                known = ", ".join(repr(r) for r in readers) or "none"
                wanted = f"named {self.device!r}* " if self.device else ""
                raise DriverInitializationError(
                    f"no PC/SC reader {wanted}is connected (readers: {known})")
        except BaseException:
            scard.SCardReleaseContext(context)
            raise
        self._context, self._reader = context, names[0]
        self._state = scard.SCARD_STATE_UNAWARE
        self._present, self._count = False, -1
        log.info("pcsc.opened", reader=self.reader_id, name=self._reader)

    def _close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(Exception):
                scard.SCardReleaseContext(context)

    def _removed(self) -> bool:
        return self._fresh

    @property
    def card_present(self) -> bool:
        """True while a card sits in the slot (as last seen by ``_poll``)."""
        return self._present and self._context is not None

    def status(self) -> dict[str, Any]:
        return {**super().status(), "card_present": self.card_present}

    def _poll(self, timeout: float) -> ReadEvent | None:
        if self._context is None:
            raise DriverOperationError("the PC/SC context is closed")
        hresult, states = scard.SCardGetStatusChange(
            self._context, max(0, int(timeout * 1000)), [(self._reader, self._state)])
        if hresult == scard.SCARD_E_TIMEOUT:
            return None
        if hresult != scard.SCARD_S_SUCCESS:
            raise DriverOperationError(f"PC/SC stopped answering: {_hr(hresult)}")
        _name, event_state, atr = states[0]
        if event_state & _READER_GONE:
            raise DriverOperationError(f"the PC/SC reader {self._reader!r} is gone")
        self._state = event_state & ~scard.SCARD_STATE_CHANGED
        present = bool(event_state & scard.SCARD_STATE_PRESENT)
        count = (event_state >> 16) & 0xFFFF
        if not present:
            if self._present:
                log.debug("pcsc.removed", reader=self.reader_id)
            self._present, self._left = False, True  # an empty slot: the last card left
            return None
        swapped = self._present and count != self._count
        if self._present and not swapped:
            return None  # same card, another flag changed (in use, exclusive...)
        if swapped:
            self._left = True
        self._present, self._count = True, count
        self._fresh, self._left = self._left, False
        if event_state & scard.SCARD_STATE_MUTE:
            return self._failure(Reason.CARD_UNREADABLE,
                                 "the card does not answer the reader (no ATR)")
        return self._read_card(bytes(atr))

    # -- one presentation -----------------------------------------------------------------
    def _failure(self, reason: Reason, message: str, raw: str = "") -> ReadFailure:
        log.info("pcsc.refused", reader=self.reader_id, reason=str(reason), message=message)
        return ReadFailure(self.reader_id, self.kind, str(reason), message, raw)

    def _read_card(self, atr: bytes) -> ReadEvent:
        assert self._context is not None
        hresult, card, protocol = scard.SCardConnect(
            self._context, self._reader, scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if hresult in SERVICE_ERRORS - {scard.SCARD_E_INVALID_HANDLE}:
            raise DriverOperationError(f"PC/SC stopped answering: {_hr(hresult)}")
        if hresult != scard.SCARD_S_SUCCESS:
            return self._failure(Reason.CARD_UNREADABLE,
                                 f"the card could not be connected: {_hr(hresult)}")
        pan = ""
        try:
            data = self._read_file(card, protocol)
            info = app.parse_card_file(data)
            pan = info.pan
            return self._authenticate(card, protocol, info, data, atr)
        except _CardGone as exc:
            return self._failure(Reason.CARD_UNREADABLE, str(exc), pan)
        except app.CardDataError as exc:
            return self._failure(Reason.CARD_UNREADABLE, str(exc), pan)
        finally:
            with contextlib.suppress(Exception):
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    def _transmit(self, card: int, protocol: int, apdu: bytes,
                  command: str) -> tuple[bytes, int]:
        """Send one command; ``(data, sw)`` after 61xx (GET RESPONSE) and 6Cxx (re-send
        with the right Le) are handled as ISO 7816-4 says."""
        data = b""
        for _ in range(_MAX_GET_RESPONSE):
            hresult, response = scard.SCardTransmit(card, protocol, list(apdu))
            if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED):
                raise DriverOperationError(f"PC/SC stopped answering: {_hr(hresult)}")
            if hresult != scard.SCARD_S_SUCCESS:
                raise _CardGone(f"the card stopped answering during {command}, probably "
                                f"pulled out: {_hr(hresult)}")
            if not response:
                raise _CardGone(f"the card gave no answer to {command}, probably pulled out")
            body, sw = app.split_response(bytes(response), command)
            data += body
            if sw >> 8 == 0x61:
                apdu = app.get_response(sw & 0xFF)
            elif sw >> 8 == 0x6C and len(apdu) == 5 and apdu[4] != sw & 0xFF:
                apdu = apdu[:4] + bytes([sw & 0xFF])
            else:
                return data, sw
        raise app.CardDataError(f"the card kept asking for GET RESPONSE after {command}")

    def _read_file(self, card: int, protocol: int) -> bytes:
        _data, sw = self._transmit(card, protocol, app.select_aid(), "SELECT")
        if sw == app.SW_NOT_FOUND:
            raise app.CardDataError("the card does not hold the forecourt fuel-card "
                                    "application (SELECT answered 6A82)")
        if sw != app.SW_OK:
            raise app.CardDataError(f"the card refused SELECT of the fuel-card application "
                                    f"with {app.sw_text(sw)}")
        data, sw = self._transmit(card, protocol, app.read_binary(0, 0, sfi=app.SFI),
                                  "READ BINARY")
        total: int | None = None
        while True:
            if sw not in (app.SW_OK, app.SW_END_OF_FILE):
                raise app.CardDataError(f"the card refused READ BINARY of its card file "
                                        f"with {app.sw_text(sw)}")
            if total is None:
                total = app.tlv_total_length(data)
                if total is not None and total > app.MAX_FILE:
                    raise app.CardDataError(f"the card file says it has {total} bytes, "
                                            f"more than {app.MAX_FILE}")
            if total is None or len(data) >= total or sw == app.SW_END_OF_FILE:
                return data
            if len(data) > app.MAX_FILE:
                raise app.CardDataError("the card file is longer than its template says")
            want = min(256, total - len(data))
            chunk, sw = self._transmit(card, protocol, app.read_binary(len(data), want % 256),
                                       "READ BINARY")
            if not chunk and sw == app.SW_OK:
                return data  # the card has nothing more: the parser reports the shortfall
            data += chunk

    def _authenticate(self, card: int, protocol: int, info: app.CardData, data: bytes,
                      atr: bytes) -> ReadEvent:
        if self._issuer_key is None:
            return self._failure(Reason.CARD_NOT_GENUINE,
                                 "no usable issuer key is configured ([cards] issuer_key_file), so "
                                 "the card cannot be checked", info.pan)
        challenge = os.urandom(app.CHALLENGE_LEN)
        mac, sw = self._transmit(card, protocol, app.internal_authenticate(challenge),
                                 "INTERNAL AUTHENTICATE")
        if sw != app.SW_OK:
            return self._failure(Reason.CARD_NOT_GENUINE,
                                 f"the card refused the challenge with {app.sw_text(sw)}",
                                 info.pan)
        if len(mac) != app.MAC_LEN:
            return self._failure(Reason.CARD_NOT_GENUINE,
                                 f"the card answered the challenge with {len(mac)} bytes "
                                 f"instead of a {app.MAC_LEN}-byte MAC", info.pan)
        if not app.verify(self._issuer_key, info.pan, challenge, mac):
            return self._failure(Reason.CARD_NOT_GENUINE,
                                 "the card's answer to the challenge is wrong: its key is not "
                                 "the issuer's (a cloned or foreign card)", info.pan)
        details: dict[str, Any] = {**info.details(), "atr": atr.hex().upper()}
        log.info("pcsc.read", reader=self.reader_id, card_id=info.card_id)
        return CardRead(self.reader_id, self.kind, identifier=info.pan,
                        raw=data.hex().upper(), verified=True, details=details)
