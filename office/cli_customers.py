"""``forecourt office customers|vehicles|groups ...``: the office's customer records from
the command line (thin: parse, call office.customers.service, print). Every change is
audited with the Unix user who ran the command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from core.clikit import actor, cfg, emit, json_option
from core.config import Config
from office.access.audit import cli_actor
from office.customers.errors import RecordRefused
from office.store import OfficeConnection, open_office


def who() -> Any:
    from office.customers.service import Who

    return Who(cli_actor(actor()), "cli")


@contextmanager
def office_of(ctx: click.Context) -> Iterator[tuple[OfficeConnection, Config]]:
    """The office store (closed afterwards) and the configuration; a refused change is
    one sentence and exit status 1."""
    config: Config = cfg(ctx)
    conn = open_office(config)
    try:
        yield conn, config
    except RecordRefused as exc:
        raise click.ClickException(f"{exc}; nothing changed") from None
    finally:
        conn.close()


def _values(**options: Any) -> dict[str, Any]:
    """The options given (None: not given)."""
    return {k: v for k, v in options.items() if v is not None}


def _several(values: tuple[str, ...]) -> list[str] | None:
    return list(values) if values else None


def customer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--name"), click.option("--kind", type=click.Choice(["person", "company"])),
        click.option("--phone", "phones", multiple=True, help="Repeat for several."),
        click.option("--email", "emails", multiple=True, help="Repeat for several."),
        click.option("--address", "addresses", multiple=True, help="Repeat for several."),
        click.option("--birthday", help="YYYY-MM-DD."),
        click.option("--company", help="The company (fleet) customer this person belongs to."),
        click.option("--category", help="vip, regular, business, new, ... (an editable list)."),
        click.option("--payment-terms", "payment_terms",
                     type=click.Choice(["prepaid", "credit"])),
        click.option("--credit-limit", "credit_limit", type=int,
                     help="Minor units (credit customers)."),
        click.option("--preferred-channel", "preferred_channel",
                     type=click.Choice(["none", "phone", "sms", "email", "whatsapp"])),
        click.option("--notes"), click.option("--region"), click.option("--occupation"),
    ]):
        func = option(func)
    return func


def limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a limit: period, unit, value (none: remove it), products."""
    for option in reversed([
        click.option("--period", required=True,
                     type=click.Choice(["fill", "day", "week", "month", "year"])),
        click.option("--unit", required=True, type=click.Choice(["volume", "money"])),
        click.option("--value", type=int,
                     help="ml or minor units; leave out to remove the limit."),
        click.option("--product", "products", multiple=True,
                     help="Only this product (repeat)."),
    ]):
        func = option(func)
    return func


def limit_values(period: str, unit: str, value: int | None, products: tuple[str, ...]
                 ) -> dict[str, Any]:
    return {"period": period, "unit": unit, "value": value,
            "products": list(products) or None}


def _customer_values(options: dict[str, Any]) -> dict[str, Any]:
    for key in ("phones", "emails", "addresses"):
        options[key] = _several(options.get(key) or ())
    return _values(**options)


@click.group("customers")
def office_customers() -> None:
    """Customers: people and companies, their contacts, consent and groups."""


@office_customers.command("add")
@customer_options
@click.option("--customer-id", "customer_id", help="Default: the next C-000123.")
@click.option("--group", "groups", multiple=True, help="A customer group to join (repeat).")
@json_option
@click.pass_context
def customers_add(ctx: click.Context, /, as_json: bool, groups: tuple[str, ...],
                  **options: Any) -> None:
    """Add a customer (--name is required); prints its customer id."""
    values = _customer_values(options)
    if groups:
        values["groups"] = list(groups)
    with office_of(ctx) as (conn, _config):
        from office.customers import service
        customer = service.add_customer(conn, values, who())
        record = service.customer_record(customer)
    emit(record, as_json, lambda r: click.echo(f"customer {r['customer_id']} added: "
                                               f"{r['name']}"))


@office_customers.command("edit")
@click.argument("customer_id")
@customer_options
@json_option
@click.pass_context
def customers_edit(ctx: click.Context, /, customer_id: str, as_json: bool, **options: Any
                   ) -> None:
    """Change a customer's fields (only the options given)."""
    values = _customer_values(options)
    with office_of(ctx) as (conn, config):
        from office.customers import service
        old, new = service.edit_customer(conn, customer_id, values, who(), config)
    changed = sorted(k for k in new if new[k] != old[k] and k not in ("modified_at",
                                                                       "modified_by"))

    def human(_: Any) -> None:
        click.echo(f"customer {customer_id}: changed {', '.join(changed)}" if changed
                   else f"customer {customer_id}: nothing changed")

    emit(new, as_json, human)


