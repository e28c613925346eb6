"""The ``forecourt`` command through click's runner: every item of the operator CLI."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli import main

ROOT = Path(__file__).resolve().parent.parent
CARD = "7800001234567890"


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture
def station_dir(env_config: Path, sample_store_file: Path) -> Path:
    run("init")
    run("cards", "import", str(sample_store_file))
    return env_config.parent / "station"


def test_init_creates_database_and_private_key(env_config: Path) -> None:
    out = run("init").stdout
    data = env_config.parent / "station"
    assert "initialized station S-001" in out
    assert (data / "station.db").exists()
    assert os.stat(data / "station_key.pem").st_mode & 0o777 == 0o600
    pub = (data / "station_key.pub").read_text().strip()
    assert pub.startswith("ed25519:") and pub in out
    again = run("init").stdout
    assert "nothing changed" in again
    assert (data / "station_key.pub").read_text().strip() == pub
    assert run("keys", "show").stdout.strip() == pub


def test_status_json(station_dir: Path) -> None:
    data = run_json("status")
    assert data["station_id"] == "S-001"
    assert data["card_store_version"] == 17
    assert data["outbox_depth"] == 0
    assert data["cards"] == 8
    assert data["daemon_running"] is False


def test_authorize_complete_journal(station_dir: Path) -> None:
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "3", "--product", "AI95")
    assert auth["approved"] is True and auth["reason"] == "approved"
    assert auth["products"] == ["AI95"]
    # Wallet W-1 holds 100000 minor units at 5299 per litre.
    assert auth["max_volume_ml"] == (1000 * 100000 + 499) // 5299
    assert set(auth) >= {"approved", "reason", "sale_id", "products", "max_volume_ml",
                         "max_amount"}
    done = run_json("sale", "complete", auth["sale_id"], "--volume", "15200")
    assert done == {**done, "seq": 1, "volume_ml": 15200, "unit_price": 5299,
                    "amount": (15200 * 5299 + 500) // 1000}
    card = run_json("cards", "show", CARD)
    day = next(lim for lim in card["limits"] if lim["period"] == "day")
    assert (day["used"], day["remaining"]) == (15200, 50000 - 15200)
    assert card["wallets"][0]["available"] == 100000 - done["amount"]
    assert run_json("status")["outbox_depth"] == 1
    rows = run_json("journal", "list")
    assert [r["seq"] for r in rows] == [1]
    assert "journal intact: 1 sales" in run("journal", "verify").stdout


def test_denial_is_a_normal_answer(station_dir: Path) -> None:
    result = run("sale", "authorize", "--card", "7800001234567894", "--pump", "1", "--json")
    data = json.loads(result.stdout)
    assert (data["approved"], data["reason"], data["sale_id"]) == (False, "card_blocked", None)
    assert "DENIED" in run("sale", "authorize", "--card", "nobody", "--pump", "1").stdout
    recent = run_json("sale", "list")
    assert [r["reason"] for r in recent] == ["card_blocked", "unknown_card"]


def test_complete_twice_is_refused_and_changes_nothing(station_dir: Path) -> None:
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95")
    run("sale", "complete", auth["sale_id"], "--volume", "1000")
    again = run("sale", "complete", auth["sale_id"], "--volume", "1000", ok=False)
    assert again.exit_code == 1
    assert again.stderr.strip() == (f"Error: sale {auth['sale_id']} is already completed as "
                                    "seq 1; nothing changed")
    assert "Traceback" not in again.output
    assert len(run_json("journal", "list")) == 1


def test_cancel_releases_the_reservation(station_dir: Path) -> None:
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95")
    assert run_json("sale", "list", "--open")[0]["sale_id"] == auth["sale_id"]
    held = run_json("cards", "show", CARD)["wallets"][0]["available"]
    assert held < 100000
    assert "cancelled" in run("sale", "cancel", auth["sale_id"]).stdout
    assert run_json("sale", "list", "--open") == []
    assert run_json("cards", "show", CARD)["wallets"][0]["available"] == 100000
    refused = run("sale", "cancel", auth["sale_id"], ok=False)
    assert "was cancelled; nothing changed" in refused.stderr


def test_journal_verify_catches_tampering(station_dir: Path) -> None:
    for volume in ("1000", "2000", "3000"):
        auth = run_json("sale", "authorize", "--card", "7800001234567893", "--pump", "1",
                        "--product", "AI92")
        run("sale", "complete", auth["sale_id"], "--volume", volume)
    with sqlite3.connect(station_dir / "station.db") as conn:
        conn.execute("UPDATE journal SET volume_ml = 1 WHERE seq = 2")
    result = run("journal", "verify", ok=False)
    assert result.exit_code == 1
    assert "journal broken at seq 2" in result.stderr
    data = json.loads(run("journal", "verify", "--json", ok=False).stdout)
    assert (data["ok"], data["first_bad_seq"]) == (False, 2)


def test_errors_are_one_sentence(env_config: Path, tmp_path: Path) -> None:
    result = run("status", ok=False)
    assert result.exit_code == 1
    assert "run 'forecourt init' first" in result.stderr
    run("init")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "forecourt-card-store", "version": 1, "products": ['
                   '{"code": "AI95", "unit_price": 52.99}]}')
    result = run("cards", "import", str(bad), ok=False)
    assert result.stderr.strip() == ("Error: products[0].unit_price must be an integer "
                                     "(minor units per litre), got 52.99")
    result = run("cards", "show", "nobody", ok=False)
    assert result.stderr.strip() == "Error: card nobody is not in the card store"
    result = run("cards", "import", str(tmp_path / "missing.json"), ok=False)
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_older_card_store_is_refused(station_dir: Path, tmp_path: Path,
                                     sample_store_file: Path) -> None:
    doc = json.loads(sample_store_file.read_text())
    doc["version"] = 16
    older = tmp_path / "older.json"
    older.write_text(json.dumps(doc))
    result = run("cards", "import", str(older), ok=False)
    assert "older than the version 17 already applied" in result.stderr
    assert run_json("status")["card_store_version"] == 17


def test_bad_config_names_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[station]\nnmae = 1\n")
    result = run("--config", str(path), "status", ok=False)
    assert result.stderr.strip() == f"Error: {path}: unknown key [station] nmae"


def test_unsafe_private_key_is_refused(env_config: Path) -> None:
    run("init")
    key = env_config.parent / "station" / "station_key.pem"
    key.chmod(0o644)
    result = run("keys", "show", ok=False)
    assert "is readable by others (mode 0644)" in result.stderr
    result = run("init", ok=False)
    assert "readable by others" in result.stderr


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
    return out


@pytest.mark.parametrize("command", _commands(main))
def test_every_command_has_help_and_is_documented(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert "Usage: " in result.stdout
    readme = (ROOT / "README.md").read_text()
    assert f"forecourt {' '.join(command)}" in readme


@pytest.mark.parametrize("card", ["7800001234567890\n7800001234567891", "\x1b[2J78", "78\x00"])
def test_control_characters_in_card_are_refused_not_echoed(station_dir: Path,
                                                            card: str) -> None:
    """Issue 10 #10: one sentence naming --card; nothing recorded, nothing echoed raw."""
    for args in (("sale", "authorize", "--card", card, "--pump", "1"), ("cards", "show", card)):
        result = run(*args, ok=False)
        assert result.exit_code == 1
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert "card must not contain control characters" in error
        assert "\x1b" not in result.output and card not in result.output
    assert run_json("sale", "list") == []


