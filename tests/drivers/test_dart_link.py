"""DartMaster against the pump simulator over a real pty pair (tests/drivers/dart_rig.py):
polling, TX#, ACK/NAK, retransmission and duplicate detection, injected faults, and
foreign masters that do things differently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from drivers.dart import application as app
from drivers.dart.application import Command, PumpState
from drivers.dart.crc import crc16_arc
from drivers.dart.framer import Framer, FrameType, decode_all
from drivers.dart.link import DartMaster
from drivers.dart.simulator import console_command
from drivers.transport import SerialTransport
from tests.drivers.dart_rig import (
    PUMP,
    STATUS,
    TIMEOUT,
    RecordingLine,
    Rig,
    make_rig,
    sim_pump,
)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with make_rig([sim_pump()]) as r:
        yield r


# -- the master against one simulated pump -----------------------------------------------
def test_poll_answered_by_eot(rig: Rig) -> None:
    assert rig.master.poll(PUMP) is True
    peer = rig.master.peer(PUMP)
    assert peer.online is True
    assert peer.silent_polls == 0
    assert rig.master.take(PUMP) == []
    assert rig.master.ring[-1].startswith("<5070")  # EOT, nothing to say
    assert rig.master.ring[-2] == ">5020fa"


def test_transport_settings(rig: Rig) -> None:
    """A pty ignores line settings: assert the configured ones (reference: Serial lines)."""
    port = rig.transport._port
    assert port.baudrate == 9600
    assert port.parity == "O"
    assert port.bytesize == 8
    assert port.stopbits == 1


def test_prices_program_the_pump_and_dc1_arrives_on_a_later_poll(rig: Rig) -> None:
    assert rig.state() == PumpState.NOT_PROGRAMMED
    assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
    assert rig.state() == PumpState.FILLING_COMPLETED
    assert rig.master.take(PUMP) == []  # the answer comes with a poll, not the ACK
    assert rig.poll_until() == [app.DC1(PumpState.FILLING_COMPLETED)]
    assert rig.received(polls=3) == []


def test_master_tx_counts_and_wraps_f_to_1(rig: Rig) -> None:
    seen = []
    for _ in range(17):
        assert rig.master.send(PUMP, STATUS) is True
        seen.append(rig.master.peer(PUMP).tx)
    assert seen == [*range(1, 16), 1, 2]


def test_pump_without_simulator_goes_offline_and_comes_back() -> None:
    other = 0x51
    with make_rig([sim_pump()], offline_after=3) as rig:
        peer = rig.master.peer(other)
        for n in range(1, 4):
            assert rig.master.poll(other) is False
            assert peer.silent_polls == n
        assert peer.online is False
        with rig.sim.lock:
            rig.sim.pumps[other] = sim_pump(other)
        assert rig.master.poll(other) is True
        assert peer.online is True
        assert peer.silent_polls == 0
        # Gone again: still online for offline_after - 1 silent polls, then offline.
        with rig.sim.lock:
            del rig.sim.pumps[other]
        assert rig.master.poll(other) is False
        assert rig.master.poll(other) is False
        assert peer.online is True
        assert rig.master.poll(other) is False
        assert peer.online is False
        with rig.sim.lock:
            rig.sim.pumps[other] = sim_pump(other)
        assert rig.master.poll(other) is True
        assert peer.online is True
        # The pump that was there all along was never affected.
        assert rig.master.poll(PUMP) is True


def test_address_outside_the_dart_range_is_refused(rig: Rig) -> None:
    with pytest.raises(ValueError, match="outside"):
        rig.master.poll(0x70)


# -- injected faults ---------------------------------------------------------------------
def test_fault_drop_next_master_retransmits(rig: Rig) -> None:
    rig.master.poll(PUMP)
    rig.fault(drop_next=1)
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.master.peer(PUMP).stats["retransmissions"] >= 1
    # applied once: one DC1, not two
    assert rig.received() == [app.DC1(PumpState.NOT_PROGRAMMED)]


def test_fault_drop_next_poll_is_silence(rig: Rig) -> None:
    rig.fault(drop_next=1)
    assert rig.master.poll(PUMP) is False
    assert rig.master.peer(PUMP).silent_polls == 1
    assert rig.master.poll(PUMP) is True


class LosesAcks(RecordingLine):
    """The station side of a line that loses the master's next ``n`` ACK frames."""

    def __init__(self, inner: SerialTransport, n: int) -> None:
        super().__init__(inner)
        self.n = n

    def write(self, data: bytes) -> None:
        if self.n and len(data) == 3 and data[1] >> 4 == FrameType.ACK:
            self.n -= 1
            self.written.append(bytes(data))
            return
        super().write(data)


