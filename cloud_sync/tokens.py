"""Digital-card tokens: short texts the head office signs and a phone shows as a QR code.

Format (``FC1``)::

    FC1.<base64url(payload)>.<base64url(Ed25519 signature over "FC1." + payload-b64)>

with ``payload`` = compact JSON ``{"c": card_id, "e": expiry (Unix seconds),
"n": nonce (24 hex digits)}``. A station verifies it offline with the pinned office
public key, refuses it after its expiry, and refuses a nonce it has already seen
(replay). Documented in docs/cards.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.bounds import MAX_TOKEN_LEN
from core.errors import Refusal

PREFIX = "FC1"
MAX_LENGTH = MAX_TOKEN_LEN
_NONCE = re.compile(r"[0-9a-f]{24}")


class TokenError(Refusal):
    """A token that must be refused; ``reason`` is the reason code."""


@dataclass(frozen=True)
class TokenClaims:
    card_id: str
    expires: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: Ed25519PrivateKey, card_id: str, expires: datetime) -> str:
    payload = json.dumps({"c": card_id, "e": int(expires.timestamp()),
                          "n": secrets.token_hex(12)}, separators=(",", ":")).encode()
    signed = f"{PREFIX}.{_b64(payload)}"
    return f"{signed}.{_b64(key.sign(signed.encode()))}"


def verify(text: str, key: Ed25519PublicKey, now: datetime) -> TokenClaims:
    """Check form, signature and expiry (not replay: the station's store does that)."""
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise TokenError("token_invalid", "the QR text is too long to be a forecourt token")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("token_invalid", "the QR text is not a forecourt card token")
    try:
        signature = _unb64(parts[2])
        payload = _unb64(parts[1])
    except (binascii.Error, ValueError):
        raise TokenError("token_invalid", "the token is not valid base64url") from None
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature:
        raise TokenError("token_invalid", "the token's signature is not the head office's"
                         ) from None
    try:
        claims = json.loads(payload)
        card_id, expiry, nonce = claims["c"], claims["e"], claims["n"]
    except (ValueError, KeyError, TypeError):
        raise TokenError("token_invalid", "the token's content is malformed") from None
    if not (isinstance(card_id, str) and card_id and isinstance(expiry, int)
            and isinstance(nonce, str) and _NONCE.fullmatch(nonce)):
        raise TokenError("token_invalid", "the token's content is malformed")
    try:
        expires = datetime.fromtimestamp(expiry, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError("token_invalid", "the token's expiry is not a time") from None
    if now >= expires:
        raise TokenError("token_expired", f"the token expired at {expires:%Y-%m-%d %H:%M:%S} UTC")
    return TokenClaims(card_id, expires, nonce)