@office_customers.command("show")
@click.argument("customer_id")
@json_option
@click.pass_context
def customers_show(ctx: click.Context, customer_id: str, as_json: bool) -> None:
    """One customer: contacts, consent, groups, vehicles, cards and wallets."""
    with office_of(ctx) as (_conn, config):
        from office.customers import profile
        data = profile.profile(customer_id, config)
    emit(data, as_json, lambda d: click.echo(profile.text(d, config)))


@office_customers.command("consent")
@click.argument("customer_id")
@click.argument("channel", type=click.Choice(["sms", "email", "whatsapp"]))
@click.argument("state", type=click.Choice(["given", "withdrawn"]))
@click.option("--source", required=True,
              help="How it was given or withdrawn: 'paper form', 'phone call', ...")
@click.pass_context
def customers_consent(ctx: click.Context, customer_id: str, channel: str, state: str,
                      source: str) -> None:
    """Record marketing consent given or withdrawn on a channel (kept as a history)."""
    with office_of(ctx) as (conn, _config):
        from office.customers import service
        changed = service.set_consent(conn, customer_id, channel, given=state == "given",
                                      source=source, who=who())
    click.echo(f"customer {customer_id}: {channel} consent {state}" if changed else
               f"customer {customer_id}: {channel} consent was already {state}; "
               "nothing changed")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


# -- vehicles ----------------------------------------------------------------------------

def vehicle_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--plate"), click.option("--customer"),
        click.option("--type", "vehicle_type",
                     type=click.Choice(["car", "van", "truck", "bus", "motorcycle", "tractor",
                                        "other"])),
        click.option("--fuel", help="A product code."),
        click.option("--tank", "tank_capacity_ml", type=int, help="Tank capacity, ml."),
        click.option("--notes"),
    ]):
        func = option(func)
    return func


@click.group("vehicles")
def office_vehicles() -> None:
    """Vehicles: plates, type, fuel, tank; odometer readings from their sales."""


@office_vehicles.command("add")
@vehicle_options
@click.option("--vehicle-id", "vehicle_id", help="Default: the next V-000123.")
@json_option
@click.pass_context
def vehicles_add(ctx: click.Context, /, as_json: bool, **options: Any) -> None:
    """Add a vehicle (--plate is required); prints its vehicle id."""
    with office_of(ctx) as (conn, _config):
        from office.customers import service
        record = service.vehicle_record(service.add_vehicle(conn, _values(**options), who()))
    emit(record, as_json, lambda r: click.echo(f"vehicle {r['vehicle_id']} added: "
                                               f"{r['plate']}"))


@office_vehicles.command("edit")
@click.argument("vehicle_id")
@vehicle_options
@json_option
@click.pass_context
def vehicles_edit(ctx: click.Context, /, vehicle_id: str, as_json: bool, **options: Any
                  ) -> None:
    """Change a vehicle's fields (only the options given)."""
    with office_of(ctx) as (conn, _config):
        from office.customers import service
        old, new = service.edit_vehicle(conn, vehicle_id, _values(**options), who())
    emit(new, as_json, lambda _r: click.echo(
        f"vehicle {vehicle_id}: {'changed' if old != new else 'nothing changed'}"))


@office_vehicles.command("show")
@click.argument("vehicle_id")
@json_option
@click.pass_context
def vehicles_show(ctx: click.Context, vehicle_id: str, as_json: bool) -> None:
    """One vehicle, its cards and its odometer readings (from sales)."""
    with office_of(ctx) as (_conn, _config):
        from office.customers import service
        record = service.vehicle_record(service.get_vehicle(vehicle_id))
        record["odometer"] = service.odometer_readings(vehicle_id)

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['vehicle_id']}  {r['plate']}  {r['vehicle_type']}  customer "
                   f"{r['customer'] or '-'}  cards {', '.join(r['cards']) or '-'}")
        for o in r["odometer"]:
            click.echo(f"  {o['completed_at'][:19]}  {o['odometer_km']:>9} km  "
                       f"{o['station_id']}  {o['odometer_flag'] or ''}")

    emit(record, as_json, human)


# -- customer groups ---------------------------------------------------------------------

@click.group("groups")
def office_customer_groups() -> None:
    """Customer groups (fleets, VIP, wholesale, regional): their limits and rules are
    inherited by their members' cards. (Console users' roles: ``office roles``.)"""


