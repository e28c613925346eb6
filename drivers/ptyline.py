"""A pseudo-terminal pair for simulators: the simulator holds the master side, the
station opens the slave side by its path like any serial device.

A pty ignores baud rate and parity (see docs/pump-line.md on wire timing), so it
carries exactly the bytes of a real line, without its timing.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import termios
import tty
from pathlib import Path


class PtyLine:
    """The master side of a fresh pty pair, as a byte line (``write``/``read``)."""

    def __init__(self, link: Path | None = None) -> None:
        self._master, self._slave = pty.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.link = link
        if link is not None:
            link.unlink(missing_ok=True)
            link.symlink_to(self.path)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except OSError:  # EIO while no process has the slave open
            return b""

    def hold_output(self) -> None:
        """Suspend the station side's output, as flow control would (XOFF received, or
        CTS held low): its next write blocks until :meth:`release_output`. A line
        adapter stuck like this is what the station's watchdog must notice."""
        termios.tcflow(self._slave, termios.TCOOFF)

    def release_output(self) -> None:
        """Let the station side's output flow again (after :meth:`hold_output`)."""
        termios.tcflow(self._slave, termios.TCOON)

    def reset_input(self) -> None:
        while self.read(0):
            pass

    def close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link is not None:
            self.link.unlink(missing_ok=True)
