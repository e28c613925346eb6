"""``forecourt``: the one console script. Mounts the station's command groups
(``edge.cli``), the head office's (``office.cli``, imported only when an office
command runs, so a station command never loads the office's code or its extras) and
``forecourt demo`` (``demo.cli``, loaded the same way).
"""

from __future__ import annotations

import importlib
import sys

import click

from core import logs
from core.clikit import CONTEXT_SETTINGS, ForecourtGroup
from core.config import load_config
from core.errors import ForecourtError
from edge.cli.station import COMMANDS

#: Command groups loaded on first use: name -> (module, attribute, short help).
LAZY = {"office": ("office.cli", "office", "The head office: stations, cards, sync, console."),
        "demo": ("demo.cli", "demo", "The whole system on this machine, in one command.")}


class RootGroup(ForecourtGroup):
    """The root group: the station's commands, and the office's loaded lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY:
            module, attribute, short_help = LAZY[name]
            if ctx.meta.get("forecourt.listing"):  # ``forecourt --help``: no import
                return click.Command(name, short_help=short_help)
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta["forecourt.listing"] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta["forecourt.listing"] = False


@click.group(cls=RootGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="forecourt")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (else $FORECOURT_CONFIG, ./config.toml, "
                   "/etc/forecourt/config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """forecourt: fuel station back room and head office."""
    try:
        config = load_config(config_path)
    except ForecourtError as exc:
        raise click.ClickException(str(exc)) from None
    if ctx.invoked_subcommand == "run":
        logs.configure(config.logging.level, config.logging.format, sys.stdout)
    else:  # a command's own output is on stdout; only warnings and errors go to stderr
        level = config.logging.level if config.logging.level in ("warning", "error") \
            else "warning"
        logs.configure(level, config.logging.format, sys.stderr)
    ctx.obj = {"config": config}




for command in COMMANDS:
    main.add_command(command)


if __name__ == "__main__":
    main()
