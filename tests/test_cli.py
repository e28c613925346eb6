"""The ``forecourt`` command through click's runner: every item of the operator CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli import main
from edge.alarms import ALARM_EXIT

ROOT = Path(__file__).resolve().parent.parent
CARD = "7800001234567890"


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        # 'status' exits 3 while an alarm is active (without the daemon, always)
        codes = (0, ALARM_EXIT) if "status" in args[:3] else (0,)
        assert result.exit_code in codes, result.output
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
    assert data["cards"] == 9
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
    assert "journal intact: 1 sale," in run("journal", "verify").stdout


def test_denial_is_a_normal_answer(station_dir: Path) -> None:
    result = run("sale", "authorize", "--card", "7800001234567894", "--pump", "1", "--json")
    data = json.loads(result.stdout)
    assert (data["approved"], data["reason"], data["sale_id"]) == (False, "card_blocked", None)
    assert "DENIED" in run("sale", "authorize", "--card", "nobody", "--pump", "1").stdout
    recent = run_json("sale", "list")
    assert [r["reason"] for r in recent] == ["card_blocked", "unknown_card"]


def test_request_problems_are_decisions_with_their_reason(station_dir: Path) -> None:
    # Issue 10 #1: a digital card by its card id or token id, without its QR token.
    for digital in ("7800001234567897", "T-8F2K9Q"):
        data = run_json("sale", "authorize", "--card", digital, "--pump", "1")
        assert (data["approved"], data["reason"]) == (False, "token_required")
    # No office key is configured here: every token is refused, and said so in one line.
    out = run("sale", "authorize", "--token", "FC1.x.y", "--pump", "1").stdout
    assert out == ("DENIED card FC1.x.y pump 1: token_invalid (no office public key is "
                   "configured ([station] office_public_key))\n")
    assert "give --card or --token" in run("sale", "authorize", "--pump", "1", ok=False).output
    # Issue 10 #11: a request below [authorization] min_preset_ml is the request's problem.
    for ask in (("--volume", "1"), ("--amount", "1")):
        data = run_json("sale", "authorize", "--card", CARD, "--pump", "1", *ask)
        assert (data["approved"], data["reason"]) == (False, "preset_too_small")
    # Issue 10 #6: one open authorization per pump.
    first = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95")
    assert first["approved"]
    again = run_json("sale", "authorize", "--card", "7800001234567893", "--pump", "1")
    assert (again["approved"], again["reason"]) == (False, "pump_busy")
    assert [r["sale_id"] for r in run_json("sale", "list", "--open")] == [first["sale_id"]]


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
    """Every command, the lazily loaded office group's included."""
    out: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
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


# -- what operators see: money in the currency, ages in days (issue 10 #15) ---------------

def test_human_output_shows_money_in_the_currency(station_dir: Path) -> None:
    auth = run("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95").stdout
    assert "minor units" not in auth
    # Wallet W-1 (1,000.00 RUB) at 52.99 RUB/l: 18.871 l for 999.97 RUB.
    assert "up to 18.871 l or 999.97 RUB" in auth
    sale_id = auth.split()[2]
    done = run("sale", "complete", sale_id, "--volume", "15200").stdout
    assert "15.200 l AI95 at 52.99 RUB/l = 805.45 RUB" in done
    assert "805.45 RUB" in run("journal", "list").stdout
    shown = run("cards", "show", CARD).stdout
    assert "minor units" not in shown
    assert "20,000.00 RUB" in shown  # the month money limit
    assert "balance 1,000.00 RUB, spent 805.45 RUB, held 0.00 RUB, available 194.55 RUB" in shown
    # JSON keeps integers in minor units.
    assert run_json("journal", "list")[0]["amount"] == 80545


def test_status_shows_card_data_age_in_days_and_hours(station_dir: Path) -> None:
    from datetime import timedelta

    from core.timefmt import iso, utc_now

    with sqlite3.connect(station_dir / "station.db") as conn:
        conn.execute("UPDATE sync_state SET value = ? WHERE key = 'card_store_confirmed_at'",
                     (iso(utc_now() - timedelta(seconds=216_707)),))
    lines = run("status").stdout.splitlines()
    age = next(line for line in lines if line.startswith("card data age"))
    assert age.split(None, 3)[-1] == "2 d 12 h"
    assert run_json("status")["card_data_age_s"] in (216_707, 216_708)
    # Verification of issue 10 #15: "card data stale  False" was Python's, not a person's
    stale = next(line for line in lines if line.startswith("card data stale "))
    assert stale.split()[-1] == "yes"
    assert next(line for line in lines if line.startswith("daemon running")).split()[-1] == "no"
    assert run_json("status")["card_data_stale"] is True


