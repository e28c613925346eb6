"""Who may do what at the station: the Unix user behind a request, and its role.

The daemon learns who called its control socket from the kernel, never from the
client's word: ``SO_PEERCRED`` (uid, gid, pid) and ``SO_PEERGROUPS`` (the caller's
supplementary groups as they were when it connected). What the client says it is
(``"actor": "cli:alice"``) is kept only as ``via``. A command that changes the station
without the daemon, under the writer lock, is checked the same way with its own
process credentials. ``[roles]`` maps Unix groups to the three roles, and
:data:`OP_ROLES` is the one table of every operation and the least role that may run
it: an operation missing from it is refused, whoever asks. root and the owner of the
data directory (the station's own user, which the daemon runs as) count as admin:
they can change the database files anyway.

A refusal is one sentence (code ``not_allowed``: who, the op, the role it needs) and
an audit-log entry ``access.refused``; an accepted change is audited by the operation
itself with :attr:`Caller.actor`, ``unix:<user>`` (the uid when it has no name).
docs/operations.md, "Roles".
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import socket
import sqlite3
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import structlog

from core.bounds import escaped
from core.config_roles import RolesConfig
from core.errors import AccessError, ControlError
from offline_db.connection import atomic
from offline_db.state import audit

log = structlog.get_logger(__name__)


class Role(IntEnum):
    """The station's roles; each may do what the ones below it may."""

    OPERATOR = 1
    TECHNICIAN = 2
    ADMIN = 3

    def __str__(self) -> str:
        return self.name.lower()


#: Every operation of the control socket and of the CLI's writer-lock path, and the
#: least role that may run it. One table for both paths; an operation not here is
#: refused (tests/edge/test_roles.py checks that the daemon serves nothing else).
OP_ROLES: dict[str, Role] = {
    # operator: view, manual authorization, complete, cancel, the shift report
    "ping": Role.OPERATOR,
    "sync.status": Role.OPERATOR,
    "station.status": Role.OPERATOR,
    "pump.status": Role.OPERATOR,
    "readers.status": Role.OPERATOR,
    "pump.totals": Role.OPERATOR,  # the shift report's live totalizers
    "sale.authorize": Role.OPERATOR,
    "sale.complete": Role.OPERATOR,
    "sale.cancel": Role.OPERATOR,
    "shift.close": Role.OPERATOR,
    # technician: flash-drive transfers, pump and reader diagnostics, card-store import
    "readers.events": Role.TECHNICIAN,  # every read live, card numbers included
    "flash.import": Role.TECHNICIAN,
    "cards.import": Role.TECHNICIAN,
    # admin: keys, PIN resets, configuration
    "cards.pin_reset": Role.ADMIN,
}

#: ``SO_PEERGROUPS`` (Linux 4.13+); Python's socket module does not name it.
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_GID = struct.calcsize("I")


@dataclass(frozen=True)
class Caller:
    """A Unix user asking the station to do something: kernel credentials only."""

    uid: int
    gid: int
    groups: frozenset[int]  # the primary group included
    pid: int | None
    name: str  # the user name, or the uid as text when the uid has none

    @property
    def actor(self) -> str:
        """Who the audit log, the authorizations and the shifts record."""
        return f"unix:{self.name}"

    def __str__(self) -> str:
        return f"uid {self.uid}" if self.name == str(self.uid) else \
            f"{self.name} (uid {self.uid})"


def user_name(uid: int) -> str:
    """The user name of ``uid`` (fit to record), or the number when it has none."""
    try:
        return escaped(pwd.getpwuid(uid).pw_name, 64)
    except KeyError:
        return str(uid)


