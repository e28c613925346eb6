"""``forecourt office wallets add|topup|adjust|show``: prepaid balances of cards, in money
or litres; every top-up and adjustment is a ledger entry with who, when and why."""

from __future__ import annotations

from typing import Any

import click

from core.clikit import emit, json_option
from office.cli_customers import office_of, who


@click.group("wallets")
def office_wallets() -> None:
    """Wallets: balances netted across every station, top-ups and adjustments."""


@office_wallets.command("add")
@click.argument("card")
@click.option("--unit", required=True, type=click.Choice(["money", "volume"]))
@click.option("--balance", type=int, default=0, show_default=True,
              help="Opening balance: minor units (money) or ml (volume).")
@click.option("--product", "products", multiple=True, help="Only for this product (repeat).")
@click.option("--expires", help="YYYY-MM-DD.")
@click.option("--wallet-id", "wallet_id", help="Default: the next W-000123.")
@json_option
@click.pass_context
def wallets_add(ctx: click.Context, /, card: str, as_json: bool, products: tuple[str, ...],
                **options: Any) -> None:
    """Open a wallet on CARD; prints its wallet id."""
    values = {k: v for k, v in options.items() if v is not None}
    if products:
        values["products"] = list(products)
    with office_of(ctx) as (conn, config):
        from office.cards import service
        wallet, done = service.add_wallet(conn, config, card, values, who())
        record = service.wallet_record(wallet.wallet_id)
    record["version"] = done.version
    emit(record, as_json, lambda r: click.echo(
        f"wallet {r['wallet_id']} opened on card {r['card']} with {r['balance']}"))


def _post(ctx: click.Context, wallet_id: str, amount: int, reason: str, kind: str) -> None:
    with office_of(ctx) as (conn, config):
        from office.cards import service
        before, after, done = service.post(conn, config, wallet_id, amount, who(), kind=kind,
                                           reason=reason)
    click.echo(f"wallet {wallet_id}: {before} -> {after}"
               + (f" (card master version {done.version})" if done.version else ""))


@office_wallets.command("topup")
@click.argument("wallet_id")
@click.argument("amount", type=int)
@click.option("--reason", default="", help="Why (a receipt number, a payment).")
@click.pass_context
def wallets_topup(ctx: click.Context, wallet_id: str, amount: int, reason: str) -> None:
    """Put AMOUNT (minor units or ml, positive) on a wallet."""
    _post(ctx, wallet_id, amount, reason, "topup")


@office_wallets.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("wallet_id")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why the balance is corrected.")
@click.pass_context
def wallets_adjust(ctx: click.Context, wallet_id: str, amount: int, reason: str) -> None:
    """Correct a wallet by AMOUNT (either sign), with a reason."""
    _post(ctx, wallet_id, amount, reason, "adjustment")


@office_wallets.command("show")
@click.argument("wallet_id")
@json_option
@click.pass_context
def wallets_show(ctx: click.Context, wallet_id: str, as_json: bool) -> None:
    """A wallet: its balance (every station's debits netted), entries and debits."""
    with office_of(ctx) as (_conn, _config):
        from office.cards import service
        record = service.wallet_record(wallet_id)

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['wallet_id']}  card {r['card']}  {r['unit']}  balance {r['balance']}"
                   + ("  OVERDRAWN (offline sales beyond the balance)" if r["balance"] < 0
                      else ""))
        for e in r["entries"]:
            click.echo(f"  {e['at'][:19]}  {e['kind']:<10} {e['value']:>14}  {e['actor']}  "
                       f"{e['reason']}")
        for d in r["debits"]:
            click.echo(f"  {d['completed_at'][:19]}  sale       {-d['value']:>14}  "
                       f"{d['station_id']} #{d['seq']}")

    emit(record, as_json, human)


@office_wallets.command("overdrawn")
@json_option
@click.pass_context
def wallets_overdrawn(ctx: click.Context, as_json: bool) -> None:
    """Wallets below zero (stations offline sold beyond the balance), worst first."""
    with office_of(ctx) as (_conn, _config):
        from office.cards import service

        rows = service.overdrawn_wallets()

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no wallet is overdrawn")
        for r in data:
            click.echo(f"{r['wallet_id']:<12} {r['balance']:>14} {r['unit']:<6} card "
                       f"{r['card']}  customer {r['customer'] or '-'}")

    emit(rows, as_json, human)
