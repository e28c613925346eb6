"""The console's duplicates and merge pages: candidate duplicates (same phone, same
e-mail, similar names), a merge previewed before it is done, and the merge itself —
through office.customers.duplicates and office.customers.merge, as the CLI."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from office.console import data, runtime
from office.console.customer_views import who
from office.console.views import requires
from office.customers.errors import RecordRefused


@requires("customers.view")
def duplicates(request: HttpRequest) -> HttpResponse:
    from office.customers.duplicates import duplicates as find_duplicates

    return render(request, "console/duplicates.html", {"rows": find_duplicates(limit=200)})


@requires("customers.change")
def merge(request: HttpRequest) -> HttpResponseBase:
    """GET: the preview of merging ``other`` into ``keep``; POST: the merge."""
    from office.customers import merge as merging

    keep = (request.POST.get("keep") or request.GET.get("keep") or "").strip()
    other = (request.POST.get("other") or request.GET.get("other") or "").strip()
    plan = None
    if keep and other:
        try:
            if request.method == "POST":
                done = merging.merge(data.store(), runtime.config(), keep, other,
                                     who(request))
                messages.success(request, _("%(other)s was merged into %(keep)s.") % {
                    "other": other, "keep": keep} + (
                    " " + _("Card master version %(v)s.") % {"v": done["version"]}
                    if done.get("version") else ""))
                return redirect("console:customer", customer_id=keep)
            plan = merging.preview(keep, other)
        except RecordRefused as exc:
            messages.error(request, str(exc))
    return render(request, "console/merge.html", {"keep": keep, "other": other,
                                                  "plan": plan})
