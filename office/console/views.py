"""The console's pages. Thin: check the right, read or call a service, render.

Every page needs a login (else it redirects to the login page) and its feature's right
(else our 403 page). Changes are POST only (a GET of an action URL is 405) and carry
Django's CSRF token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, ClassVar

import structlog
from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.timefmt import utc_now
from office.access import audit, logins
from office.access.models import AuditEntry
from office.access.rights import has
from office.cards import actions
from office.cards.master import CardMasterRefusal
from office.cards.models import CardMasterCard
from office.console import data, export, runtime
from office.ledger.models import Quarantine, Sale, Station

log = structlog.get_logger(__name__)

PAGE_SIZE = 50
View = Callable[..., HttpResponseBase]


def requires(right: str) -> Callable[[View], View]:
    """The view needs a login and the right ``FEATURE.RIGHT`` (403 page without it)."""
    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has(request.user, right):
                log.info("console.forbidden", user=request.user.get_username(), right=right,
                         path=request.path)
                raise PermissionDenied(right)
            return view(request, *args, **kwargs)
        return login_required(checked)  # type: ignore[no-any-return]
    return decorate


# -- login ------------------------------------------------------------------------------

def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


class LoginForm(AuthenticationForm):
    """Django's login form with the failed-login limit (office.access.logins)."""

    error_messages: ClassVar[dict[str, Any]] = {
        **AuthenticationForm.error_messages,
        "locked": gettext_lazy("Too many failed logins for this user from your address. "
                               "Try again after %(until)s (UTC)."),
    }

    def clean(self) -> dict[str, Any]:
        from django.conf import settings

        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        now = timezone.now()
        until = logins.locked_until(username, address, now)
        if until is not None:
            log.warning("console.login_refused_locked", username=username, address=address)
            raise ValidationError(self.error_messages["locked"], code="locked",
                                  params={"until": until.strftime("%Y-%m-%d %H:%M")})
        try:
            cleaned: dict[str, Any] = super().clean()
        except ValidationError:
            if username and logins.failed(username, address, now, settings.OFFICE_CONSOLE):
                raise ValidationError(self.error_messages["locked"], code="locked",
                                      params={"until": (now + timedelta(
                                          seconds=settings.OFFICE_CONSOLE.login_lockout_s)
                                      ).strftime("%Y-%m-%d %H:%M")}) from None
            raise
        logins.succeeded(username, address)
        log.info("console.login", username=username, address=address)
        return cleaned


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


# -- pages -------------------------------------------------------------------------------

