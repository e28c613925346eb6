"""The forecourt fuel-card application: APDUs, card file (BER-TLV) and key diversification.

Pure code, no PC/SC: the station's reader (:mod:`drivers.readers.pcsc`), the virtual
card of the tests (:mod:`drivers.readers.virtual_card`) and a card vendor's
personalisation script all build on it. The specification is ``docs/cards.md``; in
short:

- ``SELECT`` the application by its AID ``A0 00 00 07 48 46 43 01``;
- ``READ BINARY`` the card file (short EF identifier 1, file id ``EF01``): a ``70``
  template holding the PAN (``5A``, BCD padded with ``F``), the expiry (``5F24``,
  YYMMDD in BCD), the card id (``DF01``, ASCII) and optionally the holder name
  (``5F20``, ASCII);
- ``INTERNAL AUTHENTICATE`` with a 16-byte random challenge; the card answers
  ``AES-CMAC(card_key, challenge || PAN-bytes)`` where
  ``card_key = AES-CMAC(issuer_master_key, b"forecourt-card-key" || PAN-bytes)`` and
  ``PAN-bytes`` is the value of tag ``5A`` exactly as stored on the card.

Every malformed answer raises :class:`CardDataError` with one sentence naming what is
wrong; nothing here raises anything else on bad card data.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from core.errors import ForecourtError

#: Application identifier: RID-style A0 00 00 07 48, then "FC" (46 43) and version 01.
AID = bytes.fromhex("A000000748464301")
#: The card file: transparent EF, file id EF01, short EF identifier 1.
EF_ID = 0xEF01
SFI = 1
#: Diversification label prefixed to the PAN bytes when deriving a card key.
DIVERSIFY_LABEL = b"forecourt-card-key"
KEY_LEN = 16
CHALLENGE_LEN = 16
MAC_LEN = 16
#: Largest card file the station reads (the real one is about 80 bytes).
MAX_FILE = 1024

CLA = 0x00
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_INTERNAL_AUTHENTICATE = 0x88
INS_GET_RESPONSE = 0xC0
#: INTERNAL AUTHENTICATE P1 (algorithm: implicit, AES-CMAC) and P2 (key number 1).
AUTH_P1 = 0x00
AUTH_P2 = 0x01

# Tags of the card file.
TAG_TEMPLATE = 0x70
TAG_PAN = 0x5A
TAG_EXPIRY = 0x5F24
TAG_HOLDER = 0x5F20
TAG_CARD_ID = 0xDF01

# Status words.
SW_OK = 0x9000
SW_END_OF_FILE = 0x6282
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_WRONG_PARAMS = 0x6B00
SW_INS_UNKNOWN = 0x6D00
SW_CLA_UNKNOWN = 0x6E00

SW_TEXT: dict[int, str] = {
    SW_OK: "success",
    SW_END_OF_FILE: "end of file reached before Le bytes",
    SW_WRONG_LENGTH: "wrong length",
    SW_SECURITY: "security status not satisfied",
    SW_AUTH_BLOCKED: "authentication key blocked",
    SW_CONDITIONS: "conditions of use not satisfied",
    SW_NOT_FOUND: "application or file not found",
    SW_WRONG_P1P2: "incorrect P1-P2",
    SW_WRONG_PARAMS: "wrong parameters (offset outside the file)",
    SW_INS_UNKNOWN: "instruction not supported",
    SW_CLA_UNKNOWN: "class not supported",
}


class CardDataError(ForecourtError, ValueError):
    """A card answered with data that does not follow docs/cards.md.

    Example scenarios: a response shorter than its status word; a card file that is
    not a ``70`` template; a PAN that is not BCD; an expiry of month 13; a MAC of the
    wrong length.
    """

    code = "card_unreadable"


def sw_text(sw: int) -> str:
    """``6A82 (application or file not found)``: a status word for a sentence."""
    if sw >> 8 == 0x61:
        meaning = f"{sw & 0xFF} more bytes available"
    elif sw >> 8 == 0x6C:
        meaning = f"wrong Le, {sw & 0xFF} bytes available"
    else:
        meaning = SW_TEXT.get(sw, "unknown status")
    return f"{sw:04X} ({meaning})"


# -- command APDUs ------------------------------------------------------------------------
def select_aid(aid: bytes = AID) -> bytes:
    """SELECT by DF name, first occurrence, no response data: ``00 A4 04 0C Lc AID``."""
    if not 5 <= len(aid) <= 16:
        raise ValueError("an AID has 5 to 16 bytes")
    return bytes([CLA, INS_SELECT, 0x04, 0x0C, len(aid)]) + aid


def read_binary(offset: int, le: int = 0, *, sfi: int | None = None) -> bytes:
    """READ BINARY: ``00 B0 P1 P2 Le`` (``Le = 0`` asks for up to 256 bytes).

    With ``sfi`` the file is chosen by short EF identifier (P1 = 80 | SFI, P2 = offset
    0-255), which also makes it the current EF; without it the offset is 15 bits in
    P1-P2 and the current EF is read.
    """
    if not 0 <= le <= 255:
        raise ValueError("Le is 0 (256) to 255")
    if sfi is not None:
        if not 1 <= sfi <= 30 or not 0 <= offset <= 255:
            raise ValueError("with a short EF identifier, SFI is 1-30 and offset 0-255")
        return bytes([CLA, INS_READ_BINARY, 0x80 | sfi, offset, le])
    if not 0 <= offset <= 0x7FFF:
        raise ValueError("a READ BINARY offset is 0-32767")
    return bytes([CLA, INS_READ_BINARY, offset >> 8, offset & 0xFF, le])


def internal_authenticate(challenge: bytes) -> bytes:
    """INTERNAL AUTHENTICATE: ``00 88 00 01 10 <challenge> 10``."""
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"the challenge has {CHALLENGE_LEN} bytes")
    return bytes([CLA, INS_INTERNAL_AUTHENTICATE, AUTH_P1, AUTH_P2, CHALLENGE_LEN]) + \
        challenge + bytes([MAC_LEN])


def get_response(le: int) -> bytes:
    """GET RESPONSE (after ``61 xx`` on T=0 cards): ``00 C0 00 00 Le``."""
    return bytes([CLA, INS_GET_RESPONSE, 0x00, 0x00, le & 0xFF])


def split_response(response: bytes, command: str) -> tuple[bytes, int]:
    """``(data, sw)`` of a response APDU; CardDataError when it has no status word."""
    if len(response) < 2:
        raise CardDataError(f"the card answered {command} with {len(response)} byte(s), "
                            "too short for a status word")
    return response[:-2], int.from_bytes(response[-2:], "big")


# -- BER-TLV ------------------------------------------------------------------------------
def encode_tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV: the tag's bytes, a definite length (short, 81 or 82 form), the value."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    elif n <= 0xFFFF:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    else:
        raise ValueError("a TLV value is at most 65535 bytes")
    return tag_bytes + length + value


def _tag_name(tag: int) -> str:
    return f"{tag:02X}"


def parse_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """The BER-TLV objects of ``data``, in order, as ``(tag, value)``.

    Tags of one or more bytes (``xF`` low bits = multi-byte, continuation while bit 8
    is set) and definite lengths (short form, ``81 nn``, ``82 nn nn``). Anything else
    — a tag or length cut short, the indefinite form, a value longer than the data —
    raises CardDataError.
    """
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        start = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                if i >= n:
                    raise CardDataError(f"a tag at byte {start} is cut short")
                if i - start >= 4:
                    raise CardDataError(f"the tag at byte {start} is longer than 4 bytes")
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        if i >= n:
            raise CardDataError(f"tag {_tag_name(tag)} has no length")
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            size = first & 0x7F
            if i + size > n:
                raise CardDataError(f"the length of tag {_tag_name(tag)} is cut short")
            length = int.from_bytes(data[i:i + size], "big")
            i += size
        else:
            raise CardDataError(f"tag {_tag_name(tag)} has an unsupported length byte "
                                f"{first:02X}")
        if i + length > n:
            raise CardDataError(f"tag {_tag_name(tag)} says {length} bytes but only "
                                f"{n - i} remain")
        out.append((tag, data[i:i + length]))
        i += length
    return out


def tlv_total_length(head: bytes) -> int | None:
    """Bytes taken by the first TLV of ``head`` (header + value), None if ``head`` is
    too short to tell; CardDataError for an impossible header. Used to read a file in
    chunks."""
    if not head:
        return None
    i = 1
    if head[0] & 0x1F == 0x1F:
        while True:
            if i >= len(head):
                return None
            i += 1
            if not head[i - 1] & 0x80:
                break
            if i >= 4:
                raise CardDataError("the card file starts with a tag longer than 4 bytes")
    if i >= len(head):
        return None
    first = head[i]
    i += 1
    if first < 0x80:
        return i + first
    if first not in (0x81, 0x82):
        raise CardDataError(f"the card file has an unsupported length byte {first:02X}")
    size = first & 0x7F
    if i + size > len(head):
        return None
    return i + size + int.from_bytes(head[i:i + size], "big")


# -- the card file ------------------------------------------------------------------------
def pan_to_bytes(pan: str) -> bytes:
    """The PAN as tag ``5A`` stores it: BCD, two digits a byte, ``F``-padded if odd."""
    if not re.fullmatch(r"[0-9]{8,19}", pan):
        raise ValueError("a PAN has 8 to 19 digits")
    digits = pan + ("F" if len(pan) % 2 else "")
    return bytes.fromhex(digits)


def pan_from_bytes(value: bytes) -> str:
    """The PAN digits of a tag ``5A`` value; CardDataError if not canonical BCD."""
    text = value.hex().upper()
    if text.endswith("F"):
        text = text[:-1]
    if not re.fullmatch(r"[0-9]{8,19}", text) or len(value) != (len(text) + 1) // 2:
        raise CardDataError("the PAN (tag 5A) is not 8-19 BCD digits padded with F")
    return text


def _expiry_from_bytes(value: bytes) -> date:
    text = value.hex()
    if len(value) != 3 or not text.isdigit():
        raise CardDataError("the expiry (tag 5F24) is not a YYMMDD date in 3 BCD bytes")
    try:
        return date(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise CardDataError(f"the expiry (tag 5F24) {text} is not a real date") from None


def _ascii(value: bytes, what: str, low: int, high: int) -> str:
    if not low <= len(value) <= high or any(b < 0x20 or b > 0x7E for b in value):
        raise CardDataError(f"the {what} is not {low}-{high} printable ASCII characters")
    return value.decode("ascii")


@dataclass(frozen=True)
class CardData:
    """What the card file holds (tag in brackets)."""

    pan: str  # 5A
    expiry: date  # 5F24
    card_id: str  # DF01
    holder: str | None = None  # 5F20

    @property
    def pan_bytes(self) -> bytes:
        return pan_to_bytes(self.pan)

    def details(self) -> dict[str, str]:
        out = {"card_id": self.card_id, "expiry": self.expiry.isoformat()}
        if self.holder is not None:
            out["holder"] = self.holder
        return out


def encode_card_file(card: CardData) -> bytes:
    """The card file content for ``card`` (what a vendor writes to EF01)."""
    if not 2000 <= card.expiry.year <= 2099:
        raise ValueError("the expiry year must be 2000-2099")
    body = encode_tlv(TAG_PAN, card.pan_bytes)
    body += encode_tlv(TAG_EXPIRY, bytes.fromhex(card.expiry.strftime("%y%m%d")))
    if not 1 <= len(card.card_id) <= 32 or not card.card_id.isascii() or \
            not card.card_id.isprintable():
        raise ValueError("a card id is 1-32 printable ASCII characters")
    body += encode_tlv(TAG_CARD_ID, card.card_id.encode("ascii"))
    if card.holder is not None:
        if not 2 <= len(card.holder) <= 26 or not card.holder.isascii() or \
                not card.holder.isprintable():
            raise ValueError("a holder name is 2-26 printable ASCII characters")
        body += encode_tlv(TAG_HOLDER, card.holder.encode("ascii"))
    return encode_tlv(TAG_TEMPLATE, body)


def parse_card_file(data: bytes) -> CardData:
    """The card data of a card file; CardDataError with one sentence if malformed.

    Trailing ``00`` or ``FF`` padding after the template is allowed (fixed-size EFs);
    unknown tags inside the template are ignored; a duplicate tag is an error.
    """
    if not data:
        raise CardDataError("the card file is empty")
    if data[0] != TAG_TEMPLATE:
        raise CardDataError(f"the card file does not start with the 70 template "
                            f"(first byte {data[0]:02X})")
    total = tlv_total_length(data)
    if total is None or total > len(data):
        raise CardDataError("the card file is shorter than its 70 template says")
    if data[total:].strip(b"\x00\xff"):
        raise CardDataError("the card file has data after its 70 template")
    ((_tag, body),) = parse_tlv(data[:total])
    fields: dict[int, bytes] = {}
    for tag, value in parse_tlv(body):
        if tag in fields:
            raise CardDataError(f"tag {_tag_name(tag)} appears twice in the card file")
        fields[tag] = value
    for tag, what in ((TAG_PAN, "PAN (tag 5A)"), (TAG_EXPIRY, "expiry (tag 5F24)"),
                      (TAG_CARD_ID, "card id (tag DF01)")):
        if tag not in fields:
            raise CardDataError(f"the card file has no {what}")
    holder = fields.get(TAG_HOLDER)
    return CardData(
        pan=pan_from_bytes(fields[TAG_PAN]),
        expiry=_expiry_from_bytes(fields[TAG_EXPIRY]),
        card_id=_ascii(fields[TAG_CARD_ID], "card id (tag DF01)", 1, 32),
        holder=None if holder is None else _ascii(holder, "holder name (tag 5F20)", 2, 26),
    )


# -- cryptography -------------------------------------------------------------------------
def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B, RFC 4493) of ``message``; 16 bytes."""
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def _pan_bytes(pan: str | bytes) -> bytes:
    return pan_to_bytes(pan) if isinstance(pan, str) else pan


def derive_card_key(master: bytes, pan: str | bytes) -> bytes:
    """The card's own key: ``AES-CMAC(master, b"forecourt-card-key" || PAN-bytes)``.

    ``pan`` is the PAN digits or the tag ``5A`` value itself.
    """
    if len(master) != KEY_LEN:
        raise ValueError(f"the issuer master key has {KEY_LEN} bytes (AES-128)")
    return aes_cmac(master, DIVERSIFY_LABEL + _pan_bytes(pan))


def card_mac(card_key: bytes, challenge: bytes, pan: str | bytes) -> bytes:
    """The card's answer to a challenge: ``AES-CMAC(card_key, challenge || PAN-bytes)``."""
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError(f"the challenge has {CHALLENGE_LEN} bytes")
    return aes_cmac(card_key, challenge + _pan_bytes(pan))


def verify(master: bytes, pan: str | bytes, challenge: bytes, mac: bytes) -> bool:
    """True when ``mac`` is the genuine card's answer to ``challenge`` (constant time)."""
    expected = card_mac(derive_card_key(master, pan), challenge, pan)
    return hmac.compare_digest(expected, mac)
