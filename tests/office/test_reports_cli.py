"""``forecourt office report`` in every format, with charts, through the real CLI, on
SQLite and PostgreSQL: CSV and JSON read back, the XLSX opened with openpyxl (cells and
its native chart), PNG and SVG valid images, files recorded with who wrote them."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from core.config import load_config_file
from office.store import open_office
from tests.office.report_fixture import build, run

NOV = ("--from", "2026-11-01", "--to", "2026-11-30")


@pytest.fixture
def office(office_env: Path) -> Any:
    return build(office_env)


def test_table_csv_and_json(office: Any) -> None:
    table = run("office", "report", "consumption", *NOV, "--per", "station").output
    assert "S-001" in table and "120.000 l" in table and "6,600.00 RUB" in table
    assert "Total" in table and "9,000.00 RUB" in table
    text = run("office", "report", "consumption", *NOV, "--per", "station", "--format",
               "csv").output
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r["Station"], Decimal(r["Volume (l)"]), Decimal(r["Amount (RUB)"]))
            for r in rows] == [("S-001", Decimal("120.000"), Decimal("6600.00")),
                               ("S-002", Decimal("40.000"), Decimal("2400.00"))]
    doc = json.loads(run("office", "report", "top-customers", *NOV, "--format",
                         "json").output)
    assert isinstance(doc, list) and doc[0]["customer"] == "C-1"
    assert doc[0]["volume_ml"] == 130_000 and doc[0]["amount"] == 735_000


def test_xlsx_with_a_native_chart_and_the_chart_files(office: Any, tmp_path: Path) -> None:
    out, png, svg = tmp_path / "c.xlsx", tmp_path / "c.png", tmp_path / "c.svg"
    result = run("office", "report", "consumption", *NOV, "--by", "day", "--format", "xlsx",
                 "--out", str(out), "--chart", str(png))
    assert f"wrote {out}" in result.output
    book = load_workbook(out)
    sheet = book["Report"]
    assert sheet["A1"].value == "Consumption by day"
    assert [c.value for c in sheet[4]] == ["Period", "Sales", "Volume (l)", "Amount (RUB)",
                                           "Discount (RUB)"]
    data = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    assert len(data) == 30
    assert data[1] == ["2026-11-02", 2, 100, 5700, 100]  # decimals: litres and roubles
    assert sheet["C6"].number_format == "#,##0.000"
    assert len(book["Chart"]._charts) == 1  # a live Excel chart over the "Chart" sheet
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    run("office", "report", "stations", *NOV, "--per", "hour", "--chart", str(svg))
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg")
    conn = office
    runs = conn.execute("SELECT name, format, rows, via, file FROM report_runs "
                        "ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in runs] == [("consumption", "xlsx", 30, "cli"),
                                                         ("stations", "table", 24, "cli")]
    assert str(out) in runs[0][4] and str(png) in runs[0][4]


@pytest.mark.parametrize(("args", "message"), [
    (("consumption", "--format", "xlsx"), "give --out FILE.xlsx"),
    (("consumption", "--chart", "c.pdf"), "--chart must name a .png or .svg file"),
    (("consumption", "--out", "/no/such/dir/x.csv"), "folder /no/such/dir does not exist"),
    (("birthdays", "--chart", "c.png"), "report birthdays has no chart"),
    (("nosuch",), "there is no report 'nosuch'"),
    (("consumption", "--by", "fortnight"), "--by must be one of day, week, month"),
])
def test_bad_requests_are_one_sentence(office_env: Path, args: tuple[str, ...], message: str,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("office", "init")
    office = open_office(load_config_file(office_env))
    monkeypatch.chdir(tmp_path)
    result = run("office", "report", *args, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.glob("c.*")) == []
    assert office.one("SELECT COUNT(*) FROM report_runs")[0] == 0


def test_the_list_of_reports(office: Any) -> None:
    listed = json.loads(run("office", "reports", "--json").output)
    names = {r["name"] for r in listed}
    assert {"consumption", "top-customers", "churn", "birthdays", "stations", "loyalty",
            "vouchers", "exceptions"} <= names
    assert next(r for r in listed if r["name"] == "stations")["per"] == [
        "station", "pump", "hour", "weekday"]
