"""``forecourt office customers|vehicles|cards import|export`` and ``office cards stock
import|list``: spreadsheets in and out (thin: parse, call office.customers.transfer or
office.cards.transfer, print the report).

An import with any refused row stores nothing and exits with status 1 after listing
every problem by line; ``--dry-run`` checks the whole file the same way and stores
nothing either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from core.clikit import emit, json_option
from office.cli_customers import office_of, who

_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


def import_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option("--dry-run", "dry_run", is_flag=True,
                     help="Check every row and report; store nothing."),
        click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD,...",
                     help='Map the file\'s columns to our fields, e.g. "Контрагент=name,'
                          'Тел=phones" (COLUMN=- ignores one). Repeat or comma-separate.'),
        click.option("--map-file", "map_file", type=_EXISTING,
                     help="A file of COLUMN=FIELD lines (UTF-8; # comments)."),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _mapping(layout: Any, maps: tuple[str, ...], map_file: Path | None) -> dict[str, str]:
    from office.customers.sheets import parse_mapping

    return parse_mapping(maps, map_file, layout.fields)


def _show(report: Any, as_json: bool) -> None:
    """Print the report; exit status 1 when a row was refused."""
    from office.customers.importing import Report

    assert isinstance(report, Report)

    def human(_: Any) -> None:
        mode = " (dry run)" if report.dry_run else ""
        click.echo(f"{report.what} from {report.file}{mode}: {report.rows} rows")
        if report.columns:
            click.echo("  columns: " + ", ".join(f"{c} -> {f}"
                                                 for c, f in report.columns.items()))
        if report.ignored_columns:
            click.echo("  ignored columns: " + ", ".join(report.ignored_columns))
        problems = [(p, "warning: ") for p in report.warnings] + [(p, "") for p in
                                                                   report.errors]
        for problem, prefix in sorted(problems, key=lambda p: (p[0].line or 0)):
            click.echo(f"  {prefix}{problem.text()}")
        counts = (f"{len(report.added)} added, {len(report.changed)} changed, "
                  f"{len(report.unchanged)} unchanged")
        if report.errors:
            return
        if report.dry_run:
            click.echo(f"dry run: would be {counts}; nothing stored")
        else:
            versions = (f"; card master version {report.versions[-1]}: "
                        + {True: "sent to every station",
                           False: "the broker did not answer: stations get it when they "
                                  "next sync",
                           None: "stations get it when they next sync"}[report.published]
                        if report.versions else "")
            click.echo(f"stored: {counts} (each in the audit trail){versions}")

    emit(report.as_dict(), as_json, human)
    if report.errors:
        rows = len({p.line for p in report.errors})
        if as_json:
            raise SystemExit(1)
        raise click.ClickException(f"{rows} bad row{'s' if rows != 1 else ''} "
                                   f"({len(report.errors)} problems); nothing stored")


def _exported(what: str, path: Path, count: int, as_json: bool) -> None:
    emit({"file": str(path), "what": what, "rows": count}, as_json,
         lambda _d: click.echo(f"{count} {what} written to {path}"))


# -- customers ---------------------------------------------------------------------------

@click.command("import")
@click.argument("file", type=_EXISTING)
@import_options
@click.pass_context
def customers_import(ctx: click.Context, /, *, file: Path, dry_run: bool, maps: tuple[str, ...],
                     map_file: Path | None, as_json: bool) -> None:
    """Import customers from a .csv or .xlsx FILE (all or nothing): a row with a stored
    customer_id updates that customer, any other adds one."""
    with office_of(ctx) as (conn, config):
        from office.customers import transfer
        report = transfer.import_customers(conn, config, file,
                                           _mapping(transfer.CUSTOMERS, maps, map_file),
                                           who(), dry_run=dry_run)
    _show(report, as_json)


@click.command("export")
@click.argument("file", type=_FILE)
@json_option
@click.pass_context
def customers_export(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Write every customer to FILE (.csv or .xlsx; formulas escaped)."""
    with office_of(ctx):
        from office.customers import transfer
        count = transfer.export_customers(file)
    _exported("customers", file, count, as_json)


# -- vehicles ----------------------------------------------------------------------------

@click.command("import")
@click.argument("file", type=_EXISTING)
@import_options
@click.pass_context
def vehicles_import(ctx: click.Context, /, *, file: Path, dry_run: bool, maps: tuple[str, ...],
                    map_file: Path | None, as_json: bool) -> None:
    """Import vehicles from a .csv or .xlsx FILE (all or nothing): a row with a stored
    vehicle_id updates that vehicle, any other adds one."""
    with office_of(ctx) as (conn, config):
        from office.customers import transfer
        report = transfer.import_vehicles(conn, config, file,
                                          _mapping(transfer.VEHICLES, maps, map_file),
                                          who(), dry_run=dry_run)
    _show(report, as_json)