@office_customer_groups.command("add")
@click.argument("group_id")
@click.option("--name")
@click.option("--kind", type=click.Choice(["fleet", "vip", "wholesale", "regional", "other"]))
@click.option("--products", help="Products the members' cards may buy, comma-separated.")
@json_option
@click.pass_context
def groups_add(ctx: click.Context, /, *, group_id: str, name: str | None, kind: str | None,
               products: str | None, as_json: bool) -> None:
    """Add a customer group."""
    values = _values(group_id=group_id, name=name, kind=kind)
    if products is not None:
        values["rules"] = {"products": products}
    with office_of(ctx) as (conn, _config):
        from office.customers import service
        record = service.group_record(service.add_group(conn, values, who()))
    emit(record, as_json, lambda r: click.echo(f"group {r['group_id']} added"))


@office_customer_groups.command("show")
@click.argument("group_id")
@json_option
@click.pass_context
def groups_show(ctx: click.Context, group_id: str, as_json: bool) -> None:
    """A group: its rules, limits and members."""
    with office_of(ctx) as (_conn, _config):
        from office.customers import service
        record = service.group_record(service.get_group(group_id))
    emit(record, as_json, lambda r: click.echo(json.dumps(r, indent=2, ensure_ascii=False)))


@office_customer_groups.command("join")
@click.argument("group_id")
@click.argument("customer_id")
@click.pass_context
def groups_join(ctx: click.Context, group_id: str, customer_id: str) -> None:
    """Put a customer in a group (their cards inherit its limits and rules)."""
    with office_of(ctx) as (conn, config):
        from office.customers import service
        version = service.set_membership(conn, config, customer_id, group_id, member=True,
                                         who=who())
    click.echo(f"customer {customer_id} is in group {group_id}"
               + (f" (card master version {version})" if version else ""))


@office_customer_groups.command("leave")
@click.argument("group_id")
@click.argument("customer_id")
@click.pass_context
def groups_leave(ctx: click.Context, group_id: str, customer_id: str) -> None:
    """Take a customer out of a group."""
    with office_of(ctx) as (conn, config):
        from office.customers import service
        version = service.set_membership(conn, config, customer_id, group_id, member=False,
                                         who=who())
    click.echo(f"customer {customer_id} is not in group {group_id}"
               + (f" (card master version {version})" if version else ""))


@office_customer_groups.command("limit")
@click.argument("group_id")
@limit_options
@click.pass_context
def groups_limit(ctx: click.Context, /, *, group_id: str, period: str, unit: str,
                 value: int | None, products: tuple[str, ...]) -> None:
    """Set or remove a limit every member's card inherits (unless it sets its own)."""
    with office_of(ctx) as (conn, config):
        from office.cards import service as cards
        done = cards.set_limit(conn, config, group_id,
                               limit_values(period, unit, value, products), who(), group=True)
    click.echo(f"group {group_id}: {period} {unit} limit "
               + ("removed" if value is None else f"set to {value}")
               + (f" (card master version {done.version})" if done.version else
                  " (no member's card changed)"))


@office_customers.command("close")
@click.argument("customer_id")
@click.pass_context
def customers_close(ctx: click.Context, customer_id: str) -> None:
    """Close a customer (kept with their history; no new cards). Their cards must not be
    active."""
    with office_of(ctx) as (conn, _config):
        from office.customers import service

        closed = service.close_customer(conn, customer_id, who())
    click.echo(f"customer {customer_id} closed" if closed else
               f"customer {customer_id} was already closed; nothing changed")


@office_vehicles.command("list")
@click.option("--customer", help="Only this customer's vehicles.")
@json_option
@click.pass_context
def vehicles_list(ctx: click.Context, customer: str | None, as_json: bool) -> None:
    """Vehicles, by plate."""
    with office_of(ctx) as (_conn, _config):
        from office.customers import service
        from office.customers.models import Vehicle

        query = Vehicle.objects.order_by("plate_key", "vehicle_id")
        if customer:
            query = query.filter(customer_id=customer)
        rows = [service.vehicle_record(v) for v in query[:5000]]

    def human(data: list[dict[str, Any]]) -> None:
        for r in data:
            click.echo(f"{r['vehicle_id']:<12} {r['plate']:<14} {r['vehicle_type']:<10} "
                       f"{r['customer'] or '-'}")

    emit(rows, as_json, human)


@office_customer_groups.command("list")
@json_option
@click.pass_context
def groups_list(ctx: click.Context, as_json: bool) -> None:
    """Customer groups with their limits and members."""
    with office_of(ctx) as (_conn, _config):
        from office.customers import service
        from office.customers.models import CustomerGroup

        rows = [service.group_record(g) for g in CustomerGroup.objects.order_by("group_id")]

    def human(data: list[dict[str, Any]]) -> None:
        for r in data:
            click.echo(f"{r['group_id']:<14} {r['kind']:<10} {r['name']}  "
                       f"({len(r['members'])} members, {len(r['limits'])} limits)")

    emit(rows, as_json, human)