def test_lost_ack_pump_repeats_and_master_delivers_once(rig: Rig) -> None:
    """The master's ACK is lost: the pump repeats the frame (same TX#) on the next POLL;
    the master ACKs it again and delivers it once."""
    master = DartMaster(LosesAcks(rig.transport, 1), Framer(), response_timeout=TIMEOUT)
    assert master.send(PUMP, STATUS) is True
    got: list[bytes] = []
    for _ in range(10):
        master.poll(PUMP)
        got += master.take(PUMP)
    assert got == [bytes.fromhex("01 01 00")]
    assert master.peer(PUMP).stats["duplicates"] == 1
    with rig.sim.lock:
        assert rig.pump().unacked is None  # the second ACK got through


def test_fault_corrupt_next_bad_crc_dropped_then_delivered(rig: Rig) -> None:
    assert rig.master.send(PUMP, STATUS) is True  # the pump now has a DC1 to say
    rig.fault(corrupt_next=1)
    assert rig.master.poll(PUMP) is False  # the only answer had a bad CRC: dropped
    assert rig.master.bad_frames == 1
    assert rig.master.take(PUMP) == []
    # The pump did not get an ACK: it says it again on a later poll.
    assert rig.poll_until() == [app.DC1(PumpState.NOT_PROGRAMMED)]
    assert rig.received() == []


def _payload_with_crc(match: Callable[[int], bool]) -> bytes:
    """Application data whose first DATA frame from pump 0x50 (TX# 1) has a CRC ``match``
    accepts."""
    for n in range(1 << 20):
        data = app.encode([app.Unknown(0x99, n.to_bytes(3, "big"))])
        if match(crc16_arc(bytes((PUMP, 0x31)) + data)):
            return data
    raise AssertionError("no such payload")  # pragma: no cover


@pytest.mark.parametrize("case", ["crc-lo becomes FA", "crc-lo is FA", "crc-hi is FA"])
def test_fault_corrupt_next_always_gives_a_bad_crc_frame(rig: Rig, case: str) -> None:
    """The corruption fault hits the CRC, never the frame structure, whatever the bytes."""
    match: dict[str, Callable[[int], bool]] = {
        "crc-lo becomes FA": lambda c: c & 0xFF == 0xFA ^ 0x5A,
        "crc-lo is FA": lambda c: c & 0xFF == 0xFA,
        "crc-hi is FA": lambda c: c >> 8 == 0xFA,
    }
    data = _payload_with_crc(match[case])
    with rig.sim.lock:
        rig.pump().outbox.append(data)
        rig.pump().faults.corrupt_next = 1
    assert rig.master.poll(PUMP) is False
    assert rig.master.bad_frames == 1
    assert rig.poll_until() == app.decode(data, to_pump=False)


def test_fault_silent_send_fails_and_pump_goes_offline() -> None:
    with make_rig([sim_pump()], retries=2, offline_after=3) as rig:
        assert rig.master.poll(PUMP) is True
        rig.fault(silent=True)
        assert rig.master.send(PUMP, STATUS) is False
        peer = rig.master.peer(PUMP)
        assert peer.stats["retransmissions"] == 2
        assert peer.online is True  # one silence so far
        assert rig.master.poll(PUMP) is False
        assert rig.master.poll(PUMP) is False
        assert peer.online is False
        assert rig.state() == PumpState.NOT_PROGRAMMED  # nothing applied
        rig.fault(silent=False)
        assert rig.master.poll(PUMP) is True
        assert peer.online is True