def test_office_sales_show_money_in_the_currency(station_dir: Path, office_env: Path) -> None:
    from core.config import load_config_file
    from core.timefmt import utc_now
    from office.ledger.ingest import ingest_batch
    from office.store import open_office
    from offline_db.outbox import outbox_status, pending_batch

    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95")
    run("sale", "complete", auth["sale_id"], "--volume", "15200")
    run("office", "init")
    run("office", "station", "add", "S-001", "--public-key",
        (station_dir / "station_key.pub").read_text().strip())
    with sqlite3.connect(station_dir / "station.db") as st:
        st.row_factory = sqlite3.Row
        sales = pending_batch(st, max_sales=10, max_bytes=100_000)
        status = {**outbox_status(st), "card_store_version": 17}
    conn = open_office(load_config_file(office_env))
    try:
        result = ingest_batch(conn, {"station_id": "S-001", "first_seq": 1, "last_seq": 1,
                                     "sales": sales, "status": status},
                              via="mqtt", envelope_id="e-1", now=utc_now())
    finally:
        conn.close()
    assert result.stored == 1
    out = run("office", "sales").stdout
    assert "15.200 l" in out and "805.45 RUB" in out
    assert run_json("office", "sales")[0]["amount"] == 80545
    assert " s ago)" in run("office", "stations").stdout  # last seen, with its age
    # Verification of issue 10 #15: the last flash transfer was a bare timestamp with
    # microseconds ("last flash 2026-11-28T20:23:57.538155Z"); its age like last seen
    office = open_office(load_config_file(office_env))
    office.execute("INSERT INTO flash_transfers (at, direction, station_id, file, "
                   "outcome) VALUES ('2026-11-26T07:00:00.000000Z', 'in', 'S-001', "
                   "'x.fcb', 'ok')")
    office.close()
    assert "last flash 2026-11-26T07:00:00Z (" in run("office", "stations").stdout
    (station_dir / "flash-status.json").write_text(json.dumps(
        {"at": "2026-11-26T07:00:00.000000Z", "action": "export", "ok": True, "sales": 0,
         "path": "/stick/x.fcb"}))
    flash = next(line for line in run("status").stdout.splitlines()
                 if line.startswith("flash last "))
    assert flash.split(None, 2)[2].startswith("2026-11-26T07:00:00Z (")


def test_flash_lines_show_money_in_the_currency() -> None:
    from core.display import Currency
    from edge.cli.flash import _export_line
    from office.cli_flash import _import_line

    eur = Currency("EUR", 2)
    export = {"sales": 1532, "first_seq": 40211, "last_seq": 41742, "volume_ml": 61_873_120,
              "amount": 3_412_044_318, "path": "/stick/x.fcb", "size": 100_000}
    assert "61,873.120 l, amount 34,120,443.18 EUR, to /stick/x.fcb" in _export_line(export, eur)
    ingest = {**export, "file": "/stick/x.fcb", "quarantined": None, "station_id": "S-001",
              "stored": 1532, "duplicates": 0, "contiguous_seq": 41742, "gaps": [],
              "alarms": []}
    assert "amount 34,120,443.18 EUR)" in _import_line(ingest, eur)
    assert _export_line(export, eur).endswith("(100.0 kB)")  # not "(0.1 MB)"


# -- cards show: what decides (issue 10 #16) ----------------------------------------------

def test_cards_show_says_what_decides(station_dir: Path) -> None:
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95",
                    "--volume", "10000")
    text = run("cards", "show", CARD).stdout
    assert "used 0.000 l, held 10.000 l, remaining 40.000 l" in text
    assert f"held {auth['max_amount'] // 100:,}." in text
    fleet = run("cards", "show", "7800001234567891").stdout
    assert "vehicle V-17 (bound: the identified vehicle must be V-17), odometer required" \
        in fleet
    assert "time windows: mon-fri 05:00-23:00" in fleet
    for _ in range(3):
        run("sale", "authorize", "--card", "7800001234567892", "--pump", "2", "--pin", "0000")
    smart = run("cards", "show", "7800001234567892").stdout
    assert "PIN required: LOCKED after 3 wrong tries (max 3)" in smart
    digital = run("cards", "show", "7800001234567893").stdout
    assert "stations: S-001, S-002 (allowed here)" in digital
    data = run_json("cards", "show", "7800001234567891")
    assert data["vehicle"]["binding"] is True and data["time_windows"][0]["from"] == "05:00"


