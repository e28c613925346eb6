"""Sales exports: the export right, CSV and XLSX content, formula escaping."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import override_settings
from openpyxl import load_workbook

from office.console.export import csv_text
from office.settings import ConsoleOptions
from tests.office.console_support import (
    add_sale,
    logged_in,
    make_user,
    sample_network,
)
from tests.office_fixtures import OfficeDb

EVIL = ("=HYPERLINK(\"http://x\")", "+1+2", "-3+4", "@SUM(A1)")


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def network(console_db: OfficeDb) -> OfficeDb:
    sample_network()
    for seq, card in enumerate(EVIL, start=10):
        add_sale("S-002", seq, card_id=card, amount=-250 if seq == 10 else 12345,
                 volume_ml=1500, completed_at=f"2026-11-23T10:00:{seq:02d}Z")
    return console_db


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_needs_the_export_right(network: OfficeDb, fmt: str) -> None:
    viewer = logged_in(make_user("vera", ["viewers"]))
    assert viewer.get(f"/sales/export.{fmt}").status_code == 403
    assert b"export.csv" not in viewer.get("/sales/").content  # no links either
    accountant = logged_in(make_user("adam", ["accountants"]))
    assert accountant.get(f"/sales/export.{fmt}").status_code == 200
    assert b"export.csv" in accountant.get("/sales/").content


def _csv(network_client: object, query: str = "") -> list[list[str]]:
    response = network_client.get("/sales/export.csv" + query)  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_content_and_filters(network: OfficeDb) -> None:
    c = logged_in(make_user("adam", ["accountants"]))
    rows = _csv(c)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["station", "seq", "sale_id", "completed_at", "card_id"]
    assert len(body) == 3 + len(EVIL)
    first = dict(zip(header, next(r for r in body if r[0] == "S-001" and r[1] == "1"),
                     strict=True))
    assert first["amount"] == "1018.00" and first["volume_l"] == "20.000"
    assert first["unit_price"] == "50.90" and first["currency"] == "RUB"
    assert len(_csv(c, "?station=S-001")) == 1 + 2
    assert len(_csv(c, "?card=C-2")) == 1 + 1
    assert len(_csv(c, "?date_from=2026-11-23")) == 1 + len(EVIL)


def test_csv_escapes_formulas(network: OfficeDb) -> None:
    c = logged_in(make_user("adam", ["accountants"]))
    rows = _csv(c, "?station=S-002&date_from=2026-11-23")
    cards = [r[4] for r in rows[1:]]
    assert sorted(cards) == sorted("'" + e for e in EVIL)
    negative = next(r for r in rows[1:] if r[1] == "10")
    assert negative[11] == "-2.50"  # a number stays a number
    assert csv_text("C-1") == "C-1" and csv_text("-x") == "'-x"


def test_xlsx_content_numbers_and_no_formulas(network: OfficeDb) -> None:
    c = logged_in(make_user("adam", ["accountants"]))
    response = c.get("/sales/export.xlsx")
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header[4] == "card_id" and header[11] == "amount"
    by_card = {r[4].value: r for r in rows[1:]}
    for evil in EVIL:
        cell = by_card[evil][4]
        assert cell.data_type == "s" and cell.value == evil  # text, never a formula
    assert not any(cell.data_type == "f" for r in rows for cell in r)
    amount = by_card[EVIL[0]][11]
    assert amount.data_type == "n" and Decimal(str(amount.value)) == Decimal("-2.50")
    assert amount.number_format == "#,##0.00"
    assert Decimal(str(by_card[EVIL[0]][9].value)) == Decimal("1.5")  # litres
    assert by_card[EVIL[0]][12].value == "RUB"


def test_exports_use_the_currency_decimals(network: OfficeDb) -> None:
    c = logged_in(make_user("adam", ["accountants"]))
    with override_settings(OFFICE_CONSOLE=ConsoleOptions(currency="JPY",
                                                         currency_decimals=0)):
        rows = _csv(c, "?station=S-001")
        assert rows[1][11] == "101800" and rows[1][12] == "JPY"
        sheet = load_workbook(io.BytesIO(c.get("/sales/export.xlsx").content)).active
        assert next(sheet.iter_rows(min_row=2))[11].number_format == "#,##0"


@pytest.mark.parametrize("what", ["cards", "audit"])
def test_card_and_audit_exports_need_their_right(network: OfficeDb, what: str) -> None:
    operator = logged_in(make_user("olga", ["operators"]))
    operator.post("/cards/C-1/block")
    assert operator.get(f"/{what}/export.csv").status_code == 403
    assert f"/{what}/export.csv".encode() not in operator.get(f"/{what}/").content
    accountant = logged_in(make_user("adam", ["accountants"]))
    assert f"/{what}/export.csv".encode() in accountant.get(f"/{what}/").content
    rows = list(csv.reader(io.StringIO(
        b"".join(accountant.get(f"/{what}/export.csv").streaming_content).decode()[1:])))
    if what == "cards":
        assert rows[0][:3] == ["card_id", "kind", "status"]
        assert rows[1][:3] == ["C-1", "magstripe", "blocked"]
    else:
        assert rows[0][:4] == ["at", "actor", "via", "action"]
        assert rows[1][1:4] == ["olga", "console", "card.block"]
    sheet = load_workbook(io.BytesIO(accountant.get(f"/{what}/export.xlsx").content)).active
    assert [c.value for c in next(sheet.iter_rows())][:2] == rows[0][:2]