def test_fault_echo_dropped_by_transport() -> None:
    with make_rig([sim_pump()], echo=True) as rig:
        rig.fault(echo=True)
        assert rig.master.poll(PUMP) is True
        assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
        assert rig.state() == PumpState.FILLING_COMPLETED
        assert rig.poll_until() == [app.DC1(PumpState.FILLING_COMPLETED)]
        assert rig.received(polls=5) == []
        assert rig.transport.echo_mismatches == 0
        assert rig.master.peer(PUMP).stats["duplicates"] == 0


def test_fault_echo_without_echo_setting_does_not_confuse_the_master(rig: Rig) -> None:
    """The line echoes but the transport was not told (``echo = false``).

    The master then reads its own frames back. A POLL is never a pump's answer and a
    DATA frame identical to the one just sent is the master's own: neither may be taken
    for the pump's. What the pump says must still arrive, once, and nothing else.
    """
    rig.fault(echo=True)
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
    assert rig.state() == PumpState.FILLING_COMPLETED
    got = rig.received(polls=30)
    assert got == [app.DC1(PumpState.NOT_PROGRAMMED), app.DC1(PumpState.FILLING_COMPLETED)]
    # The master's own commands (CD1 RETURN_STATUS = 01 01 00 ...) never come back as data.
    assert rig.master.peer(PUMP).online is True


def test_fault_late_beyond_the_timeout_retries() -> None:
    with make_rig([sim_pump()], retries=1) as rig:
        rig.fault(late_s=0.25)  # far beyond 2 x TIMEOUT
        assert rig.master.poll(PUMP) is False
        assert rig.master.send(PUMP, STATUS) is False
        peer = rig.master.peer(PUMP)
        assert peer.stats["retransmissions"] == 1
        assert rig.master.bad_frames == 0
        rig.fault(late_s=0.0)
        # The late answers still trickle in; the master must not take them for new ones.
        assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
        assert rig.state() == PumpState.FILLING_COMPLETED
        got = rig.received(polls=40)
        assert app.DC1(PumpState.FILLING_COMPLETED) in got
        assert got.count(app.DC1(PumpState.FILLING_COMPLETED)) == 1


def test_fault_late_within_the_timeout_works() -> None:
    with make_rig([sim_pump()], response_timeout=0.5) as rig:
        rig.fault(late_s=0.02)
        assert rig.master.poll(PUMP) is True
        assert rig.master.send(PUMP, STATUS) is True
        assert rig.poll_until() == [app.DC1(PumpState.NOT_PROGRAMMED)]
        assert rig.master.peer(PUMP).silent_polls == 0


def test_fault_late_between_retries_answers_an_earlier_attempt(rig: Rig) -> None:
    """late_s a little above the timeout: whatever happens, the pump applies it once."""
    rig.fault(late_s=0.05)
    rig.master.send(PUMP, STATUS)
    assert rig.master.peer(PUMP).stats["retransmissions"] >= 1
    rig.fault(late_s=0.0)
    assert rig.received(polls=40).count(app.DC1(PumpState.NOT_PROGRAMMED)) == 1


def test_fault_duplicate_next_delivered_once(rig: Rig) -> None:
    assert rig.master.send(PUMP, STATUS) is True
    rig.fault(duplicate_next=1)
    got = rig.received(polls=10)
    assert got == [app.DC1(PumpState.NOT_PROGRAMMED)]
    assert rig.master.peer(PUMP).stats["duplicates"] == 1


@pytest.mark.parametrize("lose_memory", [False, True])
def test_fault_restart_tx_reset_master_still_works(rig: Rig, lose_memory: bool) -> None:
    """The pump restarts and counts its TX# from 1 again while the master remembers 1."""
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.poll_until() == [app.DC1(PumpState.NOT_PROGRAMMED)]
    assert rig.master.peer(PUMP).received.tx == 1
    assert rig.received(polls=2) == []
    with rig.sim.lock:
        rig.pump().restart(lose_memory=lose_memory)
    after = PumpState.NOT_PROGRAMMED if lose_memory else PumpState.FILLING_COMPLETED
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.poll_until() == [app.DC1(after)]
    assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
    if lose_memory:
        assert rig.poll_until() == [app.DC1(PumpState.FILLING_COMPLETED)]
    assert rig.state() == PumpState.FILLING_COMPLETED


