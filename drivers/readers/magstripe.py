"""Magnetic-stripe readers: serial (pyserial) and keyboard wedge (evdev).

Both deliver a swipe as text (ISO/IEC 7813 track data, see :mod:`drivers.readers.track`)
and differ only in how the characters arrive: bytes on a serial line, or key events
from ``/dev/input/eventN``. :class:`SwipeAssembler` cuts either stream into swipes
the same way:

* a line end (CR or LF, or Enter on a wedge) ends a line; lines that continue a swipe
  (track 2 after a track-1 line, as some readers send them) are joined to it;
* a swipe is complete once the line has been idle ``idle_s`` (~100 ms) after a line
  end or an end sentinel ``?``, or as soon as a line starts that cannot belong to it
  (the next swipe);
* text that stays incomplete (a swipe cut short, line noise) is given up after
  ``partial_s``, or as soon as new text arrives after a silence of ``idle_s``, and
  reported as a malformed swipe: it never sticks to the next swipe.

Each swipe becomes a :class:`CardRead` (identifier = PAN, ``details`` = the decoded
fields) or a :class:`ReadFailure` with reason ``swipe_malformed`` and the parser's
sentence. Garbage never raises: it is a failure like any other bad swipe.

Note that a card read's ``raw`` and ``details`` carry full track data (PAN,
discretionary data): consumers must not persist them beyond what card-data rules
allow. A failure's ``card`` is what the station records and shows of the refused swipe:
only the PAN's last four digits (:func:`~drivers.readers.track.masked_pan`).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import select
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import serial

from core.errors import DriverInitializationError, DriverNotAvailableError
from drivers.readers.base import CardRead, CardReader, ReadEvent, ReadFailure
from drivers.readers.keymap import EV_KEY, KeyDecoder
from drivers.readers.track import (
    TRACK2_START,
    SwipeError,
    masked_pan,
    parse_swipe,
    strip_framing,
)
from drivers.transport import error_check

#: Serial read slice: the longest a single blocking read waits.
READ_SLICE_S = 0.02
#: A swipe is complete after this much silence following a line end or ``?``.
IDLE_S = 0.1
#: Incomplete text (no line end, no ``?``) is given up after this much silence.
PARTIAL_S = 0.5
REASON = "swipe_malformed"
#: Text without a line end is cut off at this length (continuous line noise).
MAX_LINE = 512
_LINE_END = re.compile(r"\r\n|\r|\n")


def swipe_json(text: str, prefix: str = "", suffix: str = "") -> dict[str, Any]:
    """What ``text`` decodes to, as JSON (``forecourt readers decode --kind magstripe``).

    Raises :class:`~drivers.readers.track.SwipeError` with the reason when malformed.
    """
    return parse_swipe(text, prefix=prefix, suffix=suffix).to_json()


class SwipeAssembler:
    """Cuts a stream of reader text into swipe texts (see the module docstring).

    ``feed`` takes text as it arrives, ``due`` is called when nothing arrived; both
    return the swipes completed by then. Times are ``time.monotonic()`` values,
    passed in so tests can drive the clock.
    """

    def __init__(self, *, prefix: str = "", suffix: str = "", idle_s: float = IDLE_S,
                 partial_s: float = PARTIAL_S) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.idle_s = idle_s
        self.partial_s = partial_s
        self._tail = ""  # text after the last line end
        self._lines: list[str] = []  # complete lines of the swipe being assembled
        self._last = 0.0  # when text last arrived

    def feed(self, text: str, now: float) -> list[str]:
        """Add ``text`` received at ``now``; the swipes it completed."""
        out: list[str] = []
        if now - self._last >= self.idle_s and (self._tail or self._lines):
            # Silence in the middle of a swipe means it was cut short: whatever came
            # before is finished, and the new text starts afresh.
            if self._tail:
                out += self._add_line(self._tail)
                self._tail = ""
            if self._lines:
                out.append(self._take())
        self._last = now
        parts = _LINE_END.split(self._tail + text)
        self._tail = parts.pop()
        if len(self._tail) > MAX_LINE:
            parts.append(self._tail)
            self._tail = ""
        for line in parts:
            out += self._add_line(line)
        return out

    def due(self, now: float) -> list[str]:
        """The swipes completed by silence up to ``now``."""
        out: list[str] = []
        idle = now - self._last
        if self._tail and (idle >= self.partial_s or (idle >= self.idle_s and "?" in self._tail)):
            out += self._add_line(self._tail)
            self._tail = ""
        if self._lines and not self._tail and idle >= self.idle_s:
            out.append(self._take())
        return out

    def pending(self) -> bool:
        """True while text is buffered that is not yet a complete swipe."""
        return bool(self._tail or self._lines)

    def clear(self) -> None:
        """Drop buffered text (the device was closed; a half swipe is lost)."""
        self._tail = ""
        self._lines = []

    def _add_line(self, line: str) -> list[str]:
        """Add one complete line; returns the previous swipe if this line starts a new one."""
        if not strip_framing(line, self.prefix, self.suffix):
            return []  # blank line, a lone CR of CR LF, framing only, NUL noise
        out = []
        if self._lines and not self._continues(line):
            out.append(self._take())
        self._lines.append(line)
        return out

    def _continues(self, line: str) -> bool:
        """True when ``line`` is a further track of the swipe being assembled."""
        first = strip_framing(line, self.prefix, self.suffix)[:1]
        so_far = "\n".join(self._lines)
        if first == "+":  # track 3 never starts a swipe
            return True
        if first == "%":
            return "%" not in so_far
        if first == ";":
            # Track 1's discretionary data may hold ';' and digits: only a real track 2
            # start (a PAN and '=') means the swipe already has its track 2.
            return TRACK2_START.search(so_far) is None and ";E?" not in so_far
        return False

    def _take(self) -> str:
        text = "\n".join(self._lines)
        self._lines = []
        return text


class _MagstripeReader(CardReader):
    """What serial and wedge readers share: assembling swipes and turning them into events."""

    kind = "magstripe"

    def __init__(self, *, reader_id: str, device: str, on_event: Callable[[ReadEvent], None],
                 options: dict[str, Any] | None = None, debounce_s: float = 1.5,
                 reopen_s: float = 2.0) -> None:
        super().__init__(reader_id=reader_id, device=device, on_event=on_event,
                         options=options, debounce_s=debounce_s, reopen_s=reopen_s)
        self.assembler = SwipeAssembler(prefix=str(self.options.get("prefix", "")),
                                        suffix=str(self.options.get("suffix", "")),
                                        idle_s=float(self.options.get("idle_s", IDLE_S)),
                                        partial_s=float(self.options.get("partial_s", PARTIAL_S)))
        self._ready: deque[ReadEvent] = deque()

    def event_for(self, text: str) -> ReadEvent:
        """The card read (or the failure) one swipe's text makes."""
        try:
            swipe = parse_swipe(text, prefix=self.assembler.prefix, suffix=self.assembler.suffix)
        except SwipeError as exc:
            # What the station journals and shows as the card: never the track data.
            return ReadFailure(reader_id=self.reader_id, kind=self.kind, reason=REASON,
                               message=str(exc), raw=text, card=masked_pan(text))
        return CardRead(reader_id=self.reader_id, kind=self.kind, identifier=swipe.pan,
                        raw=text, details=swipe.to_json())

    def _queue(self, texts: list[str]) -> None:
        self._ready.extend(self.event_for(text) for text in texts)

    def _poll(self, timeout: float) -> ReadEvent | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._ready:
                return self._ready.popleft()
            now = time.monotonic()
            self._queue(self.assembler.due(now))
            if self._ready:
                continue
            if now >= deadline:
                return None
            wait = min(deadline - now, READ_SLICE_S) if self.assembler.pending() \
                else deadline - now
            text = self._receive(max(wait, 0.0))
            if text:
                self._queue(self.assembler.feed(text, time.monotonic()))

    @abstractmethod
    def _receive(self, timeout: float) -> str:
        """Text that arrives within ``timeout`` ("" if none); raises when the device is gone."""

    def _reset(self) -> None:
        self.assembler.clear()
        self._ready.clear()


