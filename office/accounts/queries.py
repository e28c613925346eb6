"""The SQL of customers' accounts: what each sale charges, and the account's movements.

**What a sale charges to its customer's account** (docs/reports.md, "Accounts") is the
part of its amount that nothing prepaid paid, read from what the station recorded:

- a sale the pricing rules priced (``pricing`` not NULL): ``money_due`` (the amount less
  the voucher, the litre wallets' share and the points: core.rules.pricing) less what
  the money wallets paid of it (``wallet_debits`` of money wallets;
  edge.pricing_sale.plan_priced_debits draws them from ``money_due``);
- a sale without pricing: litre wallets paid ``wallet_ml`` of the volume first, money
  wallets then paid part of the rest (core.rules.authorization ``_plan``/``draw``), so
  the charge is ``amount_for(volume_ml - wallet_ml, unit_price)`` (the whole ``amount``
  when no litre wallet paid) less the money wallets' debits.

Never below zero. A debit of a wallet the office does not know (no row in ``wallets``)
pays nothing here, so the sale is charged in full: the statement shows it and a
clerk corrects it with a credit note, rather than a charge silently lost. A voucher
exception the office *charged* to the customer (office.vouchers.ledger) charges its
value on the day it was settled.

Times in the store are ISO UTC text; ``lo``/``hi`` are such texts (``hi`` excluded).
Account entries are dated by their local ``value_date`` (``YYYY-MM-DD`` text).
"""

from __future__ import annotations

from typing import Any

from office.db import Vendor
from office.reports.filters import CUSTOMER_CARDS
from office.store import OfficeConnection

#: Per sale with wallet debits: what money wallets (``wm``) and litre wallets (``wml``)
#: paid of it. Joined to the sales rather than asked per sale: one pass over the debits.
_DEBIT_SUMS = ("(SELECT d.station_id, d.seq, "
               "CAST(SUM(CASE WHEN w.unit = 'money' THEN d.value ELSE 0 END) AS BIGINT) AS wm, "
               "CAST(SUM(CASE WHEN w.unit = 'volume' THEN d.value ELSE 0 END) AS BIGINT) AS wml "
               "FROM wallet_debits d JOIN wallets w ON w.wallet_id = d.wallet_id "
               "GROUP BY d.station_id, d.seq)")


def _json_int(vendor: Vendor, column: str, key: str) -> str:
    if vendor == "postgresql":
        return f"(({column})::jsonb ->> '{key}')::bigint"
    return f"json_extract({column}, '$.{key}')"


def charge_sql(vendor: Vendor, alias: str = "t") -> str:
    """The charge of a sale row of :func:`sales_sql` (``alias``: its alias)."""
    a = alias
    due = _json_int(vendor, f"{a}.pricing", "money_due")
    raw = (f"CASE WHEN {a}.pricing IS NOT NULL THEN COALESCE({due}, {a}.amount) - {a}.wm "
           f"WHEN {a}.wml = 0 THEN {a}.amount - {a}.wm "
           f"ELSE (({a}.volume_ml - {a}.wml) * {a}.unit_price + 500) / 1000 - {a}.wm END")
    biggest = "GREATEST" if vendor == "postgresql" else "MAX"
    return f"{biggest}({raw}, 0)"


def discount_sql(vendor: Vendor, alias: str = "t") -> str:
    """A sale's discount: its list amount less its amount (0 without pricing)."""
    from office.ledger.rollups import discount_sql as discount

    return discount(vendor, f"{alias}.pricing", f"{alias}.amount")


def sales_sql(where: str) -> str:
    """The customer's sales (``where`` on ``s``) with the money (``wm``) and litres
    (``wml``) their wallets paid; select from it ``AS t``."""
    return ("SELECT s.station_id, s.seq, s.sale_id, s.card_id, s.product, s.volume_ml, "
            "s.unit_price, s.amount, s.completed_at, s.pricing, COALESCE(p.wm, 0) AS wm, "
            f"COALESCE(p.wml, 0) AS wml FROM sales s LEFT JOIN {_DEBIT_SUMS} p "
            f"ON p.station_id = s.station_id AND p.seq = s.seq WHERE {where}")


def sale_lines(conn: OfficeConnection, customer_id: str, lo: str, hi: str
               ) -> list[dict[str, Any]]:
    """The customer's sales completed in [lo, hi): each with its discount, what money
    and litre wallets paid, and its charge; in time order."""
    vendor = conn.vendor
    inner = sales_sql(f"s.card_id IN ({CUSTOMER_CARDS}) AND s.completed_at >= ? "
                      "AND s.completed_at < ?")
    rows = conn.execute(
        f"SELECT t.*, {discount_sql(vendor)} AS discount, {charge_sql(vendor)} AS charge "
        f"FROM ({inner}) t ORDER BY t.completed_at, t.station_id, t.seq",
        (customer_id, lo, hi)).fetchall()
    return [{k: r[k] for k in ("station_id", "seq", "sale_id", "card_id", "product",
                               "volume_ml", "amount", "completed_at", "wm", "wml",
                               "discount", "charge")} for r in rows]


