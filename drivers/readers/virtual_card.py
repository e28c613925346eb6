"""A forecourt fuel card in software, inserted into pcscd's ``vpcd`` virtual reader.

pcscd with the vsmartcard ``vpcd`` driver listens on a TCP port per virtual slot
(``CHANNELID`` in its reader file; docs: ../shared/reference/test-peers.md). This
card is a TCP client of that port: **connecting inserts the card, closing removes
it.** Frames in both directions are a 2-byte big-endian length then the payload. A
1-byte payload from pcscd is a control message — 0 power off, 1 power on, 2 reset
(no answer) or 4 get ATR (answered with the ATR; pcscd asks often, it is how vpcd
tells the card is still there); any longer payload is a command APDU, answered with
a response APDU.

The card implements docs/cards.md (:mod:`drivers.readers.smartcard_app`) with its
own key — derived from an issuer master key for a genuine card, any other key for a
clone — and has test controls for the bad cases a station meets::

    card = VirtualCard(port=40001, pan="7800001234567892", master_key=MASTER)
    card.insert()                 # connect: pcscd sees a card
    card.select_sw = 0x6A82       # "not our application"
    card.pull_on = "read"         # drop the connection when READ BINARY arrives
    card.garbage_on = "auth"      # answer INTERNAL AUTHENTICATE with garbage
    card.garbage = b"\\x42"        # (default: 1-40 random bytes)
    card.file = b"\\x70\\x03..."  # any card file content, malformed or not
    card.remove()

Timing (measured): without ``TCP_QUICKACK`` set again after every receive, each APDU
costs about 48 ms (Nagle on pcscd's side meets delayed ACK on ours); with it, about
0.2 ms. Linux clears QUICKACK by itself, hence "after every receive".
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from datetime import date
from types import TracebackType

import structlog

from drivers.readers import smartcard_app as app

log = structlog.get_logger(__name__)

#: A plain T=1 ATR: TS 3B, T0 80 (no historical bytes), TD1 80, TD2 01 and TCK 01.
DEFAULT_ATR = bytes.fromhex("3B80800101")

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
COMMANDS = {"select": app.INS_SELECT, "read": app.INS_READ_BINARY,
            "auth": app.INS_INTERNAL_AUTHENTICATE}


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class VirtualCard:
    """One virtual card for one vpcd slot; runs in a background thread while inserted.

    Keyword-only: ``port`` (the vpcd slot's TCP port), ``pan``, ``expiry``,
    ``card_id`` (default: the PAN), ``holder``, and the key: ``card_key`` (16 bytes)
    or ``master_key`` to derive the genuine one. Test controls are plain attributes
    (``select_sw``, ``auth_sw``, ``file``, ``pull_on``, ``garbage_on``) and may be
    changed at any time.
    """

    def __init__(self, *, port: int, pan: str, expiry: date = date(2028, 12, 31),
                 card_id: str | None = None, holder: str | None = None,
                 card_key: bytes | None = None, master_key: bytes | None = None,
                 host: str = "127.0.0.1", atr: bytes = DEFAULT_ATR) -> None:
        if (card_key is None) == (master_key is None):
            raise ValueError("give exactly one of card_key and master_key")
        self.host, self.port, self.atr = host, port, atr
        self.data = app.CardData(pan=pan, expiry=expiry, card_id=card_id or pan,
                                 holder=holder)
        self.card_key = card_key if card_key is not None else \
            app.derive_card_key(master_key or b"", pan)
        if len(self.card_key) != app.KEY_LEN:
            raise ValueError("a card key has 16 bytes")
        #: The card file (EF01) content; replace it to test malformed data.
        self.file: bytes = app.encode_card_file(self.data)
        #: Answer SELECT with this status word instead of selecting (e.g. 0x6A82).
        self.select_sw: int | None = None
        #: Answer INTERNAL AUTHENTICATE with this status word instead of a MAC.
        self.auth_sw: int | None = None
        #: Drop the connection (card pulled) when this command arrives:
        #: "select", "read" or "auth".
        self.pull_on: str | None = None
        #: Answer this command ("select", "read", "auth") with ``garbage``.
        self.garbage_on: str | None = None
        #: The garbage answer; None: 1-40 random bytes each time.
        self.garbage: bytes | None = None
        #: Every command APDU received, in order (for assertions).
        self.apdus: list[bytes] = []
        self._selected = False
        self._current_ef = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- insertion ------------------------------------------------------------------------
    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 10.0) -> VirtualCard:
        """Connect to the vpcd port (retrying while pcscd starts) and serve in a thread."""
        if self.inserted:
            return self
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"no vpcd reader listens on {self.host}:"
                                          f"{self.port} ({exc})") from None
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._quickack(sock)
        self._selected = self._current_ef = False
        with self._lock:
            self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,),
                                        name=f"virtual-card[{self.port}]", daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Close the connection: pcscd sees the card leave. Safe to call twice."""
        self._drop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    close = remove

    def __enter__(self) -> VirtualCard:
        return self.insert()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def wait_removed(self, timeout: float = 5.0) -> bool:
        """Wait until the card is out (pulled by a test control, or pcscd went away)."""
        deadline = time.monotonic() + timeout
        while self.inserted and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.inserted

    def _drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @staticmethod
    def _quickack(sock: socket.socket) -> None:
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)

    # -- the wire -------------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                payload = self._recv_frame(sock)
                if payload is None:
                    break
                answer = self._handle(payload)
                if answer is None:
                    continue
                if answer is _PULL:
                    break
                sock.sendall(struct.pack(">H", len(answer)) + answer)
        except OSError:
            pass
        finally:
            if self._sock is sock:
                self._drop()

    def _recv_frame(self, sock: socket.socket) -> bytes | None:
        head = self._recv_exact(sock, 2)
        if head is None:
            return None
        (length,) = struct.unpack(">H", head)
        return self._recv_exact(sock, length)

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            self._quickack(sock)
            if not chunk:
                return None
            buf += chunk
        return buf

    def _handle(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            if payload[0] == CTRL_ATR:
                return self.atr
            if payload[0] in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                self._selected = self._current_ef = False
            return None
        self.apdus.append(payload)
        if len(payload) < 4:
            return _sw(app.SW_WRONG_LENGTH)
        cla, ins = payload[0], payload[1]
        name = next((k for k, v in COMMANDS.items() if v == ins), None)
        if name is not None and name == self.pull_on:
            log.debug("virtual_card.pulled", port=self.port, command=name)
            return _PULL
        if name is not None and name == self.garbage_on:
            return self.garbage if self.garbage is not None else \
                os.urandom(1 + os.urandom(1)[0] % 40)
        if cla != app.CLA:
            return _sw(app.SW_CLA_UNKNOWN)
        try:
            lc_data, le = _body(payload)
        except ValueError:
            return _sw(app.SW_WRONG_LENGTH)
        p1, p2 = payload[2], payload[3]
        if ins == app.INS_SELECT:
            return self._select(p1, p2, lc_data)
        if ins == app.INS_READ_BINARY:
            return self._read_binary(p1, p2, le)
        if ins == app.INS_INTERNAL_AUTHENTICATE:
            return self._authenticate(p1, p2, lc_data)
        return _sw(app.SW_INS_UNKNOWN)

    # -- the applet -----------------------------------------------------------------------
    def _select(self, p1: int, p2: int, name: bytes) -> bytes:
        if self.select_sw is not None:
            self._selected = False
            return _sw(self.select_sw)
        if p1 != 0x04 or p2 not in (0x00, 0x0C):
            return _sw(app.SW_WRONG_P1P2)
        if name != app.AID:
            self._selected = False
            return _sw(app.SW_NOT_FOUND)
        self._selected, self._current_ef = True, False
        if p2 == 0x00:  # FCI: 6F { 84 AID }
            return app.encode_tlv(0x6F, app.encode_tlv(0x84, app.AID)) + _sw(app.SW_OK)
        return _sw(app.SW_OK)

    def _read_binary(self, p1: int, p2: int, le: int | None) -> bytes:
        if not self._selected:
            return _sw(app.SW_CONDITIONS)
        if p1 & 0x80:
            if p1 & 0x60 or p1 & 0x1F != app.SFI:
                return _sw(app.SW_NOT_FOUND)
            offset = p2
            self._current_ef = True
        else:
            if not self._current_ef:
                return _sw(app.SW_CONDITIONS)
            offset = (p1 << 8) | p2
        if offset > len(self.file):
            return _sw(app.SW_WRONG_PARAMS)
        want = le or 256
        return self.file[offset:offset + want] + _sw(app.SW_OK)

    def _authenticate(self, p1: int, p2: int, challenge: bytes) -> bytes:
        if not self._selected:
            return _sw(app.SW_CONDITIONS)
        if self.auth_sw is not None:
            return _sw(self.auth_sw)
        if (p1, p2) != (app.AUTH_P1, app.AUTH_P2):
            return _sw(app.SW_WRONG_P1P2)
        if len(challenge) != app.CHALLENGE_LEN:
            return _sw(app.SW_WRONG_LENGTH)
        return app.card_mac(self.card_key, challenge, self.data.pan) + _sw(app.SW_OK)


#: Marker: close the connection instead of answering.
_PULL = b"\x00pull"


def _body(apdu: bytes) -> tuple[bytes, int | None]:
    """``(data, Le)`` of a short command APDU (cases 1-4); ValueError if inconsistent."""
    rest = apdu[4:]
    if not rest:
        return b"", None
    if len(rest) == 1:
        return b"", rest[0]
    lc = rest[0]
    if lc == 0 or len(rest) not in (1 + lc, 2 + lc):
        raise ValueError("bad Lc")
    data = rest[1:1 + lc]
    return data, rest[1 + lc] if len(rest) == 2 + lc else None
