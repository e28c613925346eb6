"""The station's commands (``forecourt init``, ``run``, ``status``, ``cards``, ``sale``,
``journal``, ``keys``, and the ``pump``, ``sim``, ``readers`` and ``flash`` groups).

Thin on purpose: parse, call into ``edge/`` and ``offline_db/``, print. Read
commands take ``--json`` and then print one JSON document on stdout. Errors are one
sentence on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from core import inputs
from core.clikit import actor, cfg, emit, json_option
from core.display import ago, litres, restriction_lines, vehicle_note
from core.errors import ForecourtError
from core.inputs import check_args
from core.keys import PRIVATE_NAME, load_private_key, public_text
from core.timefmt import utc_now
from edge.alarms import ALARM_EXIT
from edge.cli.common import change, reader
from edge.cli.devices import pump, readers, sim
from edge.cli.flash import flash, status_line
from edge.cli.report import report
from edge.cli.status_view import show_status
from edge.control import DaemonNotRunning, call
from edge.flash import last_result
from edge.identity import (
    check_station_id,
    establish,
    load_station_key,
    recorded_key,
    refuse_orphan_key,
)
from edge.pricing_display import POINTS, line_summary, preset_lines, priced_lines
from edge.roles import process_caller
from edge.station_status import gather
from edge.views import card_show, open_authorizations, recent_authorizations
from offline_db.journal import list_sales, verify
from offline_db.state import audit
from offline_db.store import DB_NAME, StationStore


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the data directory, the station database and the station key pair.

    Running it again changes nothing; it never makes a new key for a database that
    already has an identity or sales, and never takes a foreign file for the database.
    """
    data_dir, station_id = cfg(ctx).station.data_dir, cfg(ctx).station.id
    refuse_orphan_key(data_dir)
    if (data_dir / DB_NAME).exists() and (data_dir / PRIVATE_NAME).exists():
        with StationStore.open_reader(data_dir) as seen:  # no writer lock: the daemon may run
            if recorded_key(seen.conn) is not None:
                load_station_key(data_dir, seen.conn, station_id)  # refuses a foreign one
                click.echo(f"already initialized in {data_dir}; nothing changed")
                return
    store, applied = StationStore.create(data_dir)
    try:
        pub, done = establish(data_dir, store.conn, station_id)
        if applied or done != "unchanged":
            audit(store.conn, process_caller().actor, "station.init", migrations=applied,
                  key=done)
    finally:
        store.close()
    if not applied and done == "unchanged":
        click.echo(f"already initialized in {data_dir}; nothing changed")
        return
    click.echo(f"initialized station {cfg(ctx).station.id} in {data_dir}")
    if applied:
        click.echo(f"  database {data_dir / DB_NAME} (migrations: {', '.join(applied)})")
    if done == "created":
        click.echo(f"  station public key: {pub}")
    elif done == "recorded":
        click.echo(f"  recorded the station key {pub} in the database")


@click.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the station daemon (the one writer; serves the control socket)."""
    from edge.daemon import Daemon

    Daemon(cfg(ctx)).run()


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the station's state and its active alarms; exit 3 while any alarm is active.

    Online or offline and since when, the outbox and its oldest sale, the card store's
    version and age, stale mode, each pump and reader (from the running daemon), the
    disk, and the alarms (docs/operations.md). Without the daemon it reads the store
    and says the daemon is not running (itself an alarm). Exit codes: 0 no alarm,
    3 at least one alarm, 1 the status cannot be read.
    """
    config = cfg(ctx)
    try:
        runtime: dict[str, Any] | None = call(config.station.socket_path, "station.status",
                                              {}, actor=actor(), timeout=5)
    except DaemonNotRunning:
        runtime = None
    except ForecourtError as exc:  # a socket that takes the call but the daemon is stuck
        runtime = {"error": str(exc)}
    with reader(ctx) as conn:
        # who the station is: never the configured id over another station's database
        check_station_id(conn, config.station.id)
        now = utc_now()
        data = gather(conn, config, now, runtime)
    data["flash_last"] = status_line(config)
    data["flash_last_ok"] = (last_result(config) or {}).get("ok")
    emit(data, as_json, lambda d: show_status(d, now))
    if data["alarms"]:
        ctx.exit(ALARM_EXIT)


