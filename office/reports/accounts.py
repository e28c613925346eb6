"""Accounts reports: ``statement`` (one customer's period), ``credit`` (customers over
their credit limit or with an overdue balance) and ``payments`` (how customers pay).

What a customer owes, and how charges age and payments settle them, is defined once in
office.accounts (docs/reports.md, "Accounts"); these reports only lay it out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from office.accounts import account, daily, queries
from office.accounts.aging import BUCKET_TITLES, BUCKETS, settle
from office.accounts.statement import FIGURES, Statement, build
from office.customers.errors import RecordRefused
from office.reports.base import Column, Report, ReportError
from office.reports.params import Params
from office.reports.registry import report
from office.store import OfficeConnection


def statement_columns(s: Statement) -> tuple[Column, ...]:
    """The statement's columns: the account's for a credit customer (the wallets' too
    when they moved), the wallets' for a prepaid one (the account's too when it moved)."""
    cols = [Column("at", "Date", "datetime"), Column("kind", "Kind"),
            Column("reference", "Reference"), Column("station", "Station"),
            Column("product", "Product"), Column("volume_ml", "Volume", "ml"),
            Column("amount", "Amount", "money"), Column("discount", "Discount", "money")]
    if s.has_wallets:
        cols += [Column("wallet", "Wallet", "money"), Column("litres", "Wallet litres", "ml")]
    if s.has_account:
        cols += [Column("other", "Paid otherwise", "money"),
                 Column("charge", "Charge", "money"), Column("credit", "Credit", "money"),
                 Column("balance", "Balance", "money")]
    if s.has_wallets:
        cols.append(Column("wallet_balance", "Wallet balance", "money"))
    return tuple(cols)


def statement_words(s: Statement) -> str:
    """The statement's heading line: who and which days."""
    return (f"{s.customer['customer_id']} {s.customer['name']} "
            f"({s.customer['payment_terms']}), {s.start.isoformat()} to "
            f"{s.end.isoformat()}: opening balance first, closing balance last")


def statement_rows(s: Statement) -> list[dict[str, Any]]:
    """The lines between an opening and a closing balance line."""
    def edge(day: date, kind: str, owed: int, wallet: int) -> dict[str, Any]:
        return {"at": day.isoformat(), "kind": kind, "reference": "", "station": "",
                "product": "", **dict.fromkeys(FIGURES), "balance": owed,
                "wallet_balance": wallet}

    return [edge(s.start, "opening balance", s.opening, s.wallet_opening), *s.lines,
            edge(s.end, "closing balance", s.closing, s.wallet_closing)]


@report("statement", "Statement",
        "One customer's statement for the range (--customer): sales, discounts, "
        "top-ups, payments and adjustments, opening and closing balance.",
        options=("from", "to", "customer"))
def statement(conn: OfficeConnection, p: Params) -> Report:
    customer = p.filters.get("customer")
    if customer is None:
        raise ReportError("a statement is one customer's: give --customer (a customer id)")
    try:
        s = build(conn, customer, p.start, p.end, p.tz)
    except RecordRefused as exc:
        raise ReportError(str(exc)) from None
    totals: dict[str, Any] = dict(s.totals)
    totals["balance"], totals["wallet_balance"] = s.closing, s.wallet_closing
    return Report("statement", f"Statement of {s.customer['name']}", statement_columns(s),
                  statement_rows(s), None, subtitle=statement_words(s), totals=totals)


def _scope(conn: OfficeConnection, p: Params) -> list[dict[str, Any]]:
    return queries.customers(conn, customer_id=p.filters.get("customer"),
                             group=p.filters.get("group"))


@report("credit", "Credit control",
        "Customers over their credit limit or with an overdue balance at the end of "
        "--to: balance, limit, over by, overdue by age, oldest unpaid charge.",
        options=("to", "customer", "group"))
