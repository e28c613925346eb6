"""The card-reader interface: one ABC, card-read events, reconnect and debounce.

Every reader backend (``pcsc``, ``nfc``, ``magstripe-serial``, ``magstripe-hid``,
``qr-serial``) subclasses :class:`CardReader` and implements three private hooks:
``_open()``, ``_poll(timeout)`` and ``_close()``. The public lifecycle lives here
once: a thread that opens the device, polls it, reports each presentation once
(debounce), and on any library or OS error closes, reports the state and reopens
after ``reopen_s`` — so unplugging a reader never stops the station.

Readers know nothing of cards-as-money: they produce :class:`CardRead` (who is
presenting) or :class:`ReadFailure` (a malformed swipe, a cloned card, a forged
token — with a reason code). The station decides what a read means.
"""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog

from core.errors import DriverError
from core.timefmt import iso
from drivers.worker import Worker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CardRead:
    """A card presented to a reader."""

    reader_id: str
    kind: str  # rfid, magstripe, smart, digital
    identifier: str  # what the card store is searched by: card id, PAN, UID, token id
    raw: str = ""  # raw data as read (hex or text), for diagnostics
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: True when the card proved it is genuine (smart-card MAC, signed QR token).
    verified: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadFailure:
    """A presentation that could not be read or was refused by the reader layer."""

    reader_id: str
    kind: str
    reason: str  # a reason code, e.g. swipe_malformed, card_not_genuine, token_expired
    message: str  # one sentence for people
    raw: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: What the station may record and show as the card ("" = ``raw``); a reader whose
    #: raw data is secret (a swipe's track data) sets it.
    card: str = ""


ReadEvent = CardRead | ReadFailure


class CardReader(ABC):
    """Base of every reader backend; see the module docstring for the contract."""

    #: The card kind this backend produces (``rfid``, ``magstripe``, ``smart``, ``digital``).
    kind = "rfid"
    _is_shutdown = True

    def __init__(self, *, reader_id: str, device: str, on_event: Callable[[ReadEvent], None],
                 options: dict[str, Any] | None = None, debounce_s: float = 1.5,
                 reopen_s: float = 2.0) -> None:
        self.reader_id = reader_id
        self.device = device
        self.options = dict(options or {})
        self.on_event = on_event
        self.debounce_s = debounce_s
        self.reopen_s = reopen_s
        self.state = "stopped"
        self.state_since = datetime.now(UTC)
        self.last_error = ""
        #: ``time.monotonic()`` of the thread's last turn of its loop (a poll, or a wait to
        #: reopen the device): the station's watchdog calls a reader whose beat is old hung.
        self.beat = time.monotonic()
        self.reads = 0
        self.failures = 0
        self._last: tuple[str, float] | None = None
        self._worker = Worker(f"reader[{reader_id}]", self._run)
        self._stop = self._worker.stopped
        self._is_shutdown = False

    # -- hooks for backends ---------------------------------------------------------
    @abstractmethod
    def _open(self) -> None:
        """Open the device; raise DriverError (or the library's error) on failure."""

    @abstractmethod
    def _poll(self, timeout: float) -> ReadEvent | None:
        """Wait up to ``timeout`` for one presentation; None when nothing happened."""

    @abstractmethod
    def _close(self) -> None:
        """Release the device; must not raise."""

    def _removed(self) -> bool:
        """True when the last card has left the reader (for debounce); default: by time."""
        return False

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> CardReader:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    @property
    def running(self) -> bool:
        """True while the reader's thread runs (it survives unplugs and library errors)."""
        return self._worker.alive

    @property
    def ident(self) -> int | None:
        """The reader thread's identifier (the watchdog asks whether it waits for a lock)."""
        return self._worker.ident

    def close(self) -> None:
        if not self._is_shutdown:
            self._is_shutdown = True
            self.stop()

    def __enter__(self) -> CardReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._is_shutdown:
            warnings.warn(f"reader {self.reader_id} was not properly shut down",
                          ResourceWarning, stacklevel=1)

    def _set_state(self, state: str, error: str = "") -> None:
        if state != self.state or error != self.last_error:
            if state != self.state:
                self.state_since = datetime.now(UTC)
            self.state, self.last_error = state, error
            (log.warning if error else log.info)("reader.state", reader=self.reader_id,
                                                  state=state, error=error or None)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat = time.monotonic()
            self._set_state("connecting")
            try:
                self._open()
            except Exception as exc:  # any library's failure to open: retry later
                self._set_state("failed", _sentence(exc))
                self._stop.wait(self.reopen_s)
                continue
            self._set_state("ready")
            try:
                while not self._stop.is_set():
                    self.beat = time.monotonic()
                    event = self._poll(0.2)
                    if event is not None:
                        self._deliver(event)
            except Exception as exc:  # unplugged, library error: close and reopen
                self._set_state("failed", _sentence(exc))
            finally:
                self._close()
            self._stop.wait(self.reopen_s)
        self._set_state("stopped")

    def _deliver(self, event: ReadEvent) -> None:
        now = time.monotonic()
        key = event.identifier if isinstance(event, CardRead) else f"!{event.reason}:{event.raw}"
        if self._last is not None and self._last[0] == key and \
                now - self._last[1] < self.debounce_s and not self._removed():
            self._last = (key, now)
            return
        self._last = (key, now)
        if isinstance(event, CardRead):
            self.reads += 1
        else:
            self.failures += 1
        try:
            self.on_event(event)
        except Exception:
            log.exception("reader.handler_failed", reader=self.reader_id)

    def status(self) -> dict[str, Any]:
        return {"reader": self.reader_id, "driver": type(self).__name__, "kind": self.kind,
                "device": self.device, "state": self.state,
                "since": iso(self.state_since),
                "error": self.last_error or None,
                "reads": self.reads, "failures": self.failures}


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, DriverError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
