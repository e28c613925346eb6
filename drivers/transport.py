"""Serial transport for pump lines: pyserial through ``serial_for_url``.

``serial_for_url`` means ``/dev/ttyUSB0``, ``loop://`` and ``socket://host:port``
all work, so tests run against a pty pair or a loop. RS-485 adapters without
automatic direction control hear their own transmission: with ``echo = true`` the
transport reads back and drops exactly the bytes it sent (compared, so a collision
is noticed). USB-serial adapters add 1-16 ms of latency per read (FTDI latency
timer, 16 ms by default): response timeouts below 30 ms are not reliable with them.

A pseudo-terminal (the simulator's line) ignores parity, and Linux refuses some
re-applications of parity settings to a pty that already had them (EINVAL from
``tcsetattr``): configure simulator lines with ``parity = "none"``.
"""

from __future__ import annotations

import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import serial
import structlog

from core.errors import DriverInitializationError, DriverOperationError

log = structlog.get_logger(__name__)
#: Longest single blocking read; reads loop in slices up to their own deadline.
READ_SLICE_S = 0.002
PARITIES = {"none": serial.PARITY_NONE, "odd": serial.PARITY_ODD, "even": serial.PARITY_EVEN}


@contextmanager
def error_check(action: str) -> Iterator[None]:
    """Turn pyserial and OS errors into DriverOperationError, keeping the cause."""
    try:
        yield
    except (serial.SerialException, OSError, termios.error) as exc:
        raise DriverOperationError(f"serial {action} failed: {exc}") from exc


class SerialTransport:
    """A byte pipe to one pump line."""

    _is_shutdown = True

    def __init__(self, *, url: str, baudrate: int = 9600, parity: str = "odd",
                 echo: bool = False) -> None:
        self.url = url
        self.echo = echo
        try:
            # The timeout is set once: changing it re-applies the line settings, which a
            # pty refuses once parity is set (EINVAL).
            self._port = serial.serial_for_url(url, baudrate=baudrate, parity=PARITIES[parity],
                                               bytesize=8, stopbits=1, timeout=READ_SLICE_S)
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise DriverInitializationError(f"cannot open pump line {url}: {exc}") from None
        self.echo_mismatches = 0
        self._is_shutdown = False

    def write(self, data: bytes) -> None:
        with error_check("write"):
            self._port.write(data)
            self._port.flush()
        if self.echo:
            got = self.read_exact(len(data), timeout=0.05 + len(data) * 0.002)
            if got != data:
                self.echo_mismatches += 1
                log.warning("line.echo_mismatch", url=self.url, sent=data.hex(), heard=got.hex())

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (returns as soon as bytes come)."""
        deadline = time.monotonic() + timeout
        with error_check("read"):
            while True:
                data: bytes = self._port.read(max(1, self._port.in_waiting))
                if data or time.monotonic() >= deadline:
                    return bytes(data)

    def read_exact(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        out = bytearray()
        while len(out) < n and time.monotonic() < deadline:
            with error_check("read"):
                out += self._port.read(n - len(out))
        return bytes(out)

    def reset_input(self) -> None:
        with error_check("reset"):
            self._port.reset_input_buffer()

    def close(self) -> None:
        if not self._is_shutdown:
            self._is_shutdown = True
            try:
                self._port.close()
            except (serial.SerialException, OSError) as exc:
                log.warning("line.close_failed", url=self.url, error=str(exc))

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
