"""The console's reports and dashboard (docs/reports.md, "In the console").

The reports page lists every registered report; a report's page is a GET form built
from the report's own options (the same names and parser as ``forecourt office
report``), its table, and its chart inline. Seeing a report needs ``reports.view``;
every file that leaves the office (CSV, XLSX, JSON, PNG, SVG and the print view) needs
``reports.export`` and is recorded in ``report_runs`` with the user.

The chart is embedded as an ``<img>`` of a ``data:`` URL: an SVG shown as an image
runs no script and loads nothing, whatever text it carries, and the page needs no
second request that would run the report again.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import structlog
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.display import Currency
from office.access.rights import has
from office.console import data, runtime
from office.console import report_words as words
from office.console.export import stamp
from office.console.views import requires
from office.reports import charts, registry
from office.reports import render as rendering
from office.reports.base import NUMERIC, Report, ReportError
from office.reports.params import BY, OPTIONS, ORDERS, Params
from office.reports.registry import Spec

log = structlog.get_logger(__name__)

#: The most rows a report page shows (the exports carry them all).
SHOWN_ROWS = 1000
#: Export formats: their media type and file extension (``print`` is a page).
EXPORTS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json; charset=utf-8", "json"),
    "png": ("image/png", "png"),
    "svg": ("image/svg+xml", "svg"),
    "print": ("text/html; charset=utf-8", "html"),
}
_LABELS: dict[str, Any] = {
    "from": gettext_lazy("From"), "to": gettext_lazy("To"),
    "station": gettext_lazy("Station"), "customer": gettext_lazy("Customer"),
    "group": gettext_lazy("Group"), "product": gettext_lazy("Product"),
    "card": gettext_lazy("Card"), "vehicle": gettext_lazy("Vehicle"),
    "by": gettext_lazy("By"), "per": gettext_lazy("Per"), "order": gettext_lazy("Order"),
    "limit": gettext_lazy("Limit"), "days": gettext_lazy("Days"),
    "month": gettext_lazy("Month"), "within": gettext_lazy("Within"),
}
_HINTS = {"month": "1-12, YYYY-MM", "within": "20m, 2h, 1d"}


@requires("reports.view")
def reports(request: HttpRequest) -> HttpResponse:
    """Every report: its title and what it tells (in the console's language)."""
    return render(request, "console/reports.html", {
        "specs": [{"name": s.name, "title": words.title(s), "about": words.about(s)}
                  for s in registry.specs().values()]})


def _spec(name: str) -> Spec:
    try:
        return registry.spec(name)
    except ReportError:
        raise Http404(name) from None


def _given(request: HttpRequest) -> dict[str, str | None]:
    """The report options in the query string (other keys are not options)."""
    return {k: request.GET.get(k) for k in OPTIONS if k in request.GET}


def _fields(spec: Spec, given: dict[str, str | None], params: Params | None
            ) -> list[dict[str, Any]]:
    """The form's inputs for ``spec``'s options, filled with what was asked (or, for
    the range and choices, what the report took by default)."""
    out: list[dict[str, Any]] = []
    for name in spec.options:
        value = given.get(name) or ""
        field: dict[str, Any] = {"name": name, "label": _LABELS.get(name, name),
                                 "value": value, "hint": _HINTS.get(name, "")}
        if name in ("from", "to"):
            field["type"] = "date"
            if not value and params is not None:
                field["value"] = (params.start if name == "from" else params.end).isoformat()
        elif name in ("by", "per", "order"):
            field["type"] = "select"
            field["choices"] = {"by": BY, "per": spec.per, "order": ORDERS}[name]
            if not value and params is not None:
                field["value"] = {"by": params.by, "per": params.per or "",
                                  "order": params.order}[name]
        elif name in ("limit", "days"):
            field["type"] = "number"
        else:
            field["type"] = "text"
        out.append(field)
    return out


def _run(spec: Spec, given: dict[str, str | None]) -> tuple[Params, Report]:
    config = runtime.config()
    params = registry.params_for(spec.name, given, config.office_reports)
    return params, spec.runner(data.store(), params)


def _table(report: Report, currency: Currency, limit: int | None = SHOWN_ROWS
           ) -> dict[str, Any]:
    """Headings (in the console's language), cell texts and alignment of ``report``
    (the first ``limit`` rows; None: all)."""
    cols = report.columns
    numeric = [c.kind in NUMERIC for c in cols]
    rows = [[(rendering.text(c, r.get(c.key), currency), n) for c, n in
             zip(cols, numeric, strict=True)] for r in report.rows[:limit]]
    totals = None
    if report.totals and report.rows:
        totals = [(rendering.text(c, report.totals.get(c.key), currency)
                   if c.key in report.totals else (_("Total") if i == 0 else ""), n)
                  for i, (c, n) in enumerate(zip(cols, numeric, strict=True))]
    return {"head": [(words.heading(c, currency), n) for c, n in
                     zip(cols, numeric, strict=True)],
            "rows": rows, "totals": totals, "count": len(report.rows),
            "cut": limit is not None and len(report.rows) > limit}


def chart_url(report: Report, currency: Currency) -> str | None:
    """The report's chart as an SVG ``data:`` URL for an ``<img>`` (None: no chart)."""
    if report.chart is None or not report.rows:
        return None
    svg = charts.draw(report, "svg", currency)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


@requires("reports.view")
def report(request: HttpRequest, name: str) -> HttpResponse:
    """A report's form, table and chart; a wrong option is one sentence (400)."""
    spec = _spec(name)
    given = _given(request)
    currency = data.currency()
    context: dict[str, Any] = {"spec": spec, "title": words.title(spec),
                               "about": words.about(spec), "query": _query(given),
                               "can_export": has(request.user, "reports.export"),
                               "exports": [f for f in EXPORTS if f != "print"]}
    try:
        params, result = _run(spec, given)
    except ReportError as exc:
        log.info("console.report_refused", report=name, reason=str(exc))
        context.update(error=str(exc), fields=_fields(spec, given, None))
        return render(request, "console/report.html", context, status=400)
    context.update(fields=_fields(spec, given, params), report=result,
                   report_title=words.word(result.title),
                   table=_table(result, currency), chart=chart_url(result, currency))
    return render(request, "console/report.html", context)


def _query(given: dict[str, str | None]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in given.items() if v})


