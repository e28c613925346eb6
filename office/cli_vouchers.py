"""``forecourt office vouchers issue|codes|list|show|exceptions|charge|write-off``: fuel
vouchers (talons) — batches of signed codes with their CSV list and printable PDF sheet,
and the double redemptions stations made offline, to charge or write off
(docs/pricing.md, "Vouchers")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.clikit import emit, json_option
from core.config import Config
from core.display import litres
from office.cli_customers import office_of, who

_OUT = click.Path(dir_okay=False, path_type=Path)


def _pdf_beside(out: Path) -> Path:
    return out.with_suffix(".pdf") if out.suffix.lower() == ".csv" else out.with_name(
        out.name + ".pdf")


def _check_out(out: Path) -> Path:
    """The PDF path beside ``out``; refused before anything is made if either exists or
    the folder does not."""
    pdf = _pdf_beside(out)
    if not out.parent.is_dir():
        raise click.ClickException(f"folder {out.parent} does not exist; nothing issued")
    for path in (out, pdf):
        if path.exists():
            raise click.ClickException(f"{path} exists already; choose another --out "
                                       "(nothing issued)")
    return pdf


def _write(config: Config, batch: Any, out: Path, pdf: Path) -> int:
    from office.vouchers import service, sheets

    made = service.core_batch(batch)
    sheets.write_csv(out, made)
    sheets.write_pdf(pdf, made, service.value_text(made, config.station.money))
    return sheets.pages(made.count)


def _describe(r: dict[str, Any], config: Config) -> str:
    if r["volume_ml"] is not None:
        what = f"{litres(r['volume_ml'])} {r['product']}"
    else:
        what = f"{config.station.money.money(r['amount'])} of {r['product'] or 'any fuel'}"
    return (f"{r['batch_id']}  {r['count']} x {what}  valid "
            f"{r['valid_from'][:16].replace('T', ' ')} to "
            f"{r['valid_until'][:16].replace('T', ' ')} UTC  ({r['state']})")


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


@click.group("vouchers")
def office_vouchers() -> None:
    """Fuel vouchers: batches of signed codes, and double redemptions to settle."""


@office_vouchers.command("issue")
@click.option("--product", help="The product a voucher buys (required with --volume).")
@click.option("--volume", "volume_ml", type=int, help="Each voucher buys this many ml.")
@click.option("--amount", type=int, help="Each voucher pays this much (minor units) instead.")
@click.option("--count", type=int, required=True, help="How many vouchers (1-999999).")
@click.option("--valid", required=True, help="How long they are valid: 12h, 30d, 2w.")
@click.option("--delay", default="0h", show_default=True,
              help="Activation delay: valid only this long after issue (e.g. 2d).")
@click.option("--note", default="", help="Why, for whom (kept with the batch).")
@click.option("--out", type=_OUT, required=True,
              help="The CSV of codes to write (FILE.csv); FILE.pdf is written beside it.")
@json_option
@click.pass_context
def vouchers_issue(ctx: click.Context, /, *, product: str | None, volume_ml: int | None,
                   amount: int | None, count: int, valid: str, delay: str, note: str,
                   out: Path, as_json: bool) -> None:
    """Issue a batch of vouchers: FILE.csv lists the codes, FILE.pdf is the A4 sheet."""
    pdf = _check_out(out)
    with office_of(ctx) as (conn, config):
        from office.vouchers import service

        batch, _codes = service.issue_batch(
            conn, who(), product=product, volume_ml=volume_ml, amount=amount, count=count,
            valid=service.duration(valid, "--valid"), delay=service.duration(delay, "--delay"),
            note=note, config=config)
        try:
            pages = _write(config, batch, out, pdf)
        except OSError as exc:
            raise click.ClickException(
                f"batch {batch.batch_id} was issued but its files could not be written "
                f"({exc.strerror or exc}); write them with 'forecourt office vouchers codes "
                f"{batch.batch_id} --out FILE.csv'") from None
        record = service.batch_record(batch.batch_id)
    record.update({"csv": str(out), "pdf": str(pdf), "pages": pages})
    emit(record, as_json, lambda r: click.echo(
        f"issued {_describe(r, config)}\ncodes in {r['csv']}, printable sheet {r['pdf']} "
        f"({_pages(r['pages'])})"))


@office_vouchers.command("codes")
@click.argument("batch_id")
@click.option("--out", type=_OUT, required=True,
              help="The CSV of codes to write (FILE.csv); FILE.pdf is written beside it.")
@click.pass_context
def vouchers_codes(ctx: click.Context, batch_id: str, out: Path) -> None:
    """Write a batch's codes and sheet again (a reprint; recorded in the audit trail)."""
    pdf = _check_out(out)
    with office_of(ctx) as (_conn, config):
        from office.vouchers import service

        batch = service.get_batch(batch_id)
        service.log_codes_taken(batch, who(), f"cli: {out.name}")
        pages = _write(config, batch, out, pdf)
    click.echo(f"codes of {batch_id} in {out}, printable sheet {pdf} ({_pages(pages)})")


