"""The encryption keys of flash bundles, derived from the Ed25519 signing keys.

A station and the head office already pin each other's Ed25519 public keys (issue 5:
``[station] office_public_key`` and ``forecourt office station add``). Bundles are
encrypted to the recipient's X25519 key obtained from its Ed25519 key by the standard
birational map (RFC 7748 section 4.1; libsodium's ``crypto_sign_ed25519_pk_to_curve25519``,
age's ``ssh-ed25519`` recipients), so no second key has to be enrolled or carried:
``u = (1 + y) / (1 - y) mod 2^255 - 19`` for the public key, and the first 32 bytes of
SHA-512 of the Ed25519 seed (clamped by X25519) for the private key.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from core.errors import KeyFileError

_P = 2**255 - 19


def x25519_private(key: Ed25519PrivateKey) -> X25519PrivateKey:
    """The X25519 private key that belongs to an Ed25519 private key."""
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    return X25519PrivateKey.from_private_bytes(hashlib.sha512(seed).digest()[:32])


def x25519_public(key: Ed25519PublicKey) -> X25519PublicKey:
    """The X25519 public key of an Ed25519 public key (its Montgomery u-coordinate)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _P or (1 - y) % _P == 0:
        raise KeyFileError("the Ed25519 public key has no X25519 counterpart (not a "
                           "usable point)")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return X25519PublicKey.from_public_bytes(u.to_bytes(32, "little"))


def raw_x25519(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
