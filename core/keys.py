"""Ed25519 key pairs on disk: the station's (``forecourt init``) and the head
office's (``forecourt office init``).

The private key is PKCS#8 PEM in ``<dir>/<name>.pem`` with mode 0600 (written to a
temporary name, fsynced, renamed); the public key is shown, and stored in
``<name>.pub``, as ``ed25519:`` + the base64 of its 32 raw bytes — the form the
other side pins in its configuration.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.config import Config
from core.errors import KeyFileError

STATION_KEY = "station_key"
OFFICE_KEY = "office_key"
PRIVATE_NAME = f"{STATION_KEY}.pem"
PUBLIC_NAME = f"{STATION_KEY}.pub"


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def parse_public_text(text: str) -> Ed25519PublicKey:
    """The key in ``ed25519:<base64>``; KeyFileError naming the problem otherwise."""
    if not text.startswith("ed25519:"):
        raise KeyFileError(f"{text[:20]!r} is not a public key of the form ed25519:<base64>")
    try:
        raw = base64.b64decode(text[8:], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise KeyFileError("the public key is not 32 bytes of valid base64") from None


def configured_office_key(config: Config) -> Ed25519PublicKey | None:
    """The head office's key pinned in ``[station] office_public_key`` (None: not set)."""
    text = config.station.office_public_key
    return parse_public_text(text) if text else None


def create_keypair(directory: Path, name: str = STATION_KEY) -> str | None:
    """Create the key pair unless it exists; return the public key text if created."""
    private = directory / f"{name}.pem"
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
    (directory / f"{name}.pub").write_text(pub + "\n")
    return pub


def load_private_key(directory: Path, name: str = STATION_KEY) -> Ed25519PrivateKey:
    """Load a private key, refusing a file that group or others can read."""
    path = directory / f"{name}.pem"
    command = "forecourt office init" if name == OFFICE_KEY else "forecourt init"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"the key {path} is missing; run '{command}'") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the key {path} is readable by others (mode "
                           f"{stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"the key {path} is not a valid PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"the key {path} is not an Ed25519 key")
    return key