def test_office_card_and_station_arguments_are_checked(env_config: Path) -> None:
    """Issue 10 #10: the head office's commands refuse unfit ids too, naming them."""
    run("office", "init")
    key = run("office", "keys", "show").stdout.strip()
    for args, message in (
            (("office", "cards", "block", "78\x1b[2J"), "card must not contain"),
            (("office", "cards", "unblock", "78\n00"), "card must not contain"),
            (("office", "station", "add", "S-1\nS-2", "--public-key", key),
             "station id must be 1-64 letters, digits"),
            (("office", "station", "add", "S/+/#", "--public-key", key),
             "station id must be 1-64 letters, digits")):
        result = run(*args, ok=False)
        assert result.exit_code == 1
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert message in error and "\x1b" not in result.output
    assert "S-1" not in run("office", "stations").stdout


@pytest.mark.parametrize("args", [
    ("sale", "list", "--limit", "99999999999999999999"),
    ("journal", "list", "--limit", "99999999999999999999"),
    ("sale", "authorize", "--card", CARD, "--pump", "1", "--volume", "99999999999999999999"),
    ("sale", "authorize", "--card", CARD, "--pump", "1", "--amount", "99999999999999999999"),
    ("sale", "authorize", "--card", CARD, "--pump", "1", "--odometer", "99999999999999999999"),
    ("sale", "complete", "A123", "--volume", "99999999999999999999"),
])
def test_huge_numbers_on_the_command_line_are_usage_errors(station_dir: Path,
                                                            args: tuple[str, ...]) -> None:
    """Issue 10 #8: a number beyond its range names the option; no OverflowError."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    assert "is not in the range" in result.stderr and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