class SerialMagstripeReader(_MagstripeReader):
    """A magnetic-stripe reader on a serial line (RS-232, USB-serial, a pty in tests).

    Options: ``baudrate`` (9600), ``prefix`` / ``suffix`` (text the reader wraps each
    swipe in), ``idle_s`` / ``partial_s`` (see the module docstring). The device is a
    port name or any pyserial URL (``loop://``, ``socket://host:port``).
    """

    _port: Any = None

    def _open(self) -> None:
        self._reset()
        baudrate = int(self.options.get("baudrate", 9600))
        try:
            # The timeout is set once: a pty refuses later re-configuration.
            self._port = serial.serial_for_url(self.device, baudrate=baudrate,
                                               timeout=READ_SLICE_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DriverInitializationError(
                f"cannot open magstripe reader {self.device}: {exc}") from None

    def _receive(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            with error_check("read"):
                data: bytes = self._port.read(max(1, self._port.in_waiting))
            if data:
                # latin-1 maps every byte to one character: garbage stays visible and
                # the parser refuses it (non-ASCII), never a decode exception here.
                return data.decode("latin-1")
            if time.monotonic() >= deadline:
                return ""

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
        self._reset()


class HidMagstripeReader(_MagstripeReader):
    """A keyboard-wedge (USB HID) magnetic-stripe reader on ``/dev/input/eventN``.

    The device is grabbed (``EVIOCGRAB``) so swipes never type into a console; key
    events go through :class:`~drivers.readers.keymap.KeyDecoder` (US layout) and Enter
    ends a swipe. Needs the ``evdev`` package (imported only here). Options: ``prefix``,
    ``suffix``, ``grab`` (True), ``idle_s``, ``partial_s``.
    """

    _device: Any = None
    _decoder: KeyDecoder | None = None

    @property
    def decoder(self) -> KeyDecoder:
        """The key-event decoder (one per reader; modifiers are reset on each open)."""
        if self._decoder is None:
            self._decoder = KeyDecoder()
        return self._decoder

    def _open(self) -> None:
        self._reset()
        self.decoder.reset()
        try:
            evdev = importlib.import_module("evdev")
        except ImportError:
            raise DriverNotAvailableError(
                "the magstripe-hid reader needs the evdev package: pip install evdev"
            ) from None
        try:
            device = evdev.InputDevice(self.device)
        except OSError as exc:
            raise DriverInitializationError(
                f"cannot open keyboard-wedge reader {self.device}: {exc}") from None
        try:
            if self.options.get("grab", True):
                device.grab()
        except OSError as exc:
            with contextlib.suppress(Exception):
                device.close()
            raise DriverInitializationError(
                f"cannot grab keyboard-wedge reader {self.device} (another program holds "
                f"it?): {exc}") from None
        self._device = device

    def _receive(self, timeout: float) -> str:
        device = self._device
        ready, _, _ = select.select([device.fd], [], [], timeout)
        if not ready:
            return ""
        try:
            events = list(device.read())
        except BlockingIOError:
            return ""
        return self.feed_events((e.type, e.code, e.value) for e in events)

    def feed_events(self, events: Iterable[tuple[int, int, int]]) -> str:
        """The text typed by ``(type, code, value)`` input events (non-key events skipped)."""
        return "".join(self.decoder.feed(code, value)
                       for etype, code, value in events if etype == EV_KEY)

    def _close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            with contextlib.suppress(Exception):
                device.ungrab()
            with contextlib.suppress(Exception):
                device.close()
        self._reset()
