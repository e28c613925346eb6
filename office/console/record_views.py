"""The console's vehicle and customer-group pages (lists, forms, a group's limits and
members), through office.customers.service and office.cards.service as the CLI."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from office.access.rights import has
from office.console import data, runtime
from office.console.customer_views import who
from office.console.forms import GroupForm, LimitForm, VehicleForm, refused_on
from office.console.views import PAGE_SIZE, _query_string, requires
from office.customers.errors import RecordRefused
from office.customers.models import CustomerGroup, Vehicle
from office.customers.search import plate_key


@requires("vehicles.view")
def vehicles(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    query = Vehicle.objects.order_by("plate_key", "vehicle_id")
    if q:
        query = query.filter(Q(plate_key__contains=plate_key(q)) | Q(vehicle_id=q)
                             | Q(customer_id=q))
    page = Paginator(query, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "console/vehicles.html", {
        "page": page, "q": q, "query": _query_string(request),
        "can_add": has(request.user, "vehicles.add")})


@requires("vehicles.view")
def vehicle(request: HttpRequest, vehicle_id: str) -> HttpResponseBase:
    from office.customers import service

    try:
        record = service.vehicle_record(service.get_vehicle(vehicle_id))
    except RecordRefused:
        raise Http404(vehicle_id) from None
    can_change = has(request.user, "vehicles.change")
    initial = {**record, "customer": record["customer"] or "", "fuel": record["fuel"] or "",
               "tank": "" if record["tank_capacity_ml"] is None
               else str(record["tank_capacity_ml"] / 1000)}
    form = VehicleForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not can_change:
            raise Http404(vehicle_id)
        if form.is_valid():
            try:
                service.edit_vehicle(data.store(), vehicle_id, form.values(), who(request))
            except RecordRefused as exc:
                refused_on(form, exc)
            else:
                messages.success(request, _("Vehicle %(id)s saved.") % {"id": vehicle_id})
                return redirect("console:vehicle", vehicle_id=vehicle_id)
    readings = service.odometer_readings(vehicle_id)
    return render(request, "console/vehicle.html", {
        "v": record, "form": form, "can_change": can_change, "readings": readings})


@requires("vehicles.add")
def vehicle_new(request: HttpRequest) -> HttpResponseBase:
    form = VehicleForm(request.POST or None,
                       initial={"customer": request.GET.get("customer", "")})
    if request.method == "POST" and form.is_valid():
        from office.customers import service

        try:
            made = service.add_vehicle(data.store(), form.values(), who(request))
        except RecordRefused as exc:
            refused_on(form, exc)
        else:
            messages.success(request, _("Vehicle %(id)s added.") % {"id": made.vehicle_id})
            return redirect("console:vehicle", vehicle_id=made.vehicle_id)
    return render(request, "console/form.html", {"form": form, "title": _("New vehicle")})


@requires("groups.view")
def groups(request: HttpRequest) -> HttpResponse:
    rows = CustomerGroup.objects.order_by("group_id")
    return render(request, "console/groups.html", {
        "rows": rows, "can_add": has(request.user, "groups.add")})


@requires("groups.add")
def group_new(request: HttpRequest) -> HttpResponseBase:
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from office.customers import service

        values = dict(form.cleaned_data)
        products = values.pop("products")
        if products:
            values["rules"] = {"products": products}
        try:
            made = service.add_group(data.store(), values, who(request))
        except RecordRefused as exc:
            refused_on(form, exc)
        else:
            return redirect("console:group", group_id=made.group_id)
    return render(request, "console/form.html", {"form": form, "title": _("New group")})


@requires("groups.view")
def group(request: HttpRequest, group_id: str) -> HttpResponse:
    from office.customers import service

    try:
        record = service.group_record(service.get_group(group_id))
    except RecordRefused:
        raise Http404(group_id) from None
    for lim in record["limits"]:
        lim["shown"] = (data.money(lim["value"]) if lim["unit"] == "money"
                        else data.volume(lim["value"]))
    return render(request, "console/group.html", {
        "g": record, "limit_form": LimitForm(),
        "can_change": has(request.user, "groups.change")})


@require_POST
@requires("groups.change")
def group_limit(request: HttpRequest, group_id: str) -> HttpResponseBase:
    from office.cards import service

    form = LimitForm(request.POST)
    try:
        if not form.is_valid():
            raise RecordRefused(_("Say the period and the unit of the limit."))
        done = service.set_limit(data.store(), runtime.config(), group_id,
                                 form.values(data.currency().decimals), who(request),
                                 group=True)
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Limit saved.") + (
            " " + _("Card master version %(v)s.") % {"v": done.version}
            if done.version else ""))
    return redirect("console:group", group_id=group_id)


@require_POST
@requires("groups.change")
def group_member(request: HttpRequest, group_id: str) -> HttpResponseBase:
    from office.customers import service

    customer_id = request.POST.get("customer", "").strip()
    member = request.POST.get("action") != "leave"
    try:
        service.set_membership(data.store(), runtime.config(), customer_id, group_id,
                               member=member, who=who(request))
    except RecordRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Members changed."))
    return redirect("console:group", group_id=group_id)
