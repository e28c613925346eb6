"""The console's customer pages (issue 12 #8), on SQLite and PostgreSQL: each action
behind its right, the same service and audit as the CLI, refusals shown on the field."""

from __future__ import annotations

import json

import pytest

from office.access.models import AuditEntry
from office.cards.models import Card, CardMasterCard, WalletEntry
from office.customers.models import ConsentEvent, Customer
from tests.office.console_support import client, logged_in, make_user
from tests.office_fixtures import OfficeDb

PAGES = {"/customers/": "customers.view", "/vehicles/": "vehicles.view",
         "/groups/": "groups.view"}


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def shop(console_db: OfficeDb) -> OfficeDb:
    """A product to sell (the card master's products) and nothing else."""
    from office.store import open_office

    conn = open_office(console_db.config)
    conn.execute("INSERT INTO cm_products VALUES ('DT', ?)",
                 (json.dumps({"code": "DT", "name": "Diesel", "unit_price": 6350}),))
    return console_db


def _new_customer(c: object, **extra: str) -> str:
    form = {"kind": "person", "name": "Şükrü Yılmaz", "phones": "+90 532 123 45 67",
            "emails": "", "addresses": "", "birthday": "1980-05-01", "company": "",
            "category": "vip", "payment_terms": "prepaid", "credit_limit": "",
            "preferred_channel": "sms", "region": "Marmara", "occupation": "", "notes": "",
            **extra}
    response = c.post("/customers/new", form)  # type: ignore[attr-defined]
    assert response.status_code == 302, response.content.decode()[:2000]
    return str(response["Location"]).split("/")[2]


def test_every_new_page_needs_its_view_right(shop: OfficeDb) -> None:
    for url in PAGES:
        assert client().get(url).status_code == 302  # to the login page
    nobody = logged_in(make_user("nobody"))
    for url in PAGES:
        assert nobody.get(url).status_code == 403
    viewer = logged_in(make_user("vera", ["viewers"]))
    for url in PAGES:
        response = viewer.get(url)
        assert response.status_code == 200, url
        assert b'href="/customers/"' in response.content  # in the menu


def test_an_operator_adds_a_customer_and_a_viewer_may_not(shop: OfficeDb) -> None:
    viewer = logged_in(make_user("vera", ["viewers"]))
    assert viewer.post("/customers/new", {"name": "X"}).status_code == 403
    operator = logged_in(make_user("olga", ["operators"]))
    customer_id = _new_customer(operator)
    made = Customer.objects.get(customer_id=customer_id)
    assert (made.name, made.created_by, made.category_id) == ("Şükrü Yılmaz", "olga", "vip")
    entry = AuditEntry.objects.get(action="customer.add")
    assert (entry.actor, entry.via, entry.object_id) == ("olga", "console", customer_id)
    page = operator.get(f"/customers/{customer_id}/").content.decode()
    assert "Şükrü Yılmaz" in page and "+905321234567" in page
    # Found however the name is typed.
    listed = operator.get("/customers/", {"q": "sukru yilmaz"}).content.decode()
    assert f'data-customer="{customer_id}"' in listed


def test_a_bad_field_is_shown_on_it_and_nothing_is_stored(shop: OfficeDb) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    form = {"kind": "person", "name": "Ann", "phones": "12", "payment_terms": "prepaid",
            "preferred_channel": "none", "category": ""}
    response = operator.post("/customers/new", form)
    assert response.status_code == 200
    assert "must have 6 to 15 digits" in response.content.decode()
    form.update(phones="", payment_terms="prepaid", credit_limit="1000.505")
    response = operator.post("/customers/new", form)
    assert "more than 2 decimals" in response.content.decode()
    assert Customer.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_consent_issue_limit_wallet_and_status_from_the_console(shop: OfficeDb) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    customer_id = _new_customer(operator)
    operator.post(f"/customers/{customer_id}/consent",
                  {"channel": "email", "state": "given", "source": "paper form"})
    event = ConsentEvent.objects.get()
    assert (event.channel, event.given, event.source, event.recorded_by) == (
        "email", True, "paper form", "olga")
    response = operator.post(f"/customers/{customer_id}/issue",
                             {"kind": "magstripe", "pan": "7800 5555 1234 5678"})
    assert response.status_code == 302 and response["Location"] == "/card/7800555512345678/"
    operator.post("/card/7800555512345678/limit",
                  {"period": "day", "unit": "volume", "value": "45.5", "products": ""})
    doc = json.loads(CardMasterCard.objects.get(card_id="7800555512345678").doc)
    assert doc["limits"] == [{"period": "day", "unit": "volume", "value": 45500}]
    # Operators may not open wallets or top them up; accountants may.
    assert operator.post("/card/7800555512345678/wallet", {"unit": "money"}
                         ).status_code == 403
    accountant = logged_in(make_user("alla", ["accountants"]))
    response = accountant.post("/card/7800555512345678/wallet",
                               {"unit": "money", "balance": "1 000,50"})
    assert response.status_code == 302
    wallet_id = str(response["Location"]).split("/")[2]
    accountant.post(f"/wallets/{wallet_id}/post",
                    {"kind": "topup", "amount": "250", "reason": "receipt 4"})
    assert [e.value for e in WalletEntry.objects.order_by("id")] == [100050, 25000]
    page = accountant.get(f"/wallets/{wallet_id}/").content.decode()
    assert "1,250.50" in page.replace("\u00a0", " ") or "1 250.50" in page
    operator.post("/card/7800555512345678/status", {"status": "lost"})
    assert Card.objects.get(card_id="7800555512345678").status == "lost"
    assert AuditEntry.objects.filter(action="card.lost", actor="olga", via="console"
                                     ).count() == 1


