"""``[roles]``: which Unix groups hold which role at the station, and who may connect
to the daemon's control socket (edge.roles; docs/operations.md, "Roles").

A group is named (``forecourt-operators``) or given by its number (``"1500"``, in
quotes): a number needs no entry in /etc/group. Only the form is checked here; a
named group that does not exist on the box grants nothing, and the daemon says so
once when it starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: A group name as shadow-utils accepts it (at most 32 characters), or a group number.
_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_.$-]?|[0-9]{1,10}")
#: (uid_t)-1 means "no change" to the kernel: never a group.
_MAX_GID = 2**32 - 2


def group_problem(value: str) -> str | None:
    """What ``value`` is not ("neither a group name ... nor ..."), or ``None`` if it is one."""
    if _GROUP.fullmatch(value) and (not value.isdigit() or int(value) <= _MAX_GID):
        return None
    return ("neither a group name (like forecourt-operators) nor a group number (like "
            f"\"1500\", at most {_MAX_GID})")


@dataclass(frozen=True, kw_only=True)
class RolesConfig:
    """``[roles]``: operator, technician and admin groups; the control socket's group."""

    operator_groups: list[str] = field(default_factory=lambda: ["forecourt-operators"])
    technician_groups: list[str] = field(default_factory=lambda: ["forecourt-technicians"])
    admin_groups: list[str] = field(default_factory=lambda: ["forecourt-admins"])
    socket_group: str = "forecourt"

    def validate(self) -> None:
        for key in ("operator_groups", "technician_groups", "admin_groups"):
            for value in getattr(self, key):
                problem = group_problem(value)
                if problem:
                    raise ValueError(f"[roles] {key} has {value!r}, which is {problem}")
        if self.socket_group:
            problem = group_problem(self.socket_group)
            if problem:
                raise ValueError(f"[roles] socket_group {self.socket_group!r} is {problem}")