@click.group()
def keys() -> None:
    """The station's signing key."""


@keys.command("show")
@click.pass_context
def keys_show(ctx: click.Context) -> None:
    """Print the station's public key (for enrolment at the head office)."""
    data_dir = cfg(ctx).station.data_dir
    if not (data_dir / DB_NAME).exists():
        click.echo(public_text(load_private_key(data_dir)))
        return
    with reader(ctx) as conn:
        click.echo(public_text(load_station_key(data_dir, conn, cfg(ctx).station.id)))


@click.group()
def cards() -> None:
    """The station's card store."""


@cards.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def cards_import(ctx: click.Context, file: Path) -> None:
    """Replace the card store with a card-store snapshot FILE (atomically)."""
    result = change(ctx, "cards.import", {"file": str(file.resolve())})
    was = result["previous_version"]
    click.echo(f"imported card store version {result['version']}"
               f"{'' if was is None else f' (was {was})'}: {result['cards']} cards, "
               f"{result['products']} products, {result['stop_list']} on the stop list")


@cards.command("pin-reset")
@click.argument("card")
@click.pass_context
def cards_pin_reset(ctx: click.Context, card: str) -> None:
    """Unlock CARD's PIN at this station: forget its wrong PIN entries (audited)."""
    result = change(ctx, "cards.pin_reset", {"card": card})
    cleared = result["failures_cleared"]
    if cleared:
        click.echo(f"card {result['card_id']}: {cleared} wrong PIN "
                   f"{'entry' if cleared == 1 else 'entries'} forgotten; the PIN is unlocked "
                   "at this station")
    else:
        click.echo(f"card {result['card_id']} had no wrong PIN entries; nothing changed")


@cards.command("show")
@click.argument("card")
@json_option
@click.pass_context
def cards_show(ctx: click.Context, card: str, as_json: bool) -> None:
    """Show CARD (card id, PAN, RFID UID or token id): limits, use, wallets."""
    check_args("cards.show", {"card": card})
    with reader(ctx) as conn:
        data = card_show(conn, cfg(ctx), card, utc_now())
    if data is None:
        raise click.ClickException(f"card {card} is not in the card store")

    money = cfg(ctx).station.money

    def human(d: dict[str, Any]) -> None:
        click.echo(f"card {d['card_id']} ({d['kind']}) status {d['status']}"
                   f"{' ON STOP LIST' if d['on_stop_list'] else ''}, expires "
                   f"{d['expires'] or 'never'}, products {', '.join(d['products'] or ['all'])}")
        for line in restriction_lines(d):
            click.echo(f"  {line}")
        for lim in d["limits"]:
            scope = ", ".join(lim["products"] or ["all products"])
            click.echo(f"  limit per {lim['period']:<5} {money.of(lim['unit'], lim['value']):>16} "
                       f"({scope}): used {money.of(lim['unit'], lim['used'])}, "
                       f"held {money.of(lim['unit'], lim['held'])}, "
                       f"remaining {money.of(lim['unit'], lim['remaining'])}")
        for v in d["visits"]:
            click.echo(f"  visits per {v['period']}: {v['count']}, used {v['used']}, "
                       f"held {v['held']}, remaining {v['remaining']}")
        for w in d["wallets"]:
            click.echo(f"  wallet {w['wallet_id']}: balance {money.of(w['unit'], w['balance'])}, "
                       f"spent {money.of(w['unit'], w['spent'])}, "
                       f"held {money.of(w['unit'], w['held'])}, "
                       f"available {money.of(w['unit'], w['available'])}, "
                       f"expires {w['expires'] or 'never'}{' (EXPIRED)' if w['expired'] else ''}")

    emit(data, as_json, human)


@click.group()
def sale() -> None:
    """Authorize, complete and cancel sales (manual pumps and operators)."""


