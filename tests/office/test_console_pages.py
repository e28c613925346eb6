"""The console's pages through Django's test client, on SQLite and PostgreSQL:
rights (200 with the view right, 403 without), what the pages show, block/unblock."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from office.access.models import AuditEntry
from office.cards.models import CardMasterCard, CardMasterVersion
from tests.office.console_support import (
    add_card,
    client,
    logged_in,
    make_user,
    sample_network,
)
from tests.office_fixtures import OfficeDb

PAGES = {
    "/stations/": "stations.view",
    "/sales/": "sales.view",
    "/cards/": "cards.view",
    "/quarantine/": "quarantine.view",
    "/refused/": "refused.view",
    "/audit/": "audit.view",
    "/users/": "users.view",
}


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def network(console_db: OfficeDb) -> OfficeDb:
    sample_network()
    return console_db


def test_every_page_needs_a_login(network: OfficeDb) -> None:
    for url in PAGES:
        response = client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_viewers_see_every_page(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    for url in PAGES:
        response = c.get(url)
        assert response.status_code == 200, url
        for other in PAGES:  # the menu links every page a viewer may see
            assert f'href="{other}"'.encode() in response.content


@pytest.mark.parametrize(("url", "right"), PAGES.items())
def test_a_page_without_its_view_right_is_our_403(network: OfficeDb, url: str,
                                                   right: str) -> None:
    from office.access import accounts

    group = right.split(".", maxsplit=1)[0] + "-less"
    from django.contrib.auth.models import Group
    Group.objects.create(name=group)
    for other in PAGES.values():
        if other != right:
            accounts.grant(group, other, actor="test", via="cli")
    c = logged_in(make_user("nora", [group]))
    response = c.get(url)
    assert response.status_code == 403
    assert b"You do not have the right" in response.content
    assert b"Traceback" not in response.content
    assert f'href="{url}"'.encode() not in response.content  # not in the menu either
    for other_url, other in PAGES.items():
        if other != right:
            assert c.get(other_url).status_code == 200


def test_stations_page_shows_what_office_stations_shows(network: OfficeDb) -> None:
    page = logged_in(make_user("vera", ["viewers"])).get("/stations/").content.decode()
    s1 = page[page.index('data-station="S-001"'):page.index('data-station="S-002"')]
    assert "online" in s1 and "disk nearly full" in s1 and "2026-11-21 08:00:00" in s1
    assert "3–4" in s1  # the open gap
    s2 = page[page.index('data-station="S-002"'):]
    assert "offline" in s2
    assert "bad_signature" in page


def test_a_user_without_rights_is_told_so(network: OfficeDb) -> None:
    response = logged_in(make_user("nobody")).get("/", follow=True)
    assert response.status_code == 403
    assert b"no rights" in response.content


def test_block_and_unblock_make_versions_and_audit_entries(network: OfficeDb) -> None:
    c = logged_in(make_user("olga", ["operators"]))
    before = CardMasterVersion.objects.count()
    response = c.post("/cards/C-1/block", {"next": "/cards/?q=C-1"})
    assert response.status_code == 302 and response["Location"] == "/cards/?q=C-1"
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "blocked"
    version = CardMasterVersion.objects.order_by("-version").first()
    assert version is not None and CardMasterVersion.objects.count() == before + 1
    assert json.loads(version.ops) == [{"op": "card", "card": {
        "card_id": "C-1", "kind": "magstripe", "pan": "7800001234567893",
        "status": "blocked"}}]
    assert version.actor == "console:olga"
    entry = AuditEntry.objects.get(action="card.block")
    assert (entry.actor, entry.via, entry.object_id) == ("olga", "console", "C-1")
    assert json.loads(entry.old or "") == {"status": "active"}
    assert json.loads(entry.new or "") == {"status": "blocked"}
    page = c.get("/cards/?q=C-1").content.decode()
    assert "is now blocked" in page and "MQTT is off" in page
    # by PAN too, and back
    assert c.post("/cards/7800 0012 3456 7893/unblock").status_code == 302
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "active"
    assert AuditEntry.objects.filter(action="card.unblock", actor="olga").count() == 1
    assert CardMasterVersion.objects.count() == before + 2


def test_blocking_twice_changes_nothing(network: OfficeDb) -> None:
    c = logged_in(make_user("olga", ["operators"]))
    before = CardMasterVersion.objects.count()
    c.post("/cards/C-3/block")
    assert CardMasterVersion.objects.count() == before
    assert not AuditEntry.objects.filter(action="card.block").exists()
    assert "already blocked" in c.get("/cards/").content.decode()


def test_an_unknown_card_is_one_sentence(network: OfficeDb) -> None:
    c = logged_in(make_user("olga", ["operators"]))
    c.post("/cards/NOPE/block")
    assert "card NOPE is not in the card master" in c.get("/cards/").content.decode()


def test_a_get_cannot_block(network: OfficeDb) -> None:
    c = logged_in(make_user("olga", ["operators"]))
    assert c.get("/cards/C-1/block").status_code == 405
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "active"


def test_blocking_needs_the_change_right(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    assert c.post("/cards/C-1/block").status_code == 403
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "active"
    assert b'name="block"' not in c.get("/cards/").content  # no button either
    assert b'name="block"' in logged_in(make_user("olga", ["operators"])).get(
        "/cards/").content


def test_csrf_is_enforced(network: OfficeDb) -> None:
    c = client(enforce_csrf_checks=True)
    c.force_login(make_user("olga", ["operators"]))
    assert c.post("/cards/C-1/block").status_code == 403
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "active"
    page = c.get("/cards/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert c.post("/cards/C-1/block", {"csrfmiddlewaretoken": token}).status_code == 302
    assert json.loads(CardMasterCard.objects.get(card_id="C-1").doc)["status"] == "blocked"


def test_card_search_by_id_pan_and_uid(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    for q, card in (("C-2", "C-2"), ("7800-0012-3456-7893", "C-1"),
                    ("04:a1:b2:c3:d4:e5:f6", "C-2")):
        page = c.get("/cards/", {"q": q}).content.decode()
        assert f'data-card="{card}"' in page, q
        assert page.count("data-card=") == 1, q


def test_sales_filters_and_money_in_the_currency(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    page = c.get("/sales/").content.decode()
    assert "1,018.00 RUB" in page and "20.000 l" in page
    assert "3 rows" in page
    assert "1 row" in c.get("/sales/", {"station": "S-002"}).content.decode()
    assert "1 row" in c.get("/sales/", {"card": "04A1B2C3D4E5F6"}).content.decode()
    assert "2 rows" in c.get("/sales/", {"date_from": "2026-11-21"}).content.decode()
    assert "2 rows" in c.get("/sales/", {"date_to": "2026-11-21"}).content.decode()
    with override_settings(OFFICE_CONSOLE=_currency("JPY", 0)):
        assert "101,800 JPY" in c.get("/sales/").content.decode()
    with override_settings(OFFICE_CONSOLE=_currency("KWD", 3)):
        assert "101.800 KWD" in c.get("/sales/").content.decode()


def _currency(code: str, decimals: int) -> object:
    from office.settings import ConsoleOptions

    return ConsoleOptions(currency=code, currency_decimals=decimals)


def test_sales_are_paginated(console_db: OfficeDb) -> None:
    from tests.office.console_support import add_sale

    for seq in range(1, 121):
        add_sale("S-001", seq, completed_at=f"2026-11-20T10:{seq // 60:02d}:{seq % 60:02d}Z")
    c = logged_in(make_user("vera", ["viewers"]))
    first = c.get("/sales/").content.decode()
    assert "page 1 of 3" in first and "120 rows" in first
    last = c.get("/sales/", {"page": 3}).content.decode()
    assert last.count("<tr>") == 1 + 20  # the header row and 20 sales


def test_audit_page_filters(network: OfficeDb) -> None:
    c = logged_in(make_user("olga", ["operators"]))
    c.post("/cards/C-1/block")
    c.post("/cards/C-2/block")
    page = c.get("/audit/", {"object_id": "C-2"}).content.decode()
    assert "card.block" in page and "C-2" in page and "card C-1" not in page
    assert "status: active" in page and "status: blocked" in page
    assert "2 rows" in c.get("/audit/", {"actor": "olga"}).content.decode()
    assert "0 rows" in c.get("/audit/", {"actor": "someone"}).content.decode()


def test_errors_are_our_pages(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    response = c.get("/no/such/page/")
    assert response.status_code == 404
    assert b"There is no such page" in response.content
    assert b"Django" not in response.content


def test_russian(network: OfficeDb) -> None:
    c = logged_in(make_user("vera", ["viewers"]))
    page = c.get("/stations/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Станции" in page and "в сети" in page
    c.post("/i18n/setlang/", {"language": "ru", "next": "/sales/"})
    assert "Продажи" in c.get("/sales/").content.decode()
    with override_settings(LANGUAGE_CODE="ru"):
        assert "Вход" in client().get("/login/").content.decode()


def test_russian_dashboard_reports_and_account(network: OfficeDb) -> None:
    """The pages added since the first translations speak Russian too: headings, the
    report's own title and column headings, the account section and its age bands."""
    from office.customers.models import Customer

    Customer.objects.create(customer_id="C-5", name="Sever Agro", payment_terms="credit",
                            credit_limit=500000, created_at="2026-11-01T00:00:00.000000Z",
                            created_by="t", modified_at="2026-11-01T00:00:00.000000Z",
                            modified_by="t")
    c = logged_in(make_user("alla", ["accountants"]))
    c.post("/i18n/setlang/", {"language": "ru", "next": "/dashboard/"})
    page = c.get("/dashboard/").content.decode()
    assert "<h1>Сводка</h1>" in page and "Лучшие АЗС за месяц" in page
    assert "Dashboard" not in page and "Top stations" not in page
    page = c.get("/reports/").content.decode()
    assert "<h1>Отчёты</h1>" in page and ">Оборот АЗС</a>" in page
    assert "Station turnover" not in page
    page = c.get("/reports/consumption/?from=2026-11-01&to=2026-11-03&by=day"
                 ).content.decode()
    assert "<h1>Потребление</h1>" in page and ">Показать</button>" in page
    assert "<th>Период</th>" in page and '<th class="num">Объём (l)</th>' in page
    assert '<th class="num">Сумма (RUB)</th>' in page and "<td>Итого</td>" in page
    page = c.get("/customers/C-5/").content.decode()
    account = page.split('id="account"', 1)[1].split("</section>", 1)[0]
    assert "<h2>Расчёты</h2>" in account and "Доступный кредит" in account
    assert "<th>Срок не наступил</th>" in account and "Записать платёж" in account
    assert "Account" not in account and "Not due" not in account


def test_cards_not_shown_have_no_block_button_when_blocked(console_db: OfficeDb) -> None:
    add_card("B-1", status="blocked")
    page = logged_in(make_user("olga", ["operators"])).get("/cards/").content.decode()
    assert 'name="unblock"' in page and 'name="block"' not in page
