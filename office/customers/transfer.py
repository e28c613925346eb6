"""Import and export of customers and vehicles as CSV or ``.xlsx`` (issue 12 #7).

An import reads the file (office.customers.sheets: encodings, delimiter, header
aliases, the column mapping, dates, formulas refused) and applies each row through
office.customers.service, all or nothing (office.customers.importing): a row whose
``customer_id`` (``vehicle_id``) is stored updates that record with the file's columns
(an empty cell empties the field), any other row adds one. The same phone or e-mail on
two customers (in the file, or a stored one) and the same plate on two vehicles are
warnings, not errors.

An export writes every record with our field names as the header, so that reading it
back gives the same records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core.config import Config
from office.console.export import Cell
from office.customers import service
from office.customers.errors import RecordRefused
from office.customers.importing import Report, SeenValues, run_rows, told
from office.customers.models import Customer, GroupMembership, Vehicle
from office.customers.search import plate_key
from office.customers.service import Who
from office.customers.sheets import Layout, Row, header_key, joined, read_sheet, write_sheet
from office.store import OfficeConnection

CUSTOMER_COLUMNS = (*service.CUSTOMER_FIELDS, "groups")

CUSTOMERS = Layout(
    what="customers", fields=CUSTOMER_COLUMNS,
    lists=frozenset({"phones", "emails", "addresses", "groups"}),
    dates=frozenset({"birthday"}), required=(("name", "customer_id"),),
    aliases={
        "customer_id": ("customer id", "id", "code", "customer code", "client code", "код",
                        "код контрагента", "код клиента", "müşteri kodu", "müşteri no",
                        "cari kod", "mã khách hàng", "mã kh"),
        "kind": ("type", "customer type", "вид", "юр физ лицо", "вид контрагента",
                 "müşteri tipi", "loại khách hàng"),
        "name": ("full name", "customer", "customer name", "company name", "фио",
                 "наименование", "полное наименование", "контрагент", "клиент",
                 "покупатель", "имя", "adı soyadı", "ad soyad", "adı", "müşteri",
                 "müşteri adı", "unvan", "firma adı", "cari adı", "họ tên", "họ và tên",
                 "tên", "tên khách hàng"),
        "phones": ("phone", "telephone", "mobile", "phone number", "телефон", "телефоны",
                   "мобильный телефон", "тел", "telefon", "cep telefonu", "gsm", "cep",
                   "số điện thoại", "điện thoại", "sđt"),
        "emails": ("email", "e mail", "mail", "email address", "электронная почта",
                   "эл почта", "e posta", "eposta", "thư điện tử"),
        "addresses": ("address", "адрес", "юридический адрес", "фактический адрес",
                      "adres", "địa chỉ"),
        "birthday": ("birth date", "date of birth", "dob", "дата рождения", "doğum tarihi",
                     "ngày sinh"),
        "company": ("company id", "fleet", "компания", "şirket", "công ty"),
        "category": ("customer category", "категория", "kategori", "hạng", "phân loại"),
        "payment_terms": ("terms", "условия оплаты", "ödeme şekli", "điều khoản thanh toán"),
        "credit_limit": ("кредитный лимит", "лимит кредита", "kredi limiti",
                         "hạn mức tín dụng"),
        "preferred_channel": ("contact channel", "канал связи", "iletişim kanalı",
                              "kênh liên hệ"),
        "notes": ("note", "comment", "comments", "примечание", "комментарий", "notlar",
                  "not", "açıklama", "ghi chú"),
        "region": ("регион", "область", "bölge", "il", "khu vực", "tỉnh"),
        "occupation": ("profession", "job", "род занятий", "профессия", "должность",
                       "meslek", "nghề nghiệp"),
        "groups": ("group", "группа", "группы", "grup", "gruplar", "nhóm"),
    })

VEHICLES = Layout(
    what="vehicles", fields=service.VEHICLE_FIELDS, required=(("plate", "vehicle_id"),),
    aliases={
        "vehicle_id": ("vehicle id", "id", "code", "код", "araç kodu", "mã xe"),
        "plate": ("plate number", "registration", "license plate", "госномер",
                  "гос номер", "государственный номер", "номер", "plaka", "plaka no",
                  "biển số", "biển số xe"),
        "customer": ("customer id", "customer_id", "owner", "владелец", "код контрагента",
                     "код клиента", "müşteri kodu", "mã khách hàng"),
        "vehicle_type": ("type", "vehicle type", "тип тс", "тип", "araç tipi", "tip",
                         "loại xe"),
        "fuel": ("product", "топливо", "марка топлива", "yakıt", "yakıt türü", "nhiên liệu"),
        "tank_capacity_ml": ("tank ml",),
        "notes": ("note", "comment", "примечание", "комментарий", "açıklama", "ghi chú"),
    })

#: Values of choice fields as accounting systems write them.
_VALUES = {
    "kind": {"person": ("физ лицо", "физическое лицо", "физлицо", "частное лицо",
                        "bireysel", "şahıs", "gerçek kişi", "cá nhân"),
             "company": ("юр лицо", "юридическое лицо", "юрлицо", "организация", "kurumsal",
                         "şirket", "tüzel kişi", "công ty", "doanh nghiệp", "tổ chức")},
    "payment_terms": {"prepaid": ("предоплата", "peşin", "trả trước"),
                      "credit": ("кредит", "отсрочка", "vadeli", "veresiye", "trả sau",
                                 "công nợ")},
}


def choice_value(name: str, text: str) -> str:
    """A choice cell as our value: lower case, or the value an alias names."""
    key = header_key(text)
    for value, aliases in _VALUES.get(name, {}).items():
        if key in {header_key(a) for a in aliases}:
            return value
    return text.strip().lower()


def split_list(text: str) -> list[str]:
    return [v for v in (p.strip() for p in re.split(r"[,;]", text)) if v]


# -- customers ---------------------------------------------------------------------------

def _stored_contacts() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    phones: dict[str, set[str]] = {}
    emails: dict[str, set[str]] = {}
    for customer_id, phone_list, email_list in Customer.objects.filter(
            merged_into__isnull=True).values_list("customer_id", "phones", "emails"):
        for phone in json.loads(phone_list):
            phones.setdefault(phone, set()).add(customer_id)
        for email in json.loads(email_list):
            emails.setdefault(email, set()).add(customer_id)
    return phones, emails


def _set_groups(conn: OfficeConnection, config: Config, customer_id: str, text: str, *,
                who: Who, report: Report) -> bool:
    """Make the customer's groups exactly those in ``text``; whether any changed."""
    wanted = set(split_list(text))
    current = set(GroupMembership.objects.filter(customer_id=customer_id)
                  .values_list("group_id", flat=True))
    for group_id in sorted(wanted ^ current):
        version = service.set_membership(conn, config, customer_id, group_id,
                                         member=group_id in wanted, who=who)
        if version is not None:
            report.versions.append(version)
    return wanted != current


