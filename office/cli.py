"""``forecourt office ...``: head-office commands (thin: parse, call, print)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import structlog

from cloud_sync import tokens
from core.clikit import ForecourtGroup, actor, cfg, emit, json_option
from core.config import DurationTooLong, parse_duration
from core.display import ago, litres, vehicle_note
from core.errors import KeyFileError
from core.inputs import COUNT, check_args, check_station_id
from core.keys import parse_public_text, public_text
from core.timefmt import iso, utc_now
from office.access import audit
from office.access.audit import cli_actor
from office.access.secret import secret_key_path
from office.cards import actions as card_actions
from office.cards import master as card_master
from office.cli_broker import broker_options
from office.cli_broker import issue as issue_broker_entries
from office.cli_broker import register as register_broker
from office.cli_broker import wanted as broker_wanted
from office.ledger.queries import list_sales, station_overview
from office.store import describe, first_line, init_office, load_office_key, open_office

log = structlog.get_logger(__name__)


class OfficeGroup(ForecourtGroup):
    """Also turns a failure of the office's database into one sentence (exit code 1).

    The office reaches SQLite and PostgreSQL through Django, whose errors are not
    ``sqlite3``'s: a lock held too long, a full disk, a server that went away mid-command
    or a statement PostgreSQL refused would otherwise end an office command in a
    traceback. The sentence carries PostgreSQL's SQLSTATE (or the error's class on
    SQLite) as its reason code, and the log event ``office.database_failed`` the same.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from django.db import Error as DatabaseFailure  # psycopg's, wrapped, and sqlite3's

        try:
            return super().invoke(ctx)
        except DatabaseFailure as exc:
            cause = exc.__cause__
            code = getattr(cause, "sqlstate", None) or type(cause or exc).__name__
            error = first_line(exc)
            log.error("office.database_failed", command=ctx.invoked_subcommand, code=code,
                      error=error)
            raise click.ClickException(
                f"the office database refused the operation ({code}): {error}") from None


@click.group(cls=OfficeGroup)
def office() -> None:
    """The head office: keys, stations, cards, sync."""


@office.command("init")
@click.pass_context
def office_init(ctx: click.Context) -> None:
    """Create the head-office data directory, its store and its Ed25519 signing key."""
    data_dir = cfg(ctx).office.data_dir
    had_secret = secret_key_path(data_dir).exists()
    applied, pub = init_office(cfg(ctx))
    if not applied and pub is None:
        if not had_secret:
            click.echo(f"made the web console's secret key {secret_key_path(data_dir)}")
            return
        click.echo(f"head office already initialized in {data_dir}; nothing changed")
        return
    _count_in_zone(ctx)
    click.echo(f"initialized the head office in {data_dir}")
    if cfg(ctx).office.database.strip():
        click.echo(f"  its store: {describe(cfg(ctx).office)}")
    key = load_office_key(cfg(ctx))
    click.echo(f"  office public key (put it in each station's [station] office_public_key): "
               f"{public_text(key)}")


def _count_in_zone(ctx: click.Context) -> None:
    """Roll-ups in the configured report time zone (a new store's are in UTC)."""
    from office.ledger import rollups

    wanted = cfg(ctx).office_reports.timezone
    conn = open_office(cfg(ctx))
    try:
        if rollups.zone(conn) != wanted:
            rollups.rebuild(conn, wanted)
    finally:
        conn.close()


@office.group("keys")
def office_keys() -> None:
    """The head office's signing key."""


@office_keys.command("show")
@click.pass_context
def office_keys_show(ctx: click.Context) -> None:
    """Print the office public key alone (for station configurations)."""
    click.echo(public_text(load_office_key(cfg(ctx))))


@office.group("station")
def office_station() -> None:
    """Enrol stations."""


@office_station.command("add")
@click.argument("station_id")
@click.option("--public-key", "public_key", required=True,
              help="The station's key as printed by 'forecourt keys show' on it.")
@broker_options
@click.pass_context
def office_station_add(ctx: click.Context, station_id: str, public_key: str,
                       password_file: Path | None, acl_file: Path | None) -> None:
    """Enrol STATION_ID with its public key (its batches are refused until then); with
    [mqtt] on, or a broker file named, print (or write) its broker account too."""
    check_station_id(station_id, "office.station.add")
    public_key = public_text(parse_public_text(public_key))  # one spelling per key
    if public_key == public_text(load_office_key(cfg(ctx))):
        raise click.ClickException("that key is the office's own key, not a station's: run "
                                   "'forecourt keys show' on the station")
    conn = open_office(cfg(ctx))
    try:
        with conn.atomic():
            # The key is the only source of a message's station id (docs/mqtt.md): a key
            # another station has would let either write into the other's ledger.
            for other, text in conn.execute("SELECT station_id, public_key FROM stations "
                                            "WHERE station_id != ?", (station_id,)):
                if _same_key(text, public_key):
                    log.info("office.station_refused", station_id=station_id, holder=other)
                    raise click.ClickException(
                        f"that key is already station {other}'s: every station has its own "
                        "key ('forecourt keys show' on it); nothing changed")
            old = conn.execute("SELECT public_key FROM stations WHERE station_id = ?",
                               (station_id,)).fetchone()
            if old is not None and _same_key(old["public_key"], public_key):
                click.echo(f"station {station_id} is already enrolled with this key; "
                           "nothing changed")
                return
            conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) "
                         "VALUES (?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                         "public_key = excluded.public_key", (station_id, public_key,
                                                              iso(utc_now())))
            audit.record(action="station.rekey" if old else "station.add",
                         object_kind="station", object_id=station_id,
                         old={"public_key": old["public_key"]} if old else None,
                         new={"public_key": public_key}, **_who())
    finally:
        conn.close()
    click.echo(f"station {station_id} {'re-keyed' if old else 'enrolled'}")
    if broker_wanted(cfg(ctx), password_file, acl_file):
        issue_broker_entries(cfg(ctx), station_id, password_file, acl_file)


