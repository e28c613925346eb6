"""Customer accounts (issue 14), on SQLite and PostgreSQL: what a sale charges, the
statement's every line and balance, aging, the credit and payments reports, the PDF and
XLSX statements — each figure against the hand-computed month of accounts_fixture."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.display import Currency
from office.accounts import account, aging, statement, statement_pdf, statement_xlsx
from office.reports import registry, render
from office.reports.base import ReportError
from office.store import OfficeConnection, open_office
from tests.office import accounts_fixture as F
from tests.office_fixtures import OfficeDb

RUB = Currency("RUB", 2)


@pytest.fixture
def conn(office_db: OfficeDb) -> OfficeConnection:
    opened = open_office(office_db.config)
    F.build(opened)
    return opened


def _cut(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["at"], line["kind"], line["volume_ml"], line["amount"], line["discount"],
            line["wallet"], line["litres"], line["other"], line["charge"], line["credit"],
            line["balance"], line["wallet_balance"])


def test_octobers_statement_line_by_line(conn: OfficeConnection) -> None:
    s = statement.build(conn, "C-1", date(2026, 10, 1), date(2026, 10, 31), F.REPORTS.tz)
    assert (s.opening, s.closing) == (100000, 422500)
    assert (s.wallet_opening, s.wallet_closing, s.litres_opening, s.litres_closing) == (
        30000, 10000, 10000, 0)
    n = None
    assert [_cut(line) for line in s.lines] == [
        # The sale at 21:30 UTC on 30 September is 00:30 on 1 October in Moscow.
        ("2026-10-01 00:30", "sale", 10000, 50000, 0, n, n, n, 50000, n, 150000, 30000),
        ("2026-10-03 10:00", "sale", 40000, 220000, 0, n, n, n, 220000, n, 370000, 30000),
        ("2026-10-05 13:00", "top-up", n, n, n, 10000, n, n, n, n, 370000, 40000),
        ("2026-10-08 13:00", "sale", 30000, 171000, 9000, n, n, n, 171000, n, 541000, 40000),
        ("2026-10-12 15:00", "sale", 20000, 110000, 0, -30000, n, n, 80000, n, 621000, 10000),
        # A payment is dated by its value date, after that day's sales.
        ("2026-10-12", "payment", n, n, n, n, n, n, n, 250000, 371000, 10000),
        ("2026-10-15 11:00", "sale", 20000, 114000, 6000, n, n, 50000, 64000, n, 435000,
         10000),
        ("2026-10-20 09:00", "sale", 25000, 137500, 0, n, -10000, 55000, 82500, n, 517500,
         10000),
        ("2026-10-25", "payment", n, n, n, n, n, n, n, 100000, 417500, 10000),
        ("2026-10-28", "adjustment", n, n, n, n, n, n, n, 15000, 402500, 10000),
        ("2026-10-30 12:00", "voucher", n, n, n, n, n, n, 20000, n, 422500, 10000),
    ]
    assert s.lines[5]["reference"] == "bank BT-1"
    assert s.lines[9]["reference"] == "price error"
    assert s.lines[10]["reference"].startswith("voucher 000001000001")
    assert s.totals == {"volume_ml": 145000, "amount": 802500, "discount": 15000,
                        "other": 105000, "wallet": -20000, "litres": -10000,
                        "charge": 687500, "credit": 365000}
    # The closing balance is the balance at the end of the last day.
    assert account.balance(conn, "C-1", F.REPORTS.tz, date(2026, 10, 31)) == s.closing


def test_a_sale_at_2330_utc_on_the_last_day_is_on_next_months_statement(
        conn: OfficeConnection) -> None:
    november = statement.build(conn, "C-1", date(2026, 11, 1), date(2026, 11, 30),
                               F.REPORTS.tz)
    assert [(line["at"], line["charge"]) for line in november.lines] == [
        ("2026-11-01 02:30", 55000)]
    assert (november.opening, november.closing) == (422500, 477500)
    september = statement.build(conn, "C-1", date(2026, 9, 1), date(2026, 9, 30),
                                F.REPORTS.tz)
    assert [line["kind"] for line in september.lines] == ["wallet opening",
                                                          "wallet opening", "sale", "payment"]
    assert september.closing == 100000  # 21:30 UTC on 30 September is not September's
    # In UTC the same sale is September's.
    utc = statement.build(conn, "C-1", date(2026, 9, 1), date(2026, 9, 30),
                          UTC)
    assert utc.closing == 150000


def test_a_day_without_its_midnight_starts_at_its_first_instant(
        conn: OfficeConnection) -> None:
    # Santiago skips 00:00-01:00 on 6 September 2026 (-04 to -03): the day begins at
    # 01:00 local, 04:00 UTC; the statement's period and its opening balance agree.
    santiago = ZoneInfo("America/Santiago")
    F.sale(12, "K2", "2026-09-06T03:59:00.000000Z", 1000, 5000, 5000)  # 23:59 on the 5th
    F.sale(13, "K2", "2026-09-06T04:00:00.000000Z", 2000, 5000, 10000)  # 01:00 on the 6th
    s = statement.build(conn, "C-2", date(2026, 9, 6), date(2026, 9, 6), santiago)
    assert [(line["at"], line["charge"]) for line in s.lines] == [("2026-09-06 01:00", 10000)]
    assert (s.opening, s.closing) == (5000, 15000)
    assert account.balance(conn, "C-2", santiago, date(2026, 9, 5)) == 5000


def test_balance_summary_and_aging(conn: OfficeConnection) -> None:
    tz = F.REPORTS.tz
    assert account.balance(conn, "C-1", tz) == 532500
    assert account.balance(conn, "C-3", tz) == 25000  # prepaid: its wallets paid nothing
    owed = account.aging_of(conn, "C-1", tz, 30, today=date(2027, 1, 3),
                            as_of=date(2027, 1, 3))
    assert owed.buckets == {"current": 55000, "d0_30": 0,
                            "d31_60": 55000 + 20000 + 82500 + 64000 + 80000 + 171000,
                            "d61_90": 5000, "d90": 0}
    assert owed.oldest_unpaid == date(2026, 10, 3)
    summary = account.summary(conn, "C-1", tz, 30, now=F.NOW)
    assert summary["balance"] == 532500
    assert summary["available"] == 500000 - 532500
    assert summary["over_limit"] == 32500
    assert summary["as_of"] == "2027-01-20"
    # 20 January: the December sale is 16 days past due (due 4 January), 1 November's
    # and the voucher 50 and 52 days, the October sales 62 days and more.
    assert summary["aging"] == {"current": 0, "d0_30": 55000, "d31_60": 55000 + 20000,
                                "d61_90": 82500 + 64000 + 80000 + 171000 + 5000, "d90": 0}
    assert summary["last_payment"] == {"value_date": "2026-10-25", "amount": 100000,
                                       "method": "cash", "reference": "R-2"}
    assert summary["wallets"] == {"money": 10000, "volume_ml": 0}
    assert [e["kind"] for e in summary["recent_entries"]] == [
        "adjustment", "payment", "payment", "payment"]


def test_aging_buckets_at_their_edges() -> None:
    assert [aging.bucket_of(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current", "current", "d0_30", "d0_30", "d31_60", "d31_60", "d61_90", "d61_90", "d90"]


def test_settle_pays_the_oldest_charges_first_and_keeps_advances_apart() -> None:
    d = date
    got = aging.settle([(d(2026, 1, 1), 100), (d(2026, 1, 10), 100)],
                       [(d(2025, 12, 20), 50, True), (d(2026, 2, 15), 150, True)], 30)
    # The advance of 50 settles half of the first charge, counted for no payment.
    assert got[0] == aging.Settled(d(2025, 12, 20), 50, 0, 0, 0)
    assert got[1] == aging.Settled(d(2026, 2, 15), 150, 150, 50 * 45 + 100 * 36, 0)


def test_credit_report(conn: OfficeConnection) -> None:
    report = registry.run(conn, "credit", {"to": "2027-01-03"}, F.REPORTS)
    assert [(r["customer"], r["terms"], r["balance"], r["credit_limit"], r["over_by"],
             r["current"], r["d0_30"], r["d31_60"], r["d61_90"], r["d90"], r["overdue"],
             r["oldest_unpaid"]) for r in report.rows] == [
        ("C-1", "credit", 532500, 500000, 32500, 55000, 0, 472500, 5000, 0, 477500,
         "2026-10-03"),
        # Prepaid: no credit at all, so what it owes is over its limit.
        ("C-3", "prepaid", 25000, None, 25000, 0, 0, 0, 25000, 0, 25000, "2026-10-02"),
    ]  # C-2 owes 100.00, not due and within no limit: not listed
    assert report.totals["overdue"] == 502500 and report.totals["over_by"] == 57500
    only = registry.run(conn, "credit", {"to": "2027-01-03", "customer": "C-3"}, F.REPORTS)
    assert [r["customer"] for r in only.rows] == ["C-3"]


def test_payments_report(conn: OfficeConnection) -> None:
    report = registry.run(conn, "payments", {"from": "2026-10-01", "to": "2026-10-31"},
                          F.REPORTS)
    # BT-1 (12 Oct) paid the rest of the September sale (32 days, late), the 1 Oct sale
    # (11 days) and 100000 of the 3 Oct one (9 days); R-2 (25 Oct) 100000 more of it (22).
    assert report.rows == [{
        "customer": "C-1", "name": "Fleet C-1", "terms": "credit", "payments": 2,
        "total": 350000, "settled": 350000,
        "avg_days": round((100000 * 32 + 50000 * 11 + 100000 * 9 + 100000 * 22) / 350000, 1),
        "on_time": round(250000 / 350000, 2), "last_payment": "2026-10-25",
        "balance": 422500}]
    assert report.rows[0]["avg_days"] == 19.6 and report.rows[0]["on_time"] == 0.71


def test_statement_report_through_the_registry(conn: OfficeConnection) -> None:
    report = registry.run(conn, "statement", {"customer": "C-1", "from": "2026-10-01",
                                              "to": "2026-10-31"}, F.REPORTS)
    assert report.rows[0]["kind"] == "opening balance" and report.rows[0]["balance"] == 100000
    assert report.rows[-1]["kind"] == "closing balance" and report.rows[-1]["balance"] == 422500
    assert len(report.rows) == 13
    assert report.totals["charge"] == 687500 and report.totals["balance"] == 422500
    keys = [c.key for c in report.columns]
    assert {"charge", "credit", "balance", "wallet", "wallet_balance"} <= set(keys)
    table = render.table(report, RUB)
    assert "4,225.00 RUB" in table and "6,875.00 RUB" in table
    assert json.loads(render.json_text(report))[1]["charge"] == 50000
    with pytest.raises(ReportError, match="give --customer"):
        registry.run(conn, "statement", {}, F.REPORTS)
    with pytest.raises(ReportError, match="C-404 does not exist"):
        registry.run(conn, "statement", {"customer": "C-404"}, F.REPORTS)


def test_prepaid_statement_is_about_its_wallets(conn: OfficeConnection) -> None:
    from office.accounts import service
    from office.customers.service import Who

    service.pay(conn, Who("t", "cli"), "C-3", 25000, reference="cash", method="cash",
                day="2026-10-02", tz=F.REPORTS.tz, now=F.NOW)
    s = statement.build(conn, "C-3", date(2026, 11, 1), date(2026, 11, 30), F.REPORTS.tz)
    assert s.prepaid and not s.has_account and s.has_wallets
    report = registry.run(conn, "statement", {"customer": "C-3", "from": "2026-11-01",
                                              "to": "2026-11-30"}, F.REPORTS)
    keys = [c.key for c in report.columns]
    assert "wallet_balance" in keys and "balance" not in keys


def test_statement_pdf_is_a_pdf_with_page_numbers(conn: OfficeConnection) -> None:
    s = statement.build(conn, "C-1", date(2026, 10, 1), date(2026, 10, 31), F.REPORTS.tz)
    pdf = statement_pdf.pdf_bytes(s, RUB, ["Fuel Network Ltd", "1 Main Street"])
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    # A long statement runs over several pages, every line on one of them.
    many = statement.Statement(s.customer, s.start, s.end, s.opening, s.closing,
                               s.wallet_opening, s.wallet_closing, s.litres_opening,
                               s.litres_closing, s.lines * 7, s.totals)
    assert statement_pdf.pages(len(many.lines)) == 3  # 77 lines + 4 rows: 27 + 34 + 20
    long_pdf = statement_pdf.pdf_bytes(many, RUB)
    assert len(re.findall(rb"/Type\s*/Page[^s]", long_pdf)) == statement_pdf.pages(77)
    texts = [[t.get_text() for t in fig.axes[0].texts] for fig in statement_pdf.draw(many, RUB)]
    assert [t[-1] for t in texts] == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    assert sum(t.count("sale: S1 #3, card K1") for t in texts) == 7
    assert "4,225.00 RUB" in texts[-1]  # the closing balance, last page


def test_statement_xlsx_cells(conn: OfficeConnection) -> None:
    from openpyxl import load_workbook

    s = statement.build(conn, "C-1", date(2026, 10, 1), date(2026, 10, 31), F.REPORTS.tz)
    s.lines[9]["reference"] = "=HYPERLINK(\"http://x\")"
    book = load_workbook(io.BytesIO(statement_xlsx.workbook(s, RUB, ["Fuel Network Ltd"])))
    sheet = book["Statement"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "Fuel Network Ltd" and rows[1][0] == "Statement of account"
    facts = {r[0]: r[1] for r in rows if r and r[0] and len(r) > 1 and r[1] is not None}
    assert facts["Customer"] == "Fleet C-1" and facts["Customer id"] == "C-1"
    assert facts["Address"] == "1 Depot Road, Tver"
    assert facts["Period"] == "2026-10-01 to 2026-10-31"
    assert facts["Opening balance (owed)"] == Decimal("1000.00")
    assert facts["Closing balance (owed)"] == Decimal("4225.00")
    head = next(i for i, r in enumerate(rows) if r[0] == "Date")
    header = rows[head]
    assert header[header.index("Charge (RUB)")] == "Charge (RUB)"
    first = dict(zip(header, rows[head + 1], strict=True))
    assert first["Date"] == "2026-10-01 00:30" and first["Charge (RUB)"] == Decimal("500")
    assert first["Volume (l)"] == Decimal("10")
    totals = dict(zip(header, rows[head + 12], strict=True))
    assert totals["Date"] == "Totals" and totals["Charge (RUB)"] == Decimal("6875")
    assert totals["Credit (RUB)"] == Decimal("3650") and totals["Balance (RUB)"] == Decimal(
        "4225")
    cell = sheet.cell(head + 1 + 10, header.index("Reference") + 1)
    assert cell.value == "=HYPERLINK(\"http://x\")" and cell.data_type == "s"
    money_cell = sheet.cell(head + 2, header.index("Charge (RUB)") + 1)
    assert money_cell.number_format == "#,##0.00"
