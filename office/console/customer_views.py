"""The console's customer pages: the list, a customer's 360° view, the forms to add and
change customers, record consent, and issue cards. Thin: each form hands its values to
the service the CLI uses (office.customers.service, office.cards.service), whose
refusal is shown on the field."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.console import account_views, data, runtime
from office.console.forms import ConsentForm, CustomerForm, IssueForm, minor_units, refused_on
from office.console.views import requires
from office.customers.errors import RecordRefused
from office.customers.models import CustomerCategory
from office.customers.service import Who


def who(request: HttpRequest) -> Who:
    return Who(request.user.get_username(), "console")


def _categories() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in CustomerCategory.objects.order_by("code")]


#: The customer list's filters (office.customers.filters), as the CLI's options.
FILTERS = ("category", "group", "region", "consent", "last_sale_before", "last_sale_after",
           "turnover_min", "turnover_max", "balance_min", "balance_max", "include_closed")
LIST_LIMIT = 200


def _filters(request: HttpRequest) -> dict[str, Any]:
    """The filters given in the query (money typed in the currency's unit)."""
    values: dict[str, Any] = {k: request.GET.get(k, "").strip() for k in FILTERS}
    decimals = data.currency().decimals
    for key in ("turnover_min", "turnover_max", "balance_min", "balance_max"):
        text = values[key].lstrip("-")
        amount = minor_units(text, decimals, key)
        values[key] = None if amount is None else (
            -amount if values[key].startswith("-") else amount)
    values["include_closed"] = bool(values["include_closed"])
    return values


@requires("customers.view")
def customers(request: HttpRequest) -> HttpResponse:
    from office.customers import filters
    from office.customers.find import find

    q = request.GET.get("q", "").strip()
    rows: list[dict[str, Any]] = []
    try:
        chosen = filters.clean(_filters(request), runtime.config().station.tz)
        rows = find(q or None, chosen, limit=LIST_LIMIT)
    except RecordRefused as exc:
        messages.error(request, str(exc))
    for r in rows:
        r["shown_turnover"] = data.money(r["turnover"])
        r["shown_balance"] = "" if r["balance"] is None else data.money(r["balance"])
    return render(request, "console/customers.html", {
        "rows": rows, "q": q, "values": {k: request.GET.get(k, "") for k in FILTERS},
        "limit": LIST_LIMIT, "categories": _categories(),
        "can_add": has(request.user, "customers.add")})


@requires("customers.view")
def customer(request: HttpRequest, customer_id: str) -> HttpResponse:
    from office.customers import profile

    try:
        view = profile.profile(customer_id, runtime.config())
    except RecordRefused:
        raise Http404(customer_id) from None
    money, volume = data.money, data.volume
    for c in view["cards"]:
        for w in c["wallets"]:
            w["shown"] = money(w["balance"]) if w["unit"] == "money" else volume(w["balance"])
    for s in view["recent_sales"]:
        s["shown_volume"], s["shown_amount"] = volume(s["volume_ml"]), money(s["amount"])
    month = view["this_month"]
    month["shown_volume"], month["shown_amount"] = volume(month["volume_ml"]), money(
        month["amount"])
    return render(request, "console/customer.html", {
        "c": view, "consent_form": ConsentForm(),
        "can_change": has(request.user, "customers.change"),
        "can_issue": has(request.user, "cards.add"),
        "can_close": has(request.user, "customers.delete") and not view["closed_at"],
        "credit_limit": None if view["credit_limit"] is None else money(view["credit_limit"]),
        "account": account_views.section(request, customer_id),
    })


def _form_page(request: HttpRequest, form: CustomerForm, title: str) -> HttpResponse:
    return render(request, "console/form.html", {"form": form, "title": title})


@requires("customers.add")
def customer_new(request: HttpRequest) -> HttpResponseBase:
    form = CustomerForm(request.POST or None, categories=_categories())
    if request.method == "POST" and form.is_valid():
        from office.customers import service

        try:
            made = service.add_customer(data.store(), form.values(data.currency().decimals),
                                        who(request))
        except RecordRefused as exc:
            refused_on(form, exc)
        else:
            messages.success(request, _("Customer %(id)s added.") % {"id": made.customer_id})
            return redirect("console:customer", customer_id=made.customer_id)
    return _form_page(request, form, _("New customer"))


@requires("customers.change")
def customer_edit(request: HttpRequest, customer_id: str) -> HttpResponseBase:
    from office.customers import service

    try:
        current = service.customer_record(service.get_customer(customer_id))
    except RecordRefused:
        raise Http404(customer_id) from None
    decimals = data.currency().decimals
    initial = {**current, "phones": ", ".join(current["phones"]),
               "emails": ", ".join(current["emails"]),
               "addresses": "\n".join(current["addresses"]),
               "company": current["company"] or "", "category": current["category"] or "",
               "credit_limit": "" if current["credit_limit"] is None else
               str(data.money_decimal(current["credit_limit"]))}
    form = CustomerForm(request.POST or None, initial=initial, categories=_categories())
    if request.method == "POST" and form.is_valid():
        try:
            old, new = service.edit_customer(data.store(), customer_id,
                                             form.values(decimals), who(request),
                                             runtime.config())
        except RecordRefused as exc:
            refused_on(form, exc)
        else:
            messages.success(request, _("Customer %(id)s changed.") % {"id": customer_id}
                             if old != new else _("Nothing changed."))
            return redirect("console:customer", customer_id=customer_id)
    return _form_page(request, form, _("Change customer %(id)s") % {"id": customer_id})


@require_POST
@requires("customers.change")
def customer_consent(request: HttpRequest, customer_id: str) -> HttpResponseBase:
    from office.customers import service

    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say the channel, given or withdrawn, and the source."))
        return redirect("console:customer", customer_id=customer_id)
    values = form.cleaned_data
    try:
        changed = service.set_consent(data.store(), customer_id, values["channel"],
                                      given=values["state"] == "given",
                                      source=values["source"], who=who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Consent recorded.") if changed
                         else _("Consent already stood so; nothing changed."))
    return redirect("console:customer", customer_id=customer_id)


@requires("cards.add")
def card_issue(request: HttpRequest, customer_id: str) -> HttpResponseBase:
    form = IssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from office.cards import service

        values = {k: v for k, v in form.cleaned_data.items() if v not in (None, "", False)}
        values["customer"] = customer_id
        try:
            card, done = service.issue(data.store(), runtime.config(), values, who(request))
        except RecordRefused as exc:
            refused_on(form, exc)
        else:
            messages.success(request, _("Card %(card)s issued (card master version "
                                        "%(version)s).") % {"card": card.card_id,
                                                            "version": done.version})
            return redirect("console:card", card_id=card.card_id)
    return render(request, "console/form.html", {
        "form": form, "title": _("Issue a card to %(id)s") % {"id": customer_id}})


@require_POST
@requires("customers.delete")
def customer_close(request: HttpRequest, customer_id: str) -> HttpResponseBase:
    from office.customers import service

    try:
        closed = service.close_customer(data.store(), customer_id, who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Customer %(id)s closed.") % {"id": customer_id}
                         if closed else _("Nothing changed."))
    return redirect("console:customer", customer_id=customer_id)
