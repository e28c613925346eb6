"""Issue 10 #7 through the command line: ``forecourt journal verify`` and ``journal list``
on a cut tail, a rehashed last row and malformed rows (one sentence per problem, exit 1,
``--json``, never a traceback)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from core.formats.journal import chain_hash
from tests.test_cli import run, run_json

CARD = "7800001234567893"


@pytest.fixture
def sold(env_config: Path, sample_store_file: Path) -> Path:
    """A station with four sales; returns its database file."""
    run("init")
    run("cards", "import", str(sample_store_file))
    for volume in ("1000", "2000", "3000", "4000"):
        auth = run_json("sale", "authorize", "--card", CARD, "--pump", "1",
                        "--product", "AI92")
        run("sale", "complete", auth["sale_id"], "--volume", volume)
    return env_config.parent / "station" / "station.db"


def tamper(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_cut_tail_is_broken(sold: Path) -> None:
    tamper(sold, "DELETE FROM outbox WHERE seq >= 3", "DELETE FROM wallet_debits WHERE seq >= 3",
           "DELETE FROM journal WHERE seq >= 3")
    result = run("journal", "verify", ok=False)
    assert result.exit_code == 1
    assert "intact" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines[0] == ("journal broken at seq 3: seq 3 to 4 are missing from the end: the "
                        "station recorded seq 4 as its last sale [tail_missing]")
    assert all(line.startswith("journal broken at seq ") for line in lines)
    data = json.loads(run("journal", "verify", "--json", ok=False).stdout)
    assert (data["ok"], data["first_bad_seq"], data["last_seq"]) == (False, 3, 2)
    assert {p["reason"] for p in data["problems"]} == {"tail_missing", "sale_missing"}
    assert all(set(p) == {"seq", "reason", "message"} for p in data["problems"])


def test_rehashed_last_row_is_broken(sold: Path) -> None:
    conn = sqlite3.connect(db := sold)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM journal WHERE seq = 4").fetchone())
    conn.close()
    row["volume_ml"], row["amount"] = 1, 1
    tamper(db, f"UPDATE journal SET volume_ml = 1, amount = 1, "
               f"hash = '{chain_hash(row['prev_hash'], row)}' WHERE seq = 4")
    result = run("journal", "verify", ok=False)
    assert result.stderr.strip() == (
        "journal broken at seq 4: seq 4 was altered: its hash is not the one the station "
        "recorded when the sale was written [head_mismatch]")


def test_malformed_row_is_one_sentence_not_a_traceback(sold: Path) -> None:
    tamper(sold, "UPDATE journal SET wallet_debits = 'not json' WHERE seq = 2")
    result = run("journal", "verify", ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.strip() == ("journal broken at seq 2: seq 2 is malformed: "
                                     "wallet_debits is not JSON [malformed]")
    data = json.loads(run("journal", "verify", "--json", ok=False).stdout)
    assert data["problems"] == [{"seq": 2, "reason": "malformed",
                                 "message": "seq 2 is malformed: wallet_debits is not JSON"}]
    listed = run("journal", "list", ok=False)
    assert listed.exit_code == 1
    assert listed.stderr.strip() == ("Error: journal row seq 2 is malformed (wallet_debits is "
                                     "not JSON); run 'forecourt journal verify'")


def test_blob_in_a_number_column_is_one_sentence(sold: Path) -> None:
    tamper(sold, "UPDATE journal SET volume_ml = X'00ff' WHERE seq = 3")
    result = run("journal", "verify", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("journal broken at seq 3: seq 3 is malformed: volume_ml is "
                                    "not a whole number")


def test_intact_journal_still_verifies(sold: Path) -> None:
    assert run("journal", "verify").stdout.strip() == "journal intact: 4 sales, seq 1..4"
    assert run_json("journal", "verify")["problems"] == []


@pytest.mark.parametrize(("statement", "phrase"), [
    ("UPDATE journal SET wallet_debits = 'not json' WHERE seq = 3", "wallet_debits is not JSON"),
    ("UPDATE journal SET volume_ml = X'00ff' WHERE seq = 3", "volume_ml is not a whole number"),
])
def test_flash_export_names_a_malformed_row(sold: Path, env_config: Path, tmp_path: Path,
                                            statement: str, phrase: str) -> None:
    run("office", "init")
    office_key = run("office", "keys", "show").stdout.strip()
    env_config.write_text(env_config.read_text().replace(
        'office_public_key = ""', f'office_public_key = "{office_key}"'))
    tamper(sold, statement)
    stick = tmp_path / "stick"
    stick.mkdir()
    result = run("flash", "export", str(stick), ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"journal broken at seq 3: {phrase}" in result.stderr
    assert "run 'forecourt journal verify'" in result.stderr
