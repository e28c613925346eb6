"""``forecourt office ...``: head-office commands (thin: parse, call, print)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from cloud_sync import tokens
from cloud_sync.office_store import init_office
from edge.clikit import cfg
from edge.config import parse_duration
from edge.keys import OFFICE_KEY, load_private_key, public_text
from offline_db.connection import utc_now


@click.group()
def office() -> None:
    """The head office: keys, stations, cards, sync."""


@office.command("init")
@click.pass_context
def office_init(ctx: click.Context) -> None:
    """Create the head-office data directory, its store and its Ed25519 signing key."""
    data_dir = cfg(ctx).office.data_dir
    if (data_dir / f"{OFFICE_KEY}.pem").exists():
        load_private_key(data_dir, OFFICE_KEY)
    applied, pub = init_office(data_dir)
    if not applied and pub is None:
        click.echo(f"head office already initialized in {data_dir}; nothing changed")
        return
    click.echo(f"initialized the head office in {data_dir}")
    key = load_private_key(data_dir, OFFICE_KEY)
    click.echo(f"  office public key (put it in each station's [station] office_public_key): "
               f"{public_text(key)}")


@office.group("keys")
def office_keys() -> None:
    """The head office's signing key."""


@office_keys.command("show")
@click.pass_context
def office_keys_show(ctx: click.Context) -> None:
    """Print the office public key alone (for station configurations)."""
    click.echo(public_text(load_private_key(cfg(ctx).office.data_dir, OFFICE_KEY)))


@office.group("cards")
def office_cards() -> None:
    """Card master data and digital cards."""


@office_cards.command("token")
@click.argument("card")
@click.option("--valid", default="10m", show_default=True,
              help="How long the token is valid: 90s, 10m, 24h, 7d.")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the token as a QR code image to this PNG file.")
@click.pass_context
def office_cards_token(ctx: click.Context, card: str, valid: str, png: Path | None) -> None:
    """Issue a signed digital-card token for CARD (shown as a QR code on a phone)."""
    try:
        seconds = parse_duration(valid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--valid") from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than zero", param_hint="--valid")
    key = load_private_key(cfg(ctx).office.data_dir, OFFICE_KEY)
    token = tokens.issue(key, card, utc_now() + timedelta(seconds=seconds))
    click.echo(token)
    if png is not None:
        import segno

        tmp = png.with_name(png.name + ".tmp")
        segno.make(token, error="m").save(str(tmp), kind="png", scale=8, border=4)
        tmp.replace(png)
        click.echo(f"QR code written to {png}", err=True)
