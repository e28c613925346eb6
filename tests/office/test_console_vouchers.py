"""The console's voucher pages (issue 13), on SQLite and PostgreSQL: each page and action
behind its right, the same service and audit as the CLI, the CSV and PDF downloads, and
the exceptions settled with the buttons; the batch key never shown."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.timefmt import iso
from core.vouchers import read_code
from office.access.models import AuditEntry
from office.customers.service import Who
from office.vouchers import ledger, service
from office.vouchers.models import VoucherBatch, VoucherException
from tests.office.console_support import client, logged_in, make_user
from tests.office_fixtures import OfficeDb

ISSUE = {"product": "DT", "unit": "volume", "value": "50", "count": "17", "valid": "30d",
         "delay": "0h", "note": "for the fleet"}


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def shop(console_db: OfficeDb) -> OfficeDb:
    """A product (DT), a customer and a card of theirs."""
    from office.cards.models import Card
    from office.customers.models import Customer
    from office.store import open_office

    conn = open_office(console_db.config)
    conn.execute("INSERT INTO cm_products VALUES ('DT', ?)",
                 (json.dumps({"code": "DT", "name": "Diesel", "unit_price": 6350}),))
    stamp = iso(datetime(2026, 11, 1, tzinfo=UTC))
    Customer.objects.create(customer_id="C-7", name="Sever Agro", created_at=stamp,
                            created_by="t", modified_at=stamp, modified_by="t")
    Card.objects.create(card_id="K-7", kind="rfid", rfid_uid="04AABBCCEE", customer_id="C-7",
                        issued_at=stamp, issued_by="t", modified_at=stamp, modified_by="t")
    return console_db


def issued(db: OfficeDb, count: int = 3) -> VoucherBatch:
    from office.store import open_office

    batch, _ = service.issue_batch(open_office(db.config), Who("t", "cli"), product="DT",
                                   volume_ml=50_000, count=count, valid=timedelta(days=1))
    return batch


def double_spent(batch: VoucherBatch) -> int:
    """Voucher 1 redeemed at two stations; the id of the exception."""
    for station, minute in (("S-001", 0), ("S-002", 5)):
        ledger.record_redemption(serial=f"{batch.number:06d}000001", station_id=station,
                                  sale_id=f"{station}-1", seq=1, card_id="K-7",
                                  redeemed_at=f"2026-12-01T10:{minute:02d}:00.000000Z",
                                  value=317_500, volume_ml=50_000)
    return int(VoucherException.objects.get().id)


def test_every_page_and_action_needs_its_right(shop: OfficeDb) -> None:
    batch = issued(shop)
    exception_id = double_spent(batch)
    pages = ["/vouchers/", "/vouchers/exceptions/", f"/vouchers/{batch.batch_id}/"]
    for url in pages:
        assert client().get(url).status_code == 302  # to the login page
    nobody = logged_in(make_user("nobody"))
    for url in pages:
        assert nobody.get(url).status_code == 403
    viewer = logged_in(make_user("vera", ["viewers"]))
    for url in pages:
        assert viewer.get(url).status_code == 200, url
    listing = viewer.get("/vouchers/").content.decode()
    assert 'href="/vouchers/"' in listing  # in the menu
    assert 'action="/vouchers/issue"' not in listing  # no issue form without the right
    assert "Charge the customer" not in viewer.get("/vouchers/exceptions/").content.decode()
    # Viewers and operators may neither issue, nor take codes, nor settle.
    for name, groups in (("vera", None), ("olga", ["operators"])):
        c = viewer if groups is None else logged_in(make_user(name, groups))
        assert c.post("/vouchers/issue", ISSUE).status_code == 403
        assert c.get(f"/vouchers/{batch.batch_id}/codes.csv").status_code == 403
        assert c.get(f"/vouchers/{batch.batch_id}/codes.pdf").status_code == 403
        assert c.post(f"/vouchers/exceptions/{exception_id}/settle",
                      {"action": "write_off", "note": "x"}).status_code == 403
    assert VoucherBatch.objects.count() == 1
    assert VoucherException.objects.get().status == "open"
    assert not AuditEntry.objects.filter(action="vouchers.codes").exists()


def test_an_accountant_issues_a_batch_and_downloads_its_codes_and_sheet(shop: OfficeDb
                                                                         ) -> None:
    accountant = logged_in(make_user("alla", ["accountants"]))
    response = accountant.post("/vouchers/issue", ISSUE)
    assert response.status_code == 302 and response["Location"] == "/vouchers/VB000001/"
    made = VoucherBatch.objects.get()
    assert (made.product, made.volume_ml, made.count, made.created_by, made.note) == (
        "DT", 50_000, 17, "alla", "for the fleet")
    page = accountant.get("/vouchers/VB000001/").content.decode()
    assert "Batch VB000001 issued: 17 vouchers" in page
    assert 'href="/vouchers/VB000001/codes.csv"' in page
    assert 'href="/vouchers/VB000001/codes.pdf"' in page
    entry = AuditEntry.objects.get(action="vouchers.issue")
    assert (entry.actor, entry.via, entry.object_id) == ("alla", "console", "VB000001")
    got = accountant.get("/vouchers/VB000001/codes.csv")
    assert got.status_code == 200 and got["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert len(rows) == 17 and rows[0]["serial"] == "000001000001"
    assert [read_code(r["code"]) for r in rows] == service.codes_of(made)
    pdf = accountant.get("/vouchers/VB000001/codes.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf.content)) == 2  # 15 a page
    takes = AuditEntry.objects.filter(action="vouchers.codes").order_by("id")
    assert [(e.actor, e.detail) for e in takes] == [("alla", "console: csv"),
                                                    ("alla", "console: pdf")]
    # The key is on no page.
    for url in ("/vouchers/", "/vouchers/VB000001/", "/audit/"):
        body = logged_in(make_user(f"admin-{len(url)}", admin=True)).get(url).content
        assert made.key.encode() not in body, url


@pytest.mark.parametrize(("change", "problem"), [
    ({"count": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"valid": "0d"}, "the validity must be longer than zero"),
    ({"valid": "soon"}, "valid must be a number of hours, days or weeks"),
    ({"product": "AI98"}, "product &#x27;AI98&#x27; is not in the card master"),
    ({"value": "abc"}, "value must be an amount such as 1250.50"),
])
def test_a_bad_issue_form_says_why_and_issues_nothing(shop: OfficeDb, change: dict[str, str],
                                                      problem: str) -> None:
    accountant = logged_in(make_user("alla", ["accountants"]))
    response = accountant.post("/vouchers/issue", {**ISSUE, **change})
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert VoucherBatch.objects.count() == 0
    assert not AuditEntry.objects.filter(action="vouchers.issue").exists()


def test_exceptions_are_charged_or_written_off_with_the_buttons(shop: OfficeDb) -> None:
    batch = issued(shop)
    exception_id = double_spent(batch)
    accountant = logged_in(make_user("alla", ["accountants"]))
    page = accountant.get("/vouchers/exceptions/").content.decode()
    assert f'data-exception="{exception_id}"' in page and "Charge the customer" in page
    assert "3,175.00 RUB" in page
    response = accountant.post(f"/vouchers/exceptions/{exception_id}/settle",
                               {"action": "charge", "note": "invoice 7"})
    assert response.status_code == 302
    row = VoucherException.objects.get()
    assert (row.status, row.customer_id, row.settled_by, row.note) == (
        "charged", "C-7", "alla", "invoice 7")
    entry = AuditEntry.objects.get(action="vouchers.charge")
    assert (entry.actor, entry.via, entry.object_id) == ("alla", "console", str(exception_id))
    # Twice: refused with a sentence, nothing changed.
    again = accountant.post(f"/vouchers/exceptions/{exception_id}/settle",
                            {"action": "write_off", "note": "x"}, follow=True)
    assert "is already charged by alla" in again.content.decode()
    assert VoucherException.objects.get().status == "charged"
    assert AuditEntry.objects.filter(action__startswith="vouchers.").exclude(
        action="vouchers.issue").count() == 1
    # The open list is empty now; the charged one is under its status.
    assert f'data-exception="{exception_id}"' not in accountant.get(
        "/vouchers/exceptions/").content.decode()
    assert f'data-exception="{exception_id}"' in accountant.get(
        "/vouchers/exceptions/", {"status": "charged"}).content.decode()


def test_settling_needs_the_csrf_token(shop: OfficeDb) -> None:
    exception_id = double_spent(issued(shop))
    strict = client(enforce_csrf_checks=True)
    strict.force_login(make_user("alla", ["accountants"]))
    response = strict.post(f"/vouchers/exceptions/{exception_id}/settle",
                           {"action": "write_off", "note": "x"})
    assert response.status_code == 403
    assert VoucherException.objects.get().status == "open"
