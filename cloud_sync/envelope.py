"""Signed envelopes: every message that crosses the station/office boundary.

Wire form: one JSON object (UTF-8)::

    {"v": 1, "kind": "sales", "from": "S-001", "to": "office", "id": "<32 hex>",
     "at": "2026-11-22T10:15:00.000000Z", "body": {...}, "sig": "<base64 Ed25519>"}

``sig`` signs the canonical JSON of every other field (sorted keys, separators
``,`` and ``:``, ASCII). ``from`` is a station id or ``office``; the receiver picks
the public key by ``from`` (an enrolled station's key, or the pinned office key) and
refuses an unknown sender, a bad signature, a wrong recipient and a malformed
envelope, each with its own reason code. Documented in docs/mqtt.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync import wire
from core.errors import Refusal
from core.timefmt import iso, utc_now

VERSION = 1
OFFICE = "office"
MAX_ENVELOPE = 16 * 1024 * 1024
KINDS = ("sales", "receipt", "cards", "sync-request", "status", "resend")


class EnvelopeError(Refusal):
    """A message refused at the boundary; ``reason`` is its reason code."""


@dataclass(frozen=True)
class Envelope:
    kind: str
    sender: str
    recipient: str
    id: str
    at: str
    body: dict[str, Any]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(kind: str, sender: str, recipient: str, body: dict[str, Any],
         key: Ed25519PrivateKey) -> bytes:
    """The signed wire bytes of a new envelope."""
    head = {"v": VERSION, "kind": kind, "from": sender, "to": recipient,
            "id": secrets.token_hex(16), "at": iso(utc_now()), "body": body}
    signature = base64.b64encode(key.sign(canonical(head))).decode()
    return canonical({**head, "sig": signature})


EVERYONE = "*"


def open_envelope(data: bytes, *, recipient: str,
                  key_for: Callable[[str], Ed25519PublicKey | None],
                  allow_broadcast: bool = False) -> Envelope:
    """Verify and unpack; ``key_for(sender)`` returns the sender's key or None if unknown.

    ``allow_broadcast`` also accepts messages addressed to every station (``"*"``).
    After the signature, the body's shape is checked for its kind
    (:func:`cloud_sync.wire.check_body`), and every station id in it must be the
    sender's (a station's message) or ``recipient`` (the office's message to a
    station): otherwise ``wrong_station``.
    """
    raw = wire.decode(data, what="the message", max_bytes=MAX_ENVELOPE, error=EnvelopeError)
    if not isinstance(raw, dict) or raw.get("v") != VERSION:
        raise EnvelopeError("malformed", "the message is not a version-1 forecourt envelope")
    fields = {"kind": str, "from": str, "to": str, "id": str, "at": str, "body": dict,
              "sig": str}
    for name, kind in fields.items():
        if not isinstance(raw.get(name), kind):
            raise EnvelopeError("malformed", f"the envelope's {name!r} is missing or wrong")
    if set(raw) != {"v", *fields}:
        raise EnvelopeError("malformed", "the envelope has unknown fields")
    if not wire.is_timestamp(raw["at"]):
        raise EnvelopeError("malformed", "the envelope's 'at' is not a UTC timestamp")
    for name in ("kind", "from", "to", "id"):  # looked up in SQLite, logged, shown
        if not wire.is_text(raw[name], max_len=64):
            raise EnvelopeError("malformed", f"the envelope's {name!r} is not printable text "
                                "of at most 64 characters")
    if raw["kind"] not in KINDS:
        raise EnvelopeError("malformed", f"unknown message kind {raw['kind']!r}")
    key = key_for(raw["from"])
    if key is None:
        raise EnvelopeError("unknown_sender", f"{raw['from']!r} is not an enrolled sender")
    signature = raw.pop("sig")
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical(raw))
    except (InvalidSignature, binascii.Error, ValueError):
        raise EnvelopeError("bad_signature",
                            f"the signature does not match {raw['from']!r}'s key") from None
    if raw["to"] != recipient and not (allow_broadcast and raw["to"] == EVERYONE):
        raise EnvelopeError("wrong_recipient",
                            f"the message is for {raw['to']!r}, not {recipient!r}")
    station_id = raw["from"] if raw["from"] != OFFICE else recipient
    try:
        wire.check_body(raw["kind"], raw["body"], station_id)
    except wire.WireError as exc:
        raise EnvelopeError(exc.reason, f"a {raw['kind']} message from {raw['from']!r}: "
                            f"{exc}") from None
    return Envelope(raw["kind"], raw["from"], raw["to"], raw["id"], raw["at"], raw["body"])