def _same_key(stored: str, public_key: str) -> bool:
    """Whether an enrolled key (as stored, perhaps spelt otherwise) is ``public_key``."""
    try:
        return public_text(parse_public_text(stored)) == public_key
    except KeyFileError:
        return stored == public_key


@office.command("stations")
@json_option
@click.pass_context
def office_stations(ctx: click.Context, as_json: bool) -> None:
    """Per station: contiguous seq, gaps, forks, last seen, online, outbox, alarms, flash."""
    conn = open_office(cfg(ctx))
    try:
        rows = station_overview(conn)
        online = {r["station_id"]: (bool(r["online"]), r["at"])
                  for r in conn.execute("SELECT * FROM station_online")}
        refused = [dict(r) for r in conn.execute("SELECT * FROM refused_messages "
                                                 "ORDER BY reason")]
        flash = {r["station_id"]: (json.loads(r["alarms"]) if r["alarms"] else [],
                                   r["last_flash"])
                 for r in conn.execute(
                     "SELECT c.station_id, c.alarms, (SELECT MAX(at) FROM flash_transfers f "
                     "WHERE f.station_id = c.station_id AND direction = 'in') AS last_flash "
                     "FROM station_chain c")}
    finally:
        conn.close()
    for row in rows:
        row["online"], row["online_reported_at"] = online.get(row["station_id"], (None, None))
        row["alarms"], row["last_flash"] = flash.get(row["station_id"], ([], None))

    now = utc_now()

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no stations enrolled")
        for r in data:
            state = {True: "online", False: "OFFLINE", None: "never seen"}[r["online"]]
            click.echo(f"{r['station_id']:<12} {state:<10} seq {r['contiguous_seq']:>8}  "
                       f"last seen {ago(r['last_seen_at'], now)}  outbox {r['outbox_depth']}  "
                       f"gaps {len(r['gaps'])}  forks {len(r['forks'])}  "
                       f"quarantined {r['quarantined']}"
                       f"{'  last flash ' + ago(r['last_flash'], now) if r['last_flash'] else ''}")
            if r["lost_receipted"]:
                first, last = r["lost_receipted"]
                click.echo(f"{'':<12} LOST seqs {first}-{last}: receipted, not held (a "
                           "restore?); asked from the station's journal again")
            for alarm in r["alarms"]:
                click.echo(f"{'':<12} ALARM {alarm}")
        for r in refused:
            click.echo(f"refused messages ({r['reason']}): {r['count']}, last at "
                       f"{ago(r['last_at'], now)}: {r['last_detail']}")

    emit(rows, as_json, human)


@office.command("sales")
@click.option("--station", "station_id", help="Only this station.")
@click.option("--since", help="Only sales completed at or after this date/time (ISO).")
@click.option("--limit", type=COUNT, help="At most this many (newest).")
@json_option
@click.pass_context
def office_sales(ctx: click.Context, station_id: str | None, since: str | None,
                 limit: int | None, as_json: bool) -> None:
    """Sales received from the stations (each exactly once)."""
    if station_id is not None:
        check_station_id(station_id, "office.sales")
    conn = open_office(cfg(ctx))
    try:
        rows = list_sales(conn, station_id=station_id, since=since, limit=limit)
    finally:
        conn.close()
    money = cfg(ctx).station.money

    def human(data: list[dict[str, Any]]) -> None:
        for r in data:
            click.echo(f"{r['station_id']:<10} {r['seq']:>7}  {r['completed_at'][:19]}  "
                       f"{r['card_id']:<20} {r['product']:<6} {litres(r['volume_ml']):>12}  "
                       f"{money.money(r['amount']):>16}{vehicle_note(r)}")

    emit(rows, as_json, human)


@office.command("serve")
@click.option("--worker", "worker", default=None, metavar="NAME",
              help="This process's name among several workers ([office] workers; "
                   "default [office] worker).")
@click.pass_context
def office_serve(ctx: click.Context, worker: str | None) -> None:
    """Run the head office's ingest, receipts and card-store downlink until stopped."""
    from office.daemon import serve

    serve(cfg(ctx), worker)


@office.group("cards")
def office_cards() -> None:
    """Card master data and digital cards."""