@office_vouchers.command("list")
@json_option
@click.pass_context
def vouchers_list(ctx: click.Context, as_json: bool) -> None:
    """Every batch, newest first: vouchers issued, redeemed and exceptions."""
    with office_of(ctx) as (_conn, config):
        from office.vouchers import service

        rows = service.batches()

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no voucher batch was issued yet")
        for r in data:
            click.echo(f"{_describe(r, config)}  redeemed {r['redeemed']}  open exceptions "
                       f"{r['exceptions']['open']}")

    emit(rows, as_json, human)


@office_vouchers.command("show")
@click.argument("batch_or_code")
@json_option
@click.pass_context
def vouchers_show(ctx: click.Context, batch_or_code: str, as_json: bool) -> None:
    """A batch (VB000001), or one voucher by its code (any form) or 12-digit serial."""
    with office_of(ctx) as (_conn, config):
        from office.vouchers import ledger, service

        text = batch_or_code.strip()
        if text.upper().startswith("VB"):
            record = service.batch_record(text.upper())
            kind = "batch"
        else:
            record = ledger.voucher_record(text)
            kind = "voucher"

    def human_batch(r: dict[str, Any]) -> None:
        click.echo(_describe(r, config))
        click.echo(f"  issued by {r['created_by']} at {r['created_at'][:19]}"
                   + (f"  note: {r['note']}" if r["note"] else ""))
        click.echo(f"  redeemed {r['redeemed']} ({config.station.money.money(r['redeemed_value'])}"
                   f", {litres(r['redeemed_volume_ml'])})")
        click.echo("  exceptions " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                               for k, v in r["exceptions"].items()))

    def human_voucher(r: dict[str, Any]) -> None:
        genuine = {True: "genuine", False: "NOT GENUINE (wrong check digits)",
                   None: "serial only"}[r["genuine"]]
        click.echo(f"voucher {r['serial']}  {genuine}")
        click.echo(f"  batch {_describe(r['batch'], config)}")
        won = r["redemption"]
        click.echo("  not redeemed" if won is None else
                   f"  redeemed at {won['redeemed_at'][:19]} by {won['station_id']} sale "
                   f"{won['sale_id']} (card {won['card_id'] or '-'})")
        for e in r["exceptions"]:
            click.echo(f"  exception {e['exception_id']}: {e['status']}  "
                       f"{e['redeemed_at'][:19]} {e['station_id']} sale {e['sale_id']}")

    emit(record, as_json, human_batch if kind == "batch" else human_voucher)


@office_vouchers.command("exceptions")
@click.option("--status", type=click.Choice(["open", "charged", "written_off", "voided"]),
              help="Only these (default: all).")
@json_option
@click.pass_context
def vouchers_exceptions(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """Vouchers redeemed twice offline: every redemption but the earliest, to settle."""
    with office_of(ctx) as (_conn, config):
        from office.vouchers import ledger

        rows = ledger.exceptions(status)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no voucher exception" + (f" is {status}" if status else ""))
        for e in data:
            click.echo(f"{e['exception_id']:>6}  {e['status']:<11} voucher {e['serial']}  "
                       f"{e['redeemed_at'][:19]}  {e['station_id']} sale {e['sale_id']}  "
                       f"card {e['card_id'] or '-'}  "
                       f"{config.station.money.money(e['value'])}")

    emit(rows, as_json, human)


def _settle(ctx: click.Context, target: str, action: str, note: str, as_json: bool) -> None:
    with office_of(ctx) as (_conn, config):
        from office.vouchers import ledger

        row = ledger.settle(target, who(), action, note)
    emit(row, as_json, lambda e: click.echo(
        f"voucher exception {e['exception_id']} (voucher {e['serial']}) "
        + (f"charged to customer {e['customer_id']}: "
           f"{config.station.money.money(e['value'])}" if action == "charge"
           else f"written off: {config.station.money.money(e['value'])}")))


@office_vouchers.command("charge")
@click.argument("serial")
@click.option("--note", default="", help="An invoice number, a remark.")
@json_option
@click.pass_context
def vouchers_charge(ctx: click.Context, serial: str, note: str, as_json: bool) -> None:
    """Charge an open exception (by voucher serial or code, or exception id) to the
    customer of its card."""
    _settle(ctx, serial, "charge", note, as_json)


@office_vouchers.command("write-off")
@click.argument("serial")
@click.option("--note", required=True, help="Why the office bears the loss.")
@json_option
@click.pass_context
def vouchers_write_off(ctx: click.Context, serial: str, note: str, as_json: bool) -> None:
    """Write an open exception (by voucher serial or code, or exception id) off."""
    _settle(ctx, serial, "write_off", note, as_json)
