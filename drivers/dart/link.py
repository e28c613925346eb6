"""DART link layer, master side: polling, TX# sequencing, ACK/NAK and retransmission.

The controller is the master of a half-duplex line of up to 32 pumps (addresses
0x50-0x6F). For each pump it keeps its own TX# (1..F, wrapping F -> 1) and the last
DATA frame received from the pump (:class:`Received`: TX# and data), so that a
retransmitted DATA frame is ACKed again but delivered once. A pump that stays silent
for ``offline_after`` polls in a row is declared offline; it comes back as soon as it
answers anything.

Every wait is bounded by ``response_timeout`` and every send by ``retries``; the
spec's 25 ms deadline is too tight for real lines behind USB adapters, so the
default is 80 ms (see docs/pump-line.md).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import structlog

from drivers.dart.framer import ADR_MAX, ADR_MIN, Frame, Framer, FrameType

log = structlog.get_logger(__name__)
#: Frames kept per line for the fault dump (raw hex, both directions).
RING_SIZE = 40


@runtime_checkable
class ByteLine(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def reset_input(self) -> None: ...


@dataclass
class Received:
    """The last DATA frame taken from a peer, to tell a retransmission from a new frame.

    One rule for both ends of the line (the master here, the pump simulator too): a
    retransmission repeats the TX# *and* the data of the last frame taken. The same TX#
    with other data is a new frame (a peer that restarted its count, or a master that
    answers a NAK by resending with its TX# reset, as one public implementation does);
    so is the same data under another TX#. A frame is compared with the last one only:
    TX# values repeat every 15 frames.
    """

    tx: int | None = None
    data: bytes | None = None

    def take(self, tx: int, data: bytes) -> bool:
        """True for a new frame (remembered as the last one), False for a retransmission."""
        if self.tx == tx and self.data == data:
            return False
        self.tx, self.data = tx, data
        return True

    def forget(self) -> None:
        """Nothing is outstanding at the peer: its next DATA frame is new, whatever it holds."""
        self.tx = self.data = None


@dataclass
class PeerState:
    """What the master remembers of one pump address."""

    address: int
    tx: int = 0  # last TX# the master used towards this pump
    #: The last DATA frame delivered from the pump (for duplicate detection).
    received: Received = field(default_factory=Received)
    silent_polls: int = 0
    online: bool = False
    #: Application data received from the pump, not yet taken by the device layer.
    inbox: collections.deque[bytes] = field(default_factory=collections.deque)
    stats: collections.Counter[str] = field(default_factory=collections.Counter)

    def next_tx(self) -> int:
        self.tx = 1 if self.tx >= 15 else self.tx + 1
        return self.tx


class DartMaster:
    """Drives one line: ``poll(address)`` and ``send(address, data)``."""

    def __init__(self, line: ByteLine, framer: Framer, *, response_timeout: float = 0.08,
                 retries: int = 3, offline_after: int = 3) -> None:
        self.line = line
        self.framer = framer
        self.response_timeout = response_timeout
        self.retries = retries
        self.offline_after = offline_after
        self.peers: dict[int, PeerState] = {}
        self._buf = bytearray()
        self.ring: collections.deque[str] = collections.deque(maxlen=RING_SIZE)
        self.bad_frames = 0

    def peer(self, address: int) -> PeerState:
        if not ADR_MIN <= address <= ADR_MAX:
            raise ValueError(f"DART address 0x{address:02X} is outside 0x50-0x6F")
        return self.peers.setdefault(address, PeerState(address))

    # -- low level ----------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        self.ring.append(">" + data.hex())
        self.line.write(data)

    def _receive(self, address: int, accept: Callable[[Frame], bool]) -> Frame | None:
        """The next valid frame from ``address`` that ``accept`` takes as the answer,
        within the response timeout. Other frames are skipped: a late answer to an
        earlier request, or the master's own frames heard back on an echoing line."""
        deadline = time.monotonic() + self.response_timeout
        while True:
            while self._buf:
                used, frame = self.framer.decode(self._buf)
                if used == 0:
                    break
                del self._buf[:used]
                if frame is None:
                    continue
                self.ring.append("<" + frame.raw.hex())
                if not frame.crc_ok:
                    self.bad_frames += 1
                    log.debug("line.bad_crc", frame=frame.raw.hex())
                    continue
                if frame.address != address:
                    log.debug("line.foreign_frame", expected=address, frame=frame.raw.hex())
                    continue
                if not accept(frame):
                    log.debug("line.unexpected_frame", address=address, frame=frame.raw.hex())
                    continue
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                self._buf.clear()
                return None
            self._buf += self.line.read(left)

    def _mark_alive(self, peer: PeerState) -> None:
        peer.silent_polls = 0
        if not peer.online:
            peer.online = True
            log.debug("link.peer_online", address=f"0x{peer.address:02X}")

    def _mark_silent(self, peer: PeerState) -> None:
        peer.silent_polls += 1
        if peer.online and peer.silent_polls >= self.offline_after:
            peer.online = False
            log.warning("link.peer_offline", address=f"0x{peer.address:02X}",
                        silent_polls=peer.silent_polls, last_frames=list(self.ring))

    def _ack(self, peer: PeerState, frame: Frame) -> None:
        """ACK a pump's DATA frame; queue its data unless it is a retransmission."""
        self._write(self.framer.control(peer.address, FrameType.ACK, frame.tx))
        if not peer.received.take(frame.tx, frame.data):
            peer.stats["duplicates"] += 1
            log.debug("line.duplicate", address=peer.address, tx=frame.tx)
            return
        peer.inbox.append(frame.data)

    def take(self, address: int) -> list[bytes]:
        """Application data received from ``address`` since the last call."""
        inbox = self.peer(address).inbox
        out = list(inbox)
        inbox.clear()
        return out

    # -- operations ---------------------------------------------------------------------
    def poll(self, address: int) -> bool:
        """POLL one pump; False on silence. A DATA answer is ACKed and queued (:meth:`take`)."""
        peer = self.peer(address)
        self._write(self.framer.control(address, FrameType.POLL, 0))
        # A pump answers a POLL with EOT or DATA, nothing else.
        frame = self._receive(address, lambda f: f.type in (FrameType.EOT, FrameType.DATA))
        if frame is None:
            self._mark_silent(peer)
            return False
        self._mark_alive(peer)
        if frame.type == FrameType.DATA:
            self._ack(peer, frame)
        else:
            # Nothing outstanding at the pump: its next DATA frame is new, whatever its
            # TX# (a pump that restarted counts from 1 again).
            peer.received.forget()
        return True

    def send(self, address: int, data: bytes) -> bool:
        """Send one DATA frame and wait for its ACK, retransmitting on NAK or silence."""
        peer = self.peer(address)
        tx = peer.next_tx()
        wire = self.framer.data(address, tx, data)
        for attempt in range(1 + self.retries):
            if attempt:
                peer.stats["retransmissions"] += 1
                log.debug("line.retransmit", address=address, tx=tx, attempt=attempt)
            self._write(wire)
            # ACK/NAK of this TX#, or pump data; never the master's own frame heard back.
            frame = self._receive(address, lambda f: (
                (f.type in (FrameType.ACK, FrameType.NAK) and f.tx == tx)
                or (f.type == FrameType.DATA and f.raw != wire)))
            if frame is None:
                continue
            self._mark_alive(peer)
            if frame.type == FrameType.ACK:
                return True
            if frame.type == FrameType.DATA:
                # A pump may answer with data instead of a bare ACK: it acknowledges too.
                self._ack(peer, frame)
                return True
        self._mark_silent(peer)
        log.warning("line.send_failed", address=f"0x{address:02X}", tx=tx,
                    attempts=1 + self.retries, last_frames=list(self.ring))
        return False
