"""``forecourt office discounts|loyalty|points|pricing``: the rule set, points balances
and history, and the published pricing document (docs/pricing.md).

Every change is checked as stations will read it, audited with the Unix user, and
published at once (a new pricing revision and card-master version).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import click

from core.clikit import emit, json_option
from office.cli_customers import office_of, who


def _lines(rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str],
           empty: str) -> None:
    for row in rows:
        click.echo(line(row))
    if not rows:
        click.echo(empty)


def condition_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The conditions a rule may carry (all optional; all must hold)."""
    for option in reversed([
        click.option("--product", "products", multiple=True, help="Only this product (repeat)."),
        click.option("--station", "stations", multiple=True, help="Only at this station (repeat)."),
        click.option("--station-group", "station_groups", multiple=True,
                     help="Only at stations of this group (repeat)."),
        click.option("--from", "valid_from", help="First day, YYYY-MM-DD (station time)."),
        click.option("--until", "valid_until", help="Last day, YYYY-MM-DD (station time)."),
        click.option("--days", help="Weekdays, e.g. sat,sun."),
        click.option("--hours", help="Local hours FROM-TO, e.g. 22:00-06:00 (wraps midnight)."),
        click.option("--holidays", is_flag=True, help="Only on the holiday calendar's dates."),
        click.option("--card-kind", "card_kinds", multiple=True,
                     help="Only for this card kind (repeat)."),
        click.option("--category", "categories", multiple=True,
                     help="Only for customers of this category (repeat)."),
        click.option("--group", "groups", multiple=True,
                     help="Only for customers in this group (repeat)."),
        click.option("--tier", "tiers", multiple=True, help="Only for this loyalty tier (repeat)."),
        click.option("--min-fill", "min_fill_ml", type=int, help="Only from this fill (ml)."),
        click.option("--consumption",
                     help="MONTH:UNIT:AT_LEAST, e.g. last:volume:500000 (ml) or "
                          "this:money:1000000 (minor units), before this sale."),
        click.option("--birthday-days", "birthday_days", type=int,
                     help="Within this many days of the customer's birthday."),
        click.option("--min-fills", "min_fills", type=int,
                     help="From the n-th fill of the calendar month."),
        click.option("--stackable", is_flag=True, help="Adds to the best single rule."),
        click.option("--order", type=int, default=0, show_default=True,
                     help="Order among stackable rules (lower first)."),
        click.option("--id", "rule_id", help="Rule id (default: the next free one)."),
    ]):
        func = option(func)
    return func


def _when(options: dict[str, Any]) -> dict[str, Any]:
    """The ``when`` object of a rule from the condition options (refusals: one sentence)."""
    when: dict[str, Any] = {}
    for key in ("products", "stations", "station_groups", "card_kinds", "categories", "groups",
                "tiers"):
        if options.get(key):
            when[key] = list(options[key])
    for key in ("valid_from", "valid_until", "min_fill_ml", "birthday_days", "min_fills"):
        if options.get(key) is not None:
            when[key] = options[key]
    if options.get("days"):
        when["days"] = [d.strip().lower() for d in options["days"].split(",") if d.strip()]
    if options.get("hours"):
        parts = options["hours"].split("-")
        if len(parts) != 2:
            raise click.BadParameter("give hours as FROM-TO, e.g. 22:00-06:00",
                                     param_hint="--hours")
        when["hours"] = {"from": parts[0].strip(), "to": parts[1].strip()}
    if options.get("holidays"):
        when["holidays"] = True
    if options.get("consumption"):
        parts = options["consumption"].split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise click.BadParameter("give MONTH:UNIT:AT_LEAST, e.g. last:volume:500000",
                                     param_hint="--consumption")
        when["consumption"] = {"month": parts[0], "unit": parts[1], "at_least": int(parts[2])}
    return when


