"""``forecourt office users ...`` and ``forecourt office roles ...``: users, groups and
rights from the command line, each change in the audit trail; no default password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from django.contrib.auth import authenticate
from django.contrib.auth.models import User

from cli import main
from office.access.models import AuditEntry
from tests.office.console_support import PASSWORD
from tests.office_fixtures import OfficeDb, set_office_database

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def config(office_db: OfficeDb, tmp_path: Path) -> Path:
    """A config.toml naming this test's office store (SQLite or PostgreSQL)."""
    path = tmp_path / "config.toml"
    path.write_text((ROOT / "config.toml").read_text().replace(
        'data_dir = "var/office"', f'data_dir = "{office_db.data_dir}"'))
    return set_office_database(path, office_db.database)


def run(config: Path, *args: str, stdin: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["--config", str(config), "office", *args],
                                input=stdin, catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_users_add_with_groups_audited(config: Path) -> None:
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


def test_password_asked_twice_and_hidden(config: Path) -> None:
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
def test_weak_or_no_password_is_refused(config: Path, password: str, why: str) -> None:
    result = run(config, "users", "add", "carl", "--password-stdin", stdin=password + "\n",
                 ok=False)
    assert why in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not User.objects.filter(username="carl").exists()
    assert not AuditEntry.objects.exists()


def test_no_user_and_no_default_password_after_migrate(config: Path) -> None:
    assert not User.objects.exists()
    assert "no users yet" in run(config, "users", "list").output
    assert authenticate(username="admin", password="admin") is None


def test_passwd_groups_disable_list(config: Path) -> None:
    run(config, "users", "add", "dora", "--group", "viewers", "--password-stdin",
        stdin=PASSWORD + "\n")
    new_password = "another good passphrase"
    run(config, "users", "passwd", "dora", "--password-stdin", stdin=new_password + "\n")
    user = User.objects.get(username="dora")
    assert user.check_password(new_password)
    assert AuditEntry.objects.get(action="user.passwd").object_id == "dora"
    assert "dora is in: operators" in run(config, "users", "roles", "dora", "--add",
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


def test_unknown_user_or_group_is_one_sentence(config: Path) -> None:
    out = run(config, "users", "passwd", "ghost", "--password-stdin", stdin="x\n",
              ok=False).output
    assert "there is no user 'ghost'" in out
    out = run(config, "users", "add", "eve", "--group", "wizards", ok=False).output
    assert "there is no group 'wizards'" in out and "viewers" in out


def test_groups_list_grant_revoke(config: Path) -> None:
    groups = {g["name"]: g for g in json.loads(run(config, "roles", "list", "--json").output)}
    assert set(groups) == {"viewers", "operators", "accountants", "administrators"}
    assert "sales.export" not in groups["viewers"]["rights"]
    assert "sales.export" in groups["accountants"]["rights"]
    assert "cards.change" in groups["operators"]["rights"]
    assert "users.add" in groups["administrators"]["rights"]
    assert "now has" in run(config, "roles", "grant", "viewers", "sales.export").output
    assert "already had" in run(config, "roles", "grant", "viewers", "sales.export").output
    entry = AuditEntry.objects.get(action="group.grant")
    assert entry.object_id == "viewers" and entry.detail == "sales.export"
    assert "sales.export" in json.loads(entry.new or "")["rights"]
    assert "sales.export" not in json.loads(entry.old or "")["rights"]
    assert "no longer has" in run(config, "roles", "revoke", "viewers",
                                  "sales.export").output
    assert AuditEntry.objects.filter(action="group.revoke").count() == 1


@pytest.mark.parametrize(("right", "message"), [
    ("sales.delete", "sales has no right 'delete'"),
    ("petrol.view", "is not a right"),
    ("sales", "is not a right"),
])
def test_bad_rights_are_one_sentence(config: Path, right: str, message: str) -> None:
    out = run(config, "roles", "grant", "viewers", right, ok=False).output
    assert message in out and "Traceback" not in out


def test_cli_changes_are_in_the_same_audit_trail(config: Path, tmp_path: Path) -> None:
    """Station add, card import, block, unblock and PIN reset from the CLI: audited with
    the Unix user, through the same services as the console."""
    import getpass

    from core.keys import create_keypair
    from tests.conftest import SAMPLE

    run(config, "init")
    station_key = create_keypair(tmp_path, "station_key")
    assert station_key is not None
    run(config, "station", "add", "S-009", "--public-key", station_key)
    run(config, "cards", "import", str(SAMPLE))
    card = json.loads(SAMPLE.read_text())["cards"][0]["card_id"]
    assert "now blocked" in run(config, "cards", "block", card).output
    run(config, "cards", "unblock", card)
    pin_card = next(c["card_id"] for c in json.loads(SAMPLE.read_text())["cards"]
                    if isinstance(c.get("pin"), dict))
    run(config, "cards", "pin-reset", pin_card)
    entries = {e.action: e for e in AuditEntry.objects.all()}
    assert set(entries) == {"station.add", "cards.import", "card.block", "card.unblock",
                            "card.pin_reset"}
    me = getpass.getuser()
    assert all(e.actor == me and e.via == "cli" for e in entries.values())
    assert json.loads(entries["station.add"].new or "") == {"public_key": station_key}
    assert json.loads(entries["card.block"].old or "") == {"status": "active"}
    assert json.loads(entries["card.unblock"].new or "") == {"status": "active"}
    assert json.loads(entries["cards.import"].new or "")["operations"] > 0
    listed = run(config, "users", "list").output
    assert "no users yet" in listed


def test_users_commands_in_a_fresh_process(config: Path) -> None:
    """The real console script (Django configured by the command, not by the tests)."""
    import subprocess

    from tests.conftest import forecourt_exe

    subprocess.run([forecourt_exe(), "--config", str(config), "office", "users", "add", "zoe",
                    "--admin", "--password-stdin"], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True)
    out = subprocess.run([forecourt_exe(), "--config", str(config), "office", "users", "list",
                          "--json"], text=True, check=True, capture_output=True).stdout
    assert json.loads(out)[0]["username"] == "zoe" and json.loads(out)[0]["admin"] is True
