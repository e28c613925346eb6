"""The floors of the accounts reports (bench/reports.py): what a DBA would write for a
statement, for credit control and for payment patterns, by hand on the same tables.

Each is the bare SQL of the question: a sale's charge (docs/reports.md, "Accounts":
the money due less what money wallets paid, or the litres' part the litre wallets did
not pay) written out, wallet debits summed per sale once and joined, days cut at the
office's local midnight with the same expression the reports use
(office.reports.localtime), aging by a window sum over each customer's charge days
newest first. No names, no Python settling, no formatting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.periods import local_midnight_utc
from core.timefmt import iso, parse_iso
from office.reports import localtime, sql
from office.reports.base import Report
from office.reports.params import Params
from office.store import OfficeConnection

_DEBITS = ("(SELECT d.station_id, d.seq, SUM(CASE WHEN w.unit = 'money' THEN d.value "
           "ELSE 0 END) AS wm, SUM(CASE WHEN w.unit = 'volume' THEN d.value ELSE 0 END) "
           "AS wml FROM wallet_debits d JOIN wallets w ON w.wallet_id = d.wallet_id "
           "GROUP BY d.station_id, d.seq)")


def _charge(vendor: str) -> str:
    due = ("(s.pricing::jsonb ->> 'money_due')::bigint" if vendor == "postgresql"
           else "json_extract(s.pricing, '$.money_due')")
    wm, wml = "COALESCE(p.wm, 0)", "COALESCE(p.wml, 0)"
    raw = (f"CASE WHEN s.pricing IS NOT NULL THEN COALESCE({due}, s.amount) - {wm} "
           f"WHEN {wml} = 0 THEN s.amount - {wm} "
           f"ELSE ((s.volume_ml - {wml}) * s.unit_price + 500) / 1000 - {wm} END")
    return f"{'GREATEST' if vendor == 'postgresql' else 'MAX'}({raw}, 0)"


def _span(conn: OfficeConnection, hi: datetime) -> datetime:
    first = conn.one("SELECT MIN(completed_at) FROM sales")[0]
    return parse_iso(str(first)) if first else hi


def _days(conn: OfficeConnection, p: Params, hi: datetime, customers: str) -> str:
    """Charges per customer and local day before ``hi`` (``customers``: a condition on
    ``{col}``); parameters: the cut twice, the last day."""
    lo = _span(conn, hi)

    def day(column: str) -> str:
        return localtime.bucket(conn.vendor, column, by="day", tz=p.tz, week_start=0,
                                lo=lo, hi=hi)

    entry_day = "value_date" if conn.vendor == "sqlite" else "CAST(value_date AS date)"
    return (
        "SELECT customer_id, day, SUM(charged) AS charged FROM ("
        f"SELECT c.customer_id, {day('s.completed_at')} AS day, {_charge(conn.vendor)} "
        f"AS charged FROM sales s JOIN cards c ON c.card_id = s.card_id LEFT JOIN {_DEBITS} "
        "p ON p.station_id = s.station_id AND p.seq = s.seq WHERE s.completed_at < ? AND "
        f"{customers.format(col='c.customer_id')} "
        f"UNION ALL SELECT customer_id, {day('settled_at')}, value FROM voucher_exceptions "
        f"WHERE status = 'charged' AND settled_at < ? AND {customers.format(col='customer_id')} "
        f"UNION ALL SELECT customer_id, {entry_day}, amount FROM account_entries WHERE "
        f"amount > 0 AND value_date <= ? AND {customers.format(col='customer_id')}"
        ") x GROUP BY customer_id, day HAVING SUM(charged) > 0")


def credit(conn: OfficeConnection, p: Params) -> Any:
    """Per owing customer: its balance, terms, limit, and its unpaid part per bucket
    (the bucket as days past due, cut in Python)."""
    hi = local_midnight_utc(p.end + timedelta(days=1), p.tz)
    last = p.end.isoformat()
    if conn.vendor == "postgresql":
        past = f"(DATE '{last}' - w.day - {p.credit_due_days})"
    else:
        past = f"(CAST(julianday('{last}') - julianday(w.day) AS INTEGER) - {p.credit_due_days})"
    return list(conn.execute(
        f"WITH d AS MATERIALIZED ({_days(conn, p, hi, 'customer_id IS NOT NULL')}), "
        "b AS (SELECT customer_id, SUM(v) AS owed FROM (SELECT customer_id, charged AS v "
        "FROM d UNION ALL SELECT customer_id, amount FROM account_entries WHERE amount < 0 "
        "AND value_date <= ?) y GROUP BY customer_id), "
        "w AS (SELECT d.customer_id, d.day, d.charged, b.owed, SUM(d.charged) OVER "
        "(PARTITION BY d.customer_id ORDER BY d.day DESC ROWS UNBOUNDED PRECEDING) - d.charged "
        "AS newer FROM d JOIN b ON b.customer_id = d.customer_id WHERE b.owed > 0) "
        f"SELECT w.customer_id, w.owed, cu.payment_terms, cu.credit_limit, {past} > 0, "
        "SUM(CASE WHEN w.charged < w.owed - w.newer THEN w.charged ELSE w.owed - w.newer END) "
        "FROM w JOIN customers cu ON cu.customer_id = w.customer_id WHERE w.newer < w.owed "
        "GROUP BY 1, 2, 3, 4, 5",
        [iso(hi), iso(hi), last, last]).fetchall())


def credit_agree(report: Report, rows: Any) -> tuple[Any, Any]:
    """(customers listed, their balances, over the limit by, overdue), both ways."""
    owing: dict[str, list[Any]] = {}
    for customer, owed, terms, limit, overdue, part in rows:
        entry = owing.setdefault(customer, [int(owed), terms, limit, 0])
        entry[3] += int(part) if overdue else 0
    listed = []
    for owed, terms, limit, overdue in owing.values():
        allowed = 0 if terms != "credit" else limit
        over = 0 if allowed is None else max(0, owed - int(allowed))
        if over or overdue:
            listed.append((owed, over, overdue))
    mine = (len(report.rows), *(sum(r[k] for r in report.rows)
                               for k in ("balance", "over_by", "overdue")))
    return mine, (len(listed), *(sum(x[i] for x in listed) for i in range(3)))


_PAYERS = ("{col} IN (SELECT customer_id FROM account_entries WHERE kind = 'payment' "
           "AND value_date >= ? AND value_date <= ?)")


def payments(conn: OfficeConnection, p: Params) -> Any:
    """The payers' charge days and their credits up to the end: what settling reads."""
    hi = local_midnight_utc(p.end + timedelta(days=1), p.tz)
    first, last = p.start.isoformat(), p.end.isoformat()
    days = conn.execute(_days(conn, p, hi, _PAYERS),
                        [iso(hi), first, last, iso(hi), first, last, last, first, last]
                        ).fetchall()
    credits = conn.execute(
        "SELECT customer_id, value_date, amount, kind FROM account_entries WHERE amount < 0 "
        f"AND value_date <= ? AND {_PAYERS.format(col='customer_id')} "
        "ORDER BY customer_id, value_date, id", [last, first, last]).fetchall()
    return list(days), list(credits), (first, last)


