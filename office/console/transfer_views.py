"""The console's spreadsheet pages: customers and vehicles from a .csv or .xlsx file
(check first, then store all or nothing; the same import as ``forecourt office
customers import``), and their export with formulas escaped."""

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
WHAT = {"customers": "customers.add", "vehicles": "vehicles.add"}


class ImportForm(forms.Form):
    what = forms.ChoiceField(label=gettext_lazy("Records"), choices=[
        ("customers", gettext_lazy("customers")), ("vehicles", gettext_lazy("vehicles"))])
    file = forms.FileField(label=gettext_lazy("File (.csv or .xlsx)"))
    mapping = forms.CharField(label=gettext_lazy("Column mapping"), required=False,
                              help_text=gettext_lazy("COLUMN=FIELD, comma-separated, e.g. "
                                                     "Контрагент=name,Тел=phones"))
    store = forms.BooleanField(label=gettext_lazy("Store (otherwise only check)"),
                               required=False)


def _run(request: HttpRequest, form: ImportForm) -> Any:
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
    layout = transfer.CUSTOMERS if values["what"] == "customers" else transfer.VEHICLES
    mapping = parse_mapping([values["mapping"]] if values["mapping"] else [], None,
                            layout.fields)
    run = (transfer.import_customers if values["what"] == "customers"
           else transfer.import_vehicles)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        report = run(data.store(), runtime.config(), path, mapping, who(request),
                     dry_run=not values["store"])
    report.file = upload.name
    return report


@requires("customers.view")
def import_page(request: HttpRequest) -> HttpResponseBase:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        right = WHAT[form.cleaned_data["what"]]
        if not has(request.user, right) or (form.cleaned_data["what"] == "customers"
                                            and not has(request.user, "customers.change")):
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