def peer_caller(sock: socket.socket) -> Caller:
    """The process at the other end of a connected Unix socket, as the kernel knows it."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        struct.calcsize("3i")))
    return Caller(uid, gid, frozenset(_peer_groups(sock, pid)) | {gid}, pid, user_name(uid))


def _peer_groups(sock: socket.socket, pid: int) -> list[int]:
    for size in (64, 65536):  # NGROUPS_MAX
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size * _GID)
        except OSError as exc:
            if exc.errno == errno.ERANGE:  # more groups than the buffer holds
                continue
            return _proc_groups(pid)  # an older kernel: the process's groups now
        return list(struct.unpack(f"{len(raw) // _GID}I", raw))
    return []


def _proc_groups(pid: int) -> list[int]:
    """The ``Groups:`` line of /proc/PID/status; none if the process has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Groups:"):
                    return [int(g) for g in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def process_caller() -> Caller:
    """This process (a CLI command holding the writer lock), by its own credentials."""
    uid, gid = os.geteuid(), os.getegid()
    return Caller(uid, gid, frozenset(os.getgroups()) | {gid}, os.getpid(), user_name(uid))


def group_id(spec: str) -> int | None:
    """The number of group ``spec`` (a name or a number), or ``None`` if there is none."""
    if spec.isdigit():
        return int(spec)
    try:
        return grp.getgrnam(spec).gr_gid
    except KeyError:
        return None


class NotAllowed(AccessError):
    """``caller`` may not run ``op``: it needs ``needs``; the caller has ``role``."""

    def __init__(self, caller: Caller, op: str, needs: Role, role: Role | None) -> None:
        has = f"has the {role} role" if role else "has no role at this station"
        super().__init__(f"the Unix user {caller} may not run {op}: it needs the {needs} "
                         f"role, and this user {has} (docs/operations.md, Roles)")
        self.caller, self.op, self.needs, self.role = caller, op, needs, role


class Roles:
    """``[roles]`` with its groups resolved to numbers (once: names rarely move)."""

    def __init__(self, config: RolesConfig, *, owner_uid: int) -> None:
        self.owner_uid = owner_uid
        self.missing: list[str] = []
        self.gids: dict[int, Role] = {}
        for role, key in ((Role.OPERATOR, "operator_groups"),
                          (Role.TECHNICIAN, "technician_groups"),
                          (Role.ADMIN, "admin_groups")):
            for spec in getattr(config, key):
                gid = group_id(spec)
                if gid is None:
                    self.missing.append(spec)
                elif self.gids.get(gid, 0) < role:  # a group in two roles: the higher
                    self.gids[gid] = role

    @classmethod
    def for_station(cls, config: RolesConfig, data_dir: Path) -> Roles:
        return cls(config, owner_uid=data_dir.stat().st_uid)

    def role_of(self, caller: Caller) -> Role | None:
        if caller.uid in (0, self.owner_uid):
            return Role.ADMIN
        return max((self.gids[g] for g in caller.groups if g in self.gids), default=None)

    def check(self, caller: Caller, op: str) -> Role:
        """The caller's role if it may run ``op``; else :class:`NotAllowed`."""
        needs = OP_ROLES.get(op)
        if needs is None:
            raise ControlError(f"unknown operation {op!r}")
        role = self.role_of(caller)
        if role is None or role < needs:
            raise NotAllowed(caller, op, needs, role)
        return role


def record_refusal(conn: sqlite3.Connection, exc: NotAllowed, *, via: str) -> None:
    """The audit-log entry and the log line of a refused operation (one transaction).

    ``via``: how the request came (the client's own word on the socket, or ``cli``).
    """
    caller = exc.caller
    fields = {"op": exc.op, "needs": str(exc.needs), "role": str(exc.role or "none"),
              "uid": caller.uid, "gid": caller.gid, "pid": caller.pid,
              "groups": sorted(caller.groups), "via": via}
    with atomic(conn):
        audit(conn, caller.actor, "access.refused", **fields)
    # info: the daemon's log keeps it; a CLI command's own sentence says it to its user.
    log.info("access.refused", user=caller.name, **fields)


def secure_socket(path: Path, group: str) -> None:
    """Mode 0660 in ``group`` (its members connect), else 0600 with one log line."""
    gid = group_id(group) if group else None
    why = "no [roles] socket_group" if not group else f"group {group} does not exist"
    if gid is not None:
        try:
            os.chown(path, -1, gid)
            os.chmod(path, 0o660)
            return
        except PermissionError:
            why = f"this user may not give the socket to group {group} (not a member)"
    os.chmod(path, 0o600)
    log.warning("control.socket_owner_only", socket=str(path), group=group, reason=why)
