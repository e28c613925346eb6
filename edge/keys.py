"""The station's Ed25519 key pair: created by ``forecourt init``, checked at start.

The private key is PKCS#8 PEM in ``<data_dir>/station_key.pem`` with mode 0600;
the public key is shown (and stored in ``station_key.pub``) as ``ed25519:`` followed
by the base64 of its 32 raw bytes, the form the head office enrols.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import KeyFileError

PRIVATE_NAME = "station_key.pem"
PUBLIC_NAME = "station_key.pub"


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def create_keypair(data_dir: Path) -> str | None:
    """Create the key pair unless it exists; return the public key text if created."""
    private = data_dir / PRIVATE_NAME
    if private.exists():
        return None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = private.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, private)
    pub = public_text(key)
    (data_dir / PUBLIC_NAME).write_text(pub + "\n")
    return pub


def load_private_key(data_dir: Path) -> Ed25519PrivateKey:
    """Load the private key, refusing a file that group or others can read."""
    path = data_dir / PRIVATE_NAME
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"the station key {path} is missing; run 'forecourt init'") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the station key {path} is readable by others (mode "
                           f"{stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"the station key {path} is not a valid PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"the station key {path} is not an Ed25519 key")
    return key
