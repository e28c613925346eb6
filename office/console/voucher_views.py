"""The console's voucher pages: the batches with the issue form, one batch with its
code downloads (CSV and the printable PDF sheet), and the exceptions (vouchers redeemed
twice offline) with their charge and write-off buttons — each through
office.vouchers.service, as the CLI does. A batch's key is never shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.console import data, runtime
from office.console.customer_views import who
from office.console.forms import millilitres, minor_units, refused_on
from office.console.views import requires
from office.customers.errors import RecordRefused

STATUSES = ("open", "charged", "written_off", "voided")


class IssueForm(forms.Form):
    product = forms.CharField(label=gettext_lazy("Product"), required=False, max_length=32,
                              widget=forms.TextInput(attrs={"list": "products"}))
    unit = forms.ChoiceField(label=gettext_lazy("Each voucher buys"),
                             choices=[("volume", gettext_lazy("litres")),
                                      ("money", gettext_lazy("money"))])
    value = forms.CharField(label=gettext_lazy("How much"), max_length=32)
    count = forms.IntegerField(label=gettext_lazy("Vouchers"), min_value=1,
                               max_value=999_999)
    valid = forms.CharField(label=gettext_lazy("Valid for"), initial="30d", max_length=16,
                            help_text=gettext_lazy("12h, 30d, 2w"))
    delay = forms.CharField(label=gettext_lazy("Activation delay"), initial="0h",
                            max_length=16, required=False)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=200)


def _shown(r: dict[str, Any]) -> dict[str, Any]:
    r["value_shown"] = (f"{r['product']} {data.volume(r['volume_ml'])}"
                        if r["volume_ml"] is not None
                        else f"{data.money(r['amount'])} {r['product'] or ''}".strip())
    r["redeemed_value_shown"] = data.money(r["redeemed_value"])
    return r


def _products() -> list[str]:
    from office import db

    return [str(row[0]) for row in db.fetchall("SELECT code FROM cm_products ORDER BY code")]


def _render_list(request: HttpRequest, form: IssueForm, status: int = 200) -> HttpResponse:
    from office.vouchers import ledger, service

    return render(request, "console/vouchers.html", {
        "batches": [_shown(r) for r in service.batches()], "form": form,
        "products": _products(), "can_issue": has(request.user, "vouchers.add"),
        "open_exceptions": len(ledger.exceptions("open"))}, status=status)


@requires("vouchers.view")
def vouchers(request: HttpRequest) -> HttpResponse:
    """The batches, newest first, with the issue form for those who may issue."""
    return _render_list(request, IssueForm())


@require_POST
@requires("vouchers.view")
@requires("vouchers.add")
def voucher_issue(request: HttpRequest) -> HttpResponseBase:
    """Issue a batch; its page then offers the CSV and the PDF sheet."""
    from office.vouchers import service

    form = IssueForm(request.POST)
    if not form.is_valid():
        return _render_list(request, form, status=400)
    values = form.cleaned_data
    try:
        text = str(values["value"])
        if values["unit"] == "volume":
            volume_ml, amount = millilitres(text, "value"), None
        else:
            volume_ml, amount = None, minor_units(text, data.currency().decimals, "value")
        batch, _codes = service.issue_batch(
            data.store(), who(request), product=values["product"] or None,
            volume_ml=volume_ml, amount=amount, count=values["count"],
            valid=service.duration(values["valid"], "valid"),
            delay=service.duration(values["delay"] or "0h", "delay"),
            note=values["note"] or "", config=runtime.config())
    except RecordRefused as exc:
        refused_on(form, exc)
        return _render_list(request, form, status=400)
    messages.success(request, _("Batch %(batch)s issued: %(count)s vouchers. Download the "
                                "codes (CSV) and the sheet to print (PDF) below.") % {
        "batch": batch.batch_id, "count": batch.count})
    return redirect("console:voucher_batch", batch_id=batch.batch_id)


@requires("vouchers.view")
def voucher_batch(request: HttpRequest, batch_id: str) -> HttpResponse:
    from office.vouchers import ledger, service

    try:
        record = _shown(service.batch_record(batch_id))
    except RecordRefused:
        raise Http404(batch_id) from None
    return render(request, "console/voucher_batch.html", {
        "batch": record, "can_download": has(request.user, "vouchers.add"),
        "exceptions": [e for e in ledger.exceptions() if e["batch_id"] == batch_id]})


def _download(request: HttpRequest, batch_id: str, kind: str) -> HttpResponse:
    from office.vouchers import service, sheets

    try:
        batch = service.get_batch(batch_id)
    except RecordRefused:
        raise Http404(batch_id) from None
    service.log_codes_taken(batch, who(request), f"console: {kind}")
    made = service.core_batch(batch)
    if kind == "csv":
        response = HttpResponse("".join(sheets.csv_lines(made)),
                                content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(sheets.pdf_bytes(made, service.value_text(
            made, data.currency())), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="vouchers-{batch_id}.{kind}"'
    return response


@requires("vouchers.view")
@requires("vouchers.add")
def voucher_csv(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The batch's codes (recorded in the audit trail: whoever has them holds the value)."""
    return _download(request, batch_id, "csv")


@requires("vouchers.view")
@requires("vouchers.add")
def voucher_pdf(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The batch's printable A4 sheet of QR codes (recorded in the audit trail)."""
    return _download(request, batch_id, "pdf")


@requires("vouchers.view")
def voucher_exceptions(request: HttpRequest) -> HttpResponse:
    from office.vouchers import ledger

    status = request.GET.get("status", "open")
    rows = ledger.exceptions(status if status in STATUSES else None)
    for e in rows:
        e["value_shown"] = data.money(e["value"])
    return render(request, "console/voucher_exceptions.html", {
        "rows": rows, "status": status if status in STATUSES else "",
        "statuses": STATUSES, "can_settle": has(request.user, "vouchers.change")})


@require_POST
@requires("vouchers.view")
@requires("vouchers.change")
def voucher_settle(request: HttpRequest, exception_id: int) -> HttpResponseBase:
    """Charge an open exception to the customer of its card, or write it off."""
    from office.vouchers import ledger

    action = request.POST.get("action", "")
    try:
        row = ledger.settle(str(exception_id), who(request), action,
                             request.POST.get("note", ""))
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Voucher exception %(id)s is %(status)s.") % {
            "id": row["exception_id"], "status": row["status"].replace("_", " ")})
    return redirect("console:voucher_exceptions")