def test_cards_show_wallet_says_what_was_spent_since_the_card_data(station_dir: Path) -> None:
    """Verification of issue 10 #16: after a sale paid from W-1, 'cards show' said
    'balance 1,000.00 RUB, held 0.00 RUB, available 194.55 RUB': what went is shown."""
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "3", "--product", "AI95")
    run("sale", "complete", auth["sale_id"], "--volume", "15200")
    text = run("cards", "show", CARD).stdout
    assert ("wallet W-1: balance 1,000.00 RUB, spent 805.45 RUB, held 0.00 RUB, "
            "available 194.55 RUB") in text
    wallet = run_json("cards", "show", CARD)["wallets"][0]
    assert (wallet["balance"], wallet["spent"], wallet["held"], wallet["available"]) == \
        (100000, 80545, 0, 19455)


def test_sales_show_vehicle_odometer_and_flag(station_dir: Path) -> None:
    lines = []
    for km in ("120400", "119000"):
        auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95",
                        "--volume", "2000", "--vehicle", "V-9", "--odometer", km)
        assert auth["odometer_flag"] is (km == "119000")
        lines.append(run("sale", "complete", auth["sale_id"], "--volume", "1000").stdout)
    again = run("sale", "authorize", "--card", CARD, "--pump", "1", "--product", "AI95",
                "--volume", "2000", "--vehicle", "V-9", "--odometer", "1").stdout
    assert again.rstrip().endswith("ODOMETER UNREASONABLE: flagged for review")
    run("sale", "cancel", again.split()[2])
    assert lines[0].rstrip().endswith("vehicle V-9 120,400 km")
    assert lines[1].rstrip().endswith("vehicle V-9 119,000 km ODOMETER UNREASONABLE")
    listed = run("journal", "list").stdout.splitlines()
    assert listed[1].endswith("vehicle V-9 119,000 km ODOMETER UNREASONABLE")
    rows = run_json("journal", "list")
    assert (rows[1]["vehicle_id"], rows[1]["odometer_km"], rows[1]["odometer_flag"]) == \
        ("V-9", 119_000, "odometer_unreasonable")
    assert "journal intact: 2 sales" in run("journal", "verify").stdout
    bad = run("sale", "authorize", "--card", CARD, "--pump", "1", "--vehicle", "V\x1b[2J",
              ok=False)
    assert bad.exit_code == 1 and "vehicle must not contain control characters" in bad.stderr


def test_card_written_with_spaces_or_separators(station_dir: Path) -> None:
    """Issue 10 #3: --card and cards show take a PAN or UID however it is written."""
    auth = run_json("sale", "authorize", "--card", "7800 0012 3456 7890", "--pump", "3",
                    "--product", "AI95")
    assert (auth["approved"], auth["card_id"]) == (True, CARD)
    shown = run_json("cards", "show", "04:b7:c8:d9:e0:f1:a2")
    assert (shown["card_id"], shown["status"]) == ("7800001234567895", "lost")


