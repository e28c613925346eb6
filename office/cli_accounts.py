"""``forecourt office accounts pay|adjust|show|statement``: customers' accounts — payments
received, credit and debit notes, what a customer owes (with aging) and the printable
statement (docs/reports.md, "Accounts").

Amounts are typed in the currency's unit (``1500.50``, ``1 500,50``) and stored in minor
units, read by the console's parser (office.console.forms.minor_units) so both doors
take the same text.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from core.clikit import actor, emit, json_option
from core.display import Currency, litres
from office.cli_customers import office_of, who

_OUT = click.Path(dir_okay=False, path_type=Path)


def _minor(text: str, currency: Currency) -> int:
    from office.console.forms import minor_units
    from office.customers.errors import RecordRefused

    value = minor_units(text, currency.decimals, "amount")
    if value is None:
        raise RecordRefused("the amount is empty", field="amount")
    return value


@click.group("accounts")
def office_accounts() -> None:
    """Customers' accounts: payments, adjustments, balances, statements."""


@office_accounts.command("pay", context_settings={"ignore_unknown_options": True})
@click.argument("customer")
@click.argument("amount")
@click.option("--reference", required=True, help="The bank transfer's or receipt's number.")
@click.option("--date", "day", help="The value date, YYYY-MM-DD (default: today).")
@click.option("--method", type=click.Choice(["bank", "cash", "card", "other"]),
              default="bank", show_default=True, help="How the money came in.")
@json_option
@click.pass_context
def accounts_pay(ctx: click.Context, /, *, customer: str, amount: str, reference: str,
                 day: str | None, method: str, as_json: bool) -> None:
    """Book a payment of AMOUNT (in the currency, e.g. 1500.50) received from CUSTOMER."""
    with office_of(ctx) as (conn, config):
        from office.accounts import service

        money = config.station.money
        booked = service.pay(conn, who(), customer, _minor(amount, money),
                             reference=reference, method=method, day=day,
                             tz=config.office_reports.tz)
    _done(booked, money, as_json)


@office_accounts.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("customer")
@click.argument("amount")
@click.option("--reason", required=True, help="Why (a complaint, an invoice corrected).")
@json_option
@click.pass_context
def accounts_adjust(ctx: click.Context, customer: str, amount: str, reason: str,
                    as_json: bool) -> None:
    """Adjust CUSTOMER's account by AMOUNT: negative a credit note (owes less), positive a
    debit note (owes more)."""
    with office_of(ctx) as (conn, config):
        from office.accounts import service

        money = config.station.money
        booked = service.adjust(conn, who(), customer, _minor(amount, money), reason=reason,
                                tz=config.office_reports.tz)
    _done(booked, money, as_json)


def _done(booked: Any, money: Currency, as_json: bool) -> None:
    from office.accounts.service import entry_fields

    record = {**entry_fields(booked.entry), "balance_before": booked.before,
              "balance": booked.after}
    emit(record, as_json, lambda r: click.echo(
        f"{r['customer']}: {r['kind']} {money.money(abs(r['amount']))} booked "
        f"(entry {r['entry_id']}, {r['value_date']}); owes {money.money(r['balance_before'])}"
        f" -> {money.money(r['balance'])}"))


@office_accounts.command("show")
@click.argument("customer")
@json_option
@click.pass_context
def accounts_show(ctx: click.Context, customer: str, as_json: bool) -> None:
    """CUSTOMER's account: balance, credit limit, available, overdue by age, last payment."""
    with office_of(ctx) as (conn, config):
        from office.accounts import account

        money = config.station.money
        reports = config.office_reports
        record = account.summary(conn, customer, reports.tz, reports.credit_due_days)
    emit(record, as_json, lambda r: _human(r, money))


def _human(r: dict[str, Any], money: Currency) -> None:
    from office.accounts.aging import BUCKET_TITLES, BUCKETS

    limit = "no limit" if r["credit_limit"] is None else money.money(r["credit_limit"])
    click.echo(f"{r['customer']}  {r['name']}  ({r['payment_terms']})")
    click.echo(f"  balance    {money.money(r['balance'])}  (owed to the office)")
    click.echo(f"  limit      {limit if r['payment_terms'] == 'credit' else 'prepaid'}")
    if r["available"] is not None:
        click.echo(f"  available  {money.money(r['available'])}")
    click.echo(f"  overdue    {money.money(r['overdue'])}  (due {r['due_days']} days after "
               f"the sale, as of {r['as_of']})")
    for b in BUCKETS:
        click.echo(f"    {BUCKET_TITLES[b]:<13} {money.money(r['aging'][b]):>20}")
    if r["oldest_unpaid"]:
        click.echo(f"  oldest unpaid charge {r['oldest_unpaid']}")
    last = r["last_payment"]
    click.echo("  last payment " + ("none" if last is None else
                                    f"{last['value_date']} {money.money(last['amount'])} "
                                    f"{last['method']} {last['reference']}"))
    w = r["wallets"]
    if w["money"] or w["volume_ml"]:
        click.echo(f"  wallets    {money.money(w['money'])}, {litres(w['volume_ml'])}")


@office_accounts.command("statement")
@click.argument("customer")
@click.option("--month", help="The month, YYYY-MM.")
@click.option("--from", "first", help="First day, YYYY-MM-DD (with --to).")
@click.option("--to", "last", help="Last day, YYYY-MM-DD, included.")
@click.option("--out", type=_OUT, required=True, help="FILE.pdf or FILE.xlsx to write.")
@click.pass_context
def accounts_statement(ctx: click.Context, /, *, customer: str, month: str | None,
                       first: str | None, last: str | None, out: Path) -> None:
    """Write CUSTOMER's statement for a month or a range as a PDF or an XLSX file."""
    start, end = _period(month, first, last)
    kind = out.suffix.lower()
    if kind not in (".pdf", ".xlsx"):
        raise click.ClickException("--out must name a .pdf or .xlsx file")
    if not out.parent.is_dir():
        raise click.ClickException(f"folder {out.parent} does not exist; nothing written")
    with office_of(ctx) as (conn, config):
        from office.accounts import statement_pdf, statement_xlsx
        from office.accounts.statement import build
        from office.reports.runs import record

        money, reports = config.station.money, config.office_reports
        made = build(conn, customer, start, end, reports.tz)
        header = reports.statement_header
        body = (statement_pdf.pdf_bytes(made, money, header) if kind == ".pdf"
                else statement_xlsx.workbook(made, money, header))
        out.write_bytes(body)
        record(name="statement", params={"customer": customer, "from": start.isoformat(),
                                         "to": end.isoformat()},
               fmt=kind.lstrip("."), rows=len(made.lines), actor=actor().removeprefix("cli:"),
               via="cli", file=str(out))
    click.echo(f"wrote {out} ({len(made.lines)} lines, closing balance "
               f"{money.money(made.closing)})")


def _period(month: str | None, first: str | None, last: str | None) -> tuple[date, date]:
    from office.accounts.months import month_range
    from office.reports.base import ReportError

    if month is not None and (first or last):
        raise click.ClickException("give --month or --from/--to, not both")
    try:
        if month is not None:
            return month_range(month)
        if not (first and last):
            raise click.ClickException("give --month YYYY-MM, or --from and --to")
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError:
        raise click.ClickException(f"--from and --to must be days like 2026-11-30, not "
                                   f"{first!r} and {last!r}") from None
    if end < start:
        raise click.ClickException(f"--to {end} is before --from {start}")
    return start, end