def test_restart_without_polls_in_between_same_status(rig: Rig) -> None:
    """Worst case: same TX#, same data, no EOT in between - indistinguishable from a
    retransmission on the wire. Documented: the master treats it as one (ACKed, not
    delivered twice); the next status request gets through."""
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.poll_until() == [app.DC1(PumpState.NOT_PROGRAMMED)]
    with rig.sim.lock:
        rig.pump().restart(lose_memory=True)
    assert rig.master.send(PUMP, STATUS) is True
    rig.master.poll(PUMP)
    assert rig.master.take(PUMP) == []
    assert rig.master.peer(PUMP).stats["duplicates"] == 1
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.poll_until() == [app.DC1(PumpState.NOT_PROGRAMMED)]


def test_nak_on_crc_variant_mismatch() -> None:
    """A master on the wrong CRC variant: the pump NAKs every frame, the master
    retransmits on each NAK and gives up; nothing is applied."""
    with make_rig([sim_pump()], retries=2) as rig:
        master = DartMaster(rig.transport, Framer("ccitt"), response_timeout=TIMEOUT,
                            retries=2)
        assert master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is False
        assert master.peer(PUMP).stats["retransmissions"] == 2
        heard = {entry for entry in master.ring if entry.startswith("<")}
        assert heard == {"<5051fa"}  # NAK TX#1, however many arrived in time
        assert rig.state() == PumpState.NOT_PROGRAMMED


def test_nak_master_retransmits_the_same_frame_and_the_pump_applies_it_once(rig: Rig) -> None:
    """Our own master on a NAK: it resends the very frame (same TX#, same data), the pump
    applies it once, and the next command still gets through."""
    assert rig.master.send(PUMP, app.encode([app.CD5((1500, 1400))])) is True
    rig.fault(nak_next=1)
    assert rig.master.send(PUMP, app.encode([app.CD1(Command.RESET)])) is True
    peer = rig.master.peer(PUMP)
    assert peer.stats["retransmissions"] == 1
    heard = [entry for entry in rig.master.ring if entry.startswith("<50")]
    assert "<5052fa" in heard  # NAK TX#2
    sent = [entry for entry in rig.master.ring if entry.startswith(">5032")]
    assert len(sent) == 2 and sent[0] == sent[1]  # the same frame, twice
    assert rig.state() == PumpState.RESET
    assert rig.received(polls=30) == [app.DC1(PumpState.FILLING_COMPLETED),
                                      app.DC1(PumpState.RESET)]
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.poll_until() == [app.DC1(PumpState.RESET)]


def test_console_fault_nak(rig: Rig) -> None:
    assert console_command(rig.sim, ["fault", "1", "nak"]) == "ok"
    assert rig.pump().faults.nak_next == 1
    assert rig.master.send(PUMP, STATUS) is True
    assert rig.master.peer(PUMP).stats["retransmissions"] == 1
    assert rig.pump().faults.nak_next == 0


@pytest.mark.parametrize(("words", "message"), [
    (["lift", "9", "1"], "pump 9 is not simulated here (pumps 1 to 1)"),
    (["lift", "1", "9"], "pump 1 has nozzles 1 to 2, not 9"),
    (["lift", "1", "0"], "pump 1 has nozzles 1 to 2, not 0"),
    (["lift", "x", "1"], "a pump number is a whole number, not 'x'"),
    (["lift", "1"], "usage: lift P N"),
    (["lift", "1", "1", "1"], "usage: lift P N"),
    (["hang"], "usage: hang P"),
    (["fault", "1", "late", "abc"], "a delay in ms is a whole number, not 'abc'"),
    (["fault", "1", "late", "-5"], "a delay in ms is 0 to 10000, not -5"),
    (["fault", "1", "late"], "usage: fault P late MS"),
    (["fault", "1", "bogus"], "unknown fault 'bogus' (drop, corrupt, nak, silent, echo, "
                              "late MS, restart, forget)"),
])
def test_console_mistakes_are_one_sentence_and_change_nothing(rig: Rig, words: list[str],
                                                               message: str) -> None:
    """Verification of issue 10 #14: the simulator's console answered 'error: 88',
    'error: list index out of range' or 'invalid literal for int()', and took 'lift 1 0'
    (a nozzle 0, shown as 'nozzle 0 out') and 'late -5'."""
    before = console_command(rig.sim, ["status"])
    with pytest.raises(ValueError) as err:
        console_command(rig.sim, words)
    assert str(err.value) == message
    assert console_command(rig.sim, ["status"]) == before