def voucher_charges(conn: OfficeConnection, lo: str | None, hi: str,
                    customer_id: str | None = None) -> list[dict[str, Any]]:
    """Voucher exceptions charged to a customer, settled in [lo, hi)."""
    where, args = "status = 'charged' AND settled_at < ?", [hi]
    if lo is not None:
        where += " AND settled_at >= ?"
        args.append(lo)
    if customer_id is not None:
        where += " AND customer_id = ?"
        args.append(customer_id)
    rows = conn.execute(
        "SELECT customer_id, serial, station_id, sale_id, value, settled_at, note "
        f"FROM voucher_exceptions WHERE {where} ORDER BY settled_at, id", args).fetchall()
    return [{k: r[k] for k in ("customer_id", "serial", "station_id", "sale_id", "value",
                               "settled_at", "note")} for r in rows]


def entries(conn: OfficeConnection, *, first_day: str | None, last_day: str,
            customer_id: str | None = None, kind: str | None = None
            ) -> list[dict[str, Any]]:
    """Account entries dated ``first_day``..``last_day`` (None: from the start), in date
    and booking order."""
    where, args = "value_date <= ?", [last_day]
    if first_day is not None:
        where += " AND value_date >= ?"
        args.append(first_day)
    if customer_id is not None:
        where += " AND customer_id = ?"
        args.append(customer_id)
    if kind is not None:
        where += " AND kind = ?"
        args.append(kind)
    rows = conn.execute(
        "SELECT id, customer_id, kind, amount, method, reference, value_date, reason, at, "
        f"actor, via FROM account_entries WHERE {where} ORDER BY value_date, id",
        args).fetchall()
    return [{k: r[k] for k in ("id", "customer_id", "kind", "amount", "method", "reference",
                               "value_date", "reason", "at", "actor", "via")} for r in rows]


def credits_of(conn: OfficeConnection, customers: str, customer_args: list[Any], *,
               last_day: str) -> list[tuple[str, str, int, bool]]:
    """(customer, value date, amount, is a payment) of the payments and credit notes
    value-dated up to ``last_day`` of the customers of ``customers`` (a SELECT of
    customer ids), each customer's in date and booking order; amounts as credited
    (positive)."""
    rows = conn.execute(
        "SELECT customer_id, value_date, -amount, kind FROM account_entries WHERE "
        f"amount < 0 AND value_date <= ? AND customer_id IN ({customers}) "
        "ORDER BY customer_id, value_date, id", [last_day, *customer_args]).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), r[3] == "payment") for r in rows]


def wallet_entries(conn: OfficeConnection, customer_id: str, lo: str | None, hi: str
                   ) -> list[dict[str, Any]]:
    """Top-ups, adjustments and opening balances of the wallets of the customer's cards,
    made in [lo, hi) (``lo`` None: from the start)."""
    where, args = "e.at < ?", [customer_id, hi]
    if lo is not None:
        where += " AND e.at >= ?"
        args.append(lo)
    rows = conn.execute(
        "SELECT e.id, e.wallet_id, w.card_id, w.unit, e.kind, e.value, e.at, e.actor, "
        "e.reason FROM wallet_entries e JOIN wallets w ON w.wallet_id = e.wallet_id "
        f"WHERE w.card_id IN ({CUSTOMER_CARDS}) AND {where} ORDER BY e.at, e.id",
        args).fetchall()
    return [{k: r[k] for k in ("id", "wallet_id", "card_id", "unit", "kind", "value", "at",
                               "actor", "reason")} for r in rows]


def wallet_totals(conn: OfficeConnection, customer_id: str, hi: str) -> tuple[int, int]:
    """(money, ml) in the wallets of the customer's cards just before ``hi``: their
    entries before ``hi`` less the debits of sales completed before ``hi``."""
    put = {str(r[0]): int(r[1] or 0) for r in conn.execute(
        "SELECT w.unit, SUM(e.value) FROM wallet_entries e JOIN wallets w "
        f"ON w.wallet_id = e.wallet_id WHERE w.card_id IN ({CUSTOMER_CARDS}) AND e.at < ? "
        "GROUP BY w.unit", (customer_id, hi)).fetchall()}
    spent = {str(r[0]): int(r[1] or 0) for r in conn.execute(
        "SELECT w.unit, SUM(d.value) FROM wallet_debits d JOIN wallets w "
        "ON w.wallet_id = d.wallet_id JOIN sales s ON s.station_id = d.station_id "
        f"AND s.seq = d.seq WHERE w.card_id IN ({CUSTOMER_CARDS}) AND s.completed_at < ? "
        "GROUP BY w.unit", (customer_id, hi)).fetchall()}
    return (put.get("money", 0) - spent.get("money", 0),
            put.get("volume", 0) - spent.get("volume", 0))


def customers(conn: OfficeConnection, *, customer_id: str | None = None,
              group: str | None = None, among: tuple[str, list[Any]] | None = None
              ) -> list[dict[str, Any]]:
    """Customers (one, a group's members, or all; ``among``: only those of a SELECT of
    customer ids and its parameters) with their terms and credit limit."""
    where, args = "1 = 1", []
    if among is not None:
        where += f" AND c.customer_id IN ({among[0]})"
        args += among[1]
    if customer_id is not None:
        where += " AND c.customer_id = ?"
        args.append(customer_id)
    if group is not None:
        where += " AND c.customer_id IN (SELECT customer_id FROM group_members WHERE " \
                 "group_id = ?)"
        args.append(group)
    rows = conn.execute(
        "SELECT c.customer_id, c.name, c.payment_terms, c.credit_limit, c.addresses, "
        f"c.closed_at FROM customers c WHERE {where} ORDER BY c.customer_id", args).fetchall()
    return [{k: r[k] for k in ("customer_id", "name", "payment_terms", "credit_limit",
                               "addresses", "closed_at")} for r in rows]
