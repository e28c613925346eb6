"""Shared pieces of the ``forecourt`` command line (used by cli.py and the office CLI)."""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import click

from core.bounds import escaped
from core.config import Config
from core.errors import ForecourtError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ForecourtGroup(click.Group):
    """Turns every expected failure into one sentence on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ForecourtError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"the database refused the operation: {exc}") from None
        except BrokenPipeError:
            # The reader of our output has gone (``forecourt status | head -1``): nothing
            # failed that it needs telling. Python's own flush at exit must not fail either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout.")(func)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        human(data)


def actor() -> str:
    """``cli:<user>``; a user name from the environment is escaped if it is no clean text."""
    try:
        return f"cli:{escaped(getpass.getuser(), 64)}"
    except (KeyError, OSError):
        return "cli:unknown"


def cfg(ctx: click.Context) -> Config:
    config: Config = ctx.obj["config"]
    return config