def _told(published: bool | None) -> None:
    """Say whether the stations were sent a new version now."""
    click.echo({True: "  sent to every station",
                False: "  the broker did not answer: stations get it when they next sync",
                None: "  ([mqtt] is off: stations get it when they next sync)"}[published])


def _who() -> dict[str, str]:
    """The person and door of a CLI change, for the audit trail."""
    return {"actor": cli_actor(actor()), "via": "cli"}


@office_cards.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def office_cards_import(ctx: click.Context, file: Path) -> None:
    """Make the card master equal to a card-store FILE (a new version if anything changed)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    change, changes = card_actions.import_cards(cfg(ctx), data, source=str(file), **_who())
    if not change.changed:
        click.echo(f"card master unchanged at version {change.version}")
        return
    click.echo(f"card master version {change.version}: {changes} changes")
    _told(change.published)


def _set_status(ctx: click.Context, card: str, status: str) -> None:
    check_args(f"office.cards.{'block' if status == 'blocked' else 'unblock'}", {"card": card})
    change = card_actions.change_status(cfg(ctx), card, status, **_who())
    if not change.changed:
        click.echo(f"card {change.card_id} is already {status}; nothing changed")
        return
    click.echo(f"card {change.card_id} is now {status} (card master version "
               f"{change.version})")
    _told(change.published)


@office_cards.command("block")
@click.argument("card")
@click.pass_context
def office_cards_block(ctx: click.Context, card: str) -> None:
    """Block CARD (card id, PAN or RFID UID as written anywhere) everywhere."""
    _set_status(ctx, card, "blocked")


@office_cards.command("unblock")
@click.argument("card")
@click.pass_context
def office_cards_unblock(ctx: click.Context, card: str) -> None:
    """Make CARD (card id, PAN or RFID UID, as written anywhere) active again everywhere."""
    _set_status(ctx, card, "active")


@office_cards.command("pin-reset")
@click.argument("card")
@click.pass_context
def office_cards_pin_reset(ctx: click.Context, card: str) -> None:
    """Unlock CARD's PIN at every station (a new card-master version, recorded with you)."""
    check_args("office.cards.pin_reset", {"card": card})
    card_id, change = card_actions.reset_pin(cfg(ctx), card, **_who())
    click.echo(f"PIN of card {card_id} reset (card master version {change.version}): every "
               "station counts wrong PINs from zero once it has this version")
    _told(change.published)


@office_cards.command("token")
@click.argument("card")
@click.option("--valid", default="10m", show_default=True,
              help="How long the token is valid: 90s, 10m, 24h, 7d.")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the token as a QR code image to this PNG file.")
@click.pass_context
def office_cards_token(ctx: click.Context, card: str, valid: str, png: Path | None) -> None:
    """Issue a signed digital-card token for CARD (shown as a QR code on a phone)."""
    check_args("office.cards.token", {"card": card})
    office_cfg = cfg(ctx).office
    try:
        seconds = parse_duration(valid)
    except DurationTooLong:
        seconds = office_cfg.token_max_valid_s + 1  # refused below, naming the cap
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--valid") from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than zero", param_hint="--valid")
    if seconds > office_cfg.token_max_valid_s:
        raise click.BadParameter(f"must be at most {office_cfg.token_max_valid} ([office] "
                                 "token_max_valid)", param_hint="--valid")
    key = load_office_key(office_cfg)
    now = utc_now()
    conn = open_office(office_cfg)
    try:
        card_id = card_master.token_card(conn, card, now.date())
    finally:
        conn.close()
    expires = now + timedelta(seconds=seconds)
    token = tokens.issue(key, card_id, expires)
    log.info("office.token_issued", card_id=card_id, expires_at=iso(expires), actor=actor())
    click.echo(token)
    if png is not None:
        import segno

        tmp = png.with_name(png.name + ".tmp")
        segno.make(token, error="m").save(str(tmp), kind="png", scale=8, border=4)
        tmp.replace(png)
        click.echo(f"QR code written to {png}", err=True)


def _add_commands() -> None:
    from office.cli_accounts import office_accounts
    from office.cli_cards import register as register_cards
    from office.cli_customer_find import register as register_customer_find
    from office.cli_customers import office_customer_groups, office_customers, office_vehicles
    from office.cli_flash import office_flash
    from office.cli_pricing import COMMANDS as PRICING_COMMANDS
    from office.cli_reports import (
        office_report,
        office_report_schedule,
        office_reports,
        office_rollups,
    )
    from office.cli_transfer import register as register_transfer
    from office.cli_users import office_groups, office_users
    from office.cli_vouchers import office_vouchers
    from office.cli_wallets import office_wallets
    from office.cli_web import office_web

    for command in (office_flash, office_users, office_groups, office_web, office_customers,
                    office_vehicles, office_customer_groups, office_wallets, office_vouchers,
                    office_report, office_reports, office_rollups, office_report_schedule,
                    office_accounts, *PRICING_COMMANDS):
        office.add_command(command)
    register_cards(office_cards)
    register_broker(office_station)
    register_transfer(office_customers, office_vehicles, office_cards)
    register_customer_find(office_customers)


_add_commands()
