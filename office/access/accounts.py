"""Users and groups: the services the CLI (and the console) change them through.

Users and groups are Django's (``django.contrib.auth``); a right is FEATURE.RIGHT
(office.access.rights). Every change writes an audit entry in the same transaction.
Passwords pass Django's validators (``AUTH_PASSWORD_VALIDATORS``: at least 10
characters, not a common or all-digit one, not like the user name); there is no
default password, and no password ever reaches the audit trail or the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import ForecourtError
from office.access import audit, rights

USERNAME_MAX = 150


class AccountError(ForecourtError, ValueError):
    """A user or group change refused: unknown user or group, weak password, ..."""

    code = "account_refused"


def get_user(name: str) -> User:
    """The user NAME, or AccountError."""
    return _user(name)


def check_new_user(name: str, groups: Iterable[str]) -> None:
    """Refuse a bad or taken name and unknown groups before a password is asked for."""
    _check_username(name)
    if User.objects.filter(username=name).exists():
        raise AccountError(f"user {name!r} exists already; nothing changed")
    for g in groups:
        _group(g)


def _user(name: str) -> User:
    try:
        return User.objects.get(username=name)
    except User.DoesNotExist:
        raise AccountError(f"there is no user {name!r} ('forecourt office users list' "
                           "shows them)") from None


def _group(name: str) -> Group:
    try:
        return Group.objects.get(name=name)
    except Group.DoesNotExist:
        known = ", ".join(Group.objects.order_by("name").values_list("name", flat=True))
        raise AccountError(f"there is no group {name!r}; the groups are: {known}") from None


def check_password(password: str, user: User | None = None) -> None:
    """AccountError with the validators' first complaint, as one sentence."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        first = str(exc.messages[0]).rstrip(".")
        raise AccountError(f"password refused: {first}; nothing changed") from None


def _groups_of(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def _check_username(name: str) -> None:
    if not name or len(name) > USERNAME_MAX or not all(
            c.isalnum() or c in "@.+-_" for c in name):
        raise AccountError("a user name is 1-150 letters, digits or @ . + - _")


def add_user(name: str, password: str, *, groups: Iterable[str] = (), admin: bool = False,
             actor: str, via: str) -> User:
    """Create a user (active) with a password, in ``groups``; ``admin``: every right."""
    check_new_user(name, groups)
    wanted = [_group(g) for g in dict.fromkeys(groups)]
    candidate = User(username=name)
    check_password(password, candidate)
    with transaction.atomic():
        user = User.objects.create_user(name, password=password)
        user.is_superuser = admin
        user.save(update_fields=["is_superuser"])
        user.groups.set(wanted)
        audit.record(actor=actor, via=via, action="user.add", object_kind="user",
                     object_id=name, old=None,
                     new={"active": True, "admin": admin, "groups": _groups_of(user)})
    return user


def set_password(name: str, password: str, *, actor: str, via: str) -> None:
    user = _user(name)
    check_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit.record(actor=actor, via=via, action="user.passwd", object_kind="user",
                     object_id=name, detail="password changed")


def change_groups(name: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
                  actor: str, via: str) -> tuple[list[str], list[str]]:
    """Add the user to ``add`` and take them out of ``remove``; (old, new) group names."""
    user = _user(name)
    adding = [_group(g) for g in dict.fromkeys(add)]
    removing = [_group(g) for g in dict.fromkeys(remove)]
    with transaction.atomic():
        old = _groups_of(user)
        user.groups.add(*adding)
        user.groups.remove(*removing)
        new = _groups_of(user)
        if old != new:
            audit.record(actor=actor, via=via, action="user.groups", object_kind="user",
                         object_id=name, old={"groups": old}, new={"groups": new})
    return old, new


def disable_user(name: str, *, actor: str, via: str) -> bool:
    """The user may no longer log in (kept, for the audit trail); False if already so."""
    user = _user(name)
    if not user.is_active:
        return False
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit.record(actor=actor, via=via, action="user.disable", object_kind="user",
                     object_id=name, old={"active": True}, new={"active": False})
    return True  # their open sessions end too: Django's backend refuses inactive users


def list_users() -> list[dict[str, Any]]:
    return [{"username": u.username, "active": u.is_active, "admin": u.is_superuser,
             "groups": _groups_of(u),
             "last_login": u.last_login.isoformat() if u.last_login else None,
             "joined": u.date_joined.isoformat()}
            for u in User.objects.order_by("username").prefetch_related("groups")]


def _rights_of(group: Group) -> list[str]:
    return rights.rights_of_permissions(
        group.permissions.values_list("content_type__app_label", "codename"))


def list_groups() -> list[dict[str, Any]]:
    return [{"name": g.name, "rights": _rights_of(g),
             "members": sorted(g.user_set.values_list("username", flat=True))}
            for g in Group.objects.order_by("name")]


def _permission(text: str) -> Permission:
    feature, right = rights.parse(text)
    return Permission.objects.get(content_type__app_label=feature.app_label,
                                  content_type__model=feature.model,
                                  codename=rights.codename(feature, right))


def grant(group_name: str, right: str, *, actor: str, via: str) -> bool:
    """Give ``group_name`` the right FEATURE.RIGHT; False if it had it."""
    return _change_right(group_name, right, True, actor=actor, via=via)


def revoke(group_name: str, right: str, *, actor: str, via: str) -> bool:
    """Take FEATURE.RIGHT from ``group_name``; False if it did not have it."""
    return _change_right(group_name, right, False, actor=actor, via=via)


def _change_right(group_name: str, right: str, give: bool, *, actor: str, via: str) -> bool:
    permission = _permission(right)
    group = _group(group_name)
    with transaction.atomic():
        old = _rights_of(group)
        if give:
            group.permissions.add(permission)
        else:
            group.permissions.remove(permission)
        new = _rights_of(group)
        if old == new:
            return False
        audit.record(actor=actor, via=via, action="group.grant" if give else "group.revoke",
                     object_kind="group", object_id=group_name, old={"rights": old},
                     new={"rights": new}, detail=right)
    return True
