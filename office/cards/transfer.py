"""Cards from and to CSV or ``.xlsx``, and the stock of blank cards from the supplier's
file (issue 12 #3, #7).

A cards import issues each row's card to its customer through office.cards.service
(the checks and audit entry of ``cards issue``), all or nothing
(office.customers.importing), and publishes every new card in one card-master version
when the import is stored. A row whose card (by ``card_id``, else its PAN or UID) is
already issued with the same values is left unchanged; with other values it is refused
(the import issues cards; change one with ``cards block``, ``cards limit``...). A card
whose PAN or UID is a free blank in stock takes that blank out of stock. A ``status``
other than ``active`` (a lost card moved from another system) is set on the new card
in the same version and audited as that change; ``replaced`` cannot be imported.

Blank card stock: each row of the supplier's file is a card kind and its PAN and/or
UID, normalised as everywhere (core.identifiers); a PAN or UID twice in the file,
already in stock or already on a card is refused by line. ``cards issue --from-stock``
takes the oldest free blank of a kind (office.cards.service).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.db.models import Count, Min, Q

from core import identifiers
from core.bounds import escaped
from core.cards import CARD_KINDS, CARD_STATUSES
from core.config import Config
from office.access import audit
from office.cards import compute, service
from office.cards.actions import STATUS_ACTIONS
from office.cards.models import BlankCard, Card
from office.console.export import Cell
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.importing import Report, run_rows, told
from office.customers.service import Who, now_text
from office.customers.sheets import Layout, Row, joined, read_sheet, write_sheet
from office.customers.transfer import split_list
from office.store import OfficeConnection

CARD_COLUMNS = ("card_id", "kind", "status", "customer", "vehicle", "driver", "pan",
                "rfid_uid", "expires", "products")
_KIND = ("card type", "card kind", "type", "тип карты", "вид карты", "тип", "вид",
         "kart tipi", "kart türü", "tür", "loại thẻ", "loại")
_PAN = ("card number", "number", "номер карты", "номер", "kart no", "kart numarası",
        "số thẻ")
_UID = ("uid", "rfid", "rfid uid", "chip uid", "uid метки", "uid карты", "mã chip")

CARDS = Layout(
    what="cards", fields=CARD_COLUMNS, lists=frozenset({"products"}),
    dates=frozenset({"expires"}), required=(("customer",), ("kind",)),
    aliases={
        "card_id": ("card id", "card", "карта", "код карты", "kart", "kart kodu", "mã thẻ"),
        "kind": _KIND, "pan": _PAN, "rfid_uid": _UID,
        "status": ("state", "статус", "состояние", "durum", "trạng thái"),
        "customer": ("customer id", "customer_id", "код контрагента", "код клиента",
                     "müşteri kodu", "mã khách hàng"),
        "vehicle": ("vehicle id", "vehicle_id", "код тс", "araç kodu", "mã xe"),
        "driver": ("водитель", "sürücü", "tài xế"),
        "expires": ("expiry", "expiry date", "valid until", "срок действия",
                    "действует до", "son kullanma tarihi", "geçerlilik tarihi",
                    "ngày hết hạn", "hạn sử dụng"),
        "products": ("продукты", "топливо", "ürünler", "sản phẩm"),
    })

STOCK = Layout(
    what="stock", fields=("kind", "pan", "rfid_uid", "batch"),
    required=(("kind",), ("pan", "rfid_uid")),
    aliases={"kind": _KIND, "pan": _PAN, "rfid_uid": _UID,
             "batch": ("lot", "партия", "parti", "lô")})


def _identifier(name: str, text: str | None, read: Callable[[str], str | None],
                what: str) -> str | None:
    if not text:
        return None
    value = read(text)
    if value is None:
        raise RecordRefused(f"{name} {escaped(text)!r} must be {what}", field=name)
    return value


def _pan(text: str | None) -> str | None:
    return _identifier("pan", text, identifiers.pan, "8-19 digits")


def _uid(text: str | None) -> str | None:
    return _identifier("rfid_uid", text, identifiers.uid, "8-20 hex digits")


# -- cards -------------------------------------------------------------------------------

def _stored_values(card: Card) -> dict[str, Any]:
    return {"card_id": card.card_id, "kind": card.kind, "status": card.status,
            "customer": card.customer_id, "vehicle": card.vehicle_id,
            "driver": card.driver or None, "pan": card.pan, "rfid_uid": card.rfid_uid,
            "expires": card.expires,
            "products": None if card.products is None else sorted(json.loads(card.products))}


def _row_values(values: dict[str, str]) -> dict[str, Any]:
    """The file's values as :func:`_stored_values` has them (for comparison)."""
    out: dict[str, Any] = {k: (v or None) for k, v in values.items()}
    for key in ("kind", "status"):
        if key in out:
            out[key] = (out[key] or ("active" if key == "status" else "")).lower() or None
    if "pan" in out:
        out["pan"] = _pan(out["pan"])
    if "rfid_uid" in out:
        out["rfid_uid"] = _uid(out["rfid_uid"])
    if "products" in out:
        out["products"] = sorted(set(split_list(out["products"] or ""))) or None
    return out