def credit(conn: OfficeConnection, p: Params) -> Report:
    as_of = p.end
    owing = daily.agings(conn, p.tz, p.credit_due_days, today=as_of, as_of=as_of,
                         customer_id=p.filters.get("customer"), group=p.filters.get("group"))
    rows: list[dict[str, Any]] = []
    for c in _scope(conn, p):
        if c["customer_id"] not in owing:
            continue
        balance, aged = owing[c["customer_id"]]
        limit = account.limit_of(c)
        over = 0 if limit is None else max(0, balance - limit)
        if over == 0 and aged.overdue == 0:
            continue
        rows.append({"customer": c["customer_id"], "name": c["name"],
                     "terms": c["payment_terms"], "balance": balance,
                     "credit_limit": c["credit_limit"], "over_by": over,
                     **aged.buckets, "overdue": aged.overdue,
                     "oldest_unpaid": None if aged.oldest_unpaid is None
                     else aged.oldest_unpaid.isoformat()})
    rows.sort(key=lambda r: (-r["overdue"], -r["over_by"], r["customer"]))
    columns = (Column("customer", "Customer"), Column("name", "Name"),
               Column("terms", "Terms"), Column("balance", "Balance", "money"),
               Column("credit_limit", "Credit limit", "money"),
               Column("over_by", "Over limit by", "money"),
               *(Column(b, BUCKET_TITLES[b], "money") for b in BUCKETS),
               Column("overdue", "Overdue", "money"),
               Column("oldest_unpaid", "Oldest unpaid", "date"))
    figures = ("balance", "over_by", *BUCKETS, "overdue")
    return Report("credit", "Credit control", columns, rows, None,
                  subtitle=f"as of {as_of.isoformat()} (end of day), charges due "
                           f"{p.credit_due_days} days after the sale"
                           + "".join(f", {k} {v}" for k, v in p.filters.items()),
                  totals={k: sum(r[k] for r in rows) for k in figures})


@report("payments", "Payment patterns",
        "Per customer, the payments received in the range: count, total, average days "
        "from charge to payment (first in, first out), share paid on time, last payment.",
        options=("from", "to", "customer", "group"))
def payments(conn: OfficeConnection, p: Params) -> Report:
    customer = p.filters.get("customer")
    payers = ("SELECT DISTINCT customer_id FROM account_entries WHERE kind = 'payment' "
              "AND value_date >= ? AND value_date <= ?"
              + ("" if customer is None else " AND customer_id = ?"))
    payer_args: list[Any] = [p.start.isoformat(), p.end.isoformat()]
    payer_args += [] if customer is None else [customer]
    charges = daily.charge_days(conn, p.tz, as_of=p.end, customers=payers,
                                customer_args=payer_args)
    credits: dict[str, list[tuple[date, int, bool]]] = {}
    for e in queries.credits_of(conn, payers, payer_args, last_day=p.end.isoformat()):
        credits.setdefault(e[0], []).append((date.fromisoformat(e[1]), e[2], e[3]))
    names = {c["customer_id"]: c for c in queries.customers(
        conn, customer_id=customer, group=p.filters.get("group"), among=(payers, payer_args))}
    rows: list[dict[str, Any]] = []
    for customer_id in sorted(set(credits) & set(names)):
        mine = credits[customer_id]
        settled = [s for s in settle(charges.get(customer_id, []), mine, p.credit_due_days)
                   if p.start <= s.payment_day <= p.end]
        if not settled:
            continue
        applied = sum(s.applied for s in settled)
        rows.append({
            "customer": customer_id, "name": names[customer_id]["name"],
            "terms": names[customer_id]["payment_terms"], "payments": len(settled),
            "total": sum(s.amount for s in settled), "settled": applied,
            "avg_days": round(sum(s.amount_days for s in settled) / applied, 1)
            if applied else None,
            "on_time": round(sum(s.on_time for s in settled) / applied, 2)
            if applied else None,
            "last_payment": max(s.payment_day for s in settled).isoformat(),
            "balance": sum(c for _d, c in charges.get(customer_id, []))
            - sum(amount for _d, amount, _p in mine)})
    rows.sort(key=lambda r: (-r["total"], r["customer"]))
    columns = (Column("customer", "Customer"), Column("name", "Name"),
               Column("terms", "Terms"), Column("payments", "Payments", "count"),
               Column("total", "Paid", "money"),
               Column("settled", "Settled charges", "money"),
               Column("avg_days", "Average days to pay", "ratio"),
               Column("on_time", "On time (share)", "ratio"),
               Column("last_payment", "Last payment", "date"),
               Column("balance", "Balance at end", "money"))
    return Report("payments", "Payment patterns", columns, rows, None,
                  subtitle=p.words() + f"; charges due {p.credit_due_days} days after the sale",
                  totals={"payments": sum(r["payments"] for r in rows),
                          "total": sum(r["total"] for r in rows),
                          "settled": sum(r["settled"] for r in rows),
                          "balance": sum(r["balance"] for r in rows)})


__all__ = ["statement_columns", "statement_rows", "statement_words"]