@sale.command("authorize")
@click.option("--card", help="Card id, PAN or RFID UID (a digital card needs --token).")
@click.option("--token", help="The text of a digital card's QR code (instead of --card).")
@click.option("--pump", required=True, type=click.IntRange(1, 99), help="Pump number.")
@click.option("--product", help="Product code (default: every product the card may take).")
@click.option("--volume", "volume_ml", type=inputs.VOLUME_ML, help="Requested ml.")
@click.option("--amount", type=inputs.AMOUNT, help="Requested minor units.")
@click.option("--vehicle", help="Vehicle id identified at the pump.")
@click.option("--odometer", "odometer_km", type=inputs.ODOMETER_KM, help="Odometer, km.")
@click.option("--pin", help="PIN entered by the customer.")
@click.option("--voucher", help="A fuel voucher's code (20 digits, or its FCV1: QR text); "
                                "without --card it alone pays the sale.")
@click.option("--points", type=POINTS, help="Loyalty points to pay with: a number or 'all' "
                                            "(more than the card has burns what it has).")
@json_option
@click.pass_context
def sale_authorize(ctx: click.Context, /, as_json: bool, **args: Any) -> None:
    """Decide whether a card may fill at a pump; reserve the preset if approved."""
    if args["volume_ml"] is not None and args["amount"] is not None:
        raise click.UsageError("give --volume or --amount, not both")
    if (args["card"] is not None and args["token"] is not None) or (
            args["card"] is None and args["token"] is None and args["voucher"] is None):
        raise click.UsageError("give --card or --token (a digital card's QR text), one of "
                               "them, or --voucher alone")
    if args["points"] is not None and args["card"] is None and args["token"] is None:
        raise click.UsageError("--points needs the card (--card or --token) they are on")
    result = change(ctx, "sale.authorize", {k: v for k, v in args.items() if v is not None})

    money = cfg(ctx).station.money

    def human(d: dict[str, Any]) -> None:
        if d["approved"]:
            # The pump is preset by volume: what that volume costs, one price or a range
            # (the cheapest product's amount is no cap on a dearer one).
            cost = (f"or {money.money(d['max_amount'])}"
                    if d["hold_amount"] == d["max_amount"] else
                    f"({money.money(d['max_amount']).removesuffix(' ' + money.code)} to "
                    f"{money.money(d['hold_amount'])} by product)")
            click.echo(f"APPROVED sale {d['sale_id']} pump {d['pump']}: "
                       f"{', '.join(d['products'])} up to {litres(d['max_volume_ml'])} "
                       f"{cost}"
                       f"{'; ODOMETER UNREASONABLE: flagged for review' * d['odometer_flag']}")
            for line in preset_lines(d, money):
                click.echo(f"  {line}")
        else:
            why = f" ({d['detail']})" if d.get("detail") else ""
            click.echo(f"DENIED card {d['card_id']} pump {d['pump']}: {d['reason']}{why}")

    emit(result, as_json, human)


@sale.command("complete")
@click.argument("sale_id")
@click.option("--volume", "volume_ml", required=True, type=inputs.VOLUME_ML,
              help="Delivered volume in ml.")
@click.option("--product", help="Product delivered (needed when several were allowed).")
@json_option
@click.pass_context
def sale_complete(ctx: click.Context, sale_id: str, volume_ml: int, product: str | None,
                  as_json: bool) -> None:
    """Record the delivered volume of SALE_ID in the journal."""
    args: dict[str, Any] = {"sale_id": sale_id, "volume_ml": volume_ml}
    if product:
        args["product"] = product
    result = change(ctx, "sale.complete", args)
    money = cfg(ctx).station.money

    def human(d: dict[str, Any]) -> None:
        click.echo(f"sale {d['sale_id']} recorded as seq {d['seq']}: {litres(d['volume_ml'])} "
                   f"{d['product']} at {money.price(d['unit_price'])} = "
                   f"{money.money(d['amount'])}{vehicle_note(d)}")
        for line in priced_lines(d.get("pricing"), money):
            click.echo(f"  {line}")

    emit(result, as_json, human)