def _rule(options: dict[str, Any], **fields: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    when = _when(options)
    if when:
        rule["when"] = when
    if options.get("stackable"):
        rule["stackable"] = True
    if options.get("order"):
        rule["order"] = options["order"]
    if options.get("rule_id"):
        rule["rule_id"] = options["rule_id"]
    return rule


def _added(ctx: click.Context, section: str, rule: dict[str, Any], as_json: bool) -> None:
    with office_of(ctx) as (conn, config):
        from office.cards import actions
        from office.pricing import rules

        rule_id, version = rules.add_rule(conn, section, rule, who(), config)
        told = actions.publish(config, conn, version) if version else None
    emit({"rule_id": rule_id, "version": version, "told_stations": told}, as_json,
         lambda r: click.echo(f"{section} rule {r['rule_id']} added"
                              + (f" (card master version {r['version']})" if r["version"]
                                 else "")))


# -- discounts -----------------------------------------------------------------------------
@click.group("discounts")
def office_discounts() -> None:
    """Discounts: volume, tier, time, product, category and group (docs/pricing.md)."""


@office_discounts.command("add")
@click.option("--kind", required=True,
              type=click.Choice(["volume", "tier", "time", "product", "category", "group"]))
@click.option("--percent", type=float, help="Percent of the list amount, e.g. 3 or 2.5.")
@click.option("--per-litre", "per_litre", type=int, help="Minor units off each litre.")
@click.option("--name", help="What a receipt and the console call it.")
@condition_options
@json_option
@click.pass_context
def discounts_add(ctx: click.Context, /, as_json: bool, **options: Any) -> None:
    """Add a discount; it reaches stations at once."""
    kind, percent = options.pop("kind"), options.pop("percent")
    per_litre, name = options.pop("per_litre"), options.pop("name")
    if (percent is None) == (per_litre is None):
        raise click.UsageError("give exactly one of --percent and --per-litre")
    bp = None
    if percent is not None:
        bp = round(percent * 100)
        if abs(bp - percent * 100) > 1e-6 or not 0 < bp <= 10000:
            raise click.BadParameter("a percentage from 0.01 to 100 with at most two decimals",
                                     param_hint="--percent")
    _added(ctx, "discount", _rule(options, kind=kind, name=name, percent_bp=bp,
                                  per_litre=per_litre), as_json)


@office_discounts.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also the rules that ended.")
@json_option
@click.pass_context
def discounts_list(ctx: click.Context, include_ended: bool, as_json: bool) -> None:
    """The discounts and the loyalty rules in force (or all)."""
    with office_of(ctx):
        from office.pricing import rules

        records = rules.rule_records(include_ended=include_ended)
    emit(records, as_json, lambda rs: _lines(rs, lambda r: (
        f"{r['rule_id']:<12} {r['section']:<10} {'active' if r['active'] else 'ended':<7} "
        f"{json.dumps(r['rule'], sort_keys=True)}"), "no rules"))


@office_discounts.command("end")
@click.argument("rule_id")
@click.pass_context
def discounts_end(ctx: click.Context, rule_id: str) -> None:
    """End a discount, earning rule or multiplier (kept in the records)."""
    with office_of(ctx) as (conn, config):
        from office.cards import actions
        from office.pricing import rules

        version = rules.end_rule(conn, rule_id, who(), config)
        if version:
            actions.publish(config, conn, version)
    click.echo(f"rule {rule_id} ended" + (f" (card master version {version})" if version else ""))


# -- loyalty -------------------------------------------------------------------------------
@click.group("loyalty")
def office_loyalty() -> None:
    """The points programme: value, expiry, earning rules, multipliers, tiers, caps."""


def _set(ctx: click.Context, key: str, value: Any) -> None:
    with office_of(ctx) as (conn, config):
        from office.cards import actions
        from office.pricing import rules

        version = rules.set_setting(conn, key, value, who(), config)
        if version:
            actions.publish(config, conn, version)
    click.echo(f"{key} set" + (f" (card master version {version})" if version else
                               " (no change)"))


@office_loyalty.command("settings")
@click.option("--point-value", type=int, required=True, help="Minor units one point pays.")
@click.option("--expiry-days", type=int, required=True,
              help="Days after the day it is earned that a point expires.")
@click.pass_context
def loyalty_settings(ctx: click.Context, point_value: int, expiry_days: int) -> None:
    """Start or change the programme."""
    _set(ctx, "loyalty", {"point_value": point_value, "expiry_days": expiry_days})


@office_loyalty.command("earn")
@click.option("--basis", required=True, type=click.Choice(["volume", "amount"]))
@click.option("--points", type=int, required=True)
@click.option("--per", type=int, required=True,
              help="ml (basis volume) or minor units (basis amount) that earn --points.")
@condition_options
@json_option
@click.pass_context
def loyalty_earn(ctx: click.Context, /, basis: str, points: int, per: int, as_json: bool,
                 **options: Any) -> None:
    """Add an earning rule."""
    _added(ctx, "earn", _rule(options, basis=basis, points=points, per=per), as_json)


@office_loyalty.command("multiplier")
@click.option("--percent", type=int, required=True, help="200 doubles the points.")
@condition_options
@json_option
@click.pass_context
def loyalty_multiplier(ctx: click.Context, /, percent: int, as_json: bool,
                       **options: Any) -> None:
    """Add a points multiplier (time, weekday, station, card kind, birthday, fills)."""
    _added(ctx, "multiplier", _rule(options, percent=percent), as_json)


@office_loyalty.command("tiers")
@click.argument("tiers", nargs=-1)
@click.pass_context
def loyalty_tiers(ctx: click.Context, tiers: tuple[str, ...]) -> None:
    """Set the tiers: NAME=AT_LEAST_ML:PERCENT ... (e.g. gold=500000:150); none clears."""
    out = []
    for item in tiers:
        name, _, rest = item.partition("=")
        at_least, _, percent = rest.partition(":")
        if not (name and at_least.isdigit() and (percent or "100").isdigit()):
            raise click.BadParameter(f"{item!r} is not NAME=AT_LEAST_ML:PERCENT",
                                     param_hint="TIERS")
        out.append({"name": name, "at_least_ml": int(at_least), "percent": int(percent or 100)})
    _set(ctx, "tiers", out)


@office_loyalty.command("caps")
@click.argument("caps", nargs=-1)
@click.pass_context
def loyalty_caps(ctx: click.Context, caps: tuple[str, ...]) -> None:
    """Set the earning caps: PERIOD=POINTS ... (day, week, month); none clears."""
    out = []
    for item in caps:
        period, _, points = item.partition("=")
        if not points.isdigit():
            raise click.BadParameter(f"{item!r} is not PERIOD=POINTS", param_hint="CAPS")
        out.append({"period": period, "points": int(points)})
    _set(ctx, "caps", out)


@office_loyalty.command("holidays")
@click.argument("dates", nargs=-1)
@click.pass_context
def loyalty_holidays(ctx: click.Context, dates: tuple[str, ...]) -> None:
    """Set the holiday calendar (YYYY-MM-DD ...) that holiday rules use; none clears."""
    _set(ctx, "holidays", sorted(set(dates)))


@office_loyalty.command("show")
@json_option
@click.pass_context
def loyalty_show(ctx: click.Context, as_json: bool) -> None:
    """The programme's settings and the published revision."""
    with office_of(ctx):
        from office.pricing import rules

        record = rules.settings_record()
        last = rules.latest()
        record["revision"] = last.revision if last else None
    emit(record, as_json, lambda r: _lines([{"k": k, "v": v} for k, v in r.items()],
                                           lambda i: f"{i['k']}: {json.dumps(i['v'])}", ""))


# -- points --------------------------------------------------------------------------------
@click.group("points")
def office_points() -> None:
    """Points balances and history of cards."""


@office_points.command("show")
@click.argument("card")
@click.option("--history", "with_history", is_flag=True, help="Also every entry.")
@json_option
@click.pass_context
def points_show(ctx: click.Context, card: str, with_history: bool, as_json: bool) -> None:
    """A card's points: balance, lots by expiry (and history)."""
    with office_of(ctx) as (conn, _config):
        from office.cards.service import get_card
        from office.pricing import points

        card_id = get_card(conn, card).card_id
        today = date.today()
        record: dict[str, Any] = {"card_id": card_id, "balance": points.balance(card_id, today),
                                  "lots": points.lots(card_id, today)}
        if with_history:
            record["history"] = points.history(card_id)

    def human(r: dict[str, Any]) -> None:
        click.echo(f"card {r['card_id']}: {r['balance']} points")
        for lot in r["lots"]:
            click.echo(f"  {lot['points']} expire after {lot['expires']}")
        for e in r.get("history", []):
            click.echo(f"  {e['at']} {e['kind']:<9} {e['points']:+} "
                       f"{e['station_id'] or ''} {e['sale_id'] or ''} {e['actor']} {e['reason']}")
    emit(record, as_json, human)


@office_points.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("card")
@click.argument("points", type=int)
@click.option("--reason", required=True, help="Why (a complaint number, a goodwill gesture).")
@click.pass_context
def points_adjust(ctx: click.Context, card: str, points: int, reason: str) -> None:
    """Add (positive) or take (negative) points by hand; audited."""
    with office_of(ctx) as (conn, _config):
        from office.pricing import ledger_service

        card_id, balance = ledger_service.adjust(conn, card, points, reason, who())
    click.echo(f"card {card_id}: {balance} points")


# -- pricing -------------------------------------------------------------------------------
@click.group("pricing")
def office_pricing() -> None:
    """The published pricing document and the differences recomputation found."""


@office_pricing.command("show")
@click.option("--revision", type=int, help="An earlier revision (default: the latest).")
@click.pass_context
def pricing_show(ctx: click.Context, revision: int | None) -> None:
    """Print a published pricing document (JSON)."""
    with office_of(ctx):
        from office.pricing.models import PricingRevision

        rows = PricingRevision.objects.order_by("-revision")
        row = rows.filter(revision=revision).first() if revision else rows.first()
    if row is None:
        raise click.ClickException("no pricing document has been published"
                                   if revision is None else f"there is no revision {revision}")
    click.echo(json.dumps(json.loads(row.doc), indent=2, sort_keys=True))


@office_pricing.command("differences")
@json_option
@click.pass_context
def pricing_differences(ctx: click.Context, as_json: bool) -> None:
    """Sales whose figures the office's recomputation did not reproduce (should be none)."""
    with office_of(ctx):
        from office.pricing.models import PricingDifference

        rows = [{"station_id": d.station_id, "seq": d.seq, "sale_id": d.sale_id,
                 "field": d.field, "station": d.station_value, "office": d.office_value,
                 "found_at": d.found_at}
                for d in PricingDifference.objects.order_by("station_id", "seq", "id")]
    emit(rows, as_json, lambda rs: _lines(rs, lambda r: (
        f"{r['station_id']} #{r['seq']} {r['sale_id']} {r['field']}: station {r['station']}"
        f" office {r['office']}"), "no differences"))


@office_pricing.command("void")
@click.argument("station")
@click.argument("seq", type=int)
@click.option("--reason", required=True, help="Why the sale is voided.")
@click.pass_context
def pricing_void(ctx: click.Context, station: str, seq: int, reason: str) -> None:
    """Void a priced sale: its points earned and burned are reversed and its voucher
    released (docs/pricing.md, "Voids")."""
    with office_of(ctx) as (conn, _config):
        from office.pricing import ledger_service

        result = ledger_service.void(conn, station, seq, reason, who())
    click.echo(f"sale {result['sale_id']} voided: {result['earned_taken']} points earned taken "
               f"back, {result['burned_given']} points burned given back"
               + (f", voucher {result['voucher']} released" if result["voucher"] else ""))


COMMANDS = (office_discounts, office_loyalty, office_points, office_pricing)
