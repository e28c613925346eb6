"""CPU time of one DART poll cycle of 32 pumps against the wire time of its bytes.

A pump line is half duplex at 9600 baud, 8 data bits + odd parity + start + stop =
11 bits a byte, so the bytes of one cycle take a known time on the wire. Our own
processing (framing, CRC, link bookkeeping, application decoding, pump models,
events) must be a small part of it: target under 5 %.

The line here is scripted: each POLL is answered at once with pre-encoded bytes
(EOT from idle pumps, a DC1 + DC3 + DC2 DATA frame from pumps that are filling, as a
busy forecourt would), so the measured CPU time is ours alone. The pty cannot show
wire timing (it ignores baud rate), hence the computed wire time.

Run: ``.venv/bin/python bench/pump_line.py [--cycles N] [--filling K]``
"""

from __future__ import annotations

import argparse
import collections
import platform
import statistics
import time

from core import logs
from drivers.dart import application as app
from drivers.dart.application import PumpState
from drivers.dart.framer import Framer, FrameType
from drivers.dart.line import DartLine
from drivers.dart.pump import PumpEvent, PumpModel

BITS_PER_BYTE = 11
BAUD = 9600


class ScriptedLine:
    """Answers each frame the master writes with pre-encoded bytes; counts wire bytes."""

    def __init__(self, framer: Framer, filling: set[int]) -> None:
        self.framer = framer
        self.filling = filling
        self.pending = collections.deque[bytes]()
        self.bytes_on_wire = 0
        self.tx: dict[int, int] = collections.defaultdict(int)
        self.volume = 0
        self._eot = {a: framer.control(a, FrameType.EOT, 0) for a in range(0x50, 0x70)}

    def write(self, data: bytes) -> None:
        self.bytes_on_wire += len(data)
        address, ctrl = data[0], data[1]
        if ctrl >> 4 != FrameType.POLL:
            return  # the master's ACKs need no answer
        if address in self.filling:
            self.volume += 37
            self.tx[address] = self.tx[address] % 15 + 1
            reply = self.framer.data(address, self.tx[address], app.encode([
                app.DC1(PumpState.FILLING), app.DC3(5299, 2, True),
                app.DC2(self.volume, self.volume * 5299 // 1000)]))
        else:
            reply = self._eot[address]
        self.pending.append(reply)

    def read(self, timeout: float) -> bytes:
        del timeout  # answers are immediate: only our CPU time is measured
        if not self.pending:
            return b""
        reply = self.pending.popleft()
        self.bytes_on_wire += len(reply)
        return reply

    def reset_input(self) -> None:
        self.pending.clear()


def run(cycles: int, filling: int) -> None:
    framer = Framer("arc")
    addresses = list(range(0x50, 0x70))
    line = ScriptedLine(framer, set(addresses[:filling]))
    models = [PumpModel(i + 1, a, ["AI92", "AI95", "DT"]) for i, a in enumerate(addresses)]
    events: collections.Counter[str] = collections.Counter()

    def on_event(event: PumpEvent) -> None:
        events[event.kind] += 1

    dart = DartLine("bench", line, models, framer=framer, response_timeout=0.05,
                    on_event=on_event)
    for _ in range(20):  # warm up: pumps come online, first events
        dart.cycle()
    cpu_per_cycle = []
    wire_per_cycle = []
    for _ in range(cycles):
        before_bytes = line.bytes_on_wire
        start = time.thread_time_ns()
        dart.cycle()
        cpu_per_cycle.append((time.thread_time_ns() - start) / 1e9)
        wire_per_cycle.append((line.bytes_on_wire - before_bytes) * BITS_PER_BYTE / BAUD)
    cpu = statistics.median(cpu_per_cycle)
    cpu_p99 = sorted(cpu_per_cycle)[int(len(cpu_per_cycle) * 0.99) - 1]
    wire = statistics.median(wire_per_cycle)
    ratio = cpu / wire
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(f"cycle: 32 pumps polled, {filling} of them filling (DC1+DC3+DC2 each poll), "
          f"{cycles} cycles")
    print(f"wire bytes per cycle: {wire * BAUD / BITS_PER_BYTE:.0f}; wire time at {BAUD} "
          f"baud 8O1: {wire * 1000:.1f} ms")
    print(f"our CPU per cycle: median {cpu * 1000:.3f} ms, p99 {cpu_p99 * 1000:.3f} ms")
    print(f"events seen: {dict(events)}")
    print(f"ratio CPU / wire time: {ratio * 100:.2f} % (target < 5 %): "
          f"{'PASS' if ratio < 0.05 else 'FAIL'}")


def main() -> None:
    logs.configure("warning")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--filling", type=int, default=8, help="pumps filling (0-32)")
    args = parser.parse_args()
    run(args.cycles, max(0, min(32, args.filling)))


if __name__ == "__main__":
    main()
