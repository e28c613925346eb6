"""The console's customer account: the Account section of a customer's page (balance,
aging, recent entries), the form to record a payment and the statement downloads.

Thin, as every console view: the payment goes through the service the CLI uses
(office.accounts.service: the same checks, the same audit entry), the statement through
the same builder and printers as ``forecourt office accounts statement``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.console import data, runtime
from office.console import report_words as words
from office.console.forms import minor_units
from office.console.views import requires
from office.customers.errors import RecordRefused
from office.customers.service import Who


class PaymentForm(forms.Form):
    amount = forms.CharField(label=gettext_lazy("Amount"), max_length=40)
    reference = forms.CharField(label=gettext_lazy("Reference"), max_length=200)
    date = forms.CharField(label=gettext_lazy("Value date"), required=False,
                           widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(label=gettext_lazy("Method"), choices=[
        ("bank", gettext_lazy("bank")), ("cash", gettext_lazy("cash")),
        ("card", gettext_lazy("card")), ("other", gettext_lazy("other"))])


def _who(request: HttpRequest) -> Who:
    return Who(request.user.get_username(), "console")


def _months(today: date, count: int = 6) -> list[str]:
    """This month and the ones before it, newest first (``YYYY-MM``)."""
    out, year, month = [], today.year, today.month
    for _i in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def section(request: HttpRequest, customer_id: str) -> dict[str, Any] | None:
    """What the customer page's Account section shows (None without ``accounts.view``)."""
    if not has(request.user, "accounts.view"):
        return None
    from office.accounts import account
    from office.accounts.aging import BUCKET_TITLES, BUCKETS

    reports = runtime.config().office_reports
    try:
        shown = account.summary(data.store(), customer_id, reports.tz,
                                reports.credit_due_days)
    except RecordRefused:
        return None
    money = data.money
    shown["shown"] = {k: money(shown[k]) for k in ("balance", "overdue")}
    shown["shown"]["available"] = None if shown["available"] is None else money(
        shown["available"])
    # The age bands are the credit report's column headings, translated with them.
    shown["aging_rows"] = [(words.word(BUCKET_TITLES[b]), money(shown["aging"][b]))
                           for b in BUCKETS]
    if shown["last_payment"]:
        shown["last_payment"]["shown"] = money(shown["last_payment"]["amount"])
    for e in shown["recent_entries"]:
        e["shown"] = money(abs(int(e["amount"])))
    return {**shown, "form": PaymentForm(), "can_pay": has(request.user, "accounts.add"),
            "can_export": has(request.user, "accounts.export"),
            "months": _months(account.today(reports.tz))}


@require_POST
@requires("accounts.add")
def pay(request: HttpRequest, customer_id: str) -> HttpResponseBase:
    """Record a payment received (audited, as ``forecourt office accounts pay``)."""
    from office.accounts import service

    back = reverse("console:customer", args=[customer_id]) + "#account"
    form = PaymentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the amount and the reference of the payment."))
        return redirect(back)
    values = form.cleaned_data
    try:
        amount = minor_units(values["amount"], data.currency().decimals, "amount")
        booked = service.pay(data.store(), _who(request), customer_id,
                             0 if amount is None else amount, reference=values["reference"],
                             method=values["method"], day=values["date"] or None,
                             tz=runtime.config().office_reports.tz)
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Payment of %(amount)s recorded; the customer owes "
                                    "%(balance)s.") % {
            "amount": data.money(-booked.entry.amount), "balance": data.money(booked.after)})
    return redirect(back)


@requires("accounts.view")
@requires("accounts.export")
def statement_file(request: HttpRequest, customer_id: str, fmt: str) -> HttpResponse:
    """A month's statement (``?month=YYYY-MM``, default this month) as PDF or XLSX;
    recorded as a report that left the office."""
    from office.accounts import account, statement_pdf, statement_xlsx
    from office.accounts.months import month_range
    from office.accounts.statement import build
    from office.reports.base import ReportError
    from office.reports.runs import record

    reports = runtime.config().office_reports
    month = request.GET.get("month") or account.today(reports.tz).strftime("%Y-%m")
    try:
        start, end = month_range(month)
        made = build(data.store(), customer_id, start, end, reports.tz)
    except (ReportError, RecordRefused):
        raise Http404(customer_id) from None
    money = data.currency()
    if fmt == "pdf":
        body = statement_pdf.pdf_bytes(made, money, reports.statement_header)
        kind = "application/pdf"
    else:
        body = statement_xlsx.workbook(made, money, reports.statement_header)
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    record(name="statement", params={"customer": customer_id, "from": start.isoformat(),
                                     "to": end.isoformat()},
           fmt=fmt, rows=len(made.lines), actor=request.user.get_username(), via="console")
    response = HttpResponse(body, content_type=kind)
    response["Content-Disposition"] = (f'attachment; filename="statement-{customer_id}-'
                                       f'{month}.{fmt}"')
    return response