def import_customers(conn: OfficeConnection, config: Config, path: Path,
                     mapping: dict[str, str], who: Who, *, dry_run: bool = False) -> Report:
    """Import customers from ``path`` (all or nothing; ``dry_run``: check and store
    nothing). A row with a stored ``customer_id`` updates it; its ``groups`` column, if
    the file has one, becomes the customer's groups."""
    sheet = read_sheet(path, CUSTOMERS, mapping)
    report = Report("customers", str(path), dry_run)
    seen_ids: dict[str, int] = {}
    stored_phones, stored_emails = _stored_contacts()
    phones = SeenValues("phone", "customer", stored_phones)
    emails = SeenValues("e-mail", "customer", stored_emails)

    def apply(row: Row) -> tuple[str, str]:
        values: dict[str, Any] = dict(row.values)
        customer_id = values.pop("customer_id", "")
        groups = values.pop("groups", None)
        for key in ("kind", "payment_terms", "preferred_channel"):
            if values.get(key):
                values[key] = choice_value(key, values[key])
        if "addresses" in values:
            values["addresses"] = [a for a in values["addresses"].splitlines() if a.strip()]
        if customer_id:
            if customer_id in seen_ids:
                raise RecordRefused(f"customer_id {customer_id} is also on line "
                                    f"{seen_ids[customer_id]}", reason="duplicate",
                                    field="customer_id")
            seen_ids[customer_id] = row.line
        if customer_id and Customer.objects.filter(customer_id=customer_id).exists():
            old, new = service.edit_customer(conn, customer_id, values, who, config)
            moved = groups is not None and _set_groups(conn, config, customer_id, groups,
                                                       who=who, report=report)
            outcome = "changed" if old != new or moved else "unchanged"
            contacts = new["phones"], new["emails"]
        else:
            if customer_id:
                values["customer_id"] = customer_id
            if groups is not None:
                values["groups"] = split_list(groups)
            customer = service.add_customer(conn, values, who)
            customer_id, outcome = customer.customer_id, "added"
            contacts = json.loads(customer.phones), json.loads(customer.emails)
        phones.check(report, row.line, customer_id, contacts[0], "phones")
        emails.check(report, row.line, customer_id, contacts[1], "emails")
        return outcome, customer_id

    run_rows(conn, sheet, report, apply, who=who)
    told(conn, config, report)
    return report


