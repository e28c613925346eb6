"""``forecourt office report NAME ...`` and ``forecourt office reports``: the office's
reports as a table, CSV, JSON or XLSX, with their charts (docs/reports.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from core.clikit import actor
from office.cli_customers import office_of
from office.reports.base import ReportError
from office.reports.params import FILTERS

_OUT = click.Path(dir_okay=False, path_type=Path)


def _options(func: Any) -> Any:
    for name in reversed(("station", "customer", "group", "product", "card", "vehicle")):
        func = click.option(f"--{name}", help=f"Only the sales of this {name}.")(func)
    for name, about in reversed((
            ("from", "First local day (YYYY-MM-DD; default: the 1st of this month)."),
            ("to", "Last local day, included (default: today)."),
            ("by", "Periods: day, week or month."),
            ("per", "A dimension of the report (see `forecourt office reports`)."),
            ("order", "top-customers: by volume or amount."),
            ("limit", "top-customers: how many (default 20)."),
            ("days", "churn: no sale for this many days ([office_reports] churn_days)."),
            ("month", "birthdays: the month, 1-12 or YYYY-MM (default: this month)."),
            ("within", "exceptions: one card at two stations within this time (20m)."))):
        func = click.option(f"--{name}", f"opt_{name}", help=about)(func)
    return func


@click.command("report")
@click.argument("name")
@_options
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json", "xlsx")),
              default="table", show_default=True, help="How to print or write it.")
@click.option("--out", type=_OUT, help="Write to this file instead of printing "
              "(needed for xlsx).")
@click.option("--chart", type=_OUT, help="Also draw the report's chart into this file "
              "(.png or .svg).")
@click.pass_context
def office_report(ctx: click.Context, /, *, name: str, fmt: str, out: Path | None,
                  chart: Path | None, **options: str | None) -> None:
    """Print or write report NAME (`forecourt office reports` lists them)."""
    from office.reports import registry, render

    given: dict[str, str | None] = {k.removeprefix("opt_"): v for k, v in options.items()
                                    if k.startswith("opt_")}
    given.update({k: options.get(k) for k in FILTERS})
    if fmt == "xlsx" and out is None:
        raise click.ClickException("--format xlsx writes a file: give --out FILE.xlsx")
    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        raise click.ClickException("--chart must name a .png or .svg file")
    for path in (out, chart):
        if path is not None and not path.parent.is_dir():
            raise click.ClickException(f"folder {path.parent} does not exist; nothing written")
    with office_of(ctx) as (conn, config):
        try:
            report = registry.run(conn, name, given, config.office_reports)
        except ReportError as exc:
            raise click.ClickException(str(exc)) from None
        if chart is not None and report.chart is None:
            raise click.ClickException(f"report {report.name} has no chart; nothing written")
        currency = config.station.money
        if fmt == "xlsx":
            from office.reports import xlsx

            assert out is not None
            out.write_bytes(xlsx.workbook(report, currency))
        else:
            body = (render.table(report, currency) if fmt == "table"
                    else render.csv_text(report, currency) if fmt == "csv"
                    else render.json_text(report))
            if out is None:
                click.echo(body, nl=False)
            else:
                out.write_text(body, encoding="utf-8")
        if chart is not None:
            _chart(report, chart, currency)
        if out is not None or chart is not None:
            _record(name, given, fmt, len(report.rows), [p for p in (out, chart) if p])
            for path in (out, chart):
                if path is not None:
                    click.echo(f"wrote {path}", err=out is None)


def _chart(report: Any, path: Path, currency: Any) -> None:
    from office.reports import charts

    path.write_bytes(charts.draw(report, path.suffix.lower().lstrip("."), currency))


def _record(name: str, given: dict[str, str | None], fmt: str, rows: int, files: list[Path]
            ) -> None:
    from office.reports.runs import record

    record(name=name, params={k: v for k, v in given.items() if v}, fmt=fmt, rows=rows,
           actor=actor().removeprefix("cli:"), via="cli", file=", ".join(map(str, files)))


@click.command("reports")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def office_reports(as_json: bool) -> None:
    """List the reports, their options and dimensions."""
    from office.reports.registry import specs

    found = [{"name": s.name, "title": s.title, "about": s.about,
              "options": list(s.options), "per": list(s.per)} for s in specs().values()]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for s in found:
        click.echo(f"{s['name']:<16} {s['about']}")
        opts = " ".join(f"--{o}" for o in s["options"])
        click.echo(f"{'':<16} options: {opts}")
        if s["per"]:
            click.echo(f"{'':<16} --per {'|'.join(s['per'])}")


@click.group("rollups")
def office_rollups() -> None:
    """The daily roll-ups the dashboard reads (kept at ingest)."""


@office_rollups.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def rollups_show(ctx: click.Context, as_json: bool) -> None:
    """The time zone the roll-ups count days in, and whether it is the configured one."""
    from office.ledger import rollups

    with office_of(ctx) as (conn, config):
        held = rollups.zone(conn)
    wanted = config.office_reports.timezone
    if as_json:
        click.echo(json.dumps({"timezone": held, "configured": wanted,
                               "current": held == wanted}))
    elif held == wanted:
        click.echo(f"roll-ups count local days in {held}, as configured")
    else:
        click.echo(f"roll-ups count local days in {held}, but [office_reports] timezone is "
                   f"{wanted}: run `forecourt office rollups rebuild`")


@office_rollups.command("rebuild")
@click.pass_context
def rollups_rebuild(ctx: click.Context) -> None:
    """Count every stored sale again in [office_reports] timezone (one transaction)."""
    from office.ledger import rollups

    with office_of(ctx) as (conn, config):
        counts = rollups.rebuild(conn, config.office_reports.timezone)
    click.echo(f"roll-ups rebuilt in {config.office_reports.timezone}: "
               f"{counts['sales_daily']} day rows, {counts['card_monthly']} card-month rows")


@click.group("report-schedule")
def office_report_schedule() -> None:
    """The scheduled reports ([office_reports] daily, monthly, run_at, mail)."""


@office_report_schedule.command("run")
@click.argument("kind", type=click.Choice(("daily", "monthly")))
@click.option("--date", "day", help="Run as on this local day (YYYY-MM-DD; default today): "
              "daily covers the day before, monthly the month before.")
@click.pass_context
def report_schedule_run(ctx: click.Context, kind: str, day: str | None) -> None:
    """Write (and mail) the daily or monthly reports now, as the schedule would."""
    from datetime import UTC, date, datetime

    from office.reports.schedule import run_batch

    with office_of(ctx) as (conn, config):
        try:
            today = date.fromisoformat(day) if day else \
                datetime.now(UTC).astimezone(config.office_reports.tz).date()
        except ValueError:
            raise click.ClickException(f"--date must be a date like 2026-12-01, not {day!r}"
                                       ) from None
        names = getattr(config.office_reports, kind)
        if not names:
            raise click.ClickException(f"[office_reports] {kind} names no report; nothing to "
                                       "write")
        batch = run_batch(config, conn, kind, today,
                          actor=actor().removeprefix("cli:"))
    for path in batch.written:
        click.echo(f"wrote {path}")
    for name in batch.skipped:
        click.echo(f"{name}: already written for {batch.label}")
    if batch.mailed_to:
        click.echo(f"mailed to {', '.join(batch.mailed_to)}")
    for name, error in sorted(batch.failed.items()):
        click.echo(f"{name}: FAILED: {error}", err=True)
    if batch.failed:
        ctx.exit(1)
