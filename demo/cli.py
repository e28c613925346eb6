"""``forecourt demo``: the command (thin: options, then demo.run)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from demo.run import Options, run


@click.command("demo")
@click.option("--sales", "count", type=click.IntRange(1, 200), default=6, show_default=True,
              help="How many sales to make (they alternate between pumps 1 and 2).")
@click.option("--keep", is_flag=True,
              help="Keep the office, its console and the station running after the "
                   "summary, until Ctrl-C.")
@click.option("--no-mqtt", "no_mqtt", is_flag=True,
              help="No broker: carry the sales to the office on a flash drive (also what "
                   "happens when mosquitto is not installed).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Put the office, the station and the logs in this new or empty folder "
                   "and keep it (default: a temporary folder, removed after a success).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document on stdout at the end (the summary, the "
                   "console, the processes); the live view goes to stderr.")
def demo(count: int, keep: bool, no_mqtt: bool, directory: Path | None,
         as_json: bool) -> None:
    """Show the whole system on this machine: a head office with its web console, a
    station with two simulated DART pumps and four card readers (a magstripe swipe, an
    NFC tag, QR tokens), sales flowing to the office over a private mosquitto (or on a
    flash drive), and a summary proving each sale reached the office exactly once.

    Everything it starts is stopped at the end, on an error and on Ctrl-C.
    """
    progress = sys.stderr if as_json else sys.stdout
    result = run(Options(sales=count, keep=keep, mqtt=not no_mqtt, directory=directory),
                 progress)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    if result["interrupted"]:
        name = result["interrupted"]
        click.echo(f"the demo was stopped by {name} before its end; everything it started "
                   "is stopped", err=True)
        sys.exit(128 + signal.Signals[name].value)
