"""``forecourt office accounts ...`` and the accounts reports through the real CLI, on
SQLite and PostgreSQL: bookings with the Unix user in the audit trail, refusals that
change nothing, the account shown, and the statement and reports written as files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.clikit import actor
from core.config import load_config_file
from office.access.audit import cli_actor
from office.store import OfficeConnection, open_office
from tests.office import accounts_fixture as F


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def out(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture
def office(office_env: Path) -> Path:
    text = office_env.read_text()
    assert text.count('\ntimezone = "UTC"\nweek_start') == 1
    office_env.write_text(text.replace('\ntimezone = "UTC"\nweek_start',
                                       '\ntimezone = "Europe/Moscow"\nweek_start'))
    run("office", "init")
    return office_env


def conn_of(config_file: Path) -> OfficeConnection:
    return open_office(load_config_file(config_file))


def rows(config_file: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = conn_of(config_file)
    return [tuple(r) for r in conn.execute(sql).fetchall()]


@pytest.fixture
def month(office: Path) -> Path:
    """The office with the hand-computed accounts of accounts_fixture."""
    F.build(conn_of(office))
    return office


def test_pay_and_adjust_book_with_the_unix_user(office: Path) -> None:
    run("office", "customers", "add", "--name", "Sever Agro", "--customer-id", "C-9",
        "--payment-terms", "credit", "--credit-limit", "100000")
    paid = out("office", "accounts", "pay", "C-9", "1 500,50", "--reference", "BT-77",
               "--date", "2026-11-02", "--method", "bank")
    assert (paid["amount"], paid["kind"], paid["method"], paid["reference"],
            paid["value_date"]) == (-150050, "payment", "bank", "BT-77", "2026-11-02")
    assert (paid["balance_before"], paid["balance"]) == (0, -150050)
    note = run("office", "accounts", "adjust", "C-9", "-20.00", "--reason",
               "goodwill, complaint 12").output
    assert note.startswith("C-9: adjustment 20.00 RUB booked")
    assert "owes -1,500.50 RUB -> -1,520.50 RUB" in note
    user = cli_actor(actor())
    assert rows(office, "SELECT kind, amount, actor, via, reason FROM account_entries "
                "ORDER BY id") == [("payment", -150050, user, "cli", ""),
                                   ("adjustment", -2000, user, "cli", "goodwill, complaint 12")]
    audit = rows(office, "SELECT action, actor, via, object_id, old, new FROM audit_entries "
                 "WHERE action LIKE 'account.%' ORDER BY id")
    assert [(a[0], a[1], a[2], a[3]) for a in audit] == [
        ("account.payment", user, "cli", "C-9"), ("account.adjustment", user, "cli", "C-9")]
    assert json.loads(audit[0][4]) == {"balance": 0}
    assert json.loads(audit[0][5])["balance"] == -150050
    shown = out("office", "accounts", "show", "C-9")
    assert shown["balance"] == -152050 and shown["available"] == 100000 + 152050
    assert shown["last_payment"]["amount"] == 150050


@pytest.mark.parametrize(("args", "says"), [
    (["pay", "C-404", "10", "--reference", "x"], "customer C-404 does not exist"),
    (["pay", "C-9", "10.001", "--reference", "x"], "amount has more than 2 decimals"),
    (["pay", "C-9", "ten", "--reference", "x"], "amount must be an amount such as 1250.50"),
    (["pay", "C-9", "-10", "--reference", "x"], "a payment must be more than zero"),
    (["pay", "C-9", "0", "--reference", "x"], "a payment must be more than zero"),
    (["pay", "C-9", "10", "--reference", " "], "reference is required"),
    (["pay", "C-9", "10", "--reference", "x", "--date", "2999-01-01"], "is after today"),
    (["pay", "C-9", "10", "--reference", "x", "--date", "2026-02-30"], "a day like"),
    (["adjust", "C-9", "0", "--reason", "x"], "an adjustment must not be zero"),
    (["adjust", "C-9", "5", "--reason", ""], "reason is required"),
])
def test_bad_bookings_are_one_sentence_and_change_nothing(office: Path, args: list[str],
                                                          says: str) -> None:
    run("office", "customers", "add", "--name", "Sever Agro", "--customer-id", "C-9")
    result = run("office", "accounts", *args, ok=False)
    assert result.exit_code == 1
    assert says in result.output and result.output.count("\n") == 1
    assert "Traceback" not in result.output and result.output.endswith("nothing changed\n")
    assert rows(office, "SELECT COUNT(*) FROM account_entries") == [(0,)]
    assert rows(office, "SELECT COUNT(*) FROM audit_entries WHERE action LIKE 'account.%'"
                ) == [(0,)]


def test_show_the_hand_computed_account(month: Path) -> None:
    shown = out("office", "accounts", "show", "C-1")
    assert shown["balance"] == 532500 and shown["credit_limit"] == 500000
    assert shown["available"] == -32500 and shown["over_limit"] == 32500
    assert sum(shown["aging"].values()) == 532500
    text = run("office", "accounts", "show", "C-1").output
    assert "balance    5,325.00 RUB" in text and "cash R-2" in text


def test_statement_files(month: Path) -> None:
    from openpyxl import load_workbook

    pdf, xlsx = month.parent / "c1.pdf", month.parent / "c1.xlsx"
    said = run("office", "accounts", "statement", "C-1", "--month", "2026-10", "--out",
               str(pdf)).output
    assert said == f"wrote {pdf} (11 lines, closing balance 4,225.00 RUB)\n"
    assert pdf.read_bytes().startswith(b"%PDF-")
    run("office", "accounts", "statement", "C-1", "--from", "2026-10-01", "--to",
        "2026-10-31", "--out", str(xlsx))
    sheet = load_workbook(xlsx)["Statement"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert ["Closing balance (owed)", 4225] in [[r[0], r[1]] for r in values]
    assert rows(month, "SELECT name, format, rows, via FROM report_runs ORDER BY id") == [
        ("statement", "pdf", 11, "cli"), ("statement", "xlsx", 11, "cli")]
    for args, says in (
            (["--month", "2026-10", "--from", "2026-10-01"], "not both"),
            (["--month", "2026-13"], "--month must be a month like 2026-11"),
            ([], "give --month YYYY-MM, or --from and --to")):
        bad = run("office", "accounts", "statement", "C-1", *args, "--out", str(pdf),
                  ok=False)
        assert bad.exit_code == 1 and says in bad.output
    bad = run("office", "accounts", "statement", "C-1", "--month", "2026-10", "--out",
              str(month.parent / "c1.txt"), ok=False)
    assert "--out must name a .pdf or .xlsx file" in bad.output


def test_the_reports_in_every_format(month: Path) -> None:
    from openpyxl import load_workbook

    lines = json.loads(run("office", "report", "statement", "--customer", "C-1", "--from",
                           "2026-10-01", "--to", "2026-10-31", "--format", "json").stdout)
    assert [r["balance"] for r in lines][::6] == [100000, 371000, 422500]
    book = month.parent / "statement.xlsx"
    run("office", "report", "statement", "--customer", "C-1", "--from", "2026-11-01",
        "--to", "2026-11-30", "--format", "xlsx", "--out", str(book))
    sheet = load_workbook(book)["Report"]
    assert sheet["A1"].value == "Statement of Fleet C-1"
    credit = json.loads(run("office", "report", "credit", "--to", "2027-01-03", "--format",
                            "json").stdout)
    assert [(r["customer"], r["overdue"]) for r in credit] == [("C-1", 477500),
                                                               ("C-3", 25000)]
    text = run("office", "report", "credit", "--to", "2027-01-03").output
    assert "Credit control" in text and "4,775.00 RUB" in text
    csv = run("office", "report", "payments", "--from", "2026-10-01", "--to", "2026-10-31",
              "--format", "csv").stdout
    header, first = csv.lstrip("\ufeff").splitlines()[:2]
    assert header.startswith("Customer,Name,Terms,Payments,Paid (RUB)")
    assert first.startswith("C-1,Fleet C-1,credit,2,3500.00,3500.00,19.6,0.71,2026-10-25")
    refused = run("office", "report", "statement", "--from", "2026-10-01", ok=False)
    assert refused.exit_code == 1 and "give --customer" in refused.output
    assert io.StringIO(refused.output).read().count("\n") == 1


def test_the_reports_list_names_them_without_an_office_store(tmp_path: Path) -> None:
    """``forecourt office reports`` imports every report module before Django is set up
    (a fresh process): the accounts module must not need the models to load."""
    import subprocess

    from tests.conftest import forecourt_exe

    done = subprocess.run([forecourt_exe(), "office", "reports", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = {r["name"]: r["options"] for r in json.loads(done.stdout)}
    assert listed["statement"] == ["from", "to", "customer"]
    assert listed["credit"] == ["to", "customer", "group"]
    assert listed["payments"] == ["from", "to", "customer", "group"]
