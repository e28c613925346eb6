"""The role table and the role of a Unix user (edge.roles): our own logic, no peers.

The daemon and the CLI as real processes of different Unix users are in
test_roles_peers.py.
"""

from __future__ import annotations

import ast
import os
import socket
from pathlib import Path

import pytest

from core.config_roles import RolesConfig
from core.errors import ControlError
from edge import daemon
from edge.operations import OPERATIONS
from edge.roles import (
    OP_ROLES,
    Caller,
    NotAllowed,
    Role,
    Roles,
    group_id,
    peer_caller,
    process_caller,
    user_name,
)

NUMBERED = RolesConfig(operator_groups=["47101"], technician_groups=["47102"],
                       admin_groups=["47103"], socket_group="")


def _caller(uid: int, *groups: int, name: str | None = None) -> Caller:
    return Caller(uid, 47299, frozenset(groups) | {47299}, 1, name or str(uid))


def _ops_the_daemon_compares() -> set[str]:
    """Every op name edge/daemon.py tests ``op`` against (``op == "x"``, ``op in (...)``)."""
    tree = ast.parse(Path(daemon.__file__).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) \
                and node.left.id == "op":
            for right in node.comparators:
                for const in ast.walk(right):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        names.add(const.value)
    return names


def test_every_op_the_daemon_serves_has_a_role_and_nothing_else_does() -> None:
    served = set(OPERATIONS) | _ops_the_daemon_compares()
    assert "shift.close" in served and "readers.events" in served  # the walk finds them
    assert served - set(OP_ROLES) == set(), "an op without a role would be refused"
    assert set(OP_ROLES) - served == set(), "a role for an op nobody serves"


def test_the_role_table_follows_the_issue() -> None:
    by_role = {role: sorted(op for op, r in OP_ROLES.items() if r is role) for role in Role}
    assert by_role[Role.OPERATOR] == ["ping", "pump.status", "pump.totals", "readers.status",
                                      "sale.authorize", "sale.cancel", "sale.complete",
                                      "shift.close", "station.status", "sync.status"]
    assert by_role[Role.TECHNICIAN] == ["cards.import", "flash.import", "readers.events"]
    assert by_role[Role.ADMIN] == ["cards.pin_reset"]


def test_roles_of_users_by_their_groups() -> None:
    roles = Roles(NUMBERED, owner_uid=47900)
    assert roles.role_of(_caller(0)) is Role.ADMIN  # root
    assert roles.role_of(_caller(47900)) is Role.ADMIN  # the data directory's owner
    assert roles.role_of(_caller(47201, 47101)) is Role.OPERATOR
    assert roles.role_of(_caller(47202, 47102)) is Role.TECHNICIAN
    assert roles.role_of(_caller(47203, 47101, 47103)) is Role.ADMIN  # the highest
    assert roles.role_of(_caller(47204, 47100)) is None
    # The primary group counts like any other.
    assert roles.role_of(Caller(47205, 47102, frozenset({47102}), 1, "x")) is Role.TECHNICIAN


def test_check_refuses_with_one_sentence_naming_user_op_and_role() -> None:
    roles = Roles(NUMBERED, owner_uid=47900)
    operator = _caller(47201, 47101, name="olga")
    assert roles.check(operator, "sale.authorize") is Role.OPERATOR
    with pytest.raises(NotAllowed) as err:
        roles.check(operator, "cards.import")
    assert str(err.value) == ("the Unix user olga (uid 47201) may not run cards.import: it "
                              "needs the technician role, and this user has the operator "
                              "role (docs/operations.md, Roles)")
    assert err.value.code == "not_allowed"
    with pytest.raises(NotAllowed, match=r"^the Unix user uid 47204 may not run ping: it "
                                         r"needs the operator role, and this user has no "
                                         r"role at this station"):
        roles.check(_caller(47204), "ping")
    # An op without an entry is refused whoever asks, root included.
    with pytest.raises(ControlError, match=r"^unknown operation 'keys.rotate'$"):
        roles.check(_caller(0), "keys.rotate")


def test_group_names_resolve_and_missing_ones_grant_nothing() -> None:
    root_group = group_id("root")
    assert root_group == 0 and group_id("1500") == 1500
    assert group_id("no-such-group-here") is None
    roles = Roles(RolesConfig(operator_groups=["no-such-group-here", "root"],
                              technician_groups=[], admin_groups=[]), owner_uid=47900)
    assert roles.missing == ["no-such-group-here"]
    assert roles.role_of(_caller(47201, 0)) is Role.OPERATOR


def test_callers_are_named_by_the_kernel_and_passwd() -> None:
    me = process_caller()
    assert (me.uid, me.gid, me.pid) == (os.geteuid(), os.getegid(), os.getpid())
    assert me.actor == f"unix:{user_name(me.uid)}"
    assert user_name(0) == "root" and user_name(47999) == "47999"
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        peer = peer_caller(left)
    assert (peer.uid, peer.gid, peer.pid, peer.groups) == (
        me.uid, me.gid, os.getpid(), me.groups)
