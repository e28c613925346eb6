"""``forecourt office cards issue|show|list|lost|stolen|withdraw|reissue|limit``: issuing
cards and their lifecycle from the command line (added to the ``office cards`` group
next to import, block, unblock, pin-reset and token)."""

from __future__ import annotations

from typing import Any

import click

from core.clikit import emit, json_option
from office.cli_customers import limit_options, limit_values, office_of, who

_STATUS = {"lost": "lost", "stolen": "stolen", "withdraw": "withdrawn"}


def _told(published: bool | None) -> str:
    return {True: "sent to every station",
            False: "the broker did not answer: stations get it when they next sync",
            None: "stations get it when they next sync"}[published]


@click.command("issue")
@click.option("--customer", required=True, help="The customer's id.")
@click.option("--kind", required=True, type=click.Choice(["rfid", "magstripe", "smart",
                                                          "digital"]))
@click.option("--card-id", "card_id", help="Default: the PAN, else the next K-000123.")
@click.option("--pan", help="The card number (8-19 digits).")
@click.option("--uid", "rfid_uid", help="The RFID tag's UID (hex).")
@click.option("--vehicle", help="Bind the card to this vehicle id.")
@click.option("--driver", help="The driver's name.")
@click.option("--expires", help="YYYY-MM-DD.")
@click.option("--product", "products", multiple=True, help="Only this product (repeat).")
@click.option("--from-stock", "stock", is_flag=True,
              help="Take the identifiers from the next blank card of this kind in stock.")
@json_option
@click.pass_context
def cards_issue(ctx: click.Context, /, as_json: bool, products: tuple[str, ...],
                **options: Any) -> None:
    """Issue a card to a customer; prints its card id."""
    values = {k: v for k, v in options.items() if v not in (None, False)}
    if products:
        values["products"] = list(products)
    with office_of(ctx) as (conn, config):
        from office.cards import service
        card, done = service.issue(conn, config, values, who())
        record = service.card_record(card)
    record["version"] = done.version
    emit(record, as_json, lambda r: click.echo(
        f"card {r['card_id']} issued to {r['customer']} (card master version "
        f"{done.version}): {_told(done.published)}"))


@click.command("show")
@click.argument("card")
@json_option
@click.pass_context
def cards_show(ctx: click.Context, card: str, as_json: bool) -> None:
    """One card (id, PAN, UID or token id): status, limits, wallets and balances."""
    with office_of(ctx) as (conn, _config):
        from office.cards import service
        record = service.card_record(service.get_card(conn, card))

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['card_id']}  {r['kind']}  {r['status']}  customer {r['customer']}"
                   + (f"  vehicle {r['vehicle']}" if r["vehicle"] else "")
                   + (f"  replaced by {r['replaced_by']}" if r["replaced_by"] else ""))
        for lim in r["limits"]:
            click.echo(f"  limit  {lim['period']} {lim['unit']} {lim['value']}"
                       + (f" ({', '.join(lim['products'])})" if lim["products"] else ""))
        for w in r["wallets"]:
            click.echo(f"  wallet {w['wallet_id']} {w['unit']} {w['balance']}")

    emit(record, as_json, human)


@click.command("list")
@click.option("--customer", help="Only this customer's cards.")
@click.option("--status", help="Only cards in this status.")
@json_option
@click.pass_context
def cards_list(ctx: click.Context, customer: str | None, status: str | None,
               as_json: bool) -> None:
    """Cards (newest issued first)."""
    with office_of(ctx) as (_conn, _config):
        from office.cards.models import Card
        query = Card.objects.order_by("-issued_at", "card_id")
        if customer:
            query = query.filter(customer_id=customer)
        if status:
            query = query.filter(status=status)
        rows = [{"card_id": c.card_id, "kind": c.kind, "status": c.status,
                 "customer": c.customer_id, "vehicle": c.vehicle_id, "pan": c.pan,
                 "rfid_uid": c.rfid_uid, "issued_at": c.issued_at} for c in query[:5000]]

    def human(data: list[dict[str, Any]]) -> None:
        for r in data:
            click.echo(f"{r['card_id']:<20} {r['kind']:<9} {r['status']:<9} "
                       f"{r['customer'] or '-'}")

    emit(rows, as_json, human)


def _status_command(name: str, status: str) -> click.Command:
    @click.command(name)
    @click.argument("card")
    @click.pass_context
    def command(ctx: click.Context, card: str) -> None:
        with office_of(ctx) as (_conn, config):
            from office.cards import service
            change = service.change_status(config, card, status, who())
        if not change.changed:
            click.echo(f"card {change.card_id} is already {status}; nothing changed")
            return
        click.echo(f"card {change.card_id} is now {status} (card master version "
                   f"{change.version}): {_told(change.published)}")

    command.help = f"Mark CARD {status} everywhere (it is refused at every station)."
    return command


