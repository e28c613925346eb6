"""The pump-line test rig: the pump simulator on a real pty pair, the station side on
its slave, shared by the DART link and line tests.

The simulator holds the pty master (drivers.ptyline.PtyLine); the station side opens
the slave by its path through drivers.transport.SerialTransport, as it would a real
serial device. Timeouts are short to keep the suite fast; no assertion depends on
timing (waits are generous upper bounds, never expectations).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from drivers.dart import application as app
from drivers.dart.application import Command, PumpState
from drivers.dart.framer import Framer, FrameType, decode_all
from drivers.dart.link import DartMaster
from drivers.dart.simulator import PumpSimulator, SimPump
from drivers.ptyline import PtyLine
from drivers.transport import SerialTransport

TIMEOUT = 0.03  # response timeout of the master under test
WAIT = 15.0  # upper bound for anything to happen; a bound, not an expectation
STATUS = app.encode([app.CD1(Command.RETURN_STATUS)])
PUMP = 0x50


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class RecordingLine:
    """A byte line that remembers everything written through it (station side)."""

    def __init__(self, inner: SerialTransport) -> None:
        self.inner = inner
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        return self.inner.read(timeout)

    def reset_input(self) -> None:
        self.inner.reset_input()

    def commands(self, address: int = PUMP) -> list[list[app.Decoded]]:
        """The CD transactions of every distinct DATA frame sent (retransmissions once)."""
        out: list[list[app.Decoded]] = []
        last: bytes | None = None
        for wire in list(self.written):
            for frame in decode_all(Framer(), wire):
                if frame.type == FrameType.DATA and frame.address == address:
                    if frame.raw != last:
                        out.append(app.decode(frame.data, to_pump=True))
                    last = frame.raw
        return out


@dataclass
class Rig:
    pty: PtyLine
    sim: PumpSimulator
    transport: SerialTransport
    master: DartMaster

    def pump(self, address: int = PUMP) -> SimPump:
        return self.sim.pumps[address]

    def fault(self, address: int = PUMP, **changes: Any) -> None:
        with self.sim.lock:
            for name, value in changes.items():
                setattr(self.sim.pumps[address].faults, name, value)

    def state(self, address: int = PUMP) -> PumpState:
        with self.sim.lock:
            return self.sim.pumps[address].state

    def received(self, address: int = PUMP, polls: int = 20) -> list[app.Decoded]:
        """Poll ``polls`` times; every DC transaction delivered, in order."""
        out: list[app.Decoded] = []
        for _ in range(polls):
            self.master.poll(address)
            for data in self.master.take(address):
                out += app.decode(data, to_pump=False)
        return out

    def poll_until(self, address: int = PUMP, polls: int = 200) -> list[app.Decoded]:
        """Poll until the pump delivers something (bounded); what it delivered."""
        for _ in range(polls):
            self.master.poll(address)
            got = self.master.take(address)
            if got:
                return [m for data in got for m in app.decode(data, to_pump=False)]
        return []


def sim_pump(address: int = PUMP, **kwargs: Any) -> SimPump:
    return SimPump(address, [1500, 1400], **kwargs)


@contextmanager
def make_rig(pumps: list[SimPump], *, echo: bool = False, response_timeout: float = TIMEOUT,
             retries: int = 3, offline_after: int = 3) -> Iterator[Rig]:
    pty = PtyLine()
    sim: PumpSimulator | None = None
    transport: SerialTransport | None = None
    try:
        sim = PumpSimulator(pty, pumps).start()
        transport = SerialTransport(url=pty.path, parity="odd", echo=echo)
        master = DartMaster(transport, Framer(), response_timeout=response_timeout,
                            retries=retries, offline_after=offline_after)
        yield Rig(pty, sim, transport, master)
    finally:
        if sim is not None:
            sim.stop()
        if transport is not None:
            transport.close()
        pty.close()