def _existing(given: dict[str, Any]) -> Card | None:
    """The issued card a row names: by its card_id when it has one, else by PAN or UID."""
    found: Card | None
    if given.get("card_id"):
        found = Card.objects.filter(card_id=given["card_id"]).first()
        return found
    for column in ("pan", "rfid_uid"):
        if given.get(column):
            found = Card.objects.filter(**{column: given[column]}).first()
            if found is not None:
                return found
    return None


def _free_blank(kind: str, given: dict[str, Any]) -> BlankCard | None:
    for column in ("pan", "rfid_uid"):
        if given.get(column):
            blank: BlankCard | None = BlankCard.objects.select_for_update().filter(
                issued_as__isnull=True, **{column: given[column]}).first()
            if blank is None:
                continue
            if blank.kind != kind:
                raise RecordRefused(f"{column} {given[column]} is a blank {blank.kind} card "
                                    f"in stock, not {kind}", reason="conflict", field=column)
            for other in ("pan", "rfid_uid"):
                mine, its = given.get(other), getattr(blank, other)
                if mine and its and mine != its:
                    raise RecordRefused(f"the blank in stock with {column} {given[column]} "
                                        f"has {other} {its}, not {mine}", reason="conflict",
                                        field=other)
            return blank
    return None


def import_cards(conn: OfficeConnection, config: Config, path: Path,
                 mapping: dict[str, str], who: Who, *, dry_run: bool = False) -> Report:
    """Issue the cards of ``path`` (all or nothing; ``dry_run``: check, store nothing);
    one card-master version for all of them, sent to every station when stored."""
    sheet = read_sheet(path, CARDS, mapping)
    report = Report("cards", str(path), dry_run)
    issued: list[str] = []

    def apply(row: Row) -> tuple[str, str]:
        given = _row_values(row.values)
        existing = _existing(given)
        if existing is not None:
            stored = _stored_values(existing)
            for key, value in given.items():
                if value != stored[key] and not (key == "card_id" and value is None):
                    raise RecordRefused(
                        f"card {existing.card_id} is already issued with {key} "
                        f"{stored[key]!r}, not {value!r} (the import issues new cards; "
                        "change an issued one with the cards commands)", reason="conflict",
                        field=key)
            return "unchanged", existing.card_id
        status = given.pop("status", None) or "active"
        if status not in CARD_STATUSES or status == "replaced":
            raise RecordRefused(f"status must be one of "
                                f"{', '.join(s for s in CARD_STATUSES if s != 'replaced')}, "
                                f"got {status!r}", field="status")
        kind = F.choice("kind", given.get("kind"), CARD_KINDS)
        blank = _free_blank(kind, given)
        values = {k: v for k, v in given.items() if v is not None}
        if blank is not None:
            values["pan"] = values.get("pan") or blank.pan
            values["rfid_uid"] = values.get("rfid_uid") or blank.rfid_uid
        card = service.issue_unpublished(values, who)
        if blank is not None:
            blank.issued_as = card.card_id
            blank.save(update_fields=["issued_as"])
        if status != "active":
            card.status = status
            card.save(update_fields=["status"])
            audit.record(actor=who.actor, via=who.via,
                         action=STATUS_ACTIONS.get(status, "card.status"), object_kind="card",
                         object_id=card.card_id, old={"status": "active"},
                         new={"status": status}, detail=f"import {path.name}")
        compute.check_doc(compute.docs_for([card.card_id])[card.card_id])
        issued.append(card.card_id)
        return "added", card.card_id

    def finish() -> None:
        if issued:
            version, changes = compute.publish(conn, config, issued, actor=who.version_actor)
            if changes:
                report.versions.append(version)

    run_rows(conn, sheet, report, apply, who=who, lock_cards=True, finish=finish)
    told(conn, config, report)
    return report


