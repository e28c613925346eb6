"""Reading spreadsheets for the imports (office.customers.sheets), without a database:
the dates accepted and refused, what counts as a formula, CSV encodings and
delimiters, headers matched loosely, multi-line cells and their line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from office.customers.sheets import is_formula, parse_date, read_sheet, unescape
from office.customers.transfer import CUSTOMERS


@pytest.mark.parametrize(("text", "iso"), [
    ("1980-05-01", "1980-05-01"), ("1980-5-1", "1980-05-01"), ("01.05.1980", "1980-05-01"),
    ("1.5.1980 0:00:00", "1980-05-01"), ("1980-05-01T00:00:00", "1980-05-01"),
    ("25/04/1980", "1980-04-25"), ("04/25/1980", "1980-04-25"), ("05/05/1980", "1980-05-05"),
])
def test_dates_in_the_forms_accepted(text: str, iso: str) -> None:
    assert parse_date(text) == iso


@pytest.mark.parametrize(("text", "why"), [
    ("03/04/1980", "ambiguous"), ("31.02.1980", "is not a date"), ("1980/05/01", "not a date"),
    ("01.05.80", "not a date"), ("May 1, 1980", "not a date"), ("01.05.1980 noon", "not a date"),
])
def test_dates_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_date(text)


@pytest.mark.parametrize("text", [
    "=1+2", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)", "\t=1+2", " =A1", "+A1", "-$B$2", "+Sheet1!A1", "-=1", "'=1+2",
])
def test_formulas_are_recognised(text: str) -> None:
    assert is_formula(unescape(text))


@pytest.mark.parametrize("text", [
    "+7 (916) 123-45-67", "+905321234567", "-5", "- call first", "@home", "O'Brien",
    "'+7 916", "", "Volga = river", "a|b",
])
def test_values_that_are_not_formulas(text: str) -> None:
    assert not is_formula(unescape(text))


@pytest.mark.parametrize(("data", "delimiter"), [
    ("\ufeffname\tphones\nАнна\t+7 916 123 45 67\n".encode(), "tab, UTF-8 with BOM"),
    ("name;phones\nАнна;+7 916 123 45 67\n".encode("cp1251"), "; Windows-1251"),
    ("name,phones\nАнна,+7 916 123 45 67\n".encode("utf-16"), ", UTF-16"),
])
def test_csv_encodings_and_delimiters(tmp_path: Path, data: bytes, delimiter: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    sheet = read_sheet(path, CUSTOMERS)
    assert sheet.columns == {"name": "name", "phones": "phones"}, delimiter
    rows = list(sheet.rows)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"name": "Анна", "phones": "+7 916 123 45 67"})]


def test_headers_match_loosely_and_two_columns_fill_a_list(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('"Adı Soyadı","Telefon","Cep telefonu","E-Posta:","Doğum tarihi"\n'
                    '"Şükrü","0212 555 44 33","0532 123 45 67","","09.03.1975"\n'
                    '"multi\nline","","","",""\n', encoding="utf-8")
    sheet = read_sheet(path, CUSTOMERS)
    assert sheet.columns == {"Adı Soyadı": "name", "Telefon": "phones",
                             "Cep telefonu": "phones", "E-Posta:": "emails",
                             "Doğum tarihi": "birthday"}
    first, second = list(sheet.rows)
    assert first.values["phones"] == "0212 555 44 33, 0532 123 45 67"
    assert first.values["birthday"] == "1975-03-09"
    assert (second.line, second.values["name"]) == (3, "multi\nline")
