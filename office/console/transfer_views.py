"""The console's spreadsheet pages: customers, vehicles, cards and the supplier's blank
cards from a .csv or .xlsx file (check first, then store all or nothing; the same
imports as the CLI's), their export with formulas escaped, and the card stock."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from office.access.rights import has
from office.console import data, runtime
from office.console.customer_views import who
from office.console.views import _csv_response, _log_export, _xlsx_response, requires
from office.customers.errors import RecordRefused

#: The largest file the console takes (a spreadsheet of some 100,000 customers).
MAX_UPLOAD = 20 * 1024 * 1024
#: What may be imported, and the rights it takes (besides customers.view).
WHAT = {"customers": ("customers.add", "customers.change"), "vehicles": ("vehicles.add",),
        "cards": ("cards.add",), "stock": ("cards.add",)}


class ImportForm(forms.Form):
    what = forms.ChoiceField(label=gettext_lazy("Records"), choices=[
        ("customers", gettext_lazy("customers")), ("vehicles", gettext_lazy("vehicles")),
        ("cards", gettext_lazy("cards to issue")),
        ("stock", gettext_lazy("blank cards from the supplier"))])
    file = forms.FileField(label=gettext_lazy("File (.csv or .xlsx)"))
    mapping = forms.CharField(label=gettext_lazy("Column mapping"), required=False,
                              help_text=gettext_lazy("COLUMN=FIELD, comma-separated, e.g. "
                                                     "Контрагент=name,Тел=phones"))
    store = forms.BooleanField(label=gettext_lazy("Store (otherwise only check)"),
                               required=False)


def _run(request: HttpRequest, form: ImportForm) -> Any:
    from office.cards import transfer as card_transfer
    from office.customers import transfer
    from office.customers.sheets import parse_mapping

    values = form.cleaned_data
    upload = values["file"]
    suffix = Path(upload.name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise RecordRefused(_("The file must be .csv or .xlsx."), field="file")
    if upload.size > MAX_UPLOAD:
        raise RecordRefused(_("The file is larger than 20 MB; import it with the command "
                              "line."), field="file")
    what = values["what"]
    layout = {"customers": transfer.CUSTOMERS, "vehicles": transfer.VEHICLES,
              "cards": card_transfer.CARDS, "stock": card_transfer.STOCK}[what]
    mapping = parse_mapping([values["mapping"]] if values["mapping"] else [], None,
                            layout.fields)
    dry_run = not values["store"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        conn, config, by = data.store(), runtime.config(), who(request)
        if what == "customers":
            report = transfer.import_customers(conn, config, path, mapping, by,
                                               dry_run=dry_run)
        elif what == "vehicles":
            report = transfer.import_vehicles(conn, config, path, mapping, by,
                                              dry_run=dry_run)
        elif what == "cards":
            report = card_transfer.import_cards(conn, config, path, mapping, by,
                                                dry_run=dry_run)
        else:
            report = card_transfer.import_stock(conn, path, mapping, by,
                                                batch=Path(upload.name).stem,
                                                dry_run=dry_run)
    report.file = upload.name
    return report


@requires("customers.view")
def import_page(request: HttpRequest) -> HttpResponseBase:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        for right in WHAT[form.cleaned_data["what"]]:
            if not has(request.user, right):
                from django.core.exceptions import PermissionDenied

                raise PermissionDenied(right)
        try:
            report = _run(request, form)
        except (RecordRefused, ValueError) as exc:
            form.add_error("file" if getattr(exc, "field", None) == "file" else None,
                           str(exc))
    return render(request, "console/import.html", {"form": form, "report": report})


def _export(request: HttpRequest, what: str, fmt: str) -> HttpResponse:
    from office.customers import transfer

    header, rows = (transfer.customer_table() if what == "customers"
                    else transfer.vehicle_table())
    _log_export(request, what, fmt)
    if fmt == "csv":
        return _csv_response(what, header, rows)
    return _xlsx_response(what, header, rows)


@requires("customers.view")
@requires("customers.export")
def customers_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return _export(request, "customers", fmt)


@requires("vehicles.view")
@requires("vehicles.export")
def vehicles_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return _export(request, "vehicles", fmt)


@requires("cards.view")
def stock(request: HttpRequest) -> HttpResponse:
    """The blank cards in stock: free and issued per kind and batch."""
    from office.cards.transfer import stock_summary

    return render(request, "console/stock.html", {
        "rows": stock_summary(), "can_import": has(request.user, "cards.add")})
