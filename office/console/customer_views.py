"""The console's customer pages: the list, a customer's 360° view, the forms to add and
change customers, record consent, and issue cards. Thin: each form hands its values to
the service the CLI uses (office.customers.service, office.cards.service), whose
refusal is shown on the field."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.console import data, runtime
from office.console.forms import ConsentForm, CustomerForm, IssueForm, refused_on
from office.console.views import PAGE_SIZE, _query_string, requires
from office.customers.errors import RecordRefused
from office.customers.models import Customer, CustomerCategory
from office.customers.search import digits, fold
from office.customers.service import Who


def who(request: HttpRequest) -> Who:
    return Who(request.user.get_username(), "console")


def _categories() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in CustomerCategory.objects.order_by("code")]


def _matching(q: str) -> Any:
    """Customers whose search key, id or phone holds ``q`` (a plain contains search;
    the typo-tolerant search is office.customers.find when present)."""
    query = Customer.objects.filter(merged_into__isnull=True)
    if not q:
        return query
    folded, phone = fold(q), digits(q)
    match = Q(search_key__contains=folded) | Q(customer_id=q.strip())
    if len(phone) >= 6:
        match |= Q(phones__contains=phone[-9:])
    return query.filter(match)


@requires("customers.view")
def customers(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    page = Paginator(_matching(q).order_by("name", "customer_id"), PAGE_SIZE
                     ).get_page(request.GET.get("page"))
    return render(request, "console/customers.html", {
        "page": page, "q": q, "query": _query_string(request),
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
                                             form.values(decimals), who(request))
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
