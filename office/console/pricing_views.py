"""The console's pricing pages: the rules in force (in words), the programme's settings,
the forms to add and end rules and to set the settings, each published revision, and
the differences the office's recomputation found — each change through
office.pricing.rules, as ``forecourt office discounts|loyalty`` does, published at once.

A published document may carry voucher batches; their keys are never shown.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import CardStoreFormatError
from office.access.rights import has
from office.console import data, pricing_text, runtime
from office.console.card_views import _told
from office.console.customer_views import who
from office.console.forms import refused_on
from office.console.pricing_forms import (
    CapsForm,
    DiscountForm,
    EarnForm,
    HolidaysForm,
    LoyaltyForm,
    MultiplierForm,
    SettingForm,
    TiersForm,
)
from office.console.views import requires
from office.customers.errors import RecordRefused

log = structlog.get_logger(__name__)

RULE_FORMS: dict[str, type[DiscountForm] | type[EarnForm] | type[MultiplierForm]] = {
    "discount": DiscountForm, "earn": EarnForm, "multiplier": MultiplierForm}
SETTING_FORMS: dict[str, type[SettingForm]] = {
    "loyalty": LoyaltyForm, "tiers": TiersForm, "caps": CapsForm, "holidays": HolidaysForm}
HIDDEN = "(hidden)"


def refused(request: HttpRequest, action: str, exc: RecordRefused | CardStoreFormatError
            ) -> None:
    """Log a refused console action (the sentence is shown to the clerk)."""
    log.info("console.pricing_refused", user=request.user.get_username(), action=action,
             reason=getattr(exc, "reason", "invalid"), field=getattr(exc, "field", None),
             problem=str(exc))


def _setting_forms() -> dict[str, forms.Form]:
    from office.pricing import rules

    record = rules.settings_record()
    money = data.currency()
    loyalty = record["loyalty"] or {}
    caps = {c["period"]: c["points"] for c in record["caps"] or []}
    return {
        "loyalty": LoyaltyForm(prefix="loyalty", initial={
            "point_value": (money.money(loyalty["point_value"]).rsplit(" ", 1)[0]
                            .replace(",", "") if loyalty else ""),
            "expiry_days": loyalty.get("expiry_days", 365)}),
        "tiers": TiersForm(prefix="tiers", initial={
            "tiers": pricing_text.tiers_text(record["tiers"])}),
        "caps": CapsForm(prefix="caps", initial=caps),
        "holidays": HolidaysForm(prefix="holidays", initial={
            "holidays": "\n".join(record["holidays"] or [])}),
    }


def _render(request: HttpRequest, bound: dict[str, forms.Form] | None = None,
            status: int = 200) -> HttpResponse:
    from office.pricing import rules
    from office.pricing.models import PricingDifference

    money = data.currency()
    include_ended = request.GET.get("all") == "1"
    records = [pricing_text.record(r, money)
               for r in rules.rule_records(include_ended=include_ended)]
    record = rules.settings_record()
    loyalty = record["loyalty"]
    last = rules.latest()
    all_forms: dict[str, forms.Form] = {
        **{s: f(prefix=s) for s, f in RULE_FORMS.items()}, **_setting_forms()}
    all_forms.update(bound or {})
    return render(request, "console/pricing.html", {
        "sections": [(_("Discounts"), [r for r in records if r["section"] == "discount"]),
                     (_("Earning rules"), [r for r in records if r["section"] == "earn"]),
                     (_("Multipliers"), [r for r in records if r["section"] == "multiplier"])],
        "include_ended": include_ended,
        "loyalty": loyalty and {"point_value": money.money(loyalty["point_value"]),
                                "expiry_days": loyalty["expiry_days"]},
        "tiers": pricing_text.tiers(record["tiers"]), "caps": record["caps"] or [],
        "holidays": record["holidays"] or [], "revision": last,
        "differences": PricingDifference.objects.count(),
        "forms": all_forms, "can_add": has(request.user, "pricing.add"),
        "can_change": has(request.user, "pricing.change")}, status=status)


@requires("pricing.view")
def pricing(request: HttpRequest) -> HttpResponse:
    """The rules in force (``?all=1``: also the ended ones), the settings, the forms."""
    return _render(request)


def _published(request: HttpRequest, version: int | None, done: str) -> None:
    from office.cards import actions

    published = (actions.publish(runtime.config(), data.store(), version)
                 if version else None)
    messages.success(request, f"{done} " + _told(version, published))


@require_POST
@requires("pricing.view")
@requires("pricing.add")
def rule_add(request: HttpRequest, section: str) -> HttpResponseBase:
    """Add a discount, an earning rule or a multiplier; it reaches stations at once."""
    from office.pricing import rules

    if section not in RULE_FORMS:
        raise Http404(section)
    form = RULE_FORMS[section](request.POST, prefix=section)
    if not form.is_valid():
        return _render(request, {section: form}, status=400)
    decimals = data.currency().decimals
    try:
        rule = (form.discount(decimals) if isinstance(form, DiscountForm)
                else form.earn(decimals) if isinstance(form, EarnForm)
                else form.multiplier(decimals))
        rule_id, version = rules.add_rule(data.store(), section, rule, who(request),
                                          runtime.config())
    except (RecordRefused, CardStoreFormatError) as exc:
        refused(request, f"pricing.{section}.add", exc)
        refused_on(form, exc if isinstance(exc, RecordRefused) else RecordRefused(str(exc)))
        return _render(request, {section: form}, status=400)
    _published(request, version, _("Rule %(rule)s added.") % {"rule": rule_id})
    return redirect("console:pricing")


@requires("pricing.view")
@requires("pricing.change")
def rule_end(request: HttpRequest, rule_id: str) -> HttpResponseBase:
    """GET: the rule and a button to confirm; POST: end it (kept in the records)."""
    from office.pricing import rules
    from office.pricing.models import PricingRule

    found = PricingRule.objects.filter(rule_id=rule_id).first()
    if found is None:
        raise Http404(rule_id)
    if request.method != "POST":
        row = pricing_text.record({"rule_id": found.rule_id, "section": found.section,
                                   "active": found.active, "rule": json.loads(found.doc)},
                                  data.currency())
        return render(request, "console/pricing_end.html", {"rule": row})
    try:
        version = rules.end_rule(data.store(), rule_id, who(request), runtime.config())
    except RecordRefused as exc:
        refused(request, "pricing.end", exc)
        messages.error(request, str(exc))
        return _render(request, status=400)
    _published(request, version, _("Rule %(rule)s ended.") % {"rule": rule_id})
    return redirect("console:pricing")


@require_POST
@requires("pricing.view")
@requires("pricing.change")
def setting_set(request: HttpRequest, key: str) -> HttpResponseBase:
    """Replace one setting of the programme: loyalty, tiers, caps or holidays."""
    from office.pricing import rules

    if key not in SETTING_FORMS:
        raise Http404(key)
    form = SETTING_FORMS[key](request.POST, prefix=key)
    if not form.is_valid():
        return _render(request, {key: form}, status=400)
    try:
        value = form.value(data.currency().decimals)
        version = rules.set_setting(data.store(), key, value, who(request), runtime.config())
    except RecordRefused as exc:
        refused(request, f"pricing.{key}.set", exc)
        refused_on(form, exc)
        return _render(request, {key: form}, status=400)
    if version is None:
        messages.info(request, _("Nothing changed."))
    else:
        _published(request, version, _("The %(key)s setting is saved.") % {"key": key})
    return redirect("console:pricing")


def hide_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with each voucher batch's key replaced (whoever has a key can make
    the batch's codes)."""
    if not doc.get("vouchers"):
        return doc
    return {**doc, "vouchers": [{**v, "key": HIDDEN} for v in doc["vouchers"]]}