@sale.command("cancel")
@click.argument("sale_id")
@click.pass_context
def sale_cancel(ctx: click.Context, sale_id: str) -> None:
    """Cancel SALE_ID (no fuel delivered) and release its reservation."""
    change(ctx, "sale.cancel", {"sale_id": sale_id})
    click.echo(f"sale {sale_id} cancelled; its reservation is released")


@sale.command("list")
@click.option("--open", "only_open", is_flag=True,
              help="Only open authorizations (reserved, not completed or cancelled).")
@click.option("--limit", type=inputs.COUNT, default=50, show_default=True,
              help="How many of the latest authorizations to show without --open.")
@json_option
@click.pass_context
def sale_list(ctx: click.Context, only_open: bool, limit: int, as_json: bool) -> None:
    """List authorizations: the latest ones, or with --open those still open."""
    with reader(ctx) as conn:
        data = open_authorizations(conn) if only_open else recent_authorizations(conn, limit)

    now = utc_now()

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no authorizations")
        for r in rows:
            preset = (f"up to {litres(r['max_volume_ml'])}" if r["reason"] == "approved"
                      else "")  # a denial reserved nothing
            click.echo(f"{r['sale_id']}  {r['state']:<9}  pump {r['pump']:>2}  "
                       f"card {r['card_id']:<20}  {r['reason']:<20} "
                       f"{preset:<17}  at {ago(r['created_at'], now)}"
                       f"{'  NEEDS ATTENTION: ' + r['attention'] if r['attention'] else ''}")

    emit(data, as_json, human)


@click.group()
def journal() -> None:
    """The sale journal (hash-chained, gap-free)."""


@journal.command("list")
@click.option("--limit", type=inputs.COUNT, help="Only the last N sales.")
@json_option
@click.pass_context
def journal_list(ctx: click.Context, limit: int | None, as_json: bool) -> None:
    """List sales in the journal, oldest first."""
    with reader(ctx) as conn:
        rows = list_sales(conn, limit=limit)
    money = cfg(ctx).station.money

    def human(data: list[dict[str, Any]]) -> None:
        for r in data:
            click.echo(f"{r['seq']:>6}  {r['completed_at'][:19]}  pump {r['pump']:>2}  "
                       f"{r['card_id']:<20} {r['product']:<6} {litres(r['volume_ml']):>12}  "
                       f"{money.money(r['amount']):>16}{vehicle_note(r)}")
            if "pricing" in r:
                parts = line_summary(r["pricing"])
                click.echo(f"        list price {money.price(r['unit_price'])}: "
                           + "; ".join(priced_lines(parts, money)))

    emit(rows, as_json, human)


@journal.command("verify")
@json_option
@click.pass_context
def journal_verify(ctx: click.Context, as_json: bool) -> None:
    """Check the sequence and hash chain; exit 1 naming the first bad seq."""
    with reader(ctx) as conn:
        result = verify(conn)
    data = {"ok": result.ok, "rows": result.rows, "last_seq": result.last_seq,
            "anchor_seq": result.anchor_seq, "first_bad_seq": result.first_bad_seq,
            "problem": result.problem or None,
            "problems": [p.as_json() for p in result.problems]}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    elif result.ok:
        kept = result.anchor_seq
        older = f" (seq 1..{kept} deleted after delivery; checked from its hash)" \
            if kept else ""
        if result.rows == 0:
            click.echo("journal intact: no sales yet" if not kept else
                       f"journal intact: no sales kept{older}")
        else:
            noun = "sale" if result.rows == 1 else "sales"
            click.echo(f"journal intact: {result.rows} {noun}, seq {kept + 1}.."
                       f"{result.last_seq}{older}")
    if not result.ok:
        if not as_json:
            for p in result.problems:  # one sentence per problem
                where = "" if p.seq is None else f" at seq {p.seq}"
                click.echo(f"journal broken{where}: {p.message} [{p.reason}]", err=True)
        ctx.exit(1)


#: The station's commands, in the order ``forecourt --help`` lists them.
COMMANDS: list[click.Command] = [init, run, status_cmd, keys, cards, sale, journal,
                                 pump, sim, readers, flash, report]
