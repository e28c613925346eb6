"""The console's customer account (issue 14), on SQLite and PostgreSQL: the Account
section on the customer's page, the payment form behind ``accounts.add`` (CSRF, audited
with the user), and the statement downloads behind ``accounts.export``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from core.timefmt import iso
from office.access.models import AuditEntry
from office.accounts.models import AccountEntry
from tests.office.console_support import add_sale, client, logged_in, make_user
from tests.office_fixtures import OfficeDb

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def owing(console_db: OfficeDb) -> OfficeDb:
    """Credit customer C-5 (limit 5,000.00) owing 1,018.00 for one sale on 20 Nov 2026."""
    from office.cards.models import Card
    from office.customers.models import Customer

    stamp = iso(datetime(2026, 11, 1, tzinfo=UTC))
    Customer.objects.create(customer_id="C-5", name="Sever Agro", payment_terms="credit",
                            credit_limit=500000, created_at=stamp, created_by="t",
                            modified_at=stamp, modified_by="t")
    Card.objects.create(card_id="K-5", kind="rfid", customer_id="C-5", issued_at=stamp,
                        issued_by="t", modified_at=stamp, modified_by="t")
    add_sale("S-001", 1, card_id="K-5", amount=101800)
    return console_db


PAYMENT = {"amount": "1 000,50", "reference": "BT-9", "date": "2026-11-25", "method": "bank"}


def test_the_account_section_shows_what_the_customer_owes(owing: OfficeDb) -> None:
    viewer = logged_in(make_user("vera", ["viewers"]))
    page = viewer.get("/customers/C-5/").content.decode()
    assert 'id="account"' in page
    assert "1,018.00 RUB" in page and "3,982.00 RUB" in page  # balance; available credit
    assert "Record payment" not in page  # no accounts.add
    assert "statement.pdf" not in page  # no accounts.export
    accountant = logged_in(make_user("alla", ["accountants"]))
    page = accountant.get("/customers/C-5/").content.decode()
    assert "Record payment" in page and "/customers/C-5/statement.pdf?month=" in page
    operator = logged_in(make_user("nina", ["operators"]))  # operators view accounts too
    assert 'id="account"' in operator.get("/customers/C-5/").content.decode()


def test_recording_a_payment_needs_the_right_and_is_audited(owing: OfficeDb) -> None:
    viewer = logged_in(make_user("vera", ["viewers"]))
    assert viewer.post("/customers/C-5/account/pay", PAYMENT).status_code == 403
    assert AccountEntry.objects.count() == 0
    accountant = logged_in(make_user("alla", ["accountants"]))
    assert accountant.get("/customers/C-5/account/pay").status_code == 405
    strict = client(enforce_csrf_checks=True)
    strict.force_login(make_user("olga", ["accountants"]))
    assert strict.post("/customers/C-5/account/pay", PAYMENT).status_code == 403  # no token
    answer = accountant.post("/customers/C-5/account/pay", PAYMENT, follow=True)
    page = answer.content.decode()
    assert "Payment of 1,000.50 RUB recorded; the customer owes 17.50 RUB." in page
    entry = AccountEntry.objects.get()
    assert (entry.customer_id, entry.kind, entry.amount, entry.reference, entry.value_date,
            entry.actor, entry.via) == ("C-5", "payment", -100050, "BT-9", "2026-11-25",
                                        "alla", "console")
    audit = AuditEntry.objects.get(action="account.payment")
    assert (audit.actor, audit.via, audit.object_id) == ("alla", "console", "C-5")
    assert json.loads(audit.new)["balance"] == 1750
    refused = accountant.post("/customers/C-5/account/pay", {**PAYMENT, "amount": "-5"},
                              follow=True).content.decode()
    assert "a payment must be more than zero" in refused
    assert AccountEntry.objects.count() == 1


def test_statement_downloads_need_the_export_right(owing: OfficeDb) -> None:
    from openpyxl import load_workbook

    from office.reports.models import ReportRun

    viewer = logged_in(make_user("vera", ["viewers"]))
    assert viewer.get("/customers/C-5/statement.pdf?month=2026-11").status_code == 403
    accountant = logged_in(make_user("alla", ["accountants"]))
    pdf = accountant.get("/customers/C-5/statement.pdf?month=2026-11")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert 'filename="statement-C-5-2026-11.pdf"' in pdf["Content-Disposition"]
    xlsx = accountant.get("/customers/C-5/statement.xlsx?month=2026-11")
    sheet = load_workbook(io.BytesIO(xlsx.content))["Statement"]
    facts = {r[0].value: r[1].value for r in sheet.iter_rows() if len(r) > 1}
    assert facts["Closing balance (owed)"] == 1018
    assert accountant.get("/customers/C-5/statement.pdf?month=2026-13").status_code == 404
    assert accountant.get("/customers/C-404/statement.pdf").status_code == 404
    assert list(ReportRun.objects.values_list("format", "actor", "via")) == [
        ("pdf", "alla", "console"), ("xlsx", "alla", "console")]