def payments_agree(report: Report, found: Any) -> tuple[Any, Any]:
    """(payments, paid, balances at the end), both ways."""
    days, credits, (first, last) = found
    paid = [int(r[2]) for r in credits if r[3] == "payment" and first <= str(r[1]) <= last]
    balance = sum(int(r[2]) for r in days) + sum(int(r[2]) for r in credits)
    mine = tuple(sum(r[k] for r in report.rows) for k in ("payments", "total", "balance"))
    return mine, (len(paid), -sum(paid), balance)


def statement(conn: OfficeConnection, p: Params) -> Any:
    """One customer's period: its sales with their charges, the charges and credits
    before it (the opening balance), the vouchers and entries in it."""
    customer = p.filters["customer"]
    lo, hi = (local_midnight_utc(p.start, p.tz),
              local_midnight_utc(p.end + timedelta(days=1), p.tz))
    first, last = p.start.isoformat(), p.end.isoformat()
    lines = conn.execute(
        f"SELECT s.completed_at, s.volume_ml, s.amount, {sql.discount(conn.vendor)} AS "
        f"discount, {_charge(conn.vendor)} FROM sales s JOIN cards c ON c.card_id = s.card_id "
        f"LEFT JOIN {_DEBITS} p ON p.station_id = s.station_id AND p.seq = s.seq "
        "WHERE c.customer_id = ? AND s.completed_at >= ? AND s.completed_at < ? "
        "ORDER BY s.completed_at, s.station_id, s.seq", [customer, iso(lo), iso(hi)]).fetchall()
    before = conn.one(
        f"SELECT SUM({_charge(conn.vendor)}) FROM sales s JOIN cards c ON c.card_id = s.card_id "
        f"LEFT JOIN {_DEBITS} p ON p.station_id = s.station_id AND p.seq = s.seq "
        "WHERE c.customer_id = ? AND s.completed_at < ?", [customer, iso(lo)])[0]
    vouchers = conn.execute(
        "SELECT settled_at, value FROM voucher_exceptions WHERE status = 'charged' AND "
        "customer_id = ? AND settled_at < ?", [customer, iso(hi)]).fetchall()
    entries = conn.execute(
        "SELECT value_date, amount FROM account_entries WHERE customer_id = ? AND "
        "value_date <= ?", [customer, last]).fetchall()
    return list(lines), int(before or 0), list(vouchers), list(entries), (iso(lo), first)


def statement_agree(report: Report, found: Any) -> tuple[Any, Any]:
    """(sales on the statement, opening balance, closing balance), both ways."""
    lines, before, vouchers, entries, (lo, first) = found
    opening = before + sum(int(v) for at, v in vouchers if str(at) < lo) \
        + sum(int(a) for day, a in entries if str(day) < first)
    closing = before + sum(int(r[4]) for r in lines) + sum(int(v) for _at, v in vouchers) \
        + sum(int(a) for _day, a in entries)
    rows = report.rows
    mine = (sum(1 for r in rows if r["kind"] == "sale"), rows[0]["balance"],
            rows[-1]["balance"])
    return mine, (len(lines), opening, closing)
