"""``forecourt office flash ...``: station bundles in, reply bundles out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import structlog

from cloud_sync.bundle import BundleError
from core.clikit import cfg, emit, json_option
from core.display import Currency, litres, size
from core.inputs import check_station_id
from core.timefmt import utc_now
from office.store import open_office
from office.sync.flash import export_reply, import_sales_bundle

log = structlog.get_logger(__name__)


@click.group("flash")
def office_flash() -> None:
    """Flash-drive bundles from and to stations (docs/bundles.md)."""


def _import_line(r: dict[str, Any], money: Currency) -> str:
    name = Path(r["file"]).name
    if r["quarantined"]:
        return (f"{name}: station {r['station_id']} QUARANTINED ({r['quarantined']}): "
                f"{r['detail']}; nothing stored")
    if not r["sales"]:
        return f"{name}: station {r['station_id']} sent no sales (status only)"
    line = (f"{name}: station {r['station_id']}, seq {r['first_seq']}-{r['last_seq']} "
            f"({r['sales']:,} sales, {litres(r['volume_ml'])}, amount {money.money(r['amount'])}): "
            f"{r['stored']:,} new, {r['duplicates']:,} already held; received up to seq "
            f"{r['contiguous_seq']}")
    if r["gaps"]:
        line += "; missing " + ", ".join(f"{a}-{b}" for a, b in r["gaps"])
    if r["alarms"]:
        line += "; station alarms: " + "; ".join(r["alarms"])
    return line


@office_flash.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def office_flash_import(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest station bundles FILES (each sale stored once, whether or not MQTT brought it)."""
    conn = open_office(cfg(ctx))
    results: list[dict[str, Any]] = []
    failed = 0
    try:
        for path in files:
            try:
                result = import_sales_bundle(conn, path, now=utc_now())
                results.append(result)
                if result.get("card_version"):
                    # Vouchers the bundle redeemed: every online station refuses them now.
                    from office.cards import actions

                    actions.publish(cfg(ctx), conn, result["card_version"])
            except BundleError as exc:
                log.info("office.flash_refused", file=str(path), reason=exc.reason,
                         error=str(exc))
                failed += 1
                results.append({"file": str(path), "refused": exc.reason, "error": str(exc)})
    finally:
        conn.close()

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if "error" in r:
                click.echo(f"REFUSED {r['error']}", err=True)
            else:
                click.echo(_import_line(r, cfg(ctx).station.money))

    emit(results, as_json, human)
    if failed or any(r.get("quarantined") for r in results):
        sys.exit(1)


@office_flash.command("export")
@click.option("--station", "stations", multiple=True, required=True,
              help="Station id (repeat for several stations).")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@click.pass_context
def office_flash_export(ctx: click.Context, stations: tuple[str, ...], directory: Path,
                        as_json: bool) -> None:
    """Write each station's reply (receipt and card-store changes) to DIRECTORY."""
    for station in stations:
        check_station_id(station, "office.flash.export")
    if not directory.is_dir():
        raise BundleError("no_folder", f"{directory} is not a folder (is the stick mounted?)")
    conn = open_office(cfg(ctx))
    try:
        results = [export_reply(conn, station, directory, now=utc_now(), config=cfg(ctx))
                   for station in stations]
    finally:
        conn.close()

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            cards = (f"card-store snapshot version {r['to_version']}" if r["cards"] == "snapshot"
                     else f"card-store changes {r['from_version']}->{r['to_version']}")
            click.echo(f"wrote {r['file']}: receipt up to seq {r['up_to_seq']}, {cards}, "
                       f"network use of {r['usage_cards']} limited cards ({size(r['size'])})")

    emit(results, as_json, human)
