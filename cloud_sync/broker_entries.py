"""A station's entries in the broker's own files: its mosquitto password-file line, its
ACL block, the subject of its TLS client certificate (docs/mqtt.md, *Broker accounts*).

Each station gets its own broker user, ``station-<id>``, allowed to publish only on its
own uplink topics and to read only its own downlink topics and the network's card
topic, so a station that is taken over cannot read or write another station's traffic
(the office's signatures already stop forgeries; the ACL stops eavesdropping, replays
aimed at another station and flooding its topics).

The password line is mosquitto's own ``$7$`` format (what ``mosquitto_passwd`` writes
since 2.0): ``user:$7$<iterations>$<base64 salt, 12 bytes>$<base64 PBKDF2-HMAC-SHA512,
64 bytes>``, made here so the office needs no mosquitto tools. The password is random
(192 bits), so mosquitto's default 101 iterations cost a guesser nothing useful and keep
each connect cheap for the broker.

:func:`install` puts entries into existing files in place of the station's earlier ones
(a re-issue replaces, never duplicates) with one atomic rename in the file's directory
(which must be writable), keeping the file's mode, owner and group.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cloud_sync import topics
from core.errors import ForecourtError

#: mosquitto's ``PW_DEFAULT_ITERATIONS`` and salt length (mosquitto 2.0 password_mosq.c).
MOSQUITTO_ITERATIONS = 101
_SALT_BYTES = 12
_HASH_BYTES = 64
#: What marks a block of ours in the ACL file, so a re-issue finds and replaces it.
_ACL_MARK = "# forecourt station "


class BrokerEntriesError(ForecourtError):
    """A broker file could not be read or written."""

    code = "broker_file"


def station_username(station_id: str) -> str:
    """The broker user of a station (also its TLS client certificate's common name)."""
    return f"station-{station_id}"


def new_password() -> str:
    """A random broker password (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def mosquitto_password_line(username: str, password: str, *, salt: bytes | None = None,
                            iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """``username:$7$...``: one line of a mosquitto password file (no newline)."""
    if ":" in username or "\n" in username:
        raise ValueError("a mosquitto user name has no ':' and no newline")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _HASH_BYTES)
    return (f"{username}:$7${iterations}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def station_acl(prefix: str, station_id: str) -> list[str]:
    """The station's ACL block for mosquitto's ``acl_file``: its own topics only."""
    user = station_username(station_id)
    return ([f"{_ACL_MARK}{station_id}", f"user {user}"]
            + [f"topic write {topics.station(prefix, station_id, leaf)}"
               for leaf in topics.UPLINK]
            + [f"topic read {topics.station(prefix, station_id, leaf)}"
               for leaf in topics.DOWNLINK]
            + [f"topic read {topics.network_cards(prefix)}"])


def office_acl(prefix: str, username: str) -> list[str]:
    """The head office's ACL block: every station's uplink in, every downlink out."""
    return ([f"user {username}"]
            + [f"topic read {topics.every_station(prefix, leaf)}" for leaf in topics.UPLINK]
            + [f"topic write {topics.every_station(prefix, leaf)}"
               for leaf in topics.DOWNLINK]
            + [f"topic write {topics.network_cards(prefix)}"])


def tls_subject(station_id: str) -> str:
    """The subject of the station's TLS client certificate: with mosquitto's
    ``use_identity_as_username true`` its common name is the ACL user."""
    return f"/CN={station_username(station_id)}"


@dataclass(frozen=True)
class StationEntries:
    """Everything the broker needs for one station; ``password`` is shown once."""

    station_id: str
    username: str
    password: str
    password_line: str
    acl: list[str]


def station_entries(prefix: str, station_id: str) -> StationEntries:
    """New credentials (a fresh random password) and the ACL block for a station."""
    username = station_username(station_id)
    password = new_password()
    return StationEntries(station_id, username, password,
                          mosquitto_password_line(username, password),
                          station_acl(prefix, station_id))


def replace_password_line(text: str, line: str) -> str:
    """``text`` of a password file with ``line``'s user's line replaced (or added)."""
    user = line.split(":", 1)[0] + ":"
    kept = [old for old in text.splitlines() if not old.startswith(user)]
    return "\n".join([*kept, line]) + "\n"


def replace_acl_block(text: str, block: list[str]) -> str:
    """``text`` of an ACL file with the station's earlier block (``block[0]``'s mark, the
    ``user`` line, its ``topic`` lines) taken out and ``block`` added at the end."""
    mark, user = block[0], block[1]
    lines = text.splitlines()
    kept: list[str] = []
    skipping = False
    for old in lines:
        stripped = old.strip()
        if stripped in (mark, user):
            skipping = True
            continue
        if skipping and stripped.startswith("topic "):
            continue
        skipping = False
        kept.append(old)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, *([""] if kept else []), *block]) + "\n"


def install(path: Path, change: str, *, password_line: str | None = None,
            acl: list[str] | None = None) -> None:
    """Put a password line (``change="password"``) or an ACL block (``"acl"``) into the
    file at ``path`` in place of the station's earlier one, atomically; a new file is
    made readable by its owner and group only."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o640
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerEntriesError(f"the broker {change} file {path} cannot be read: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
    new = replace_password_line(text, password_line) if password_line is not None \
        else replace_acl_block(text, acl or [])
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise BrokerEntriesError(f"the broker {change} file {path} cannot be written: "
                                 f"{exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if path.exists():    # keep the owner and group mosquitto reads it as
            st, made = path.stat(), os.stat(tmp)
            if (st.st_uid, st.st_gid) != (made.st_uid, made.st_gid):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BrokerEntriesError(f"the broker {change} file {path} cannot be written: "
                                 f"{exc.strerror or exc}") from None
