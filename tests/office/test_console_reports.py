"""The console's report pages and exports (office.console.report_views), on SQLite and
PostgreSQL: the list, a report's form/table/chart, the export right, each export
format read back, one-sentence errors, escaping, and the record of each export."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.test import Client
from openpyxl import load_workbook

from office.ledger import rollups
from office.reports.models import ReportRun
from office.reports.registry import specs
from office.store import open_office
from tests.office.console_report_support import HOSTILE, sample_sales
from tests.office.console_support import client, logged_in, make_user
from tests.office_fixtures import OfficeDb

pytestmark = pytest.mark.usefixtures("fast_hashing")
NOVEMBER = "?from=2026-11-01&to=2026-11-03&by=day"
FORMATS = ("csv", "xlsx", "json", "png", "svg", "print")


@pytest.fixture
def shop(console_db: OfficeDb) -> OfficeDb:
    sample_sales()
    conn = open_office(console_db.config)
    rollups.rebuild(conn, rollups.zone(conn))  # as ingest would have counted them
    return console_db


def viewer() -> Client:
    return logged_in(make_user("vera", ["viewers"]))


def accountant() -> Client:
    return logged_in(make_user("adam", ["accountants"]))


def _rows(html: str) -> list[list[str]]:
    """The cells of the report table's body and foot, tags stripped."""
    table = html.split('<table class="report">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in
             re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_reports_page_lists_every_report(shop: OfficeDb) -> None:
    response = viewer().get("/reports/")
    assert response.status_code == 200
    page = response.content.decode()
    assert specs(), "no report registered"
    for spec in specs().values():
        assert f'href="/reports/{spec.name}/"' in page
        assert spec.title in page
    assert 'href="/reports/"' in page and 'href="/dashboard/"' in page  # in the menu


def test_reports_need_a_login_and_the_view_right(shop: OfficeDb) -> None:
    from django.contrib.auth.models import Group

    for url in ("/reports/", "/reports/consumption/", "/dashboard/",
                "/reports/consumption/export.csv"):
        response = client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    Group.objects.create(name="nobody")
    nobody = logged_in(make_user("nora", ["nobody"]))
    for url in ("/reports/", "/reports/consumption/", "/dashboard/"):
        response = nobody.get(url)
        assert response.status_code == 403 and b"Traceback" not in response.content


def test_a_report_page_shows_the_form_table_totals_and_chart(shop: OfficeDb) -> None:
    response = viewer().get("/reports/consumption/" + NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    rows = _rows(page)
    assert rows == [
        ["2026-11-01", "0", "0.000 l", "0.00 RUB", "0.00 RUB"],
        ["2026-11-02", "2", "50.000 l", "2,500.00 RUB", "20.00 RUB"],
        ["2026-11-03", "1", "10.000 l", "600.00 RUB", "10.00 RUB"],
        ["Total", "3", "60.000 l", "3,100.00 RUB", "30.00 RUB"],
    ]
    assert '<td class="num">2,500.00 RUB</td>' in page  # numbers right-aligned
    assert '<th class="num">Volume (l)</th>' in page and "<th>Period</th>" in page
    # The form: the range as asked, the choices of --by and --per, the filters.
    assert 'name="from" value="2026-11-01"' in page and 'type="date"' in page
    assert '<option value="day" selected>' in page
    for per in ("none", "station", "product", "customer", "group", "card", "vehicle"):
        assert f'<option value="{per}"' in page
    for name in ("station", "customer", "group", "product", "card", "vehicle"):
        assert f'name="{name}"' in page
    # The chart: an SVG inline as an image's data URL.
    found = re.search(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert found is not None
    root = ElementTree.fromstring(base64.b64decode(found.group(1)))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # A viewer gets no export links.
    assert "export.csv" not in page and "export.print" not in page


def test_the_default_range_is_this_month_and_filters_narrow(shop: OfficeDb) -> None:
    c = viewer()
    page = c.get("/reports/consumption/").content.decode()
    assert 'name="from" value="' in page and "<table" in page  # ran with defaults
    page = c.get("/reports/consumption/?from=2026-11-01&to=2026-11-30&station=S-001"
                 "&per=product").content.decode()
    rows = _rows(page)
    assert ["2026-11-01", "AI95", "1", "20.000 l", "1,000.00 RUB", "20.00 RUB"] in rows
    assert ["2026-11-01", "DT", "1", "10.000 l", "600.00 RUB", "10.00 RUB"] in rows
    assert rows[-1] == ["Total", "", "2", "30.000 l", "1,600.00 RUB", "30.00 RUB"]


def test_a_bad_option_is_one_sentence_with_the_form(shop: OfficeDb) -> None:
    c = viewer()
    for query, sentence in (
            ("?from=2026-13-01", "--from must be a date like 2026-11-30, not '2026-13-01'"),
            ("?from=2026-11-05&to=2026-11-01", "--to 2026-11-01 is before --from 2026-11-05"),
            ("?by=year", "--by must be one of day, week, month, not 'year'"),
            ("?order=amount", "this report takes no --order")):
        response = c.get("/reports/consumption/" + query)
        assert response.status_code == 400, query
        page = response.content.decode()
        error = re.search(r'<li class="report-error">(.*?)</li>', page, re.S)
        assert error is not None and sentence in error.group(1).replace("&#x27;", "'")
        assert "Traceback" not in page and '<form method="get"' in page
        assert '<table class="report">' not in page


def test_hostile_text_is_escaped(shop: OfficeDb) -> None:
    c = viewer()
    response = c.get("/reports/consumption/", {"station": HOSTILE})
    page = response.content.decode()
    assert response.status_code == 400  # not an identifier: refused, in one sentence
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The customer's name in a table cell.
    page = c.get("/reports/consumption/?from=2026-11-01&to=2026-11-30&per=customer"
                 ).content.decode()
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert ["2026-11-01", "C-8", "&lt;script&gt;alert(1)&lt;/script&gt;", "1", "30.000 l",
            "1,500.00 RUB", "0.00 RUB"] in _rows(page)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_need_the_export_right(shop: OfficeDb, fmt: str) -> None:
    response = viewer().get(f"/reports/consumption/export.{fmt}" + NOVEMBER)
    assert response.status_code == 403
    assert not ReportRun.objects.exists()
    response = accountant().get(f"/reports/consumption/export.{fmt}" + NOVEMBER)
    assert response.status_code == 200
    run = ReportRun.objects.get()
    assert (run.name, run.format, run.rows, run.actor, run.via) == (
        "consumption", fmt, 3, "adam", "console")
    assert json.loads(run.params) == {"from": "2026-11-01", "to": "2026-11-03", "by": "day"}
    if fmt != "print":
        disposition = response["Content-Disposition"]
        assert re.fullmatch(rf'attachment; filename="consumption-\d{{8}}-\d{{4}}\.'
                            rf'{"html" if fmt == "print" else fmt}"', disposition)
        assert run.file == disposition.split('"')[1]


def test_export_links_for_an_accountant(shop: OfficeDb) -> None:
    page = accountant().get("/reports/consumption/" + NOVEMBER).content.decode()
    query = "?from=2026-11-01&amp;to=2026-11-03&amp;by=day"
    for fmt in FORMATS:
        assert f'href="/reports/consumption/export.{fmt}{query}"' in page


def test_csv_json_and_xlsx_read_back(shop: OfficeDb) -> None:
    c = accountant()
    response = c.get("/reports/consumption/export.csv" + NOVEMBER)
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["Period", "Sales", "Volume (l)", "Amount (RUB)", "Discount (RUB)"]
    assert rows[2] == ["2026-11-02", "2", "50.000", "2500.00", "20.00"]
    assert len(rows) == 4

    data = json.loads(c.get("/reports/consumption/export.json" + NOVEMBER).content)
    assert data[1] == {"period": "2026-11-02", "sales": 2, "volume_ml": 50000,
                       "amount": 250000, "discount": 2000}

    response = c.get("/reports/consumption/export.xlsx" + NOVEMBER)
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["Report"]
    assert sheet["A1"].value == "Consumption by day"
    assert [cell.value for cell in sheet[4]] == [
        "Period", "Sales", "Volume (l)", "Amount (RUB)", "Discount (RUB)"]
    assert [cell.value for cell in sheet[6]] == [
        "2026-11-02", 2, Decimal("50"), Decimal("2500"), Decimal("20")]
    assert sum(Decimal(str(sheet.cell(r, 4).value)) for r in range(5, 8)) == Decimal("3100")
    assert len(book["Chart"]._charts) == 1


def test_png_svg_and_print(shop: OfficeDb) -> None:
    c = accountant()
    png = c.get("/reports/consumption/export.png" + NOVEMBER)
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 2000
    svg = c.get("/reports/consumption/export.svg" + NOVEMBER)
    assert svg["Content-Type"] == "image/svg+xml"
    assert ElementTree.fromstring(svg.content).tag == "{http://www.w3.org/2000/svg}svg"
    page = c.get("/reports/consumption/export.print" + NOVEMBER).content.decode()
    assert "@media print" not in page  # in the style sheet, linked
    assert 'href="/static/console/console.css"' in page and "<nav>" not in page
    assert ["Total", "3", "60.000 l", "3,100.00 RUB", "30.00 RUB"] in _rows(page)
    assert "Printed " in page and " by adam." in page
    assert 'src="data:image/svg+xml;base64,' in page
    assert [r.format for r in ReportRun.objects.order_by("id")] == ["png", "svg", "print"]


def test_a_refused_export_is_not_recorded(shop: OfficeDb) -> None:
    c = accountant()
    response = c.get("/reports/consumption/export.csv?from=nonsense")
    assert response.status_code == 400
    assert b"--from must be a date" in response.content and b"Traceback" not in response.content
    assert not ReportRun.objects.exists()


def test_unknown_reports_and_formats_are_404(shop: OfficeDb) -> None:
    c = accountant()
    assert c.get("/reports/nonsense/").status_code == 404
    assert c.get("/reports/nonsense/export.csv").status_code == 404
    assert c.get("/reports/consumption/export.exe").status_code == 404
    assert not ReportRun.objects.exists()


def test_a_dollar_in_the_data_is_drawn_as_text(shop: OfficeDb) -> None:
    """Matplotlib reads ``$...$`` as a formula; a product named like a bad one must not
    break the chart (or the page)."""
    from tests.office.console_report_support import sale

    sale("S-003", 1, "2026-11-02T12:00:00.000000Z", card_id="K-7", product="$\\frac{$",
         volume_ml=1000, amount=5000)
    conn = open_office(shop.config)
    rollups.rebuild(conn, rollups.zone(conn))
    response = viewer().get("/reports/consumption/" + NOVEMBER + "&per=product")
    assert response.status_code == 200
    page = response.content.decode()
    assert "$\\frac{$" in page and 'src="data:image/svg+xml;base64,' in page


@pytest.mark.parametrize("name", sorted(specs()))
def test_every_report_has_its_page(shop: OfficeDb, name: str) -> None:
    """Every registered report's page, as first opened (its default options): its table,
    or (a report that needs an option, say a customer) one sentence with the form."""
    response = viewer().get(f"/reports/{name}/")
    page = response.content.decode()
    assert "Traceback" not in page and '<form method="get"' in page
    if response.status_code == 400:
        assert re.search(r'<li class="report-error">[^<]+</li>', page)
    else:
        assert response.status_code == 200, name
        assert '<table class="report">' in page