@requires("reports.view")
@requires("reports.export")
def report_export(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    """Report ``name`` as a file (or the print page), recorded with the user."""
    spec = _spec(name)
    if fmt not in EXPORTS:
        raise Http404(fmt)
    given = _given(request)
    currency = data.currency()
    try:
        params, result = _run(spec, given)
        if fmt in ("png", "svg") and result.chart is None:
            raise ReportError(f"report {name} has no chart")
    except ReportError as exc:
        log.info("console.report_refused", report=name, reason=str(exc), format=fmt)
        return render(request, "console/report.html", {
            "spec": spec, "title": words.title(spec), "about": words.about(spec),
            "error": str(exc), "fields": _fields(spec, given, None),
            "query": _query(given), "can_export": True, "exports": []}, status=400)
    media, extension = EXPORTS[fmt]
    now = datetime.now(UTC).astimezone(params.tz)
    filename = f"{name}-{stamp(now)}.{extension}"
    response = HttpResponse(_body(request, result, fmt, currency, now), content_type=media)
    if fmt != "print":
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    from office.reports.runs import record

    record(name=name, params={k: v for k, v in given.items() if v}, fmt=fmt,
           rows=len(result.rows), actor=request.user.get_username(), via="console",
           file=filename)
    return response


def _body(request: HttpRequest, result: Report, fmt: str, currency: Currency,
          now: datetime) -> bytes | str:
    if fmt == "csv":
        return rendering.csv_text(result, currency)
    if fmt == "json":
        return rendering.json_text(result)
    if fmt == "xlsx":
        from office.reports import xlsx

        return xlsx.workbook(result, currency)
    if fmt in ("png", "svg"):
        return charts.draw(result, fmt, currency)
    # Every row on paper: the print view is the report, not the page's first rows.
    page: bytes = render(request, "console/report_print.html", {
        "report": result, "report_title": words.word(result.title),
        "table": _table(result, currency, None),
        "chart": chart_url(result, currency),
        "printed_at": now.strftime("%Y-%m-%d %H:%M"),
        "printed_by": request.user.get_username()}).content
    return page


@requires("reports.view")
def dashboard(request: HttpRequest) -> HttpResponse:
    """Today, this month, the trend, the top stations and customers, the network."""
    from office.reports import dashboard as board

    config = runtime.config()
    currency = data.currency()
    shown = board.build(data.store(), config.office_reports)
    return render(request, "console/dashboard.html", {
        "board": shown,
        "day": _figures(shown.day, currency), "month": _figures(shown.month, currency),
        "months_chart": chart_url(shown.months, currency),
        "days_chart": chart_url(shown.days, currency),
        "months": _table(shown.months, currency),
        "stations": [{**r, **_figures_of(r, currency)} for r in shown.top_stations],
        "customers": [{**r, **_figures_of(r, currency)} for r in shown.top_customers],
        "net": shown.network,
        "can_stations": has(request.user, "stations.view"),
        "can_customers": has(request.user, "customers.view"),
        "can_quarantine": has(request.user, "quarantine.view")})


def _figures(figures: Any, currency: Currency) -> dict[str, str]:
    from dataclasses import asdict

    return _figures_of(asdict(figures), currency)


def _figures_of(row: dict[str, Any], currency: Currency) -> dict[str, str]:
    """The figures of a row as text: ``sales_text``, ``volume``, ``money``, ``discount_text``."""
    return {"sales_text": f"{int(row['sales']):,}", "volume": data.volume(int(row["volume_ml"])),
            "money": currency.money(int(row["amount"])),
            "discount_text": currency.money(int(row["discount"]))}