def customer_table() -> tuple[Sequence[str], Iterator[list[Cell]]]:
    """Every customer (merged ones left out) as our field names and rows of cells."""
    groups: dict[str, list[str]] = {}
    for customer_id, group_id in GroupMembership.objects.order_by(
            "group_id").values_list("customer_id", "group_id"):
        groups.setdefault(customer_id, []).append(group_id)

    def rows() -> Iterator[list[Cell]]:
        for c in Customer.objects.filter(merged_into__isnull=True).order_by(
                "customer_id").iterator(chunk_size=2000):
            yield [c.customer_id, c.kind, c.name, joined(json.loads(c.phones)),
                   joined(json.loads(c.emails)), joined(json.loads(c.addresses), "\n"),
                   c.birthday, c.company_id, c.category_id, c.payment_terms, c.credit_limit,
                   c.preferred_channel, c.notes, c.region, c.occupation,
                   joined(groups.get(c.customer_id, []))]

    return CUSTOMER_COLUMNS, rows()


def export_customers(path: Path) -> int:
    """Write every customer to ``path`` (.csv or .xlsx); how many."""
    header, rows = customer_table()
    return write_sheet(path, "customers", header, rows)


# -- vehicles ----------------------------------------------------------------------------

def import_vehicles(conn: OfficeConnection, config: Config, path: Path,
                    mapping: dict[str, str], who: Who, *, dry_run: bool = False) -> Report:
    """Import vehicles from ``path`` (all or nothing; ``dry_run``: check, store nothing).
    A row with a stored ``vehicle_id`` updates it; a plate twice is a warning."""
    sheet = read_sheet(path, VEHICLES, mapping)
    report = Report("vehicles", str(path), dry_run)
    seen_ids: dict[str, int] = {}
    stored: dict[str, set[str]] = {}
    for vehicle_id, key in Vehicle.objects.filter(retired_at__isnull=True).values_list(
            "vehicle_id", "plate_key"):
        stored.setdefault(key, set()).add(vehicle_id)
    plates = SeenValues("plate", "vehicle", stored)

    def apply(row: Row) -> tuple[str, str]:
        values: dict[str, Any] = dict(row.values)
        vehicle_id = values.pop("vehicle_id", "")
        if values.get("vehicle_type"):
            values["vehicle_type"] = choice_value("vehicle_type", values["vehicle_type"])
        if vehicle_id:
            if vehicle_id in seen_ids:
                raise RecordRefused(f"vehicle_id {vehicle_id} is also on line "
                                    f"{seen_ids[vehicle_id]}", reason="duplicate",
                                    field="vehicle_id")
            seen_ids[vehicle_id] = row.line
        if vehicle_id and Vehicle.objects.filter(vehicle_id=vehicle_id).exists():
            old, new = service.edit_vehicle(conn, vehicle_id, values, who)
            outcome, plate = "changed" if old != new else "unchanged", new["plate"]
        else:
            if vehicle_id:
                values["vehicle_id"] = vehicle_id
            vehicle = service.add_vehicle(conn, values, who)
            vehicle_id, outcome, plate = vehicle.vehicle_id, "added", vehicle.plate
        plates.check(report, row.line, vehicle_id, [plate_key(plate)], "plate")
        return outcome, vehicle_id

    run_rows(conn, sheet, report, apply, who=who)
    told(conn, config, report)
    return report


VEHICLE_COLUMNS = service.VEHICLE_FIELDS


def vehicle_table() -> tuple[Sequence[str], Iterator[list[Cell]]]:
    """Every vehicle as our field names and rows of cells."""

    def rows() -> Iterator[list[Cell]]:
        for v in Vehicle.objects.order_by("vehicle_id").iterator(chunk_size=2000):
            yield [v.vehicle_id, v.plate, v.customer_id, v.vehicle_type, v.fuel,
                   v.tank_capacity_ml, v.notes]

    return VEHICLE_COLUMNS, rows()


def export_vehicles(path: Path) -> int:
    """Write every vehicle to ``path`` (.csv or .xlsx); how many."""
    header, rows = vehicle_table()
    return write_sheet(path, "vehicles", header, rows)
