"""``forecourt office users ...`` and ``forecourt office groups ...``: users, groups and
rights from the command line, each change in the audit trail; no default password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import override_settings

from core.clikit import ForecourtGroup
from core.config import Config, load_config_file
from office.access.models import AuditEntry
from office.cli_users import office_groups, office_users
from tests.office.conftest import OfficeDb
from tests.office.console_support import FAST_HASHERS, PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _root() -> click.Group:
    root = ForecourtGroup("forecourt")
    office = click.Group("office")
    office.add_command(office_users)
    office.add_command(office_groups)
    root.add_command(office)
    return root


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        yield


@pytest.fixture
def config(office_db: OfficeDb, tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text((ROOT / "config.toml").read_text().replace(
        'data_dir = "var/office"', f'data_dir = "{office_db.data_dir}"'))
    return load_config_file(path)


def run(config: Config, *args: str, stdin: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(_root(), ["office", *args], input=stdin,
                                obj={"config": config}, catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_users_add_with_groups_audited(config: Config) -> None:
    out = run(config, "users", "add", "anna", "--group", "operators", "--group",
              "accountants", "--password-stdin", stdin=PASSWORD + "\n").output
    assert "user anna added in operators, accountants" in out
    user = User.objects.get(username="anna")
    assert user.check_password(PASSWORD) and user.is_active and not user.is_superuser
    assert user.has_perm("cards.change_cardmastercard")
    assert user.has_perm("ledger.export_sale")
    entry = AuditEntry.objects.get(action="user.add")
    assert entry.via == "cli" and entry.object_id == "anna" and entry.old is None
    assert json.loads(entry.new or "") == {"active": True, "admin": False,
                                           "groups": ["accountants", "operators"]}
    assert PASSWORD not in (entry.new or "") + entry.detail


def test_password_asked_twice_and_hidden(config: Config) -> None:
    result = run(config, "users", "add", "boss", "--admin",
                 stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert PASSWORD not in result.output
    assert "Repeat for confirmation" in result.output
    assert User.objects.get(username="boss").is_superuser
    mismatch = run(config, "users", "add", "bob", stdin=f"{PASSWORD}\nother one 123\n"
                   f"{PASSWORD}\n{PASSWORD}\n")
    assert "do not match" in mismatch.output
    assert User.objects.filter(username="bob").exists()


@pytest.mark.parametrize(("password", "why"), [
    ("short1", "too short"),
    ("password123", "too common"),
    ("84736251904857", "entirely numeric"),
    ("", "no password"),
])
def test_weak_or_no_password_is_refused(config: Config, password: str, why: str) -> None:
    result = run(config, "users", "add", "carl", "--password-stdin", stdin=password + "\n",
                 ok=False)
    assert why in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not User.objects.filter(username="carl").exists()
    assert not AuditEntry.objects.exists()


def test_no_user_and_no_default_password_after_migrate(config: Config) -> None:
    assert not User.objects.exists()
    assert "no users yet" in run(config, "users", "list").output
    assert authenticate(username="admin", password="admin") is None


def test_passwd_groups_disable_list(config: Config) -> None:
    run(config, "users", "add", "dora", "--group", "viewers", "--password-stdin",
        stdin=PASSWORD + "\n")
    new_password = "another good passphrase"
    run(config, "users", "passwd", "dora", "--password-stdin", stdin=new_password + "\n")
    user = User.objects.get(username="dora")
    assert user.check_password(new_password)
    assert AuditEntry.objects.get(action="user.passwd").object_id == "dora"
    assert "dora is in: operators" in run(config, "users", "groups", "dora", "--add",
                                          "operators", "--remove", "viewers").output
    entry = AuditEntry.objects.get(action="user.groups")
    assert json.loads(entry.old or "") == {"groups": ["viewers"]}
    assert json.loads(entry.new or "") == {"groups": ["operators"]}
    assert "user dora disabled" in run(config, "users", "disable", "dora").output
    assert "already disabled" in run(config, "users", "disable", "dora").output
    assert AuditEntry.objects.filter(action="user.disable").count() == 1
    assert not User.objects.get(username="dora").is_active
    listed = json.loads(run(config, "users", "list", "--json").output)
    assert listed[0]["username"] == "dora" and listed[0]["active"] is False
    assert listed[0]["groups"] == ["operators"]
    assert "DISABLED" in run(config, "users", "list").output


def test_unknown_user_or_group_is_one_sentence(config: Config) -> None:
    out = run(config, "users", "passwd", "ghost", "--password-stdin", stdin="x\n",
              ok=False).output
    assert "there is no user 'ghost'" in out
    out = run(config, "users", "add", "eve", "--group", "wizards", ok=False).output
    assert "there is no group 'wizards'" in out and "viewers" in out


def test_groups_list_grant_revoke(config: Config) -> None:
    groups = {g["name"]: g for g in json.loads(run(config, "groups", "list", "--json").output)}
    assert set(groups) == {"viewers", "operators", "accountants", "administrators"}
    assert "sales.export" not in groups["viewers"]["rights"]
    assert "sales.export" in groups["accountants"]["rights"]
    assert "cards.change" in groups["operators"]["rights"]
    assert "users.add" in groups["administrators"]["rights"]
    assert "now has" in run(config, "groups", "grant", "viewers", "sales.export").output
    assert "already had" in run(config, "groups", "grant", "viewers", "sales.export").output
    entry = AuditEntry.objects.get(action="group.grant")
    assert entry.object_id == "viewers" and entry.detail == "sales.export"
    assert "sales.export" in json.loads(entry.new or "")["rights"]
    assert "sales.export" not in json.loads(entry.old or "")["rights"]
    assert "no longer has" in run(config, "groups", "revoke", "viewers",
                                  "sales.export").output
    assert AuditEntry.objects.filter(action="group.revoke").count() == 1


@pytest.mark.parametrize(("right", "message"), [
    ("sales.delete", "sales has no right 'delete'"),
    ("petrol.view", "is not a right"),
    ("sales", "is not a right"),
])
def test_bad_rights_are_one_sentence(config: Config, right: str, message: str) -> None:
    out = run(config, "groups", "grant", "viewers", right, ok=False).output
    assert message in out and "Traceback" not in out
