"""``forecourt office customers list|duplicates|merge``: finding people, candidate
duplicates and merging them from the command line (thin: parse, call
office.customers.find / duplicates / merge, print). Added to the ``office customers``
group of office/cli_customers.py by :func:`register`."""

from __future__ import annotations

from typing import Any

import click

from core.clikit import emit, json_option
from office.cli_customers import office_of, who

_WHEN = "90d (days ago), YYYY-MM-DD (the office's time zone) or an ISO time"


@click.command("list")
@click.option("--search", "text", help="Name, phone, e-mail, plate, card number or customer "
              "code, however typed (typos and accents forgiven); best match first.")
@click.option("--category", help="Only this category (vip, regular, business, new, ...).")
@click.option("--group", help="Only members of this customer group.")
@click.option("--region", help="Only this region (as written in the records).")
@click.option("--consent", type=click.Choice(["sms", "email", "whatsapp"]),
              help="Only customers whose consent on this channel stands given.")
@click.option("--last-sale-before", "last_sale_before",
              help=f"No sale at or after this time: {_WHEN}.")
@click.option("--last-sale-after", "last_sale_after",
              help=f"A sale at or after this time: {_WHEN}.")
@click.option("--turnover-min", "turnover_min", type=int,
              help="Turnover of at least this many minor units (100000 = 1,000.00).")
@click.option("--turnover-max", "turnover_max", type=int,
              help="Turnover of at most this many minor units.")
@click.option("--turnover-since", "turnover_since",
              help=f"Start of the turnover window (default: 365d): {_WHEN}.")
@click.option("--balance-min", "balance_min", type=int,
              help="Wallet balance of at least this (minor units, or ml with "
                   "--balance-unit volume).")
@click.option("--balance-max", "balance_max", type=int, help="Wallet balance of at most this.")
@click.option("--balance-unit", "balance_unit", type=click.Choice(["money", "volume"]),
              help="Which wallets the balance sums (default money).")
@click.option("--include-closed", "include_closed", is_flag=True,
              help="List closed and merged customers too.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@click.pass_context
def customers_list(ctx: click.Context, /, text: str | None, limit: int, as_json: bool,
                   **options: Any) -> None:
    """Find customers: a search, filters, or both (combinable)."""
    with office_of(ctx) as (_conn, config):
        from office.customers import filters
        from office.customers.find import find
        chosen = filters.clean(options, config.station.tz)
        rows = find(text, chosen, limit=limit)
    money = config.station.money

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            click.echo("no customer found")
        for r in items:
            score = f"{r['score']:5.1f} {r['match']:<5}  " if "score" in r else ""
            balance = "" if r["balance"] is None else (
                f"  balance {money.money(r['balance'])}" if chosen.balance_unit == "money"
                else f"  balance {r['balance']} ml")
            state = "  MERGED into " + r["merged_into"] if r["merged_into"] else (
                "  CLOSED" if r["closed_at"] else "")
            click.echo(f"{score}{r['customer_id']:<10} {r['name']}  "
                       f"({r['category'] or '-'}, {r['region'] or '-'})  last sale "
                       f"{(r['last_sale'] or 'never')[:10]}  turnover "
                       f"{money.money(r['turnover'])}{balance}{state}")

    emit(rows, as_json, human)


@click.command("duplicates")
@click.option("--min-score", "min_score", type=click.FloatRange(50, 100), default=88.0,
              show_default=True, help="How alike two names must be (0-100, word order "
              "ignored).")
@click.option("--limit", type=click.IntRange(1), help="Show at most this many candidates.")
@json_option
@click.pass_context
def customers_duplicates(ctx: click.Context, min_score: float, limit: int | None,
                         as_json: bool) -> None:
    """Candidate duplicates: the same phone, the same e-mail, or a similar name."""
    with office_of(ctx) as (_conn, _config):
        from office.customers.duplicates import duplicates
        found = duplicates(min_score=min_score, limit=limit)

    def human(items: list[dict[str, Any]]) -> None:
        if not items:
            click.echo("no candidate duplicates")
        for item in items:
            reasons = ", ".join(
                f"same {r['reason']} {r['value']}" if "value" in r
                else f"similar names ({r['score']:.0f})" for r in item["reasons"])
            click.echo(" | ".join(f"{c} {n}" for c, n in zip(item["customer_ids"],
                                                              item["names"], strict=True))
                       + f"   <- {reasons}")

    emit(found, as_json, human)


def _plan_text(plan: dict[str, Any]) -> list[str]:
    lines = []
    for key, label in (("cards", "cards"), ("wallets", "wallets"), ("vehicles", "vehicles"),
                       ("groups", "joins groups"), ("members", "company members"),
                       ("phones", "phones added"), ("emails", "e-mails added"),
                       ("addresses", "addresses added")):
        if plan[key]:
            lines.append(f"  {label}: {', '.join(plan[key])}")
    if plan["sales"]:
        lines.append(f"  sales (with their cards): {plan['sales']}")
    if plan["consent_events"]:
        lines.append(f"  consent events: {plan['consent_events']} (standing: "
                     + ", ".join(f"{ch} {'yes' if v else 'no'}"
                                 for ch, v in plan["consent"].items()) + ")")
    for name, value in plan["fields"].items():
        lines.append(f"  {name}: {value} (was empty)")
    return lines or ["  nothing but the record itself"]


@click.command("merge")
@click.argument("keep")
@click.argument("other")
@click.option("--preview", is_flag=True, help="Show what would move; change nothing.")
@json_option
@click.pass_context
def customers_merge(ctx: click.Context, keep: str, other: str, preview: bool,
                    as_json: bool) -> None:
    """Merge customer OTHER into KEEP: cards (with wallets and history), vehicles, consent,
    groups and contacts move to KEEP; OTHER is closed as merged into KEEP."""
    with office_of(ctx) as (conn, config):
        from office.customers import merge
        done = (merge.preview(keep, other) if preview
                else merge.merge(conn, config, keep, other, who()))

    def human(plan: dict[str, Any]) -> None:
        click.echo(f"{'would merge' if preview else 'merged'} {other} into {keep}:")
        click.echo("\n".join(_plan_text(plan)))
        if preview:
            click.echo("preview only: nothing changed")
        elif plan["version"] is not None:
            click.echo(f"card master version {plan['version']}: " + {
                True: "sent to every station",
                False: "the broker did not answer: stations get it when they next sync",
                None: "stations get it when they next sync"}[plan["published"]])

    emit(done, as_json, human)


def register(group: click.Group) -> None:
    """Add these commands to ``forecourt office customers``."""
    for command in (customers_list, customers_duplicates, customers_merge):
        group.add_command(command)
