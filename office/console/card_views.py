"""The console's card and wallet pages: a card with its limits and wallets, its status
actions (block, unblock, lost, stolen, withdrawn), reissue, limits, wallets and their
top-ups — each through office.cards.service, as the CLI does."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.cards.master import CardMasterRefusal
from office.console import data, runtime
from office.console.customer_views import who
from office.console.forms import LimitForm, PostForm, WalletForm, millilitres, minor_units
from office.console.views import requires
from office.customers.errors import RecordRefused

STATUSES = ("blocked", "active", "lost", "stolen", "withdrawn")


def _shown(unit: str, value: int) -> str:
    return data.money(value) if unit == "money" else data.volume(value)


def _amount(unit: str, text: str, field: str) -> int | None:
    return (minor_units(text, data.currency().decimals, field) if unit == "money"
            else millilitres(text, field))


def _told(done_version: int | None, published: bool | None) -> str:
    if done_version is None:
        return str(_("Nothing changed for the stations."))
    text = str(_("Card master version %(version)s.") % {"version": done_version})
    if published is True:
        return f"{text} {_('Sent to every station.')}"
    if published is False:
        return f"{text} " + str(_("The broker did not answer: stations get it when they "
                                  "next sync."))
    return f"{text} {_('MQTT is off: stations get it when they next sync.')}"


@requires("cards.view")
def card(request: HttpRequest, card_id: str) -> HttpResponse:
    from office.cards import service

    try:
        record = service.card_record(service.get_card(data.store(), card_id))
    except RecordRefused:
        raise Http404(card_id) from None
    for lim in record["limits"]:
        lim["shown"] = _shown(lim["unit"], lim["value"])
    for w in record["wallets"]:
        w["shown"] = _shown(w["unit"], w["balance"])
    from office.console.points_views import card_points
    from office.console.pricing_forms import AdjustForm

    return render(request, "console/card.html", {
        "points": (card_points(record["card_id"]) if has(request.user, "points.view")
                   else None), "adjust_form": AdjustForm(),
        "can_adjust": has(request.user, "points.change"),
        "card": record, "limit_form": LimitForm(), "wallet_form": WalletForm(),
        "statuses": [s for s in STATUSES if s != record["status"]],
        "can_change": has(request.user, "cards.change") and record["status"] != "replaced",
        "can_reissue": has(request.user, "cards.add") and record["status"] != "replaced",
        "can_add_wallet": has(request.user, "wallets.add") and record["status"] != "replaced",
    })


@require_POST
@requires("cards.change")
def card_status(request: HttpRequest, card_id: str) -> HttpResponseBase:
    from office.cards import service

    status = request.POST.get("status", "")
    if status not in STATUSES:
        messages.error(request, _("Unknown status."))
        return redirect("console:card", card_id=card_id)
    try:
        change = service.change_status(runtime.config(), card_id, status, who(request))
    except (RecordRefused, CardMasterRefusal) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Card %(card)s is %(status)s.") % {
            "card": change.card_id, "status": status} + " " + _told(
            change.version if change.changed else None, change.published))
    return redirect("console:card", card_id=card_id)


@require_POST
@requires("cards.add")
def card_reissue(request: HttpRequest, card_id: str) -> HttpResponseBase:
    from office.cards import service

    values = {k: request.POST.get(k, "").strip() for k in ("card_id", "pan", "rfid_uid")}
    values = {k: v for k, v in values.items() if v}
    try:
        new, done = service.reissue(data.store(), runtime.config(), card_id, values,
                                    who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
        return redirect("console:card", card_id=card_id)
    messages.success(request, _("Card %(new)s replaces %(old)s.") % {
        "new": new.card_id, "old": card_id} + " " + _told(done.version, done.published))
    return redirect("console:card", card_id=new.card_id)


@require_POST
@requires("cards.change")
def card_limit(request: HttpRequest, card_id: str) -> HttpResponseBase:
    from office.cards import service

    form = LimitForm(request.POST)
    try:
        if not form.is_valid():
            raise RecordRefused(_("Say the period and the unit of the limit."))
        done = service.set_limit(data.store(), runtime.config(), card_id,
                                 form.values(data.currency().decimals), who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _told(done.version, done.published))
    return redirect("console:card", card_id=card_id)


@require_POST
@requires("wallets.add")
def wallet_add(request: HttpRequest, card_id: str) -> HttpResponseBase:
    from office.cards import service

    form = WalletForm(request.POST)
    try:
        if not form.is_valid():
            raise RecordRefused(_("Say the unit of the wallet."))
        values: dict[str, Any] = dict(form.cleaned_data)
        values["balance"] = _amount(values["unit"], str(values["balance"] or ""),
                                    "balance") or 0
        values["products"] = [p.strip() for p in str(values["products"] or "").split(",")
                              if p.strip()] or None
        wallet, done = service.add_wallet(data.store(), runtime.config(), card_id, values,
                                          who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
        return redirect("console:card", card_id=card_id)
    messages.success(request, _("Wallet %(wallet)s opened.") % {"wallet": wallet.wallet_id}
                     + " " + _told(done.version, done.published))
    return redirect("console:wallet", wallet_id=wallet.wallet_id)


@requires("wallets.view")
def wallet(request: HttpRequest, wallet_id: str) -> HttpResponse:
    from office.cards import service

    try:
        record = service.wallet_record(wallet_id)
    except RecordRefused:
        raise Http404(wallet_id) from None
    unit = record["unit"]
    record["shown"] = _shown(unit, record["balance"])
    for e in record["entries"]:
        e["shown"] = _shown(unit, e["value"])
    for d in record["debits"]:
        d["shown"] = _shown(unit, -d["value"])
    return render(request, "console/wallet.html", {
        "wallet": record, "form": PostForm(),
        "can_post": has(request.user, "wallets.change")})


@require_POST
@requires("wallets.change")
def wallet_post(request: HttpRequest, wallet_id: str) -> HttpResponseBase:
    from office.cards import service
    from office.cards.models import Wallet

    form = PostForm(request.POST)
    found = Wallet.objects.filter(wallet_id=wallet_id).first()
    if found is None:
        raise Http404(wallet_id)
    try:
        if not form.is_valid():
            raise RecordRefused(_("Say the entry and the amount."))
        values = form.cleaned_data
        amount = _amount(found.unit, str(values["amount"]), "amount")
        before, after, _done = service.post(data.store(), runtime.config(), wallet_id,
                                            amount, who(request), kind=values["kind"],
                                            reason=values["reason"] or "")
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Wallet %(wallet)s: %(before)s -> %(after)s.") % {
            "wallet": wallet_id, "before": _shown(found.unit, before),
            "after": _shown(found.unit, after)})
    return redirect("console:wallet", wallet_id=wallet_id)