@click.command("reissue")
@click.argument("card")
@click.option("--card-id", "card_id", help="The new card's id (default: its PAN, else next).")
@click.option("--kind", type=click.Choice(["rfid", "magstripe", "smart", "digital"]))
@click.option("--pan")
@click.option("--uid", "rfid_uid")
@click.option("--expires", help="YYYY-MM-DD.")
@click.option("--from-stock", "stock", is_flag=True)
@json_option
@click.pass_context
def cards_reissue(ctx: click.Context, /, card: str, as_json: bool, **options: Any) -> None:
    """A new card in place of CARD: limits, wallets and use so far move to it; CARD
    becomes 'replaced' everywhere. Prints the new card id."""
    values = {k: v for k, v in options.items() if v not in (None, False)}
    with office_of(ctx) as (conn, config):
        from office.cards import service
        new, done = service.reissue(conn, config, card, values, who())
        record = service.card_record(new)
    record["version"] = done.version
    emit(record, as_json, lambda r: click.echo(
        f"card {r['card_id']} replaces {r['replaces'][-1]} (card master version "
        f"{done.version}): {_told(done.published)}"))


@click.command("limit")
@click.argument("card")
@limit_options
@click.pass_context
def cards_limit(ctx: click.Context, /, *, card: str, period: str, unit: str,
                value: int | None, products: tuple[str, ...]) -> None:
    """Set or remove a limit of CARD (overrides its groups' limit of the same kind)."""
    with office_of(ctx) as (conn, config):
        from office.cards import service
        done = service.set_limit(conn, config, card,
                                 limit_values(period, unit, value, products), who())
    if done.version is None:
        click.echo(f"card {card}: that limit already stood so; nothing changed")
        return
    click.echo(f"card {card}: {period} {unit} limit "
               + ("removed" if value is None else str(value))
               + f" (card master version {done.version}): {_told(done.published)}")


def register(group: click.Group) -> None:
    """Add these commands to ``forecourt office cards``."""
    for command in (cards_issue, cards_show, cards_list, cards_reissue, cards_limit,
                    cards_rules, *(_status_command(n, s) for n, s in _STATUS.items())):
        group.add_command(command)


@click.command("rules")
@click.argument("card")
@click.option("--visits", "visits", multiple=True, metavar="PERIOD:COUNT",
              help="At most COUNT fills a day/week/month/year, e.g. day:2 (repeat).")
@click.option("--window", "windows", multiple=True, metavar="[DAYS] HH:MM-HH:MM",
              help="When the card may be used, e.g. 'mon-fri 06:00-22:00' (repeat; any "
                   "window matching allows).")
@click.option("--stations", help="Station ids where it may be used, comma-separated.")
@click.option("--station-groups", "station_groups",
              help="Station groups where it may be used, comma-separated.")
@click.option("--odometer-required/--no-odometer-required", default=None)
@click.option("--vehicle-binding/--no-vehicle-binding", default=None,
              help="Only for the card's own vehicle.")
@click.option("--clear", "clear", multiple=True,
              type=click.Choice(["visits", "time_windows", "stations", "station_groups"]),
              help="Remove this rule (repeat).")
@click.pass_context
def cards_rules(ctx: click.Context, /, *, card: str, visits: tuple[str, ...],
                windows: tuple[str, ...], stations: str | None, station_groups: str | None,
                odometer_required: bool | None, vehicle_binding: bool | None,
                clear: tuple[str, ...]) -> None:
    """Set a card's visit counts, time windows, stations, vehicle binding and odometer
    rule (each checked as every station checks it)."""
    from office.cli_rules import parse_visits, parse_windows

    values: dict[str, Any] = dict.fromkeys(clear)
    if visits:
        values["visits"] = parse_visits(visits)
    if windows:
        values["time_windows"] = parse_windows(windows)
    for key, text in (("stations", stations), ("station_groups", station_groups)):
        if text is not None:
            values[key] = [s.strip() for s in text.split(",") if s.strip()] or None
    for key, flag in (("odometer_required", odometer_required),
                      ("vehicle_binding", vehicle_binding)):
        if flag is not None:
            values[key] = flag
    if not values:
        raise click.UsageError("say which rule to set (see --help)")
    with office_of(ctx) as (conn, config):
        from office.cards import service

        done = service.set_rules(conn, config, card, values, who())
    click.echo(f"card {card}: rules unchanged" if done.version is None else
               f"card {card}: rules set (card master version {done.version}): "
               f"{_told(done.published)}")
