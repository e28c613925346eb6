"""``forecourt office users ...`` and ``forecourt office groups ...``: the console's
users, their groups and the groups' rights (thin: parse, call office.access.accounts,
print). Every change is audited with the Unix user who ran the command."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import click

from core.clikit import actor, cfg, emit, json_option
from office.access.audit import cli_actor


def _accounts(ctx: click.Context) -> ModuleType:
    """office.access.accounts, once the office store is open (Django configured)."""
    from office.store import open_office

    open_office(cfg(ctx))
    from office.access import accounts

    return accounts


def _who() -> dict[str, str]:
    return {"actor": cli_actor(actor()), "via": "cli"}


def _password(password_stdin: bool, prompt: str) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise click.ClickException("no password on standard input; nothing changed")
        return password
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts).")


@click.group("users")
def office_users() -> None:
    """The web console's users (there is no default user or password)."""


@office_users.command("add")
@click.argument("name")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help="Put the user in this group (repeat for several).")
@click.option("--admin", is_flag=True, help="Every right, now and later (a superuser).")
@password_stdin_option
@click.pass_context
def users_add(ctx: click.Context, name: str, groups: tuple[str, ...], admin: bool,
              password_stdin: bool) -> None:
    """Create user NAME with a password (asked twice, never shown)."""
    accounts = _accounts(ctx)
    if not password_stdin:  # refuse a bad name or group before asking for a password
        accounts.check_new_user(name, groups)
    password = _password(password_stdin, "Password")
    accounts.add_user(name, password, groups=groups, admin=admin, **_who())
    extra = f" in {', '.join(groups)}" if groups else ""
    click.echo(f"user {name} added{extra}{' (administrator: every right)' if admin else ''}")


@office_users.command("passwd")
@click.argument("name")
@password_stdin_option
@click.pass_context
def users_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME (asked twice, never shown)."""
    accounts = _accounts(ctx)
    accounts.get_user(name)
    accounts.set_password(name, _password(password_stdin, "New password"), **_who())
    click.echo(f"password of {name} changed")


@office_users.command("roles")
@click.argument("name")
@click.option("--add", "add", multiple=True, metavar="ROLE", help="Give this role.")
@click.option("--remove", "remove", multiple=True, metavar="ROLE",
              help="Take this role away.")
@click.pass_context
def users_groups(ctx: click.Context, name: str, add: tuple[str, ...],
                 remove: tuple[str, ...]) -> None:
    """Show user NAME's roles (staff groups), or change them with --add and --remove."""
    accounts = _accounts(ctx)
    old, new = accounts.change_groups(name, add=add, remove=remove, **_who())
    if (add or remove) and old == new:
        click.echo(f"{name} is in: {', '.join(new) or 'no group'}; nothing changed")
    else:
        click.echo(f"{name} is in: {', '.join(new) or 'no group'}")


@office_users.command("list")
@json_option
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """The users: active or disabled, administrator, groups, last login."""
    accounts = _accounts(ctx)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no users yet: forecourt office users add NAME --admin")
        for r in rows:
            flags = [] if r["active"] else ["DISABLED"]
            if r["admin"]:
                flags.append("administrator")
            click.echo(f"{r['username']:<20} {', '.join(r['groups']) or '-':<40} "
                       f"last login {(r['last_login'] or 'never')[:19]}"
                       f"{'  ' + ' '.join(flags) if flags else ''}")

    emit(accounts.list_users(), as_json, human)


@office_users.command("disable")
@click.argument("name")
@click.pass_context
def users_disable(ctx: click.Context, name: str) -> None:
    """User NAME may no longer log in (kept, so the audit trail still names them)."""
    accounts = _accounts(ctx)
    if accounts.disable_user(name, **_who()):
        click.echo(f"user {name} disabled")
    else:
        click.echo(f"user {name} is already disabled; nothing changed")


@click.group("roles")
def office_groups() -> None:
    """Roles: groups of console users and their rights (FEATURE.RIGHT, e.g. sales.export).

    (Customer groups are ``forecourt office groups``.)"""


@office_groups.command("list")
@json_option
@click.pass_context
def groups_list(ctx: click.Context, as_json: bool) -> None:
    """The groups, their rights and their members."""
    accounts = _accounts(ctx)

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            click.echo(f"{r['name']}: {', '.join(r['members']) or 'no members'}")
            click.echo(f"  {' '.join(r['rights']) or 'no rights'}")

    emit(accounts.list_groups(), as_json, human)


@office_groups.command("grant")
@click.argument("group")
@click.argument("right", metavar="FEATURE.RIGHT")
@click.pass_context
def groups_grant(ctx: click.Context, group: str, right: str) -> None:
    """Give GROUP a right: FEATURE.RIGHT, e.g. sales.export or cards.change."""
    accounts = _accounts(ctx)
    changed = accounts.grant(group, right, **_who())
    click.echo(f"group {group} {'now has' if changed else 'already had'} {right}")


@office_groups.command("revoke")
@click.argument("group")
@click.argument("right", metavar="FEATURE.RIGHT")
@click.pass_context
def groups_revoke(ctx: click.Context, group: str, right: str) -> None:
    """Take a right (FEATURE.RIGHT) from GROUP."""
    accounts = _accounts(ctx)
    changed = accounts.revoke(group, right, **_who())
    click.echo(f"group {group} {'no longer has' if changed else 'did not have'} {right}")
