"""A DART pump simulator: N pumps behind one serial port, for tests and the demo.

Each :class:`SimPump` follows the state machine of docs/pump-line.md: prices (CD5)
take it from NOT PROGRAMMED to FILLING COMPLETED, RESET to RESET, AUTHORIZE to
AUTHORIZED, a lifted allowed nozzle to FILLING at ``flow_rate`` raw volume units per
second, the preset or a hang-up to MAX REACHED / FILLING COMPLETED. Totalizers only
grow. Faults can be injected per pump (:class:`Faults`): drop the next frame,
corrupt the next reply's CRC, NAK the next command (as if it arrived garbled), echo
what the master sends, go silent, answer late, restart (optionally losing the last
filling).

The simulator answers as a DART slave: POLL -> EOT or the oldest queued DATA frame;
DATA -> ACK; a retransmission (the TX# *and* the data of the last frame applied, judged
by :class:`~drivers.dart.link.Received` as the station's link layer judges it) is ACKed
and not applied twice.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from drivers.dart import application as app
from drivers.dart.application import Command, PumpState
from drivers.dart.framer import Frame, Framer, FrameType, stuff
from drivers.dart.link import ByteLine, Received
from drivers.ptyline import PtyLine
from drivers.worker import Worker

log = structlog.get_logger(__name__)


@dataclass
class Faults:
    drop_next: int = 0  # ignore this many incoming frames
    corrupt_next: int = 0  # flip the CRC of this many replies
    silent: bool = False
    echo: bool = False  # send back what the master wrote (RS-485 local echo)
    late_s: float = 0.0  # delay before each reply
    duplicate_next: int = 0  # send the next DATA reply twice (same TX#)
    nak_next: int = 0  # NAK this many incoming DATA frames, as if their CRC were bad


@dataclass
class SimPump:
    address: int
    prices: list[int]  # raw price per logical nozzle, nozzle 1 first
    flow_rate: float = 2000.0  # raw volume units per second
    state: PumpState = PumpState.NOT_PROGRAMMED
    allowed: set[int] = field(default_factory=set)
    preset_volume: int | None = None
    preset_amount: int | None = None
    nozzle: int = 0  # selected logical nozzle (0 none)
    nozzle_out: bool = False
    filled_volume: float = 0.0
    filled_amount: int = 0
    fill_nozzle: int = 0
    totals_volume: list[int] = field(default_factory=list)
    totals_amount: list[int] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    outbox: collections.deque[bytes] = field(default_factory=collections.deque)
    tx: int = 0
    #: The last DATA frame applied: a repeat of it (same TX# and data) is ACKed, not applied.
    received: Received = field(default_factory=Received)
    #: The DATA frame sent and not yet ACKed: a DART pump repeats it on the next POLL.
    unacked: bytes | None = None
    _counted: int = 0  # filled volume already added to the totals

    def __post_init__(self) -> None:
        n = len(self.prices)
        self.totals_volume = self.totals_volume or [0] * n
        self.totals_amount = self.totals_amount or [0] * n

    # -- helpers ------------------------------------------------------------------------
    def queue(self, *messages: app.Message) -> None:
        self.outbox.append(app.encode(list(messages)))

    def set_state(self, state: PumpState) -> None:
        if state != self.state:
            self.state = state
            self.queue(app.DC1(state))

    def amount_of(self, volume: float) -> int:
        # The site of the reference capture: volume with 3 decimals, price and amount 0.
        price = self.prices[self.fill_nozzle - 1] if self.fill_nozzle else 0
        return int(volume * price / 1000 + 0.5)

    def _account(self) -> None:
        """Move the filled volume into the totalizers (only ever adds)."""
        whole = int(self.filled_volume)
        if self.fill_nozzle and whole > self._counted:
            i = self.fill_nozzle - 1
            self.totals_volume[i] += whole - self._counted
            self.totals_amount[i] = self.totals_amount[i] + self.amount_of(whole) - \
                self.amount_of(self._counted)
            self._counted = whole

    def filling_info(self) -> app.DC2:
        whole = int(self.filled_volume)
        return app.DC2(whole, self.amount_of(whole))

    # -- commands from the master -------------------------------------------------------
    def apply(self, msg: app.Decoded) -> None:
        if isinstance(msg, app.CD1):
            self._command(msg.command)
        elif isinstance(msg, app.CD2):
            self.allowed = set(msg.nozzles)
        elif isinstance(msg, app.CD3):
            self.preset_volume, self.preset_amount = msg.volume, None
        elif isinstance(msg, app.CD4):
            self.preset_amount, self.preset_volume = msg.amount, None
        elif isinstance(msg, app.CD5):
            if self.state in (PumpState.NOT_PROGRAMMED, PumpState.FILLING_COMPLETED,
                              PumpState.MAX_REACHED, PumpState.RESET):
                for i, price in enumerate(msg.prices[:len(self.prices)]):
                    self.prices[i] = price
                if len(msg.prices) >= len(self.prices) and \
                        self.state == PumpState.NOT_PROGRAMMED:
                    self.set_state(PumpState.FILLING_COMPLETED)
        elif isinstance(msg, app.CD101):
            i = msg.counter - 1
            if 0 <= i < len(self.prices):
                self._account()
                self.queue(app.DC101(msg.counter, self.totals_volume[i], self.totals_amount[i],
                                     0))

    def _command(self, command: Command) -> None:
        if command == Command.RETURN_STATUS:
            self.queue(app.DC1(self.state))
        elif command == Command.RETURN_FILLING_INFO:
            self.queue(self.filling_info())
        elif command == Command.RESET:
            if self.state in (PumpState.FILLING_COMPLETED, PumpState.MAX_REACHED,
                              PumpState.RESET, PumpState.AUTHORIZED):
                if self.state == PumpState.RESET:
                    self.queue(app.DC1(PumpState.RESET))
                self.set_state(PumpState.RESET)
        elif command == Command.AUTHORIZE:
            if self.state == PumpState.RESET:
                self.filled_volume, self.fill_nozzle, self._counted = 0.0, 0, 0
                self.set_state(PumpState.AUTHORIZED)
                if self.nozzle_out and self.nozzle in self.allowed:
                    self._start_fill()
        elif command == Command.STOP and self.state in (PumpState.FILLING,
                                                          PumpState.AUTHORIZED):
            self._finish(PumpState.FILLING_COMPLETED)

    # -- the forecourt ------------------------------------------------------------------
    def lift(self, nozzle: int) -> None:
        self.nozzle, self.nozzle_out = nozzle, True
        self.queue(app.DC3(self.prices[nozzle - 1], nozzle, True))
        if self.state == PumpState.AUTHORIZED and nozzle in self.allowed:
            self._start_fill()

    def hang(self) -> None:
        if not self.nozzle_out:
            return
        self.nozzle_out = False
        self.queue(app.DC3(self.prices[self.nozzle - 1], self.nozzle, False))
        if self.state in (PumpState.FILLING, PumpState.AUTHORIZED):
            self._finish(PumpState.FILLING_COMPLETED)

    def _start_fill(self) -> None:
        self.fill_nozzle = self.nozzle
        self.set_state(PumpState.FILLING)

    def _finish(self, state: PumpState) -> None:
        self._account()
        self.set_state(state)
        self.queue(self.filling_info())

    def tick(self, dt: float) -> None:
        if self.state != PumpState.FILLING or not self.nozzle_out:
            return
        self.filled_volume += self.flow_rate * dt
        limit = self.preset_volume
        if self.preset_amount is not None and self.fill_nozzle:
            price = self.prices[self.fill_nozzle - 1]
            limit = min(limit or 10**12, int(self.preset_amount * 1000 / price)) if price else limit
        if limit is not None and self.filled_volume >= limit:
            self.filled_volume = float(limit)
            self._finish(PumpState.MAX_REACHED)
        else:
            self._account()

    def restart(self, *, lose_memory: bool = False) -> None:
        """Power cycle: link state lost, fill stopped; totals survive (non-volatile)."""
        self._account()
        self.tx, self.unacked = 0, None
        self.received.forget()
        self.outbox.clear()
        self.nozzle_out = False
        if lose_memory:
            self.filled_volume, self.fill_nozzle, self._counted = 0.0, 0, 0
        self.state = PumpState.FILLING_COMPLETED if not lose_memory else \
            PumpState.NOT_PROGRAMMED


class PumpSimulator:
    """Serves DART pumps on one byte line; :meth:`start` runs it in a thread."""

    def __init__(self, line: ByteLine, pumps: list[SimPump], *, crc: str = "arc") -> None:
        self.line = line
        self.pumps = {p.address: p for p in pumps}
        self.framer = Framer(crc)
        self.lock = threading.RLock()
        self._worker = Worker("dart-simulator", self.serve)
        self._stop = self._worker.stopped
        self._buf = bytearray()
        self._last_tick = time.monotonic()

    def start(self) -> PumpSimulator:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def serve(self) -> None:
        while not self._stop.is_set():
            data = self.line.read(0.01)
            with self.lock:
                self._advance()
                if data:
                    self._buf += data
                    self._handle_buffer()

    def _advance(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        for pump in self.pumps.values():
            pump.tick(dt)

    def _handle_buffer(self) -> None:
        while self._buf:
            used, frame = self.framer.decode(self._buf)
            if used == 0:
                return
            raw = bytes(self._buf[:used])
            del self._buf[:used]
            if frame is None or frame.address not in self.pumps:
                continue
            pump = self.pumps[frame.address]
            if pump.faults.echo:
                self.line.write(raw)
            # A silent pump says nothing at all, and a dropped frame never reached it:
            # neither answers, not even with a NAK.
            if pump.faults.silent:
                continue
            if pump.faults.drop_next > 0:
                pump.faults.drop_next -= 1
                continue
            garbled = frame.type == FrameType.DATA and pump.faults.nak_next > 0
            if not frame.crc_ok or garbled:
                if garbled:
                    pump.faults.nak_next -= 1
                self._reply(pump, self.framer.control(pump.address, FrameType.NAK, frame.tx))
                continue
            self._answer(pump, frame)

    def _answer(self, pump: SimPump, frame: Frame) -> None:
        if frame.type == FrameType.POLL:
            if pump.unacked is None and pump.outbox:
                pump.tx = 1 if pump.tx >= 15 else pump.tx + 1
                pump.unacked = self.framer.data(pump.address, pump.tx, pump.outbox.popleft())
            if pump.unacked is not None:  # new, or repeated (same TX#) until ACKed
                wire = pump.unacked
                self._reply(pump, wire)
                if pump.faults.duplicate_next > 0:
                    pump.faults.duplicate_next -= 1
                    self.line.write(wire)
            else:
                self._reply(pump, self.framer.control(pump.address, FrameType.EOT, pump.tx))
        elif frame.type == FrameType.DATA:
            # The link layer's own rule (same TX# and same data): a master that resends
            # a NAKed command under a reset TX# still gets it applied.
            if pump.received.take(frame.tx, frame.data):
                for msg in app.decode(frame.data, to_pump=True):
                    pump.apply(msg)
            else:
                log.debug("sim.duplicate", address=f"0x{pump.address:02X}", tx=frame.tx)
            self._reply(pump, self.framer.control(pump.address, FrameType.ACK, frame.tx))
        elif frame.type == FrameType.ACK and frame.tx == pump.tx:
            pump.unacked = None

    def _reply(self, pump: SimPump, wire: bytes) -> None:
        if pump.faults.late_s:
            time.sleep(pump.faults.late_s)
        if pump.faults.corrupt_next > 0 and len(wire) > 3:
            pump.faults.corrupt_next -= 1
            # Flip the CRC-lo bit pattern in the unstuffed frame and stuff again, so the
            # frame stays a frame (a flip into 0xFA or of a stuffing 0x10 would not).
            body = bytearray(wire[:-2].replace(b"\x10\xfa", b"\xfa"))
            body[-2] ^= 0x5A
            wire = stuff(bytes(body)) + wire[-2:]
        self.line.write(wire)

    # -- the forecourt (thread-safe) ----------------------------------------------------
    def lift(self, address: int, nozzle: int) -> None:
        with self.lock:
            self.pumps[address].lift(nozzle)

    def hang(self, address: int) -> None:
        with self.lock:
            self._advance()
            self.pumps[address].hang()


def run_console(*, count: int, nozzles: int, port: str | None, link: Path | None,
                flow_ml_s: float) -> None:
    """``forecourt sim pumps``: serve pumps and take forecourt commands on stdin."""
    line: ByteLine
    if port:
        from drivers.transport import SerialTransport

        line = SerialTransport(url=port)
        where = port
    else:
        pty_line = PtyLine(link)
        line, where = pty_line, str(link or pty_line.path)
    pumps = [SimPump(0x50 + i, [0] * nozzles, flow_rate=flow_ml_s) for i in range(count)]
    sim = PumpSimulator(line, pumps).start()
    print(f"simulating {count} DART pumps (addresses 0x50-0x{0x4F + count:02X}) on {where}",
          flush=True)
    print("commands: lift P N | hang P | fault P drop|corrupt|nak|silent|echo|late MS|restart|"
          "forget | status | quit", flush=True)
    try:
        for raw in sys.stdin:
            words = raw.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                print(console_command(sim, words), flush=True)
            except ValueError as exc:
                print(f"error: {exc}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


_USAGE = {"lift": "lift P N", "hang": "hang P", "fault": "fault P KIND"}
_FAULTS = ("drop", "corrupt", "nak", "silent", "echo", "late", "restart", "forget")
MAX_LATE_MS = 10_000


def _whole(word: str, what: str) -> int:
    if not word.isdigit():  # digits only: no sign, no spaces, no '1_000'
        raise ValueError(f"{what} is a whole number, not {word!r}")
    return int(word)


def console_command(sim: PumpSimulator, words: list[str]) -> str:
    """Apply one console command; pumps are numbered 1.. (address 0x50 + n - 1).

    A mistake (unknown command, pump or nozzle, a missing or extra word, a number that
    is not one) raises ValueError with one sentence and changes nothing.
    """
    cmd = words[0]
    if cmd == "status":
        with sim.lock:
            return "\n".join(
                f"pump {a - 0x4F}: {p.state.name} nozzle {p.nozzle}{' out' if p.nozzle_out else ''}"
                f" filled {int(p.filled_volume)} totals {p.totals_volume}"
                for a, p in sorted(sim.pumps.items()))
    if cmd not in _USAGE:
        raise ValueError(f"unknown command {cmd!r}")
    late = cmd == "fault" and len(words) > 2 and words[2] == "late"
    wanted = {"lift": 3, "hang": 2, "fault": 4 if late else 3}[cmd]
    if len(words) != wanted:
        raise ValueError(f"usage: {'fault P late MS' if late else _USAGE[cmd]}")
    number = _whole(words[1], "a pump number")
    address = 0x4F + number
    if address not in sim.pumps:
        raise ValueError(f"pump {number} is not simulated here (pumps 1 to {len(sim.pumps)})")
    pump = sim.pumps[address]
    if cmd == "lift":
        nozzle = _whole(words[2], "a nozzle number")
        if not 1 <= nozzle <= len(pump.prices):
            raise ValueError(f"pump {number} has nozzles 1 to {len(pump.prices)}, not {nozzle}")
        sim.lift(address, nozzle)
    elif cmd == "hang":
        sim.hang(address)
    else:
        kind = words[2]
        if kind not in _FAULTS:
            raise ValueError(f"unknown fault {kind!r} (drop, corrupt, nak, silent, echo, "
                             "late MS, restart, forget)")
        late_ms = 0
        if late:
            text = words[3]
            late_ms = _whole(text.removeprefix("-"), "a delay in ms")
            if text.startswith("-") or late_ms > MAX_LATE_MS:
                raise ValueError(f"a delay in ms is 0 to {MAX_LATE_MS}, not {text}")
        with sim.lock:
            faults = pump.faults
            if kind == "drop":
                faults.drop_next += 1
            elif kind == "corrupt":
                faults.corrupt_next += 1
            elif kind == "nak":
                faults.nak_next += 1
            elif kind == "silent":
                faults.silent = not faults.silent
            elif kind == "echo":
                faults.echo = not faults.echo
            elif kind == "late":
                faults.late_s = late_ms / 1000
            else:
                pump.restart(lose_memory=kind == "forget")
    return "ok"