@click.command("export")
@click.argument("file", type=_FILE)
@json_option
@click.pass_context
def vehicles_export(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Write every vehicle to FILE (.csv or .xlsx; formulas escaped)."""
    with office_of(ctx):
        from office.customers import transfer
        count = transfer.export_vehicles(file)
    _exported("vehicles", file, count, as_json)


# -- cards -------------------------------------------------------------------------------

def _cards_import(card_store_import: click.Command) -> click.Command:
    """``cards import``: a .json FILE is a card-store file (the command that was there),
    a .csv or .xlsx one issues cards to customers."""

    @click.command("import")
    @click.argument("file", type=_EXISTING)
    @import_options
    @click.pass_context
    def cards_import(ctx: click.Context, /, *, file: Path, dry_run: bool,
                     maps: tuple[str, ...], map_file: Path | None, as_json: bool) -> None:
        """Import cards: a .json FILE is a card-store file that the card master is made
        equal to (its customers, groups, vehicles, cards and wallets); a .csv or .xlsx
        FILE issues a card to a customer per row (all or nothing, one card-master
        version)."""
        if file.suffix.lower() == ".json":
            if dry_run or maps or map_file or as_json:
                raise click.UsageError("--dry-run, --map, --map-file and --json are for "
                                       ".csv and .xlsx files")
            ctx.invoke(card_store_import, file=file)
            return
        with office_of(ctx) as (conn, config):
            from office.cards import transfer
            report = transfer.import_cards(conn, config, file,
                                           _mapping(transfer.CARDS, maps, map_file), who(),
                                           dry_run=dry_run)
        _show(report, as_json)

    return cards_import


@click.command("export")
@click.argument("file", type=_FILE)
@json_option
@click.pass_context
def cards_export(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Write every card to FILE (.csv or .xlsx; formulas escaped)."""
    with office_of(ctx):
        from office.cards import transfer
        count = transfer.export_cards(file)
    _exported("cards", file, count, as_json)


@click.group("stock")
def cards_stock() -> None:
    """Blank cards from the supplier, not yet issued (cards issue --from-stock)."""


@cards_stock.command("import")
@click.argument("file", type=_EXISTING)
@click.option("--batch", help="The batch name (default: the file's batch column, else its "
                              "name).")
@import_options
@click.pass_context
def stock_import(ctx: click.Context, /, *, file: Path, batch: str | None, dry_run: bool,
                 maps: tuple[str, ...], map_file: Path | None, as_json: bool) -> None:
    """Add the supplier's blank cards in FILE (.csv or .xlsx: kind, pan and/or uid per
    row) to the stock, all or nothing."""
    with office_of(ctx) as (conn, _config):
        from office.cards import transfer
        report = transfer.import_stock(conn, file, _mapping(transfer.STOCK, maps, map_file),
                                       who(), batch=batch, dry_run=dry_run)
    _show(report, as_json)


@cards_stock.command("list")
@json_option
@click.pass_context
def stock_list(ctx: click.Context, as_json: bool) -> None:
    """Blank cards per kind and batch: free and issued."""
    with office_of(ctx):
        from office.cards import transfer
        rows = transfer.stock_summary()

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no blank cards in stock")
            return
        click.echo(f"{'kind':<10} {'batch':<30} {'free':>7} {'issued':>7}  imported")
        for r in data:
            click.echo(f"{r['kind']:<10} {r['batch']:<30} {r['free']:>7} {r['issued']:>7}  "
                       f"{r['imported_at'][:10]}")
        totals: dict[str, int] = {}
        for r in data:
            totals[r["kind"]] = totals.get(r["kind"], 0) + r["free"]
        click.echo("free: " + ", ".join(f"{k} {n}" for k, n in totals.items()))

    emit(rows, as_json, human)


def register(customers: click.Group, vehicles: click.Group, cards: click.Group) -> None:
    """Add these commands to ``office customers``, ``office vehicles`` and ``office
    cards`` (whose ``import`` of card-store files they take over)."""
    customers.add_command(customers_import)
    customers.add_command(customers_export)
    vehicles.add_command(vehicles_import)
    vehicles.add_command(vehicles_export)
    cards.add_command(_cards_import(cards.commands["import"]))
    cards.add_command(cards_export)
    cards.add_command(cards_stock)