def exchange(line: SerialTransport, wire: bytes) -> tuple[FrameType, int] | None:
    """Write one frame as a foreign master would; the pump's ACK/NAK (type, TX#), if any."""
    line.write(wire)
    buf = bytearray()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        buf += line.read(0.05)
        for frame in decode_all(Framer(), bytes(buf)):
            if frame.address == PUMP and frame.type in (FrameType.ACK, FrameType.NAK):
                return frame.type, frame.tx
    return None


@pytest.mark.parametrize("reset_to", [1, 0])
def test_nak_then_resend_with_the_tx_reset_is_applied(rig: Rig, reset_to: int) -> None:
    """Issue 10 #14: a foreign master (a public DART implementation does this) answers a
    NAK by resending the command with its TX# reset. The resent frame carries other data
    than the last one applied, so it is a new command and is applied, even under that
    frame's TX# (``reset_to = 1``); a true retransmission of it (same TX#, same data)
    is ACKed and applied once."""
    good, noisy = Framer(), Framer("ccitt")  # a CRC the pump cannot match: line noise
    prices = app.encode([app.CD5((1500, 1400))])
    reset = app.encode([app.CD1(Command.RESET)])
    assert exchange(rig.transport, good.data(PUMP, 1, prices)) == (FrameType.ACK, 1)
    assert rig.state() == PumpState.FILLING_COMPLETED
    assert exchange(rig.transport, noisy.data(PUMP, 2, reset)) == (FrameType.NAK, 2)
    assert rig.state() == PumpState.FILLING_COMPLETED  # a NAKed frame is not applied
    assert exchange(rig.transport, good.data(PUMP, reset_to, reset)) == \
        (FrameType.ACK, reset_to)
    assert rig.state() == PumpState.RESET
    with rig.sim.lock:
        queued = len(rig.pump().outbox)
    # its ACK lost, the master repeats it: ACKed again, not applied twice (a RESET in
    # RESET would queue one more DC1)
    assert exchange(rig.transport, good.data(PUMP, reset_to, reset)) == \
        (FrameType.ACK, reset_to)
    with rig.sim.lock:
        assert len(rig.pump().outbox) == queued
    # the same data under a new TX# is a new command
    assert exchange(rig.transport, good.data(PUMP, reset_to + 1, reset)) == \
        (FrameType.ACK, reset_to + 1)
    with rig.sim.lock:
        assert len(rig.pump().outbox) == queued + 1


def test_silent_or_dropping_pump_never_naks() -> None:
    """A silent pump says nothing, not even NAK to a garbled frame; a frame the pump
    drops (lost on the wire) is not NAKed either."""
    with make_rig([sim_pump()], retries=1) as rig:
        master = DartMaster(rig.transport, Framer("ccitt"), response_timeout=TIMEOUT,
                            retries=1)
        rig.fault(silent=True)
        assert master.send(PUMP, STATUS) is False
        rig.fault(silent=False, drop_next=2)
        assert master.send(PUMP, STATUS) is False
        assert [entry for entry in master.ring if entry.startswith("<")] == []
        assert master.send(PUMP, STATUS) is False  # now it NAKs again
        assert "<5053fa" in master.ring


def test_two_pumps_on_one_line() -> None:
    with make_rig([sim_pump(0x50), sim_pump(0x5F)]) as rig:
        assert rig.master.send(0x5F, app.encode([app.CD5((1500, 1400))])) is True
        assert rig.state(0x5F) == PumpState.FILLING_COMPLETED
        assert rig.state(0x50) == PumpState.NOT_PROGRAMMED
        assert rig.received(0x50, polls=3) == []
        assert rig.poll_until(0x5F) == [app.DC1(PumpState.FILLING_COMPLETED)]

