"""``forecourt report shift|day``: the operator's shift and day reports.

The shift report is read at any time (the shift stays open); ``--close`` ends the
shift at the hand-over: the close time, the Unix user and the pumps' totalizers are
recorded (through the daemon, which reads the pump lines), and the closed shift's
report is printed. ``--number N`` prints closed shift N again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from core.clikit import cfg
from core.timefmt import utc_now
from edge.cli.common import change, reader
from edge.report_format import FORMATS, render
from edge.reports import Plan, build_report, day_plan, live_readings, parse_day, shift_plan


def format_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                        help="text (the printable table, default), json or csv.")(func)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout (as --format json).")(func)


def _print(ctx: click.Context, plan_of: Callable[[Any, datetime], Plan], as_json: bool,
           fmt: str | None) -> None:
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} ask for two formats; give one")
    config = cfg(ctx)
    now = utc_now()
    with reader(ctx) as conn:
        plan = plan_of(conn, now)
        live = live_readings(config) if plan.needs_live else None
        data = build_report(conn, config, plan, now, live)
    click.echo(render(data, "json" if as_json else fmt or "text", config.station.money),
               nl=False)


@click.group()
def report() -> None:
    """Shift and day reports: sales, refusals, totalizers (printable; JSON; CSV)."""


@report.command("shift")
@click.option("--close", is_flag=True,
              help="Close the open shift (hand-over): record the time, your user name and "
                   "the pumps' totalizers, then print the closed shift's report.")
@click.option("--number", type=click.IntRange(min=1), help="Print closed shift NUMBER again.")
@format_options
@click.pass_context
def report_shift(ctx: click.Context, close: bool, number: int | None, as_json: bool,
                 fmt: str | None) -> None:
    """The open shift's report (it stays open), or with --close the end-of-shift report."""
    if close and number is not None:
        raise click.UsageError("--close closes the open shift; --number prints a closed one: "
                               "give one of them")
    if close:
        number = change(ctx, "shift.close", {})["shift_no"]
    _print(ctx, lambda conn, now: shift_plan(conn, now, number), as_json, fmt)


@report.command("day")
@click.option("--date", "day", help="The local calendar day, YYYY-MM-DD (default: today).")
@format_options
@click.pass_context
def report_day(ctx: click.Context, day: str | None, as_json: bool, fmt: str | None) -> None:
    """The report of a calendar day in the station's time zone (midnight to midnight)."""
    config = cfg(ctx)
    when = parse_day(day) if day is not None else \
        utc_now().astimezone(config.station.tz).date()
    _print(ctx, lambda conn, now: day_plan(conn, config, when, now), as_json, fmt)
