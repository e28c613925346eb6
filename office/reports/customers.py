"""Customer reports: top customers, acquisition, churn, birthdays, the customer mix and
lifetime value.

A customer's sales are those of every card it holds or held (``cards.customer_id``;
a reissued card's old sales stay its own). Turnover is the sales' ``amount`` (what the
fuel cost the customer after discounts); volume in ml.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core.timefmt import iso
from office.reports import localtime, sql
from office.reports.base import Chart, Column, Report
from office.reports.consumption import FIGURES
from office.reports.filters import sales_where
from office.reports.params import Params
from office.reports.registry import report
from office.store import OfficeConnection

_WHO = (Column("customer", "Customer"), Column("name", "Name"))


def _names(conn: OfficeConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Name, phones and e-mails of the customers ``ids``."""
    return {r["customer_id"]: dict(r) for r in sql.rows_in(
        conn, "SELECT customer_id, name, phones, emails, birthday FROM customers",
        "customer_id", ids)}


def _first(json_list: str | None) -> str:
    import json

    if not json_list or json_list == "[]":  # most e-mail lists: no parse needed
        return ""
    try:
        items = json.loads(json_list)
    except ValueError:
        return ""
    return str(items[0]) if isinstance(items, list) and items else ""


def _group_clause(p: Params, column: str) -> tuple[str, list[Any]]:
    if "group" not in p.filters:
        return "", []
    return (f" AND {column} IN (SELECT customer_id FROM group_members WHERE group_id = ?)",
            [p.filters["group"]])


@report("top-customers", "Top customers",
        "The customers who bought the most in the range, by volume or by amount.",
        options=("from", "to", "station", "group", "product", "order", "limit"))
