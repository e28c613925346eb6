"""The console's points and priced-sale pages: a card's points (balance, lots by expiry,
history, a hand adjustment), a sale's page with how the rules priced it, and the void
of a priced sale — each through office.pricing.ledger_service, as ``forecourt office
points adjust`` and ``forecourt office pricing void`` do, audited with the console user.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.timefmt import utc_now
from office.access.rights import has
from office.console import data, export
from office.console.customer_views import who
from office.console.forms import refused_on
from office.console.pricing_forms import AdjustForm, VoidForm
from office.console.pricing_views import refused
from office.console.views import requires
from office.customers.errors import RecordRefused
from office.ledger.models import Sale

log = structlog.get_logger(__name__)

RECENT = 10
HISTORY_HEADER = ("id", "at", "kind", "points", "short", "station_id", "seq", "sale_id",
                  "actor", "reason")


def _card_id(card: str) -> str:
    from office.cards.service import get_card

    try:
        return str(get_card(data.store(), card).card_id)
    except RecordRefused:
        raise Http404(card) from None


def card_points(card_id: str) -> dict[str, Any]:
    """A card's points for its page: balance (and its worth), lots, the last entries."""
    from office.pricing import points, rules

    today = utc_now().date()
    balance = points.balance(card_id, today)
    loyalty = rules.settings_record()["loyalty"]
    history = points.history(card_id)
    return {"balance": balance,
            "worth": data.money(balance * loyalty["point_value"]) if loyalty else None,
            "lots": points.lots(card_id, today), "recent": history[::-1][:RECENT],
            "more": len(history) > RECENT}


@requires("points.view")
def history(request: HttpRequest, card_id: str, form: AdjustForm | None = None,
            status: int = 200) -> HttpResponse:
    """Every points entry of a card, with the adjust form for those who may adjust."""
    from office.pricing import points

    card_id = _card_id(card_id)
    return render(request, "console/points.html", {
        "card_id": card_id, "points": card_points(card_id),
        "history": points.history(card_id)[::-1], "form": form or AdjustForm(),
        "can_adjust": has(request.user, "points.change"),
        "can_export": has(request.user, "points.export")}, status=status)


@requires("points.view")
@requires("points.export")
def history_csv(request: HttpRequest, card_id: str) -> HttpResponse:
    from office.pricing import points

    card_id = _card_id(card_id)
    log.info("console.export", user=request.user.get_username(), what="points",
             format="csv", card_id=card_id)
    rows = [tuple(e[k] for k in HISTORY_HEADER) for e in points.history(card_id)]
    response = HttpResponse("".join(export.csv_lines(HISTORY_HEADER, rows)),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="points-{card_id}.csv"'
    return response


@require_POST
@requires("points.view")
@requires("points.change")
def adjust(request: HttpRequest, card_id: str) -> HttpResponseBase:
    """Add (positive) or take (negative) points by hand, with a reason; audited."""
    from office.pricing import ledger_service

    card_id = _card_id(card_id)
    form = AdjustForm(request.POST)
    if not form.is_valid():
        return history(request, card_id, form, status=400)
    try:
        _card, balance = ledger_service.adjust(data.store(), card_id,
                                               form.cleaned_data["points"],
                                               form.cleaned_data["reason"], who(request))
    except RecordRefused as exc:
        refused(request, "points.adjust", exc)
        refused_on(form, exc)
        return history(request, card_id, form, status=400)
    messages.success(request, _("Card %(card)s: %(points)s points.") % {
        "card": card_id, "points": balance})
    return redirect("console:card", card_id=card_id)


def _sale_parts(sale: Sale) -> dict[str, Any] | None:
    """How the rules priced the sale (its journal line's ``pricing``), in clerk units."""
    if not sale.pricing:
        return None
    line = json.loads(sale.pricing)
    money = data.currency()
    return {"revision": line.get("revision"), "list_amount": money.money(
        line["list_amount"]) if line.get("list_amount") is not None else None,
        "discounts": [(rule_id, money.money(value))
                      for rule_id, value in line.get("discounts", [])],
        "voucher": line.get("voucher"),
        "voucher_value": money.money(line.get("voucher_value", 0)),
        "points_value": money.money(line.get("points_value", 0)),
        "points_burned": line.get("points_burned", 0),
        "points_earned": line.get("points_earned", 0), "tier": line.get("tier"),
        "raw": json.dumps(line, indent=2, sort_keys=True)}


@requires("sales.view")
def sale(request: HttpRequest, station_id: str, seq: int, form: VoidForm | None = None,
         status: int = 200) -> HttpResponse:
    """One sale: its figures, how the rules priced it, its points, its void."""
    from office.cards.models import Card
    from office.pricing.models import PointsEntry, PricedSale, PricingDifference

    found = Sale.objects.filter(station_id=station_id, seq=seq).first()
    if found is None:
        raise Http404(f"{station_id}#{seq}")
    priced = PricedSale.objects.filter(station_id=station_id, seq=seq).first()
    entries = (list(PointsEntry.objects.filter(station_id=station_id, seq=seq).order_by("id"))
               if has(request.user, "points.view") else [])
    return render(request, "console/sale.html", {
        "sale": found, "volume": data.volume(found.volume_ml),
        "amount": data.money(found.amount), "price": data.currency().price(found.unit_price),
        "parts": _sale_parts(found), "priced": priced, "entries": entries,
        "differences": PricingDifference.objects.filter(station_id=station_id, seq=seq),
        "form": form or VoidForm(),
        # A talon sale's card id is its voucher ("V" + serial): there is no card page.
        "card_page": Card.objects.filter(card_id=found.card_id).exists(),
        "can_void": (priced is not None and priced.voided_at is None
                     and has(request.user, "points.change"))}, status=status)


@require_POST
@requires("sales.view")
@requires("points.change")
def void(request: HttpRequest, station_id: str, seq: int) -> HttpResponseBase:
    """Void a priced sale: its points reversed, its voucher released; audited."""
    from office.pricing import ledger_service

    form = VoidForm(request.POST)
    if not form.is_valid():
        return sale(request, station_id, seq, form, status=400)
    try:
        result = ledger_service.void(data.store(), station_id, seq,
                                     form.cleaned_data["reason"], who(request))
    except RecordRefused as exc:
        refused(request, "sale.void", exc)
        if exc.field in form.fields:
            refused_on(form, exc)
        else:  # about the sale (unknown, voided already): said above the page
            messages.error(request, str(exc))
        return sale(request, station_id, seq, form, status=400)
    text = _("Sale %(sale)s voided: %(taken)s points earned taken back, %(given)s points "
             "burned given back.") % {"sale": result["sale_id"],
                                      "taken": result["earned_taken"],
                                      "given": result["burned_given"]}
    if result["voucher"]:
        text += " " + _("Voucher %(voucher)s released.") % {"voucher": result["voucher"]}
    messages.success(request, text)
    return redirect("console:sale", station_id=station_id, seq=seq)