def _revision_doc(revision: int) -> dict[str, Any]:
    from office.pricing.models import PricingRevision

    row = PricingRevision.objects.filter(revision=revision).first()
    if row is None:
        raise Http404(str(revision))
    return hide_keys(json.loads(row.doc))


@requires("pricing.view")
def revision_page(request: HttpRequest, revision: int) -> HttpResponse:
    """One published document (pretty JSON), and every revision with who and when."""
    from office.pricing.models import PricingRevision

    doc = _revision_doc(revision)
    return render(request, "console/pricing_revision.html", {
        "revision": revision, "doc": json.dumps(doc, indent=2, sort_keys=True,
                                                ensure_ascii=False),
        "revisions": PricingRevision.objects.order_by("-revision").defer("doc"),
        "can_export": has(request.user, "pricing.export")})


@requires("pricing.view")
@requires("pricing.export")
def revision_json(request: HttpRequest, revision: int) -> HttpResponse:
    """The document as a file (voucher keys hidden), logged."""
    doc = _revision_doc(revision)
    log.info("console.export", user=request.user.get_username(), what="pricing",
             format="json", revision=revision)
    response = HttpResponse(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pricing-{revision}.json"'
    return response


@requires("pricing.view")
def differences(request: HttpRequest) -> HttpResponse:
    """Sales whose figures the office's recomputation did not reproduce (should be none)."""
    from office.pricing.models import PricingDifference

    return render(request, "console/pricing_differences.html", {
        "rows": PricingDifference.objects.order_by("station_id", "seq", "id")})
