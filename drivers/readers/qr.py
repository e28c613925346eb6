"""Serial QR scanners: each scan arrives as one line of text (CR and/or LF ends it).

The scanner only delivers text; whether it is a genuine, unexpired, unused digital
card token is decided by the station (``cloud_sync.tokens`` and its replay store),
so this reader reports every scan as a ``digital`` CardRead with the text as its
identifier. Non-text garbage is a ReadFailure, never an exception.
"""

from __future__ import annotations

import contextlib
import time

import serial

from drivers.readers.base import CardRead, CardReader, ReadEvent, ReadFailure

MAX_SCAN = 2048
IDLE_END_S = 0.15  # scanners without a terminator: a pause ends the scan


class SerialQrReader(CardReader):
    kind = "digital"

    def _open(self) -> None:
        self._buf = bytearray()
        self._port = serial.serial_for_url(self.device,
                                           baudrate=int(self.options.get("baudrate", 9600)),
                                           timeout=0.02)

    def _close(self) -> None:
        port = getattr(self, "_port", None)
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
            self._port = None

    def _poll(self, timeout: float) -> ReadEvent | None:
        deadline = time.monotonic() + timeout
        last_byte = time.monotonic()
        while True:
            cut = min((i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0),
                      default=-1)
            if cut >= 0:
                line = bytes(self._buf[:cut])
                del self._buf[:cut + 1]
                if line.strip():
                    return self._event(line)
                continue
            if len(self._buf) > MAX_SCAN:
                data, self._buf = bytes(self._buf), bytearray()
                return ReadFailure(self.reader_id, self.kind, "token_invalid",
                                   "the scan is too long to be a card token", data[:64].hex())
            chunk = self._port.read(max(1, self._port.in_waiting))
            now = time.monotonic()
            if chunk:
                self._buf += chunk
                last_byte = now
            elif self._buf and now - last_byte > IDLE_END_S:
                data, self._buf = bytes(self._buf), bytearray()
                return self._event(data)
            elif not self._buf and now >= deadline:
                return None

    def _event(self, data: bytes) -> ReadEvent:
        prefix, suffix = str(self.options.get("prefix", "")), str(self.options.get("suffix", ""))
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            return ReadFailure(self.reader_id, self.kind, "token_invalid",
                               "the scan is not text", data[:64].hex())
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
        if suffix and text.endswith(suffix):
            text = text[:-len(suffix)]
        return CardRead(self.reader_id, self.kind, identifier=text, raw=text)