def card_table() -> tuple[Sequence[str], Iterator[list[Cell]]]:
    """Every card (replaced ones too) as our field names and rows of cells."""

    def rows() -> Iterator[list[Cell]]:
        for c in Card.objects.order_by("card_id").iterator(chunk_size=2000):
            products = [] if c.products is None else json.loads(c.products)
            yield [c.card_id, c.kind, c.status, c.customer_id, c.vehicle_id, c.driver, c.pan,
                   c.rfid_uid, c.expires, joined(products)]

    return CARD_COLUMNS, rows()


def export_cards(path: Path) -> int:
    """Write every card to ``path`` (.csv or .xlsx); how many."""
    header, rows = card_table()
    return write_sheet(path, "cards", header, rows)


# -- blank card stock --------------------------------------------------------------------

def import_stock(conn: OfficeConnection, path: Path, mapping: dict[str, str], who: Who,
                 *, batch: str | None = None, dry_run: bool = False) -> Report:
    """Add the supplier's blank cards of ``path`` to the stock (all or nothing), each in
    the audit trail. Their batch: ``batch``, else the file's ``batch`` column, else the
    file's name."""
    sheet = read_sheet(path, STOCK, mapping)
    report = Report("stock", str(path), dry_run)
    seen: dict[tuple[str, str], int] = {}

    def apply(row: Row) -> tuple[str, str]:
        kind = F.choice("kind", row.values.get("kind", "").lower(), CARD_KINDS)
        pan, uid = _pan(row.values.get("pan")), _uid(row.values.get("rfid_uid"))
        name = F.text("batch", batch or row.values.get("batch") or path.name, required=True)
        for column, value in (("pan", pan), ("rfid_uid", uid)):
            if value is None:
                continue
            first = seen.setdefault((column, value), row.line)
            if first != row.line:
                raise RecordRefused(f"{column} {value} is also on line {first}",
                                    reason="duplicate", field=column)
            blank = BlankCard.objects.filter(**{column: value}).first()
            if blank is not None:
                raise RecordRefused(f"{column} {value} is already in stock (batch "
                                    f"{blank.batch})", reason="duplicate", field=column)
            card = Card.objects.filter(**{column: value}).first()
            if card is not None:
                raise RecordRefused(f"{column} {value} is already card {card.card_id}'s",
                                    reason="duplicate", field=column)
        if pan is None and uid is None:
            raise RecordRefused("a blank card needs a pan or an rfid_uid", field="pan")
        if kind == "magstripe" and pan is None:
            raise RecordRefused("a magnetic-stripe card needs a pan", field="pan")
        if kind == "rfid" and uid is None:
            raise RecordRefused("an RFID card needs an rfid_uid", field="rfid_uid")
        blank = BlankCard.objects.create(kind=kind, pan=pan, rfid_uid=uid, batch=name,
                                         imported_at=now_text(), imported_by=who.actor)
        ident = str(pan or uid)
        audit.record(actor=who.actor, via=who.via, action="stock.add",
                     object_kind="blank_card", object_id=ident,
                     new={"kind": kind, "pan": pan, "rfid_uid": uid, "batch": name},
                     detail=path.name)
        return "added", ident

    return run_rows(conn, sheet, report, apply, who=who, lock_cards=True)


def stock_summary() -> list[dict[str, Any]]:
    """Per kind and batch: free and issued blanks, and when the batch came."""
    rows = (BlankCard.objects.values("kind", "batch")
            .annotate(free=Count("id", filter=Q(issued_as__isnull=True)),
                      issued=Count("id", filter=Q(issued_as__isnull=False)),
                      imported_at=Min("imported_at"))
            .order_by("kind", "imported_at", "batch"))
    return [{"kind": r["kind"], "batch": r["batch"], "free": r["free"], "issued": r["issued"],
             "imported_at": r["imported_at"]} for r in rows]