def top_customers(conn: OfficeConnection, p: Params) -> Report:
    where, args = sales_where(p)
    order = "SUM(s.volume_ml)" if p.order == "volume" else "SUM(s.amount)"
    rows = conn.execute(
        "SELECT c.customer_id AS customer, COUNT(*) AS sales, SUM(s.volume_ml) AS volume_ml, "
        f"SUM(s.amount) AS amount, SUM({sql.discount(conn.vendor)}) AS discount "
        f"FROM sales s JOIN cards c ON c.card_id = s.card_id WHERE {where} "
        f"AND c.customer_id IS NOT NULL GROUP BY c.customer_id "
        f"ORDER BY {order} DESC, c.customer_id LIMIT ?", [*args, p.limit]).fetchall()
    names = _names(conn, [r["customer"] for r in rows])
    out = []
    for rank, r in enumerate(rows, start=1):
        sales = int(r["sales"])
        out.append({"rank": rank, "customer": r["customer"],
                    "name": names.get(r["customer"], {}).get("name", ""), "sales": sales,
                    "volume_ml": int(r["volume_ml"]), "amount": int(r["amount"]),
                    "discount": int(r["discount"]),
                    "average_fill_ml": int(r["volume_ml"]) // sales})
    return Report("top-customers", f"Top {p.limit} customers by {p.order}",
                  (Column("rank", "#", "count"), *_WHO, *FIGURES,
                   Column("average_fill_ml", "Average fill", "ml")), out,
                  Chart("bar", "name", "volume_ml" if p.order == "volume" else "amount"),
                  subtitle=p.words())


@report("acquisition", "Customer acquisition",
        "New customers per period (and customers closed), by when they were registered.",
        options=("from", "to", "group", "by"))
def acquisition(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    lo, hi = sql.bounds(p)
    out: dict[str, dict[str, Any]] = {d: {"period": d, "new": 0, "closed": 0}
                                      for d in sql.periods(p)}
    for key, column in (("new", "created_at"), ("closed", "closed_at")):
        bucket = localtime.bucket(vendor, f"cu.{column}", by=p.by, tz=p.tz,
                                  week_start=p.week_start, lo=lo, hi=hi)
        extra, extra_args = _group_clause(p, "cu.customer_id")
        for r in conn.execute(
                f"SELECT {bucket} AS period, COUNT(*) AS n FROM customers cu "
                f"WHERE cu.{column} >= ? AND cu.{column} < ? AND cu.merged_into IS NULL"
                f"{extra} GROUP BY 1", [p.utc_start, p.utc_end, *extra_args]):
            period = localtime.day_text(r["period"])
            out.setdefault(period, {"period": period, "new": 0, "closed": 0})[key] = int(r["n"])
    rows = sorted(out.values(), key=lambda r: r["period"])
    return Report("acquisition", f"New customers by {p.by}",
                  (Column("period", "Period", "date"), Column("new", "New", "count"),
                   Column("closed", "Closed", "count")), rows,
                  Chart("bar", "period", "new"), subtitle=p.words(),
                  totals={"new": sum(r["new"] for r in rows),
                          "closed": sum(r["closed"] for r in rows)})


def _days_before(vendor: str, column: str, days: int) -> str:
    """SQL: the UTC time text ``days`` before ``column`` (comparable with stored times)."""
    if vendor == "postgresql":
        return (f"to_char(({column}::timestamptz - interval '{int(days)} days') "
                "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')")
    return f"strftime('%Y-%m-%dT%H:%M:%S', substr({column}, 1, 19), '-{int(days)} days')"


@report("churn", "Churn",
        "Customers with no sale for --days days (as of --to): their last sale and the "
        "turnover of their last 90 days of buying.",
        options=("to", "group", "days"))
def churn(conn: OfficeConnection, p: Params) -> Report:
    vendor = conn.vendor
    cutoff = iso(sql.bounds(p)[1] - timedelta(days=p.days))
    extra, extra_args = _group_clause(p, "c.customer_id")
    rows = conn.execute(
        "WITH last AS (SELECT c.customer_id, MAX(s.completed_at) AS last_at "
        "FROM sales s JOIN cards c ON c.card_id = s.card_id "
        f"WHERE s.completed_at < ? AND c.customer_id IS NOT NULL{extra} "
        "GROUP BY c.customer_id) "
        "SELECT l.customer_id AS customer, l.last_at, COUNT(*) AS sales, "
        "SUM(s.volume_ml) AS volume_ml, SUM(s.amount) AS amount "
        "FROM last l JOIN cards c ON c.customer_id = l.customer_id "
        "JOIN sales s ON s.card_id = c.card_id AND s.completed_at <= l.last_at "
        f"AND s.completed_at > {_days_before(vendor, 'l.last_at', 90)} "
        "WHERE l.last_at < ? GROUP BY l.customer_id, l.last_at "
        "ORDER BY SUM(s.amount) DESC, l.customer_id",
        [p.utc_end, *extra_args, cutoff]).fetchall()
    info = _names(conn, [r["customer"] for r in rows])
    out = []
    for r in rows:
        last_local = localtime.text(r["last_at"], p.tz)
        who = info.get(r["customer"], {})
        out.append({"customer": r["customer"], "name": who.get("name", ""),
                    "phone": _first(who.get("phones")), "last_sale": last_local,
                    "days_since": (p.end - date.fromisoformat(last_local[:10])).days,
                    "sales_90d": int(r["sales"]), "volume_90d_ml": int(r["volume_ml"]),
                    "amount_90d": int(r["amount"])})
    return Report("churn", f"Customers with no sale for {p.days} days",
                  (*_WHO, Column("phone", "Phone"), Column("last_sale", "Last sale", "datetime"),
                   Column("days_since", "Days since", "count"),
                   Column("sales_90d", "Sales (last 90 days)", "count"),
                   Column("volume_90d_ml", "Volume (last 90 days)", "ml"),
                   Column("amount_90d", "Amount (last 90 days)", "money")), out,
                  subtitle=f"as of {p.end.isoformat()}"
                  + (f", group {p.filters['group']}" if "group" in p.filters else ""))


@report("birthdays", "Birthdays",
        "Open customers whose birthday falls in --month, by day, with their age and "
        "contacts.", options=("month", "group"))
def birthdays(conn: OfficeConnection, p: Params) -> Report:
    extra, extra_args = _group_clause(p, "customer_id")
    first = ("(phones::jsonb ->> 0) AS phone, (emails::jsonb ->> 0) AS email"
             if conn.vendor == "postgresql" else
             "json_extract(phones, '$[0]') AS phone, json_extract(emails, '$[0]') AS email")
    rows = conn.execute(
        f"SELECT customer_id, name, birthday, {first} FROM customers "
        "WHERE birthday IS NOT NULL AND substr(birthday, 6, 2) = ? AND closed_at IS NULL "
        f"AND merged_into IS NULL{extra} ORDER BY substr(birthday, 9, 2), name, customer_id",
        [f"{p.month:02d}", *extra_args]).fetchall()
    year = p.today.year if p.month >= p.today.month else p.today.year + 1
    out = [{"day": r["birthday"][5:], "customer": r["customer_id"], "name": r["name"],
            "birthday": r["birthday"], "turns": year - int(r["birthday"][:4]),
            "phone": r["phone"] or "", "email": r["email"] or ""} for r in rows]
    return Report("birthdays", f"Birthdays in {date(year, p.month, 1):%B %Y}",
                  (Column("day", "Day"), *_WHO, Column("birthday", "Birthday", "date"),
                   Column("turns", "Turns", "count"), Column("phone", "Phone"),
                   Column("email", "E-mail")), out, subtitle=f"{len(out)} customers")


AGE_BANDS = ((0, 24, "under 25"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 64, "55-64"), (65, 200, "65 and over"))


def _age_band(at: date) -> str:
    age = (f"({at.year} - CAST(substr(cu.birthday, 1, 4) AS INTEGER) - CASE WHEN "
           f"substr(cu.birthday, 6, 5) > '{at:%m-%d}' THEN 1 ELSE 0 END)")
    whens = " ".join(f"WHEN {age} BETWEEN {lo} AND {hi} THEN '{name}'"
                     for lo, hi, name in AGE_BANDS)
    return f"(CASE WHEN cu.birthday IS NULL THEN 'unknown' {whens} ELSE 'unknown' END)"


@report("customer-mix", "Customer mix",
        "Customers and their buying in the range by age band, region, occupation or "
        "category.", options=("from", "to", "group", "per"),
        per=("age", "region", "occupation", "category"))
def customer_mix(conn: OfficeConnection, p: Params) -> Report:
    per = p.per or "age"
    key = _age_band(p.end) if per == "age" else f"COALESCE(cu.{per}, '')"
    extra, extra_args = _group_clause(p, "cu.customer_id")
    counted = {r["k"]: int(r["n"]) for r in conn.execute(
        f"SELECT {key} AS k, COUNT(*) AS n FROM customers cu WHERE cu.closed_at IS NULL "
        f"AND cu.merged_into IS NULL{extra} GROUP BY 1", extra_args)}
    where, args = sales_where(p)
    bought = {r["k"]: r for r in conn.execute(
        f"SELECT {key} AS k, COUNT(DISTINCT cu.customer_id) AS active, COUNT(*) AS sales, "
        "SUM(s.volume_ml) AS volume_ml, SUM(s.amount) AS amount FROM sales s "
        "JOIN cards c ON c.card_id = s.card_id JOIN customers cu "
        f"ON cu.customer_id = c.customer_id WHERE {where}{extra} GROUP BY 1",
        [*args, *extra_args])}
    order = [name for _lo, _hi, name in AGE_BANDS] + ["unknown"] if per == "age" else \
        sorted(set(counted) | set(bought), key=lambda k: (k == "", str(k)))
    out = []
    for k in order:
        if k not in counted and k not in bought:
            continue
        b = bought.get(k)
        out.append({per: k or "(none)", "customers": counted.get(k, 0),
                    "active": int(b["active"]) if b else 0,
                    "sales": int(b["sales"]) if b else 0,
                    "volume_ml": int(b["volume_ml"]) if b else 0,
                    "amount": int(b["amount"]) if b else 0})
    return Report("customer-mix", f"Customers by {per}",
                  (Column(per, per.capitalize()), Column("customers", "Customers", "count"),
                   Column("active", "Bought in range", "count"), *FIGURES[:3]), out,
                  Chart("bar", per, "amount"), subtitle=p.words(),
                  totals={c: sum(r[c] for r in out)
                          for c in ("customers", "active", "sales", "volume_ml", "amount")})


@report("customer-value", "Customer lifetime value",
        "Per customer over all their sales up to --to: lifetime turnover, first and last "
        "sale, visits per month and the average fill.",
        options=("to", "group", "order", "limit"))
def customer_value(conn: OfficeConnection, p: Params) -> Report:
    extra, extra_args = _group_clause(p, "c.customer_id")
    order = "SUM(s.volume_ml)" if p.order == "volume" else "SUM(s.amount)"
    rows = conn.execute(
        "SELECT c.customer_id AS customer, MIN(s.completed_at) AS first_at, "
        "MAX(s.completed_at) AS last_at, COUNT(*) AS sales, SUM(s.volume_ml) AS volume_ml, "
        "SUM(s.amount) AS amount FROM sales s JOIN cards c ON c.card_id = s.card_id "
        f"WHERE s.completed_at < ? AND c.customer_id IS NOT NULL{extra} "
        f"GROUP BY c.customer_id ORDER BY {order} DESC, c.customer_id LIMIT ?",
        [p.utc_end, *extra_args, p.limit]).fetchall()
    names = _names(conn, [r["customer"] for r in rows])
    out = []
    for r in rows:
        first, last = localtime.text(r["first_at"], p.tz), localtime.text(r["last_at"], p.tz)
        days = (date.fromisoformat(last[:10]) - date.fromisoformat(first[:10])).days + 1
        months = max(days / 30.4375, 1.0)
        sales = int(r["sales"])
        out.append({"customer": r["customer"],
                    "name": names.get(r["customer"], {}).get("name", ""),
                    "first_sale": first, "last_sale": last, "sales": sales,
                    "volume_ml": int(r["volume_ml"]), "amount": int(r["amount"]),
                    "visits_per_month": round(sales / months, 2),
                    "average_fill_ml": int(r["volume_ml"]) // sales})
    return Report("customer-value", "Customer lifetime value",
                  (*_WHO, Column("first_sale", "First sale", "datetime"),
                   Column("last_sale", "Last sale", "datetime"), *FIGURES[:3],
                   Column("visits_per_month", "Visits a month", "ratio"),
                   Column("average_fill_ml", "Average fill", "ml")), out,
                  Chart("bar", "name", "amount"), subtitle=f"up to {p.end.isoformat()}")
