"""The console's secret key: a file ``secret_key`` in ``[office] data_dir``, mode 0600.

Django signs sessions, CSRF tokens and password-reset links with it. ``forecourt
office init`` makes it (:func:`ensure_secret_key`); every office process reads it
(:func:`load_secret_key`), refusing one that group or others can read, as the office's
signing key is refused (core.keys). There is no built-in default key.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from core.errors import KeyFileError

SECRET_KEY_FILE = "secret_key"
_BYTES = 48  # 64 characters of URL-safe base64


def secret_key_path(data_dir: Path) -> Path:
    return data_dir / SECRET_KEY_FILE


def ensure_secret_key(data_dir: Path) -> bool:
    """Make the secret key file unless it exists; True if it was made now.

    Written to a temporary name with mode 0600, fsynced, then renamed: a crash leaves
    either no key or a whole one.
    """
    path = secret_key_path(data_dir)
    if path.exists():
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (secrets.token_urlsafe(_BYTES) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True


def load_secret_key(data_dir: Path) -> str:
    """The secret key; KeyFileError (one sentence) if missing, unsafe or too short."""
    path = secret_key_path(data_dir)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"the console's secret key {path} is missing; run "
                           "'forecourt office init'") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the console's secret key {path} is readable by others (mode "
                           f"{stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'")
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise KeyFileError(f"the console's secret key {path} cannot be read as text; "
                           "delete it and run 'forecourt office init'") from None
    if len(key) < 50:
        raise KeyFileError(f"the console's secret key {path} is shorter than 50 characters; "
                           "delete it and run 'forecourt office init'")
    return key