#: The menu, in order; the first entry a user may see is where they land after login
#: (the dashboard for everyone with ``reports.view``: the head office's day at a glance).
MENU: tuple[tuple[str, str, Any], ...] = (
    ("console:dashboard", "reports.view", gettext_lazy("Dashboard")),
    ("console:stations", "stations.view", gettext_lazy("Stations")),
    ("console:sales", "sales.view", gettext_lazy("Sales")),
    ("console:customers", "customers.view", gettext_lazy("Customers")),
    ("console:vehicles", "vehicles.view", gettext_lazy("Vehicles")),
    ("console:groups", "groups.view", gettext_lazy("Groups")),
    ("console:cards", "cards.view", gettext_lazy("Card master")),
    ("console:vouchers", "vouchers.view", gettext_lazy("Vouchers")),
    ("console:pricing", "pricing.view", gettext_lazy("Pricing")),
    ("console:reports", "reports.view", gettext_lazy("Reports")),
    ("console:quarantine", "quarantine.view", gettext_lazy("Quarantine")),
    ("console:refused", "refused.view", gettext_lazy("Refused messages")),
    ("console:audit", "audit.view", gettext_lazy("Audit trail")),
    ("console:users", "users.view", gettext_lazy("Users and roles")),
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The first page this user may see, or a page saying there is none."""
    for url, right, _label in MENU:
        if has(request.user, right):
            return redirect(url)
    return render(request, "console/no_rights.html", status=403)


@requires("stations.view")
def stations(request: HttpRequest) -> HttpResponse:
    rows = data.stations()
    return render(request, "console/stations.html", {
        "rows": rows, "refused": list(data.refused()) if has(request.user, "refused.view")
        else []})


class SalesFilter(forms.Form):
    station = forms.CharField(required=False, label=gettext_lazy("Station"))
    card = forms.CharField(required=False, label=gettext_lazy("Card"))
    date_from = forms.DateField(required=False, label=gettext_lazy("From"),
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=gettext_lazy("To"),
                              widget=forms.DateInput(attrs={"type": "date"}))


def _sales(form: SalesFilter) -> QuerySet[Sale]:
    query = Sale.objects.all()
    if not form.is_valid():
        return query.none()
    values = form.cleaned_data
    if values["station"]:
        query = query.filter(station_id=values["station"].strip())
    if values["card"]:
        text = values["card"].strip()
        card_id = data.find_card_id(text) or text
        query = query.filter(card_id=card_id)
    if values["date_from"]:
        query = query.filter(completed_at__gte=values["date_from"].isoformat())
    if values["date_to"]:
        query = query.filter(
            completed_at__lt=(values["date_to"] + timedelta(days=1)).isoformat())
    return query.order_by("-completed_at", "station_id", "-seq")


def _query_string(request: HttpRequest, drop: str = "page") -> str:
    params = request.GET.copy()
    params.pop(drop, None)
    return str(params.urlencode())


@requires("sales.view")
def sales(request: HttpRequest) -> HttpResponse:
    form = SalesFilter(request.GET or None)
    query = _sales(form) if request.GET else Sale.objects.order_by(
        "-completed_at", "station_id", "-seq")
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"sale": s, "volume": data.volume(s.volume_ml), "amount": data.money(s.amount),
             "price": data.currency().price(s.unit_price)} for s in page.object_list]
    return render(request, "console/sales.html", {
        "form": form if request.GET else SalesFilter(), "page": page, "rows": rows,
        "query": _query_string(request),
        "stations": Station.objects.order_by("station_id").values_list("station_id",
                                                                         flat=True)})


SALE_HEADER = ("station", "seq", "sale_id", "completed_at", "card_id", "vehicle_id",
               "odometer_km", "pump", "product", "volume_l", "unit_price", "amount",
               "currency", "via")


def _sale_rows(query: QuerySet[Sale]) -> Iterable[Sequence[export.Cell]]:
    code = data.currency().code
    for s in query.iterator(chunk_size=2000):
        yield (s.station_id, s.seq, s.sale_id, s.completed_at, s.card_id, s.vehicle_id,
               s.odometer_km, s.pump, s.product, Decimal(s.volume_ml).scaleb(-3),
               data.money_decimal(s.unit_price), data.money_decimal(s.amount), code, s.via)


def _export_query(request: HttpRequest) -> QuerySet[Sale]:
    form = SalesFilter(request.GET or None)
    return _sales(form) if request.GET else Sale.objects.order_by(
        "-completed_at", "station_id", "-seq")


def _log_export(request: HttpRequest, what: str, kind: str) -> None:
    log.info("console.export", user=request.user.get_username(), what=what, format=kind,
             filters=_query_string(request))


def _csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[export.Cell]]
                  ) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.csv_lines(header, rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{export.stamp(utc_now())}.csv"')
    return response


def _xlsx_response(name: str, header: Sequence[str], rows: Iterable[Sequence[export.Cell]],
                   formats: dict[int, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        export.xlsx_bytes(name, header, rows, formats),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{export.stamp(utc_now())}.xlsx"')
    return response


@requires("sales.view")
@requires("sales.export")
def sales_csv(request: HttpRequest) -> StreamingHttpResponse:
    query = _export_query(request)
    _log_export(request, "sales", "csv")
    return _csv_response("sales", SALE_HEADER, _sale_rows(query))


@requires("sales.view")
@requires("sales.export")
def sales_xlsx(request: HttpRequest) -> HttpResponse:
    query = _export_query(request)
    _log_export(request, "sales", "xlsx")
    decimals = data.currency().decimals
    money_format = "#,##0" + ("." + "0" * decimals if decimals else "")
    return _xlsx_response("sales", SALE_HEADER, _sale_rows(query),
                          {9: "#,##0.000", 10: money_format, 11: money_format})


def _card_row(card: CardMasterCard) -> dict[str, Any]:
    doc = json.loads(card.doc)
    return {"card_id": card.card_id, "kind": doc.get("kind", ""),
            "status": doc.get("status", "active"), "pan": doc.get("pan") or "",
            "rfid_uid": doc.get("rfid_uid") or "", "customer_id": doc.get("customer_id") or "",
            "vehicle_id": doc.get("vehicle_id") or "", "expires": doc.get("expires") or ""}


def _cards(request: HttpRequest) -> QuerySet[CardMasterCard]:
    q = request.GET.get("q", "").strip()
    query = CardMasterCard.objects.order_by("card_id")
    if q:
        exact = data.find_card_id(q)
        query = query.filter(Q(card_id__icontains=q) | Q(card_id=exact or ""))
    return query


CARD_HEADER = ("card_id", "kind", "status", "pan", "rfid_uid", "customer_id", "vehicle_id",
               "expires")


def _card_rows(query: QuerySet[CardMasterCard]) -> Iterable[Sequence[export.Cell]]:
    for card in query.iterator(chunk_size=2000):
        row = _card_row(card)
        yield tuple(str(row[key]) for key in CARD_HEADER)


@requires("cards.view")
@requires("cards.export")
def cards_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    _log_export(request, "cards", fmt)
    if fmt == "csv":
        return _csv_response("cards", CARD_HEADER, _card_rows(_cards(request)))
    return _xlsx_response("cards", CARD_HEADER, _card_rows(_cards(request)))


@requires("cards.view")
def cards(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    query = _cards(request)
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "console/cards.html", {
        "rows": [_card_row(c) for c in page.object_list], "page": page, "q": q,
        "query": _query_string(request),
        "can_change": has(request.user, "cards.change")})


def _set_card_status(request: HttpRequest, card_id: str, status: str) -> HttpResponse:
    try:
        change = actions.change_status(runtime.config(), card_id, status,
                                       actor=request.user.get_username(), via="console")
    except CardMasterRefusal as exc:
        messages.error(request, str(exc))
    else:
        if not change.changed:
            messages.info(request, _("Card %(card)s is already %(status)s; nothing changed.")
                          % {"card": change.card_id, "status": _status_label(status)})
        else:
            text = _("Card %(card)s is now %(status)s (card master version %(version)s).") % {
                "card": change.card_id, "status": _status_label(status),
                "version": change.version}
            if change.published is True:
                text += " " + _("Sent to every station.")
            elif change.published is False:
                text += " " + _("The broker did not answer: stations get it when they next "
                                "sync.")
            else:
                text += " " + _("MQTT is off: stations get it when they next sync.")
            messages.success(request, text)
    back = request.POST.get("next") or ""
    if not back.startswith("/") or back.startswith("//"):
        back = reverse("console:cards")
    return HttpResponseRedirect(back)


def _status_label(status: str) -> str:
    return str({"blocked": _("blocked"), "active": _("active")}.get(status, status))


@require_POST
@requires("cards.change")
def card_block(request: HttpRequest, card_id: str) -> HttpResponse:
    return _set_card_status(request, card_id, "blocked")


@require_POST
@requires("cards.change")
def card_unblock(request: HttpRequest, card_id: str) -> HttpResponse:
    return _set_card_status(request, card_id, "active")


@requires("quarantine.view")
def quarantine(request: HttpRequest) -> HttpResponse:
    query = Quarantine.objects.order_by("-last_received_at", "-id").defer("payload")
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "console/quarantine.html", {"page": page, "query": ""})


@requires("refused.view")
def refused(request: HttpRequest) -> HttpResponse:
    return render(request, "console/refused.html", {"rows": list(data.refused())})


class AuditFilter(forms.Form):
    actor = forms.CharField(required=False, label=gettext_lazy("Who"))
    action = forms.CharField(required=False, label=gettext_lazy("What"))
    object_id = forms.CharField(required=False, label=gettext_lazy("Object"))
    date_from = forms.DateField(required=False, label=gettext_lazy("From"),
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=gettext_lazy("To"),
                              widget=forms.DateInput(attrs={"type": "date"}))


def _audit_entries(request: HttpRequest, form: AuditFilter) -> QuerySet[AuditEntry]:
    query = AuditEntry.objects.order_by("-at", "-id")
    if request.GET and form.is_valid():
        values = form.cleaned_data
        if values["actor"]:
            query = query.filter(actor=values["actor"].strip())
        if values["action"]:
            query = query.filter(action__startswith=values["action"].strip())
        if values["object_id"]:
            query = query.filter(object_id=values["object_id"].strip())
        if values["date_from"]:
            query = query.filter(at__gte=values["date_from"].isoformat())
        if values["date_to"]:
            query = query.filter(at__lt=(values["date_to"] + timedelta(days=1)).isoformat())
    return query


AUDIT_HEADER = ("at", "actor", "via", "action", "object_kind", "object_id", "old", "new",
                "detail")


def _audit_rows(query: QuerySet[AuditEntry]) -> Iterable[Sequence[export.Cell]]:
    for e in query.iterator(chunk_size=2000):
        yield (e.at, e.actor, e.via, e.action, e.object_kind, e.object_id, e.old or "",
               e.new or "", e.detail)


@requires("audit.view")
@requires("audit.export")
def audit_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    _log_export(request, "audit", fmt)
    query = _audit_entries(request, AuditFilter(request.GET or None))
    if fmt == "csv":
        return _csv_response("audit", AUDIT_HEADER, _audit_rows(query))
    return _xlsx_response("audit", AUDIT_HEADER, _audit_rows(query))


@requires("audit.view")
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = AuditFilter(request.GET or None)
    query = _audit_entries(request, form)
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"entry": e, "old": _shown(e.old), "new": _shown(e.new)} for e in page.object_list]
    return render(request, "console/audit.html", {
        "form": form if request.GET else AuditFilter(), "page": page, "rows": rows,
        "query": _query_string(request)})


def _shown(text: str | None) -> str:
    """An audit value as a short line: ``status: active`` rather than JSON."""
    value = audit.decoded(text)
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    return _flat(value)


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value) or "—"
    return str(value)


@requires("users.view")
def users(request: HttpRequest) -> HttpResponse:
    from office.access import accounts

    return render(request, "console/users.html", {"users": accounts.list_users(),
                                                  "groups": accounts.list_groups()})


# -- errors ------------------------------------------------------------------------------

def forbidden(request: HttpRequest,
              exception: Exception | None = None) -> HttpResponse:  # noqa: ARG001
    return render(request, "console/403.html", status=403)


def not_found(request: HttpRequest,
              exception: Exception | None = None) -> HttpResponse:  # noqa: ARG001
    return render(request, "console/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:  # noqa: ARG001
    """Our 500 page, rendered without the request's context (which may be what broke)."""
    from django.template import loader

    return HttpResponse(loader.get_template("console/500.html").render(), status=500)


def today() -> date:
    return utc_now().date()
