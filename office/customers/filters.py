"""Filters of the customer list: category, group, region, consent, last sale, turnover and
wallet balance, combinable and usable without a search text — e.g. "no sale in 90 days
but turnover above 1,000.00".

Each filter is a condition of one SQL query over ``customers``. The figures that need
sales or wallets are aggregated in the database (GROUP BY), never per customer in
Python, so they hold up for 100,000 customers and 10 million sales:

- **last sale**: per card, the newest ``completed_at`` (one seek in the ``sales_card``
  index, card id then time), then the newest per customer. A customer's sales are the
  sales of their cards (``sales.card_id`` -> ``cards.customer_id``), those a reissue
  replaced included.
- **turnover**: the sum of sale amounts (minor units) over a window, by default the last
  365 days, grouped by customer.
- **balance**: the sum of the office balances of the customer's wallets of one unit
  (money by default; money and litres are never added): ledger entries minus every
  debit received, as office.cards.wallets.office_balances counts it. A customer with no
  wallet of that unit has no balance and is left out by a balance filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.timefmt import iso, utc_now
from office import db
from office.cards.models import WALLET_UNITS
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.models import CONSENT_CHANNELS

#: The default turnover window.
TURNOVER_DAYS = 365
_DAYS = re.compile(r"^(\d{1,5})\s*d$")


@dataclass(frozen=True)
class Filters:
    """What the listed customers must have; None: no condition. Times are ISO UTC text
    (office.customers.filters.moment turns "90d" or a date into one)."""

    category: str | None = None
    group: str | None = None
    region: str | None = None
    #: A channel whose latest consent event is "given".
    consent: str | None = None
    #: No sale at or after this time (customers who never bought included).
    last_sale_before: str | None = None
    #: A sale at or after this time.
    last_sale_after: str | None = None
    turnover_min: int | None = None
    turnover_max: int | None = None
    #: Start of the turnover window (default: 365 days before now).
    turnover_since: str | None = None
    balance_min: int | None = None
    balance_max: int | None = None
    balance_unit: str = "money"
    #: List closed and merged customers too.
    include_closed: bool = False

    @property
    def active(self) -> bool:
        """Whether any condition beyond "open customers" is set."""
        return any(getattr(self, f.name) is not None for f in fields(self)
                   if f.name not in ("balance_unit", "include_closed", "turnover_since"))

    def since(self, now: datetime | None = None) -> str:
        """The start of the turnover window."""
        return self.turnover_since or iso((now or utc_now()) - timedelta(days=TURNOVER_DAYS))


def moment(field: str, text: str, tz: ZoneInfo, now: datetime | None = None) -> str:
    """``text`` as an ISO UTC time: ``90d`` (90 days before now), a date ``YYYY-MM-DD``
    (its start in ``tz``, the office's time zone) or an ISO time with its offset."""
    value = text.strip()
    days = _DAYS.match(value)
    if days:
        return iso((now or utc_now()) - timedelta(days=int(days.group(1))))
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return iso(datetime(d.year, d.month, d.day, tzinfo=tz))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordRefused(f"{field} must be a number of days (90d), a date YYYY-MM-DD or "
                            f"an ISO time, got {value!r}", field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return iso(parsed.astimezone(UTC))


def clean(values: dict[str, Any], tz: ZoneInfo, now: datetime | None = None) -> Filters:
    """Filters from form or option values (None or "": not given), each checked; an
    unknown category, group, channel or unit is one sentence naming the field."""
    given = {k: v for k, v in values.items() if v is not None and v != ""}
    known = {f.name for f in fields(Filters)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise RecordRefused(f"{unknown[0]} is not a customer filter", field=unknown[0])
    out: dict[str, Any] = {}
    if "category" in given:
        out["category"] = F.text("category", given["category"], required=True)
        if not db.fetchone("SELECT 1 FROM customer_categories WHERE code = ?",
                           (out["category"],)):
            raise RecordRefused(f"category {out['category']!r} is not in the list",
                                reason="unknown", field="category")
    if "group" in given:
        out["group"] = F.text("group", given["group"], required=True)
        if not db.fetchone("SELECT 1 FROM customer_groups WHERE group_id = ?", (out["group"],)):
            raise RecordRefused(f"group {out['group']} does not exist", reason="unknown",
                                field="group")
    if "region" in given:
        out["region"] = F.text("region", given["region"], required=True)
    if "consent" in given:
        out["consent"] = F.choice("consent", given["consent"], CONSENT_CHANNELS)
    for key in ("last_sale_before", "last_sale_after", "turnover_since"):
        if key in given:
            out[key] = moment(key, str(given[key]), tz, now)
    for key in ("turnover_min", "turnover_max"):
        if key in given:
            out[key] = F.amount(key, given[key])
    for key in ("balance_min", "balance_max"):
        if key in given:
            out[key] = F.amount(key, given[key], signed=True)
    if "balance_unit" in given:
        out["balance_unit"] = F.choice("balance_unit", given["balance_unit"], WALLET_UNITS)
    if "include_closed" in given:
        out["include_closed"] = bool(given["include_closed"])
    return Filters(**out)


def _marks(ids: list[str]) -> str:
    return ",".join("?" * len(ids))


def last_sale_sql(restrict: str = "") -> str:
    """Per customer: the time of their newest sale (a seek per card, then the newest)."""
    return ("SELECT k.customer_id AS customer_id, MAX((SELECT MAX(s.completed_at) FROM sales s "
            "WHERE s.card_id = k.card_id)) AS last_sale FROM cards k "
            f"WHERE k.customer_id IS NOT NULL {restrict} GROUP BY k.customer_id")


def turnover_sql(restrict: str = "") -> str:
    """Per customer: the sum of their sales' amounts since ``?``.

    Restricted to some customers (``restrict``), their cards' sales are found in the
    ``sales_card`` index. For every customer, the window holds most sales, and reading
    each through an index costs a random lookup per sale: SQLite is told to read the
    table straight through instead (the unary ``+`` keeps an index from being used), sum
    per card, then per customer; PostgreSQL plans that by itself (hash aggregate).
    """
    if not restrict and db.vendor() == "sqlite":
        return ("SELECT k.customer_id AS customer_id, SUM(t.amount) AS turnover FROM ("
                "SELECT +card_id AS card_id, SUM(amount) AS amount FROM sales "
                "WHERE +completed_at >= ? GROUP BY 1) t "
                "JOIN cards k ON k.card_id = t.card_id GROUP BY k.customer_id")
    return ("SELECT k.customer_id AS customer_id, SUM(s.amount) AS turnover FROM sales s "
            "JOIN cards k ON k.card_id = s.card_id WHERE s.completed_at >= ? "
            f"{restrict} GROUP BY k.customer_id")


def balance_sql(restrict: str = "") -> str:
    """Per customer: the office balances of their wallets of unit ``?``, summed."""
    return ("SELECT k.customer_id AS customer_id, SUM(COALESCE((SELECT SUM(e.value) "
            "FROM wallet_entries e WHERE e.wallet_id = w.wallet_id), 0) - COALESCE(("
            "SELECT SUM(d.value) FROM wallet_debits d WHERE d.wallet_id = w.wallet_id), 0)) "
            "AS balance FROM wallets w JOIN cards k ON k.card_id = w.card_id "
            f"WHERE w.unit = ? {restrict} GROUP BY k.customer_id")


def matching(filters: Filters, *, ids: list[str] | None = None, limit: int | None = None,
             now: datetime | None = None) -> list[str]:
    """The ids of the customers that pass ``filters`` (only among ``ids`` when given), in
    the order of their folded names, at most ``limit``."""
    if ids is not None and not ids:
        return []
    joins: list[str] = []
    join_params: list[Any] = []
    where: list[str] = []
    params: list[Any] = []  # the WHERE values, in the order of ``where``

    # Among a search's candidates, each aggregate counts only theirs.
    restrict = "" if ids is None else f"AND k.customer_id IN ({_marks(ids)})"
    only: list[str] = [] if ids is None else ids

    def cond(sql: str, value: Any) -> None:
        if value is not None:
            where.append(sql)
            params.append(value)

    if filters.turnover_min is not None or filters.turnover_max is not None:
        joins.append(f"LEFT JOIN ({turnover_sql(restrict)}) t "
                     "ON t.customer_id = c.customer_id")
        join_params += [filters.since(now), *only]
        cond("COALESCE(t.turnover, 0) >= ?", filters.turnover_min)
        cond("COALESCE(t.turnover, 0) <= ?", filters.turnover_max)
    if filters.last_sale_before is not None or filters.last_sale_after is not None:
        joins.append(f"LEFT JOIN ({last_sale_sql(restrict)}) l "
                     "ON l.customer_id = c.customer_id")
        join_params += only
        cond("(l.last_sale IS NULL OR l.last_sale < ?)", filters.last_sale_before)
        cond("l.last_sale >= ?", filters.last_sale_after)
    if filters.balance_min is not None or filters.balance_max is not None:
        joins.append(f"JOIN ({balance_sql(restrict)}) b ON b.customer_id = c.customer_id")
        join_params += [filters.balance_unit, *only]
        cond("b.balance >= ?", filters.balance_min)
        cond("b.balance <= ?", filters.balance_max)
    if not filters.include_closed:
        where.append("c.closed_at IS NULL AND c.merged_into IS NULL")
    cond("c.category = ?", filters.category)
    cond("EXISTS (SELECT 1 FROM group_members m WHERE m.customer_id = c.customer_id "
         "AND m.group_id = ?)", filters.group)
    cond("c.region = ?", filters.region)
    if filters.consent is not None:
        where.append("(SELECT e.given FROM consent_events e WHERE e.customer_id = "
                     "c.customer_id AND e.channel = ? ORDER BY e.at DESC, e.id DESC "
                     "LIMIT 1) = ?")
        params += [filters.consent, True]
    if ids is not None:
        where.append(f"c.customer_id IN ({_marks(ids)})")
        params += ids
    sql = (f"SELECT c.customer_id FROM customers c {' '.join(joins)} "
           f"WHERE {' AND '.join(where) or '1 = 1'} ORDER BY c.search_key, c.customer_id")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [str(r[0]) for r in db.fetchall(sql, [*join_params, *params])]


def figures(ids: list[str], *, since: str, unit: str = "money") -> dict[str, dict[str, Any]]:
    """Per customer of ``ids``: ``last_sale`` (None: never), ``turnover`` since ``since``
    and ``balance`` of their ``unit`` wallets (None: no such wallet) — the same sums the
    filters compare, for one page of the list."""
    out: dict[str, dict[str, Any]] = {i: {"last_sale": None, "turnover": 0, "balance": None}
                                      for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        restrict = f"AND k.customer_id IN ({_marks(chunk)})"
        for r in db.fetchall(last_sale_sql(restrict), chunk):
            out[str(r[0])]["last_sale"] = r[1]
        for r in db.fetchall(turnover_sql(restrict), (since, *chunk)):
            out[str(r[0])]["turnover"] = int(r[1] or 0)
        for r in db.fetchall(balance_sql(restrict), (unit, *chunk)):
            out[str(r[0])]["balance"] = int(r[1] or 0)
    return out
