"""``forecourt pump|sim|readers ...``: commands for pump lines and card readers."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from cloud_sync import tokens
from core.clikit import actor, cfg, emit, json_option
from core.display import pump_line, reader_event
from core.inputs import COUNT
from core.keys import configured_office_key
from core.timefmt import utc_now
from drivers.dart.capture import CaptureError, decode_capture, parse_hex
from edge.control import DaemonNotRunning, call


@click.group()
def pump() -> None:
    """Pump lines: diagnostics for technicians."""


@pump.command("decode")
@click.argument("hex_frames", nargs=-1)
@click.option("--direction", type=click.Choice(["auto", "controller", "pump"]), default="auto",
              show_default=True, help="Who sent the DATA frames.")
@click.option("--crc", type=click.Choice(["arc", "ccitt"]), default="arc", show_default=True)
def pump_decode(hex_frames: tuple[str, ...], direction: str, crc: str) -> None:
    """Decode a hex capture of a DART line: one JSON object per frame.

    HEX_FRAMES are frames (spaces optional); without them, hex is read from stdin,
    one frame or stream per line.
    """
    lines = list(hex_frames) if hex_frames else [ln for ln in sys.stdin if ln.strip()]
    data = bytearray()
    for number, text in enumerate(lines, 1):
        try:
            data += parse_hex(text)
        except CaptureError as exc:
            raise click.ClickException(f"line {number}: {exc}") from None
    # One stream: frames delimit themselves, and a POLL on one line tells who sent
    # the DATA frame on the next.
    for frame in decode_capture(bytes(data), crc=crc, direction=direction):
        click.echo(json.dumps(frame))


@pump.command("status")
@json_option
@click.pass_context
def pump_status(ctx: click.Context, as_json: bool) -> None:
    """Show every pump on the lines as the running daemon sees it."""
    try:
        rows = call(cfg(ctx).station.socket_path, "pump.status", {}, actor=actor(), timeout=10)
    except DaemonNotRunning:
        raise click.ClickException("the daemon is not running (forecourt run)") from None

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no pump lines configured")
        for r in data:
            click.echo(pump_line(r))

    emit(rows, as_json, human)


@click.group()
def sim() -> None:
    """Simulators for tests, demos and training."""


@sim.command("pumps")
@click.option("--pumps", "count", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--nozzles", type=click.IntRange(1, 15), default=3, show_default=True)
@click.option("--port", help="Serial port or URL to serve on (default: a new pty).")
@click.option("--link", type=click.Path(path_type=Path), help="Make a symlink to the pty here.")
@click.option("--flow", type=float, default=500.0, show_default=True,
              help="Flow rate in ml per second.")
def sim_pumps(count: int, nozzles: int, port: str | None, link: Path | None,
              flow: float) -> None:
    """Run DART pumps at addresses 0x50.. on a pty (or PORT) until stopped.

    Commands on stdin: lift PUMP NOZZLE | hang PUMP | fault PUMP drop|corrupt|silent|
    echo|late MS|restart|forget | status | quit.
    """
    from drivers.dart.simulator import run_console

    run_console(count=count, nozzles=nozzles, port=port, link=link, flow_ml_s=flow)


@click.group()
def readers() -> None:
    """Card readers: configuration, state, live reads, decoding."""


@readers.command("list")
@json_option
@click.pass_context
def readers_list(ctx: click.Context, as_json: bool) -> None:
    """List the configured readers and their state (live when the daemon runs)."""
    config = cfg(ctx)
    try:
        rows = call(config.station.socket_path, "readers.status", {}, actor=actor(), timeout=10)
    except DaemonNotRunning:
        rows = [{"reader": r.id, "driver": r.driver, "device": r.device, "pump": r.pump,
                 "state": "daemon not running", "error": None, "reads": 0, "failures": 0}
                for r in config.readers]

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no readers configured")
        for r in data:
            where = f"pump {r['pump']}" if r["pump"] else "desk"
            click.echo(f"{r['reader']:<16} {r['driver']:<17} {where:<8} {r['state']:<12} "
                       f"{r['device']}{'  ' + r['error'] if r.get('error') else ''}")

    emit(rows, as_json, human)


@readers.command("watch")
@click.option("--count", type=COUNT, help="Stop after this many reads.")
@json_option
@click.pass_context
def readers_watch(ctx: click.Context, count: int | None, as_json: bool) -> None:
    """Print card reads live, as the daemon sees them (Ctrl-C to stop).

    One line per read (reader, pump, card, decision); --json: one JSON object per line.
    """
    path = cfg(ctx).station.socket_path
    try:
        after = call(path, "readers.events", {"after": 0}, actor=actor())["last"]
    except DaemonNotRunning:
        raise click.ClickException("the daemon is not running (forecourt run)") from None
    seen = 0
    try:
        while count is None or seen < count:
            batch = call(path, "readers.events", {"after": after}, actor=actor())
            for event in batch["events"]:
                click.echo(json.dumps(event) if as_json else reader_event(event))
                seen += 1
            after = batch["last"]
            time.sleep(0.3)
    except KeyboardInterrupt:
        pass
    except DaemonNotRunning:
        raise click.ClickException("the daemon stopped") from None


@readers.command("decode")
@click.option("--kind", type=click.Choice(["magstripe", "qr"]), required=True)
@click.argument("text")
@json_option
@click.pass_context
def readers_decode(ctx: click.Context, kind: str, text: str, as_json: bool) -> None:
    """Show what a swipe or a QR scan decodes to (exit 1 with the reason if it does not)."""
    if kind == "magstripe":
        from drivers.readers.magstripe import swipe_json
        from drivers.readers.track import SwipeError

        try:
            data = swipe_json(text)
        except SwipeError as exc:
            raise click.ClickException(f"swipe_malformed: {exc}") from None
    else:
        office_key = configured_office_key(cfg(ctx))
        if office_key is None:
            raise click.ClickException("no office public key is configured "
                                       "([station] office_public_key)")
        try:
            claims = tokens.verify(text, office_key, utc_now())
        except tokens.TokenError as exc:
            raise click.ClickException(f"{exc.reason}: {exc}") from None
        data = {"card_id": claims.card_id, "expires": claims.expires.isoformat(),
                "nonce": claims.nonce}

    def human(d: dict[str, Any]) -> None:
        for key, value in d.items():
            # A field the card leaves absent (a swipe without expiry) shows as "-".
            shown = "-" if value is None else \
                ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{key:<14} {shown}")

    emit(data, as_json, human)