def test_card_store_in_the_future_is_one_sentence(station_dir: Path, tmp_path: Path,
                                                  sample_store_file: Path) -> None:
    """Issue 10 #2: a card store made a year ahead of the station's clock is refused."""
    doc = json.loads(sample_store_file.read_text())
    doc.update(version=18, generated_at="2099-01-01T00:00:00Z")
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    result = run("cards", "import", str(path), ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "generated_at 2099-01-01T00:00:00Z lies ahead of the station's clock" in \
        result.output
    assert run_json("status")["card_store_version"] == 17


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


def test_office_card_and_station_arguments_are_checked(office_env: Path) -> None:
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


def test_output_into_a_closed_pipe_is_not_an_error(station_dir: Path) -> None:
    """Verification of issue 10 #15: 'forecourt status | head -1' printed 'Error: Broken
    pipe' on stderr; a reader that has read enough is not a failure to report."""
    import subprocess

    from tests.conftest import forecourt_exe

    proc = subprocess.Popen([forecourt_exe(), "status"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read()
    proc.wait(timeout=30)
    proc.stderr.close()
    assert b"Broken pipe" not in err and b"Traceback" not in err, err


def test_sale_list_shows_ages_and_no_volume_for_a_denial(station_dir: Path) -> None:
    """Verification of issue 10 #15: 'sale list' showed 'pump_busy  up to 0.000 l  at
    2026-11-28T20:24:05.516631Z'; an open authorization's age is what an attendant needs."""
    auth = run_json("sale", "authorize", "--card", CARD, "--pump", "3", "--product", "AI95")
    run("sale", "authorize", "--card", "7800001234567893", "--pump", "3")
    rows = run("sale", "list").stdout.splitlines()
    assert "pump_busy" in rows[-1] and "up to" not in rows[-1]
    assert rows[-1].rstrip().endswith(" s ago)") and ".000000Z" not in rows[-1]
    opened = run("sale", "list", "--open").stdout.splitlines()
    assert opened[0].startswith(auth["sale_id"]) and "up to 18.871 l" in opened[0]
    assert opened[0].rstrip().endswith(" s ago)")


def test_a_refused_token_says_why(station_dir: Path) -> None:
    """Verification of issue 10 #1: 'sale authorize --token' answered 'token_invalid' alone
    whether the token was forged, cut short or the station has no office key configured;
    the reason code stays, with the sentence that says which."""
    answer = run_json("sale", "authorize", "--token", "FC1.abc.def", "--pump", "1")
    assert (answer["approved"], answer["reason"]) == (False, "token_invalid")
    assert answer["detail"]
    text = run("sale", "authorize", "--token", "FC1.abc.def", "--pump", "1").stdout
    assert text.startswith("DENIED card FC1.abc.def pump 1: token_invalid (")
    assert answer["detail"] in text
    plain = run_json("sale", "authorize", "--card", "7800001234567894", "--pump", "2")
    assert (plain["reason"], plain["detail"]) == ("card_blocked", None)


@pytest.mark.parametrize("command", [("office", "cards", "token"),
                                     ("office", "cards", "pin-reset")])
def test_office_card_commands_refuse_control_characters(station_dir: Path,
                                                        sample_store_file: Path,
                                                        command: tuple[str, ...]) -> None:
    """Verification of issue 10 #1/#5 (sibling of #10): 'office cards block' refused a card
    with a control character, but 'office cards token' and 'pin-reset' took it and echoed
    it raw ('Error: card T-8F2K9Q<newline> is not in the card master')."""
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    bad = run(*command, "7800001234567892\x1b[2J", ok=False)
    assert bad.exit_code == 1
    assert "must not contain control characters" in bad.stderr and "\x1b" not in bad.stderr
    newline = run(*command, "T-8F2K9Q\n", ok=False)
    assert newline.exit_code == 1 and "\nT-8F2K9Q" not in newline.stderr
    assert newline.stderr.count("\n") == 1


def test_an_approval_for_several_products_shows_the_amount_range(station_dir: Path) -> None:
    """Verification of issue 10 #15: 'AI92, AI95, DT up to 3.000 l or 152.70 RUB' read as
    a money cap, yet the pump is preset by volume and 3.000 l of AI95 came to 158.97 RUB;
    what 3 litres cost, from the cheapest to the dearest product."""
    text = run("sale", "authorize", "--card", "7800001234567893", "--pump", "3",
               "--volume", "3000").stdout
    assert text.rstrip().endswith("AI92, AI95, DT up to 3.000 l (152.70 to 190.50 RUB "
                                  "by product)")
    answer = run_json("sale", "authorize", "--card", "7800001234567893", "--pump", "4",
                      "--volume", "3000")
    assert (answer["max_amount"], answer["hold_amount"]) == (15270, 19050)
    one = run("sale", "authorize", "--card", "7800001234567893", "--pump", "5",
              "--volume", "3000", "--product", "AI95").stdout
    assert one.rstrip().endswith("AI95 up to 3.000 l or 158.97 RUB")


@pytest.mark.parametrize("args", [("--help",), ("status", "--help"), ("journal", "verify")])
def test_a_station_command_never_loads_the_office(args: tuple[str, ...], tmp_path: Path) -> None:
    """The station box does not install the office's extras (DESIGN section 2)."""
    probe = ("import sys, cli\n"
             "try:\n"
             f"    cli.main.main({list(args)!r}, standalone_mode=False)\n"
             "except BaseException:\n"
             "    pass\n"
             "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('office', 'django'))\n"
             "print('LOADED:' + ','.join(loaded))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, check=True)
    assert result.stdout.splitlines()[-1] == "LOADED:", result.stdout
