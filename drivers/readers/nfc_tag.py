"""A contactless tag played by a second nfcpy frontend, for tests and demos.

nfcpy's ``udp:HOST:PORT`` driver is a software radio: a reader frontend sends its
polling commands as datagrams to ``HOST:PORT`` and whatever frontend *listens* on that
port answers as the card. :class:`TagEmulator` runs such a listening frontend in a
thread and plays one of three tags (see docs/readers-nfc.md):

* :class:`EmulatedType2Tag` — NFC Forum Type 2 (Ultralight/NTAG-like memory): a raw
  ``listen(LocalTarget("106A"))`` / ``exchange`` loop answering ``READ`` (``30 pp``)
  with 16 bytes of a 7-byte-UID memory image, optionally NDEF-formatted with a message.
* :class:`EmulatedType3Tag` — NFC Forum Type 3 (FeliCa), nfcpy's own
  ``Type3TagEmulation`` through ``clf.connect(card=...)`` with an NDEF service.
* :class:`EmulatedType4ATag` — NFC Forum Type 4A (ISO-DEP): RATS → ATS, then I-blocks
  carrying ISO 7816-4 APDUs of the NDEF application (``D2760000850101``), its
  capability container ``E103`` and its NDEF file ``E104``.

UIDs beginning with ``0x04`` (NXP) are refused for Type 2: on such a UID nfcpy's reader
probes ``AUTHENTICATE``/``GET_VERSION`` and re-senses the tag in between, which this
emulator does not play.

Faults, for tests: ``vanish_after=N`` makes the tag answer N commands after activation
and then leave the field in silence (the card pulled away mid-read);
``garbage_after=N`` makes it answer every command after the N-th with bytes that mean
nothing. Commands are counted from RATS/the first READ for Type 2 and 4A, and as
NDEF block reads for Type 3 (nfcpy's emulation answers polling itself). ``stop()``
is the card leaving the field; ``start()`` again is a new presentation.
``card_ndef()`` builds the NDEF message a forecourt card carries.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import nfc
import nfc.clf

from drivers.readers.nfc import CARD_RECORD_TYPE, CARD_TEXT_PREFIX, card_ndef

__all__ = [
    "CARD_RECORD_TYPE",
    "CARD_TEXT_PREFIX",
    "EmulatedTag",
    "EmulatedType2Tag",
    "EmulatedType3Tag",
    "EmulatedType4ATag",
    "TagEmulator",
    "card_ndef",
]

_NDEF_AID = bytes.fromhex("D2760000850101")
_CC_FILE = bytes.fromhex("E103")
_NDEF_FILE = bytes.fromhex("E104")
_SW_OK = b"\x90\x00"
_SW_NOT_FOUND = b"\x6a\x82"
_SW_WRONG_PARAMS = b"\x6b\x00"
_SW_NO_INS = b"\x6d\x00"
_GARBAGE = bytes.fromhex("5A")


@dataclass(frozen=True)
class EmulatedTag:
    """What every emulated tag has: an identifier and optional NDEF message octets.

    ``ndef=None`` is a tag without NDEF formatting; ``b""`` an empty NDEF message.
    """

    ndef: bytes | None = None

    @property
    def uid_hex(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class EmulatedType2Tag(EmulatedTag):
    """A Type 2 tag with a 7-byte UID (not starting with 0x04) and 16-byte-aligned memory."""

    uid: bytes = bytes.fromhex("3A1B2C3D4E5F60")

    def __post_init__(self) -> None:
        if len(self.uid) != 7:
            raise ValueError("a Type 2 tag UID has 7 bytes")
        if self.uid[0] in (0x04, 0x88):
            raise ValueError("UIDs starting with 0x04 (NXP) or 0x88 are not emulated")

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    def memory(self) -> bytes:
        """The tag's memory image: UID/lock pages, capability container, data area."""
        uid = self.uid
        bcc0 = 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
        bcc1 = uid[3] ^ uid[4] ^ uid[5] ^ uid[6]
        head = uid[0:3] + bytes([bcc0]) + uid[3:7] + bytes([bcc1, 0x48, 0x00, 0x00])
        if self.ndef is None:
            data = b""
            cc = bytes(4)
            size = 48
        else:
            msg = self.ndef
            tlv = (bytes([0x03, len(msg)]) if len(msg) < 255
                   else b"\x03\xff" + struct.pack(">H", len(msg))) + msg + b"\xfe"
            size = max(48, (len(tlv) + 7) // 8 * 8)
            cc = bytes([0xE1, 0x10, size // 8, 0x0F])  # NDEF 1.0, read-only
            data = tlv
        return head + cc + data + bytes(size - len(data))


@dataclass(frozen=True)
class EmulatedType3Tag(EmulatedTag):
    """A Type 3 (FeliCa) tag: IDm (8 bytes), PMm and system code 12FC (NDEF)."""

    idm: bytes = bytes.fromhex("02FE0A1B2C3D4E5F")
    #: IC code 0xFF (byte 1) keeps nfcpy from probing Sony products; the last three
    #: bytes give generous response times over a software radio.
    pmm: bytes = bytes.fromhex("03FF4B024F4993FF")

    def __post_init__(self) -> None:
        if len(self.idm) != 8 or len(self.pmm) != 8:
            raise ValueError("IDm and PMm have 8 bytes each")
        if self.idm[0:2] == b"\x01\xfe":
            raise ValueError("an IDm starting with 01FE announces NFC-DEP, not a tag")

    @property
    def uid_hex(self) -> str:
        return self.idm.hex().upper()

    def blocks(self) -> list[bytes]:
        """Block 0 (NDEF attribute information) and the NDEF data blocks."""
        msg = self.ndef or b""
        nblocks = max(4, (len(msg) + 15) // 16)
        attr = bytearray(16)
        attr[0:5] = bytes([0x10, 4, 0]) + struct.pack(">H", nblocks)  # v1.0, Nbr 4, Nbw 0
        attr[9], attr[10] = 0x00, 0x00  # WriteF done, read-only
        attr[11:14] = struct.pack(">I", len(msg))[1:4]
        attr[14:16] = struct.pack(">H", sum(attr[0:14]))
        data = msg + bytes(nblocks * 16 - len(msg))
        return [bytes(attr)] + [data[i:i + 16] for i in range(0, len(data), 16)]


@dataclass(frozen=True)
class EmulatedType4ATag(EmulatedTag):
    """A Type 4A (ISO-DEP) tag with a 4- or 7-byte UID and an NDEF application."""

    uid: bytes = bytes.fromhex("5C4D3E2F")
    #: Frame waiting time integer announced in the ATS: 2**8 * 4096/13.56 MHz = 77 ms.
    fwi: int = 8

    def __post_init__(self) -> None:
        if len(self.uid) not in (4, 7):
            raise ValueError("a Type 4A tag UID has 4 or 7 bytes")
        if self.uid[0] == 0x88:
            raise ValueError("a UID cannot start with the cascade tag 0x88")

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    def ats(self) -> bytes:
        # TL, T0 (TA, TB, TC follow; FSCI 8 = 256 bytes), TA, TB (FWI, SFGI 0), TC
        return bytes([0x05, 0x78, 0x80, (self.fwi & 0x0F) << 4, 0x00])

    def files(self) -> dict[bytes, bytes]:
        msg = self.ndef or b""
        size = max(64, len(msg) + 2)
        cc = (struct.pack(">HBHH", 15, 0x20, 0x00F0, 0x00F0)
              + bytes([0x04, 0x06]) + _NDEF_FILE + struct.pack(">H", size) + b"\x00\xff")
        return {_CC_FILE: cc, _NDEF_FILE: struct.pack(">H", len(msg)) + msg}


class _Stopped(Exception):
    """The emulator was stopped, or the tag vanished on purpose."""


class TagEmulator:
    """Plays ``tag`` on nfcpy ``device`` (``udp:HOST:PORT``) in a thread while started.

    ``activations`` counts how often a reader activated the tag, ``commands`` the
    commands answered after activation, ``vanished`` is set once a ``vanish_after``
    fault has made the tag fall silent.
    """

    def __init__(self, device: str, tag: EmulatedTag, *, vanish_after: int | None = None,
                 garbage_after: int | None = None) -> None:
        if not device.startswith("udp"):
            raise ValueError("the tag emulator plays on nfcpy's udp driver (udp:HOST:PORT)")
        self.device = device
        self.tag = tag
        self.vanish_after = vanish_after
        self.garbage_after = garbage_after
        self.activations = 0
        self.commands = 0
        self.vanished = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._clf: Any = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> TagEmulator:
        """Put the tag into the field (opens the listening frontend in a thread)."""
        if self._thread is not None:
            raise RuntimeError("the tag emulator is already running")
        self._stop.clear()
        self._ready.clear()
        self.vanished.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"nfc-tag[{self.tag.uid_hex}]")
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the tag emulator did not start")
        if self.error is not None:
            raise RuntimeError(f"the tag emulator failed: {self.error}") from self.error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Take the tag out of the field; returns when the frontend is closed."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        while thread.is_alive() and timeout > 0:
            self._kick()
            thread.join(0.1)
            timeout -= 0.1
        if thread.is_alive():
            raise RuntimeError("the tag emulator thread did not stop")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TagEmulator:
        return self.start() if self._thread is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _kick(self) -> None:
        """Wake a frontend blocked on its socket: nfcpy's udp driver ends on RFOFF."""
        parts = self.device.split(":")
        host = parts[1] if len(parts) > 1 and parts[1] else "localhost"
        port = int(parts[2]) if len(parts) > 2 and parts[2] else 54321  # nfcpy's defaults
        with contextlib.suppress(OSError), \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"RFOFF", (host, port))

    def _done(self) -> bool:
        return self._stop.is_set() or self.vanished.is_set()

    # -- the emulation thread ----------------------------------------------------------
    def _run(self) -> None:
        try:
            self._clf = nfc.ContactlessFrontend(self.device)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._done():
                if isinstance(self.tag, EmulatedType3Tag):
                    self._serve_type3(self.tag)
                else:
                    self._serve_type_a()
        except _Stopped:
            pass
        except BaseException as exc:  # recorded for the test that started us
            self.error = exc
        finally:
            self._clf.close()
            self._clf = None

    def _answer(self, response: bytes | None) -> bytes | None:
        """Count one command; apply the faults to its ``response``."""
        self.commands += 1
        if self.vanish_after is not None and self.commands > self.vanish_after:
            self.vanished.set()
            raise _Stopped
        if self.garbage_after is not None and self.commands > self.garbage_after:
            return _GARBAGE
        return response

    def _serve_type_a(self) -> None:
        tag = self.tag
        if isinstance(tag, EmulatedType2Tag):
            sens_res, sel_res = bytes.fromhex("4400"), bytes.fromhex("00")
            uid = tag.uid
            handler: Callable[[bytes], bytes | None] = _Type2Memory(tag).command
        elif isinstance(tag, EmulatedType4ATag):
            uid = tag.uid
            sens_res = bytes.fromhex("4400" if len(uid) == 7 else "0400")
            sel_res = bytes.fromhex("20")
            handler = _Type4Application(tag).command
        else:  # pragma: no cover - constructor types
            raise TypeError(f"cannot emulate {type(tag).__name__}")
        target = nfc.clf.LocalTarget("106A")
        target.sens_res, target.sel_res, target.sdd_res = sens_res, sel_res, uid
        activated = self._clf.listen(target, 0.5)
        if activated is None or self._done():
            return
        command = activated.tt2_cmd or activated.tt4_cmd
        if command is None:
            return
        self.activations += 1
        while not self._done():
            response = self._answer(handler(bytes(command)))
            command = self._exchange(response)
            if command is None:
                return

    def _exchange(self, response: bytes | None) -> bytes | None:
        """Send ``response`` and wait for the next command; None when the reader left."""
        data = None if response is None else bytearray(response)
        while not self._done():
            try:
                command = self._clf.exchange(data, 0.25)
            except nfc.clf.TimeoutError:
                data = None
                continue
            except nfc.clf.CommunicationError:  # RFOFF: the reader switched its field off
                return None
            if command is None:
                return None
            return bytes(command)
        return None

    def _serve_type3(self, tag: EmulatedType3Tag) -> None:
        blocks = tag.blocks()

        def on_startup(target: Any) -> Any:
            target.brty = "212F"
            target.sensf_res = b"\x01" + tag.idm + tag.pmm + bytes.fromhex("12FC")
            return target

        def read_block(block_number: int, *_atomic: int) -> bytes | None:
            if block_number >= len(blocks):
                return None
            return bytes(self._answer(blocks[block_number]) or b"")

        def on_connect(emulation: Any) -> bool:
            self.activations += 1
            if tag.ndef is not None:
                emulation.add_service(0x0009, read_block, None)
                emulation.add_service(0x000B, read_block, None)
            return True

        self._clf.connect(card={"on-startup": on_startup, "on-connect": on_connect,
                                "timeout": 0.5},
                          terminate=self._done)
        if self.vanished.is_set():
            raise _Stopped


class _Type2Memory:
    """Answers Type 2 commands from a memory image."""

    def __init__(self, tag: EmulatedType2Tag) -> None:
        self.memory = tag.memory()
        self.pages = len(self.memory) // 4

    def command(self, cmd: bytes) -> bytes | None:
        if len(cmd) == 2 and cmd[0] == 0x30:  # READ: four pages, rolling over at the end
            page = cmd[1]
            if page >= self.pages:
                return b"\x00"  # NAK
            mem = self.memory + self.memory
            return mem[page * 4:page * 4 + 16]
        if cmd[:1] == b"\x50":  # HLTA: the tag goes to sleep without answering
            return None
        return b"\x00"  # NAK for everything else (WRITE etc.: the tag is read-only)


class _Type4Application:
    """Answers ISO-DEP blocks carrying the NDEF application's APDUs."""

    def __init__(self, tag: EmulatedType4ATag) -> None:
        self.tag = tag
        self.files = tag.files() if tag.ndef is not None else {}
        self.app_selected = False
        self.file: bytes | None = None

    def command(self, block: bytes) -> bytes | None:
        if not block:
            return None
        pcb = block[0]
        if block[0] == 0xE0:  # RATS
            return self.tag.ats()
        if pcb & 0xF6 == 0xB2:  # R(NAK): presence check -> R(ACK) with our block number
            return bytes([0xA2 | (pcb & 0x01)])
        if pcb & 0xF7 == 0xC2:  # S(DESELECT)
            return bytes([pcb])
        if pcb & 0xE2 == 0x02:  # I-block
            return bytes([0x02 | (pcb & 0x01)]) + self.apdu(block[1:])
        return None

    def apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return _SW_WRONG_PARAMS
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        body = apdu[4:]
        data = body[1:1 + body[0]] if len(body) > 1 else b""
        if ins == 0xA4 and p1 == 0x04:  # SELECT by name
            self.app_selected = bool(self.files) and data == _NDEF_AID
            self.file = None
            return _SW_OK if self.app_selected else _SW_NOT_FOUND
        if ins == 0xA4 and p1 == 0x00:  # SELECT by file id
            if self.app_selected and data in self.files:
                self.file = data
                return _SW_OK
            return _SW_NOT_FOUND
        if ins == 0xB0:  # READ BINARY
            if self.file is None:
                return b"\x69\x86"
            content = self.files[self.file]
            offset = p1 << 8 | p2
            length = (body[0] or 256) if len(body) == 1 else 256
            if offset > len(content):
                return _SW_WRONG_PARAMS
            return content[offset:offset + length] + _SW_OK
        return _SW_NO_INS