def test_reissue_from_the_console(shop: OfficeDb) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    customer_id = _new_customer(operator)
    operator.post(f"/customers/{customer_id}/issue", {"kind": "smart", "card_id": "K-1"})
    response = operator.post("/card/K-1/reissue", {"card_id": "K-2"})
    assert response.status_code == 302 and response["Location"] == "/card/K-2/"
    assert Card.objects.get(card_id="K-1").status == "replaced"
    page = operator.get("/card/K-1/").content.decode()
    assert 'name="reissue"' not in page and "replaced by" in page


def test_closing_needs_the_delete_right_and_no_active_card(shop: OfficeDb) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    customer_id = _new_customer(operator)
    assert operator.post(f"/customers/{customer_id}/close").status_code == 403
    operator.post(f"/customers/{customer_id}/issue", {"kind": "smart", "card_id": "K-1"})
    admin = logged_in(make_user("adam", ["administrators"]))
    page = admin.post(f"/customers/{customer_id}/close", follow=True).content.decode()
    assert "still has active cards (K-1)" in page
    assert Customer.objects.get(customer_id=customer_id).closed_at is None
    admin.post("/card/K-1/status", {"status": "withdrawn"})
    admin.post(f"/customers/{customer_id}/close")
    assert Customer.objects.get(customer_id=customer_id).closed_at is not None


def test_a_spreadsheet_is_checked_then_stored_and_exported_escaped(shop: OfficeDb) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = ("name;phones;birthday\nИванов Иван;+7 912 345 67 89;01.05.1980\n"
            "=HYPERLINK(\"http://x\");;\nПетров Пётр;+7 912 000 00 00;1985-02-30\n")
    operator = logged_in(make_user("olga", ["operators"]))

    def send(body: str, store: bool) -> str:
        upload = SimpleUploadedFile("clients.csv", body.encode("cp1251"))
        response = operator.post("/customers/import", {
            "what": "customers", "file": upload, **({"store": "on"} if store else {})})
        assert response.status_code == 200
        return str(response.content.decode())

    page = send(text, store=True)
    assert "line 3:" in page and "line 4:" in page and "Nothing was stored." in page
    assert Customer.objects.count() == 0
    clean = "name;phones;birthday\nИванов Иван;+7 912 345 67 89;01.05.1980\n"
    assert "Would be 1 added" in send(clean, store=False)
    assert Customer.objects.count() == 0
    assert "Stored: 1 added" in send(clean, store=True)
    made = Customer.objects.get()
    assert (made.name, made.birthday, made.created_by) == ("Иванов Иван", "1980-05-01",
                                                           "olga")
    # Exports need the export right; a value that looks like a formula is escaped.
    made.notes = "=1+1"
    made.save()
    assert operator.get("/customers/export.csv").status_code == 403
    accountant = logged_in(make_user("alla", ["accountants"]))
    body = b"".join(accountant.get("/customers/export.csv").streaming_content).decode()
    assert "Иванов Иван" in body and "'=1+1" in body


def test_search_filters_duplicates_and_a_previewed_merge(shop: OfficeDb) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    first = _new_customer(operator)  # Şükrü Yılmaz, +90 532 123 45 67, vip, Marmara
    second = _new_customer(operator, name="Sukru Yilmaz", category="regular",
                           region="Ege")
    listed = operator.get("/customers/", {"q": "sukru yilmas"}).content.decode()
    assert f'data-customer="{first}"' in listed and f'data-customer="{second}"' in listed
    vip = operator.get("/customers/", {"category": "vip"}).content.decode()
    assert f'data-customer="{first}"' in vip and f'data-customer="{second}"' not in vip
    bad = operator.get("/customers/", {"category": "gold"}, follow=True).content.decode()
    assert "is not in the list" in bad
    # Same phone: a duplicate; the merge is previewed, changes nothing, then done.
    page = operator.get("/customers/duplicates").content.decode()
    assert first in page and second in page and "same phone" in page
    preview = operator.get("/customers/merge", {"keep": first, "other": second})
    assert preview.status_code == 200 and "Nothing has changed yet" in preview.content.decode()
    assert Customer.objects.get(customer_id=second).merged_into is None
    viewer = logged_in(make_user("vera", ["viewers"]))
    assert viewer.post("/customers/merge", {"keep": first, "other": second}
                       ).status_code == 403
    done = operator.post("/customers/merge", {"keep": first, "other": second})
    assert done.status_code == 302 and done["Location"] == f"/customers/{first}/"
    assert Customer.objects.get(customer_id=second).merged_into == first
    assert AuditEntry.objects.filter(action="customer.merge", actor="olga",
                                     via="console").exists()


def test_blank_cards_from_the_supplier_and_a_card_issued_from_stock(shop: OfficeDb) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    operator = logged_in(make_user("olga", ["operators"]))
    body = "kind,pan\nmagstripe,7800 9999 0000 0001\nmagstripe,7800999900000002\n"
    response = operator.post("/customers/import", {
        "what": "stock", "file": SimpleUploadedFile("batch-7.csv", body.encode()),
        "store": "on"})
    assert "Stored: 2 added" in response.content.decode()
    page = operator.get("/stock/").content.decode()
    assert 'data-batch="batch-7"' in page and '<td class="num free">2</td>' in page
    viewer = logged_in(make_user("vera", ["viewers"]))
    refused = viewer.post("/customers/import", {
        "what": "stock", "file": SimpleUploadedFile("b.csv", body.encode()), "store": "on"})
    assert refused.status_code == 403
    customer_id = _new_customer(operator)
    operator.post(f"/customers/{customer_id}/issue", {"kind": "magstripe", "stock": "on"})
    assert Card.objects.get(customer_id=customer_id).pan == "7800999900000001"
    assert '<td class="num free">1</td>' in operator.get("/stock/").content.decode()
