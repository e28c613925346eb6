"""What a customer owes, as of a day: balance, credit limit, aging, last payment.

The **balance** (positive: the customer owes the office) is the sum of every charge —
each sale's part not paid by wallets, vouchers or points (office.accounts.queries),
each voucher exception charged to the customer, each debit note — less every payment
and credit note. As of a local day ``D`` it counts sales completed and voucher charges
settled before the local midnight after ``D`` (``[office_reports] timezone``) and
entries whose value date is ``D`` or before. The same definition holds for every
customer; a prepaid customer's balance is normally zero (its wallets pay) and a
positive one is money its wallets did not cover.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

from office.accounts import daily, queries
from office.accounts.aging import BUCKETS, Aging
from office.store import OfficeConnection

#: After every stored time (the store's ISO texts sort before it).
END_OF_TIME = "9999-12-31T23:59:59.999999Z"


def today(tz: tzinfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(tz).date()


def balances(conn: OfficeConnection, tz: tzinfo, as_of: date | None = None,
             customer_id: str | None = None) -> dict[str, int]:
    """Per customer with any movement: its balance at the end of ``as_of`` (None: all
    booked)."""
    scope = daily.Scope.of(customer_id)
    cut = daily.Cut.at_end_of(as_of, tz)
    charges, charge_args = daily.charge_days_sql(conn, tz, cut, scope, by_day=False)
    credits, credit_args = daily.credits_sql(cut, scope)
    rows = conn.execute(
        f"SELECT customer_id, SUM(v) FROM (SELECT customer_id, charged AS v FROM ({charges}) d "
        f"UNION ALL SELECT customer_id, credited FROM ({credits}) k) x GROUP BY customer_id",
        [*charge_args, *credit_args]).fetchall()
    return {str(r[0]): int(r[1] or 0) for r in rows}


def balance(conn: OfficeConnection, customer_id: str, tz: tzinfo,
            as_of: date | None = None) -> int:
    """The customer's balance at the end of ``as_of`` (None: now, all booked)."""
    return balances(conn, tz, as_of, customer_id).get(customer_id, 0)


def aging_of(conn: OfficeConnection, customer_id: str, tz: tzinfo, due_days: int, *,
             today: date, as_of: date | None = None) -> Aging:
    """The customer's balance at the end of ``as_of`` (None: all booked) aged on
    ``today`` by its newest charges (office.accounts.daily)."""
    found = daily.agings(conn, tz, due_days, today=today, as_of=as_of,
                         customer_id=customer_id)
    return found[customer_id][1] if customer_id in found else Aging()


def limit_of(customer: dict[str, Any]) -> int | None:
    """The credit the customer may run up: its credit limit (None: no limit set) on
    credit terms; nothing (0) when prepaid."""
    if customer["payment_terms"] != "credit":
        return 0
    limit = customer["credit_limit"]
    return None if limit is None else int(limit)


def summary(conn: OfficeConnection, customer_id: str, tz: tzinfo, due_days: int, *,
            now: datetime | None = None, recent: int = 10) -> dict[str, Any]:
    """What ``accounts show`` prints and the console's Account section shows."""
    from office.accounts.service import customer_of

    found = customer_of(customer_id)
    customer = {"customer_id": found.customer_id, "payment_terms": found.payment_terms,
                "credit_limit": found.credit_limit}
    day = today(tz, now)
    owed = balance(conn, customer_id, tz)
    aged = aging_of(conn, customer_id, tz, due_days, today=day)
    limit = limit_of(customer)
    payments = queries.entries(conn, first_day=None, last_day="9999-12-31",
                               customer_id=customer_id)
    last = next((e for e in reversed(payments) if e["kind"] == "payment"), None)
    money, ml = queries.wallet_totals(conn, customer_id, END_OF_TIME)
    return {
        "customer": found.customer_id, "name": found.name,
        "payment_terms": found.payment_terms, "credit_limit": found.credit_limit,
        "balance": owed,
        "available": None if limit is None else limit - owed,
        "over_limit": 0 if limit is None else max(0, owed - limit),
        "overdue": aged.overdue, "aging": dict(aged.buckets),
        "oldest_unpaid": None if aged.oldest_unpaid is None else aged.oldest_unpaid.isoformat(),
        "due_days": due_days, "as_of": day.isoformat(),
        "last_payment": None if last is None else {
            k: (-last["amount"] if k == "amount" else last[k])
            for k in ("value_date", "amount", "method", "reference")},
        "wallets": {"money": money, "volume_ml": ml},
        "recent_entries": [
            {**e, "charge": max(int(e["amount"]), 0), "credit": max(-int(e["amount"]), 0)}
            for e in payments[-recent:][::-1]],
    }


__all__ = ["BUCKETS", "aging_of", "balance", "balances", "summary"]
