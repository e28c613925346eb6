"""The console's pricing, points and void pages (issue 13), on SQLite and PostgreSQL:
each page and action behind its right; a discount typed in clerk units becomes the
exact integers of the published revision; a bad form is one sentence and publishes
nothing; a card's points are shown and adjusted, a priced sale voided, each audited
with the console user; differences link to their sale; voucher keys never shown."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.formats.pricing import parse_pricing
from core.timefmt import iso
from office.access.models import AuditEntry
from office.customers.service import Who
from office.pricing.models import PricedSale, PricingDifference, PricingRevision, PricingRule
from tests.office.console_support import add_sale, client, logged_in, make_user
from tests.office_fixtures import OfficeDb

DISCOUNT = {"discount-kind": "volume", "discount-percent": "2.5", "discount-min_fill": "30",
            "discount-hours": "22:00-06:00", "discount-groups": "G-VIP",
            "discount-name": "Night fleet", "discount-order": "0"}


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def shop(console_db: OfficeDb) -> OfficeDb:
    """A product (DT), a customer and a card of theirs (K-7)."""
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


@pytest.fixture
def programme(shop: OfficeDb) -> OfficeDb:
    """A points programme: a point pays 1.00, points last 30 days."""
    from office.pricing import rules
    from office.store import open_office

    rules.set_setting(open_office(shop.config), "loyalty",
                      {"point_value": 100, "expiry_days": 30}, Who("t", "cli"))
    return shop


def latest_doc() -> dict[str, Any]:
    row = PricingRevision.objects.order_by("-revision").first()
    assert row is not None
    return dict(json.loads(row.doc))


def test_every_page_and_action_needs_its_right(programme: OfficeDb) -> None:
    add_sale("S-001", 1, card_id="K-7")
    pages = ["/pricing/", "/pricing/differences/", "/pricing/1/", "/card/K-7/points/"]
    for url in pages:
        assert client().get(url).status_code == 302  # to the login page
    nobody = logged_in(make_user("nobody"))
    for url in pages:
        assert nobody.get(url).status_code == 403, url
    viewer = logged_in(make_user("vera", ["viewers"]))
    for url in pages:
        assert viewer.get(url).status_code == 200, url
    page = viewer.get("/pricing/").content.decode()
    assert 'href="/pricing/"' in page  # in the menu
    assert 'id="add-discount"' not in page and 'id="set-loyalty"' not in page
    assert 'id="adjust-points"' not in viewer.get("/card/K-7/").content.decode()
    assert viewer.get("/card/K-7/points.csv").status_code == 403
    assert viewer.get("/pricing/1/pricing.json").status_code == 403
    before = PricingRevision.objects.count()
    for name, groups in (("vera", None), ("olga", ["operators"])):
        c = viewer if groups is None else logged_in(make_user(name, groups))
        assert c.post("/pricing/add/discount", DISCOUNT).status_code == 403
        assert c.post("/pricing/settings/caps", {"caps-day": "5"}).status_code == 403
        assert c.post("/card/K-7/points/adjust",
                      {"points": "10", "reason": "x"}).status_code == 403
        assert c.post("/sales/S-001/1/void", {"reason": "x"}).status_code == 403
    # Accountants adjust points and void, but neither add nor change rules.
    accountant = logged_in(make_user("alla", ["accountants"]))
    assert accountant.post("/pricing/add/discount", DISCOUNT).status_code == 403
    assert accountant.get("/pricing/end/D-0001").status_code == 403
    assert accountant.get("/card/K-7/points.csv").status_code == 200
    # Without the CSRF token even an administrator's POST is refused.
    guarded = client(enforce_csrf_checks=True)
    guarded.force_login(make_user("petra", admin=True))
    assert guarded.post("/pricing/add/discount", DISCOUNT).status_code == 403
    assert guarded.post("/card/K-7/points/adjust",
                        {"points": "10", "reason": "x"}).status_code == 403
    assert PricingRevision.objects.count() == before
    assert not AuditEntry.objects.filter(action__in=("points.adjust", "sale.void")).exists()


def test_a_clerk_adds_a_discount_and_the_published_revision_has_it(programme: OfficeDb
                                                                   ) -> None:
    admin = logged_in(make_user("petra", ["administrators"]))
    response = admin.post("/pricing/add/discount", DISCOUNT)
    assert response.status_code == 302 and response["Location"] == "/pricing/"
    doc = latest_doc()
    rules = parse_pricing(doc)
    (discount,) = rules.discounts
    assert (discount.rule_id, discount.percent_bp, discount.per_litre, discount.name) == (
        "D-0001", 250, None, "Night fleet")
    assert discount.conditions.min_fill_ml == 30_000
    assert discount.conditions.hours == (22 * 60, 6 * 60)
    assert discount.conditions.groups == frozenset({"G-VIP"})
    entry = AuditEntry.objects.get(action="pricing.discount.add")
    assert (entry.actor, entry.via, entry.object_id) == ("petra", "console", "D-0001")
    page = admin.get("/pricing/").content.decode()
    assert "Rule D-0001 added. Card master version" in page
    row = page[page.index('data-rule="D-0001"'):]
    row = row[:row.index("</tr>")]
    for words in ("2.5 %", "from 30 l in one fill", "22:00–06:00", "group G-VIP"):
        assert words in row, words
    assert f'id="revision" href="/pricing/{doc["revision"]}/"' in page
    # Money off a litre, typed in the currency's unit.
    admin.post("/pricing/add/discount", {"discount-kind": "product", "discount-per_litre":
                                         "1.50", "discount-products": "DT, AI95"})
    added = parse_pricing(latest_doc()).discounts[1]
    assert (added.per_litre, added.percent_bp) == (150, None)
    assert added.conditions.products == frozenset({"DT", "AI95"})
    assert "1.50 RUB a litre" in admin.get("/pricing/").content.decode()


@pytest.mark.parametrize(("change", "problem"), [
    ({"discount-percent": "0"}, "percent must be a percentage from 0.01 to 100"),
    ({"discount-percent": "2.555"}, "percent has more than 2 decimals"),
    ({"discount-percent": "five"}, "percent must be a percentage such as 2.5"),
    ({"discount-per_litre": "1.00"}, "give exactly one of a percent and money off a litre"),
    ({"discount-hours": "25:00-06:00"}, "hours.from"),
    ({"discount-min_fill": ""}, "a volume discount needs when.min_fill_ml"),
    ({"discount-min_fill": "30.0005"}, "min_fill has more than 3 decimals"),
])
def test_a_bad_discount_form_says_why_and_publishes_nothing(programme: OfficeDb,
                                                             change: dict[str, str],
                                                             problem: str) -> None:
    admin = logged_in(make_user("petra", ["administrators"]))
    before = PricingRevision.objects.count()
    response = admin.post("/pricing/add/discount", {**DISCOUNT, **change})
    assert response.status_code == 400
    body = response.content.decode()
    assert problem in body
    assert "Traceback" not in body
    assert PricingRevision.objects.count() == before
    assert not PricingRule.objects.exists()
    assert not AuditEntry.objects.filter(action="pricing.discount.add").exists()


def test_the_programme_is_set_and_rules_ended_from_the_console(shop: OfficeDb) -> None:
    admin = logged_in(make_user("petra", ["administrators"]))
    # Earning rules need the programme first: one sentence, nothing stored.
    refused = admin.post("/pricing/add/earn", {"earn-basis": "volume", "earn-points": "1",
                                               "earn-per": "1"})
    assert refused.status_code == 400
    assert "set the programme&#x27;s point value and expiry first" in refused.content.decode()
    assert admin.post("/pricing/settings/loyalty", {"loyalty-point_value": "1.50",
                                                    "loyalty-expiry_days": "90"}
                      ).status_code == 302
    assert admin.post("/pricing/settings/tiers", {"tiers-tiers": "silver 100 120\ngold 500 150"}
                      ).status_code == 302
    assert admin.post("/pricing/settings/caps", {"caps-day": "100", "caps-month": "2000"}
                      ).status_code == 302
    assert admin.post("/pricing/settings/holidays",
                      {"holidays-holidays": "2027-01-01 2026-12-31"}).status_code == 302
    bad = admin.post("/pricing/settings/holidays", {"holidays-holidays": "31.12.2026"})
    assert bad.status_code == 400 and "is not a date YYYY-MM-DD" in bad.content.decode()
    assert admin.post("/pricing/add/earn", {"earn-basis": "volume", "earn-points": "1",
                                            "earn-per": "1"}).status_code == 302
    assert admin.post("/pricing/add/multiplier", {
        "multiplier-percent": "200", "multiplier-days": ["sat", "sun"]}).status_code == 302
    rules = parse_pricing(latest_doc())
    loyalty = rules.loyalty
    assert loyalty is not None
    assert (loyalty.point_value, loyalty.expiry_days) == (150, 90)
    assert [(t.name, t.at_least_ml, t.percent) for t in loyalty.tiers] == [
        ("silver", 100_000, 120), ("gold", 500_000, 150)]
    assert [(c.period, c.points) for c in loyalty.caps] == [("day", 100), ("month", 2000)]
    assert rules.holidays == frozenset({date(2026, 12, 31), date(2027, 1, 1)})
    assert [(e.rule_id, e.basis, e.points, e.per) for e in loyalty.earn] == [
        ("P-0001", "volume", 1, 1000)]
    assert [(m.rule_id, m.percent) for m in loyalty.multipliers] == [("M-0001", 200)]
    assert loyalty.multipliers[0].conditions.days == frozenset({5, 6})
    page = admin.get("/pricing/").content.decode()
    for words in ("1.50 RUB", "1 points per 1 l", "points × 200 %", "sat, sun",
                  "from 500 l last month, points 150 %", "100 / day", "2026-12-31, 2027-01-01"):
        assert words in page, words
    # The tiers form offers the tiers back as it takes them.
    assert "silver 100 120\ngold 500 150" in page
    # Ending a rule: a confirmation page, then the POST.
    confirm = admin.get("/pricing/end/M-0001")
    assert confirm.status_code == 200 and "points × 200 %" in confirm.content.decode()
    assert PricingRule.objects.get(rule_id="M-0001").active
    assert admin.post("/pricing/end/M-0001").status_code == 302
    assert parse_pricing(latest_doc()).loyalty.multipliers == ()  # type: ignore[union-attr]
    entry = AuditEntry.objects.get(action="pricing.multiplier.end")
    assert (entry.actor, entry.via) == ("petra", "console")
    again = admin.post("/pricing/end/M-0001")
    assert again.status_code == 400 and "rule M-0001 has ended already" in \
        again.content.decode()
    assert 'data-rule="M-0001"' not in admin.get("/pricing/").content.decode()
    assert 'data-rule="M-0001"' in admin.get("/pricing/?all=1").content.decode()


def test_the_card_page_shows_points_and_an_adjustment_is_audited(programme: OfficeDb
                                                                 ) -> None:
    accountant = logged_in(make_user("alla", ["accountants"]))
    response = accountant.post("/card/K-7/points/adjust",
                               {"points": "120", "reason": "complaint 17"})
    assert response.status_code == 302 and response["Location"] == "/card/K-7/"
    page = accountant.get("/card/K-7/").content.decode()
    assert "Card K-7: 120 points." in page
    assert '<strong id="points-balance" class="">120</strong>' in page
    assert "(120.00 RUB)" in page
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    assert f"<td>{expires}</td><td class=\"num\">120</td>" in page
    assert "complaint 17" in page and 'href="/card/K-7/points/"' in page
    entry = AuditEntry.objects.get(action="points.adjust")
    assert (entry.actor, entry.via, entry.object_id, entry.detail) == (
        "alla", "console", "K-7", "complaint 17")
    # Taking more than the card has: the sentence, 400, nothing changed.
    refused = accountant.post("/card/K-7/points/adjust", {"points": "-500", "reason": "x"})
    assert refused.status_code == 400
    assert "card K-7 has 120 points; cannot take 500" in refused.content.decode()
    for bad in ({"points": "0", "reason": "x"}, {"points": "ten", "reason": "x"},
                {"points": "5", "reason": ""}):
        assert accountant.post("/card/K-7/points/adjust", bad).status_code == 400
    from office.pricing import points

    assert points.balance("K-7", datetime.now(UTC).date()) == 120
    assert AuditEntry.objects.filter(action="points.adjust").count() == 1
    csv_text = accountant.get("/card/K-7/points.csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[1].split(",")[2:4] == ["adjust", "120"]


def _priced_sale(seq: int) -> None:
    """A sale at S-001 settled at the office: it earned 40 points for K-7."""
    from office.ledger.models import Sale
    from office.pricing import points

    add_sale("S-001", seq, card_id="K-7")
    Sale.objects.filter(station_id="S-001", seq=seq).update(pricing=json.dumps({
        "revision": 1, "discounts": [["D-0001", 2000]], "list_amount": 103800,
        "points_earned": 40, "points_burned": 0}))
    PricedSale.objects.create(station_id="S-001", seq=seq, sale_id=f"SS-001{seq}",
                              card_id="K-7", revision=1, settled_at=iso(datetime.now(UTC)))
    points.earn("K-7", 40, earned_on=datetime.now(UTC).date(), expiry_days=30,
                ref=points.SaleRef("S-001", seq, f"SS-001{seq}", iso(datetime.now(UTC)),
                                   "sync:S-001"))


def test_a_priced_sale_is_voided_from_its_page(programme: OfficeDb) -> None:
    from office.pricing import points

    _priced_sale(1)
    accountant = logged_in(make_user("alla", ["accountants"]))
    listing = accountant.get("/sales/").content.decode()
    assert 'href="/sales/S-001/1/"' in listing
    page = accountant.get("/sales/S-001/1/").content.decode()
    assert 'id="void-sale"' in page and "D-0001: 20.00 RUB" in page
    refused = accountant.post("/sales/S-001/1/void", {"reason": ""})
    assert refused.status_code == 400 and PricedSale.objects.get().voided_at is None
    response = accountant.post("/sales/S-001/1/void", {"reason": "pump test"})
    assert response.status_code == 302 and response["Location"] == "/sales/S-001/1/"
    page = accountant.get("/sales/S-001/1/").content.decode()
    assert ("Sale SS-0011 voided: 40 points earned taken back, 0 points burned given back."
            in page)
    assert 'id="void-sale"' not in page and "pump test" in page
    sale = PricedSale.objects.get()
    assert (sale.voided_by, sale.void_reason) == ("alla", "pump test")
    assert points.balance("K-7", datetime.now(UTC).date()) == 0
    entry = AuditEntry.objects.get(action="sale.void")
    assert (entry.actor, entry.via, entry.object_id) == ("alla", "console", "S-001#1")
    again = accountant.post("/sales/S-001/1/void", {"reason": "twice"})
    assert again.status_code == 400 and "was voided already" in again.content.decode()
    assert AuditEntry.objects.filter(action="sale.void").count() == 1


def test_a_talon_sale_names_its_voucher_without_a_dead_card_link(programme: OfficeDb) -> None:
    add_sale("S-001", 9, card_id="V000001000042")
    add_sale("S-001", 10, card_id="K-7")
    viewer = logged_in(make_user("vika", ["viewers"]))
    talon = viewer.get("/sales/S-001/9/").content.decode()
    assert "V000001000042" in talon and 'href="/card/V000001000042/"' not in talon
    assert 'href="/card/K-7/"' in viewer.get("/sales/S-001/10/").content.decode()


def test_the_differences_page_lists_a_difference_with_its_sale(programme: OfficeDb) -> None:
    viewer = logged_in(make_user("vera", ["viewers"]))
    assert "No differences." in viewer.get("/pricing/differences/").content.decode()
    _priced_sale(3)
    PricingDifference.objects.create(station_id="S-001", seq=3, sale_id="SS-0013",
                                     field="points_earned", station_value="999",
                                     office_value="40", found_at=iso(datetime.now(UTC)))
    page = viewer.get("/pricing/differences/").content.decode()
    assert 'href="/sales/S-001/3/"' in page
    assert "points_earned" in page and "999" in page
    assert '<strong id="differences" class="bad">1</strong>' in \
        viewer.get("/pricing/").content.decode()
    sale = viewer.get("/sales/S-001/3/").content.decode()
    assert "points_earned: station 999, office 40" in sale
    assert 'id="void-sale"' not in sale  # viewers may not void


def test_a_revision_is_shown_and_exported_without_voucher_keys(programme: OfficeDb) -> None:
    from office.store import open_office
    from office.vouchers import service

    batch, _codes = service.issue_batch(open_office(programme.config), Who("t", "cli"),
                                        product="DT", volume_ml=20_000, count=2,
                                        valid=timedelta(days=1))
    revision = latest_doc()["revision"]
    assert latest_doc()["vouchers"][0]["key"] == batch.key
    accountant = logged_in(make_user("alla", ["accountants"]))
    page = accountant.get(f"/pricing/{revision}/").content.decode()
    assert batch.batch_id in page and "(hidden)" in page
    assert batch.key not in page
    assert "&quot;point_value&quot;: 100" in page  # pretty-printed JSON
    assert 'href="/pricing/1/"' in page  # the earlier revisions
    got = accountant.get(f"/pricing/{revision}/pricing.json")
    assert got.status_code == 200
    assert batch.key.encode() not in got.content
    assert json.loads(got.content)["vouchers"][0]["batch_id"] == batch.batch_id
    assert accountant.get("/pricing/999/").status_code == 404
