"""Customers' charges per local day, and their balances and aging, set-based.

What a customer owes and how it ages are defined in office.accounts.account and
docs/reports.md ("Accounts"). The credit report asks it of every customer at once,
so it is computed in the database in one statement instead of one query per customer:

- **charge days**: per customer and local day (``[office_reports] timezone``), the sum
  of its charges — each sale's charge (office.accounts.queries.charge_sql), each
  voucher exception charged to it, each debit note;
- **balance**: the charge days' sum plus the credits (payments and credit notes);
- **aging**: credits settle the oldest charges first, so what is unpaid is the newest
  charge days adding up to the balance. A window sum newest-first gives each day what
  newer days already cover; the day then counts ``min(charge, balance - newer)`` in
  the bucket of its days past due (:data:`office.accounts.aging.BUCKET_LIMITS`).

A day is the unit both of aging and of settling (a charge's due date and a payment's
delay are counted in days), so a day's charges are added up before either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from core.periods import local_midnight_utc
from core.timefmt import iso, parse_iso
from office.accounts import queries
from office.accounts.aging import BUCKET_LIMITS, BUCKETS, Aging
from office.db import Vendor
from office.reports import localtime
from office.store import OfficeConnection


@dataclass(frozen=True)
class Scope:
    """Whose accounts: one customer, a group's members, or everyone. ``sql`` is a
    condition on a customer id column written ``{col}``; ``args`` its parameters."""

    sql: str = "1 = 1"
    args: tuple[Any, ...] = ()

    @classmethod
    def of(cls, customer_id: str | None = None, group: str | None = None) -> Scope:
        parts: list[str] = []
        args: list[Any] = []
        if customer_id is not None:
            parts.append("{col} = ?")
            args.append(customer_id)
        if group is not None:
            parts.append("{col} IN (SELECT customer_id FROM group_members WHERE group_id = ?)")
            args.append(group)
        return cls(" AND ".join(parts) or "1 = 1", tuple(args))

    def on(self, column: str) -> str:
        return self.sql.format(col=column)


@dataclass(frozen=True)
class Cut:
    """Up to when: sales and voucher charges before ``hi`` (a UTC instant, None: all
    booked), entries value-dated up to ``last_day``."""

    hi: datetime | None
    last_day: str

    @classmethod
    def at_end_of(cls, day: date | None, tz: tzinfo) -> Cut:
        if day is None:
            return cls(None, "9999-12-31")
        return cls(local_midnight_utc(day + timedelta(days=1), tz), day.isoformat())


def _span(conn: OfficeConnection, cut: Cut) -> tuple[datetime, datetime]:
    """The UTC instants the stored sales and voucher charges span (for SQLite's local
    time ``CASE``; both ends from an index)."""
    found: list[datetime] = []
    for row in (conn.one("SELECT MIN(completed_at), MAX(completed_at) FROM sales"),
                conn.one("SELECT MIN(settled_at), MAX(settled_at) FROM voucher_exceptions "
                         "WHERE status = 'charged'")):
        found += [parse_iso(str(v)) for v in row if v is not None]
    if cut.hi is not None:
        found.append(cut.hi)
    if not found:
        now = datetime.now(UTC)
        return now, now
    return min(found), max(found) + timedelta(seconds=1)


def charge_days_sql(conn: OfficeConnection, tz: tzinfo, cut: Cut, scope: Scope, *,
                    by_day: bool = True) -> tuple[str, list[Any]]:
    """SELECT customer_id, day, charged: the scope's charges per local day before the
    cut (``day`` text ``YYYY-MM-DD`` on SQLite, a date on PostgreSQL; none zero).
    Without ``by_day``: SELECT customer_id, charged, the sums of all its days."""
    vendor: Vendor = conn.vendor
    if by_day:
        lo, hi = _span(conn, cut)

    def day_of(column: str) -> str:
        if not by_day:
            return "NULL"
        return localtime.bucket(vendor, column, by="day", tz=tz, week_start=0, lo=lo, hi=hi)

    until = iso(cut.hi) if cut.hi is not None else None
    sale_where = "1 = 1" if until is None else "s.completed_at < ?"
    sales = queries.sales_sql(f"{sale_where} AND s.card_id IN (SELECT card_id FROM cards "
                              f"WHERE customer_id IS NOT NULL AND {scope.on('customer_id')})")
    voucher_until = "" if until is None else " AND v.settled_at < ?"
    entry_day = "e.value_date" if vendor == "sqlite" else "CAST(e.value_date AS date)"
    if not by_day:
        entry_day = "NULL"
    keys = "customer_id, day" if by_day else "customer_id"
    text = (
        f"SELECT {keys}, SUM(charged) AS charged FROM ("
        f"SELECT c.customer_id, {day_of('t.completed_at')} AS day, "
        f"{queries.charge_sql(vendor)} AS charged FROM ({sales}) t "
        "JOIN cards c ON c.card_id = t.card_id "
        f"UNION ALL SELECT v.customer_id, {day_of('v.settled_at')}, v.value "
        f"FROM voucher_exceptions v WHERE v.status = 'charged'{voucher_until} "
        f"AND {scope.on('v.customer_id')} "
        f"UNION ALL SELECT e.customer_id, {entry_day}, e.amount FROM account_entries e "
        f"WHERE e.amount > 0 AND e.value_date <= ? AND {scope.on('e.customer_id')}"
        f") x GROUP BY {keys} HAVING SUM(charged) > 0")
    args: list[Any] = ([] if until is None else [until]) + list(scope.args)
    args += ([] if until is None else [until]) + list(scope.args)
    args += [cut.last_day, *scope.args]
    return text, args


def credits_sql(cut: Cut, scope: Scope) -> tuple[str, list[Any]]:
    """SELECT customer_id, credited: the scope's payments and credit notes (negative)
    value-dated up to the cut."""
    return ("SELECT customer_id, SUM(amount) AS credited FROM account_entries "
            f"WHERE amount < 0 AND value_date <= ? AND {scope.on('customer_id')} "
            "GROUP BY customer_id", [cut.last_day, *scope.args])


def _past_due(vendor: Vendor, today: date, due_days: int) -> str:
    if vendor == "postgresql":
        return f"(DATE '{today.isoformat()}' - w.day - {int(due_days)})"
    return (f"(CAST(julianday('{today.isoformat()}') - julianday(w.day) AS INTEGER) "
            f"- {int(due_days)})")


def _bucket_sql(past_due: str) -> str:
    branches = " ".join(f"WHEN {past_due} <= {limit} THEN '{name}'"
                        for limit, name in BUCKET_LIMITS)
    return f"CASE {branches} ELSE '{BUCKETS[-1]}' END"


def agings(conn: OfficeConnection, tz: tzinfo, due_days: int, *, today: date,
           as_of: date | None, customer_id: str | None = None, group: str | None = None
           ) -> dict[str, tuple[int, Aging]]:
    """Per customer in the scope who owes something at the end of ``as_of`` (None: all
    booked): (balance, its aging on ``today``)."""
    scope = Scope.of(customer_id, group)
    cut = Cut.at_end_of(as_of, tz)
    days, day_args = charge_days_sql(conn, tz, cut, scope)
    credits, credit_args = credits_sql(cut, scope)
    materialized = "MATERIALIZED "
    rows = conn.execute(
        f"WITH d AS {materialized}({days}), "
        "b AS (SELECT customer_id, SUM(v) AS owed FROM (SELECT customer_id, charged AS v "
        f"FROM d UNION ALL SELECT customer_id, credited FROM ({credits}) k) x "
        "GROUP BY customer_id), "
        "w AS (SELECT d.customer_id, d.day, d.charged, b.owed, SUM(d.charged) OVER ("
        "PARTITION BY d.customer_id ORDER BY d.day DESC ROWS UNBOUNDED PRECEDING) "
        "- d.charged AS newer FROM d JOIN b ON b.customer_id = d.customer_id "
        "WHERE b.owed > 0) "
        f"SELECT w.customer_id, w.owed, {_bucket_sql(_past_due(conn.vendor, today, due_days))}"
        ", SUM(CASE WHEN w.charged < w.owed - w.newer THEN w.charged ELSE w.owed - w.newer "
        "END), MIN(w.day) FROM w WHERE w.newer < w.owed GROUP BY 1, 2, 3",
        [*day_args, *credit_args]).fetchall()
    out: dict[str, tuple[int, Aging]] = {}
    for customer, owed, bucket, part, oldest in rows:
        entry = out.setdefault(str(customer), (int(owed), Aging()))
        aged = entry[1]
        aged.buckets[str(bucket)] += int(part)
        day = date.fromisoformat(localtime.day_text(oldest))
        if aged.oldest_unpaid is None or day < aged.oldest_unpaid:
            aged.oldest_unpaid = day
    for owed, aged in out.values():
        # Owed with no charge to age it by cannot happen (the balance is the charges
        # less credits); were it so, it would count as not yet due, never invented.
        aged.buckets["current"] += owed - sum(aged.buckets.values())
    return out


def charge_days(conn: OfficeConnection, tz: tzinfo, *, as_of: date,
                customers: str, customer_args: list[Any]
                ) -> dict[str, list[tuple[date, int]]]:
    """Per customer among ``customers`` (a SELECT of customer ids): its charges per
    local day up to the end of ``as_of``, oldest first."""
    scope = Scope(f"{{col}} IN ({customers})", tuple(customer_args))
    days, args = charge_days_sql(conn, tz, Cut.at_end_of(as_of, tz), scope)
    out: dict[str, list[tuple[date, int]]] = {}
    for customer, day, charged in conn.execute(f"{days} ORDER BY 1, 2", args).fetchall():
        out.setdefault(str(customer), []).append(
            (date.fromisoformat(localtime.day_text(day)), int(charged)))
    return out
