"""``forecourt office web``: the web console (thin: options, then office.console.serve)."""

from __future__ import annotations

import click

from core.clikit import cfg


@click.command("web")
@click.option("--bind", metavar="ADDR:PORT",
              help="Listen here instead of [office] web_bind (e.g. 0.0.0.0:8000).")
@click.pass_context
def office_web(ctx: click.Context, bind: str | None) -> None:
    """Serve the web console (gunicorn; static files by whitenoise) until stopped."""
    from office.console.serve import serve

    config = cfg(ctx)
    address = bind or config.office.web_bind
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("must be ADDRESS:PORT, like 127.0.0.1:8000 or [::1]:8000",
                                 param_hint="--bind")
    serve(config, address)
