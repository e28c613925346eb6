"""The customers' side of the card readers: real protocol peers for the station's drivers.

- a serial magnetic-stripe reader: the far end of a pseudo-terminal, sending tracks 1
  and 2 as ISO/IEC 7813 text ended by CR LF, as such a reader does on each swipe;
- serial QR scanners: the same, one scan (the office's signed token) per line;
- an NFC card: an nfcpy frontend listening on the udp radio the station's ``nfc``
  reader polls, playing a Type 2 tag whose NDEF record carries the card number;
  presenting it starts the emulation, taking it away stops it.

The station's own drivers (drivers/readers) read them exactly as they read hardware.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from demo.cards import TAG_UID, tag_ndef
from demo.errors import DemoError
from drivers.ptyline import PtyLine
from drivers.readers.nfc_tag import EmulatedType2Tag, TagEmulator


class SerialPeer:
    """The device side of a serial reader on a pty linked at ``link``."""

    def __init__(self, link: Path) -> None:
        self.line = PtyLine(link)

    def send(self, text: str) -> None:
        """One swipe or scan: the text and the CR LF the reader ends it with."""
        self.line.write(text.encode("ascii") + b"\r\n")

    def close(self) -> None:
        self.line.close()


class NfcCard:
    """The contactless card, held to the reader on ``device`` (``udp:HOST:PORT``)."""

    def __init__(self, device: str) -> None:
        self.emulator = TagEmulator(device, EmulatedType2Tag(uid=TAG_UID, ndef=tag_ndef()))

    def present(self) -> None:
        try:
            self.emulator.start()
        except RuntimeError as exc:
            raise DemoError(f"the NFC card could not be presented: {exc}") from None

    def take_away(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.emulator.stop()

    def close(self) -> None:
        self.take_away()


class Peers:
    """Every reader's far side, by reader id."""

    def __init__(self) -> None:
        self.serial: dict[str, SerialPeer] = {}
        self.nfc: dict[str, NfcCard] = {}

    def add_serial(self, reader_id: str, link: Path) -> None:
        self.serial[reader_id] = SerialPeer(link)

    def add_nfc(self, reader_id: str, device: str) -> None:
        self.nfc[reader_id] = NfcCard(device)

    def close(self) -> None:
        for peer in self.serial.values():
            peer.close()
        for card in self.nfc.values():
            card.close()
