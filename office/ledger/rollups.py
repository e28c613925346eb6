"""Daily and monthly roll-ups of the sales, kept exactly once at ingest.

The dashboard must answer "today", "this month", "the last twelve months", "top
stations" and "top customers" in well under a second with ten million sales, which no
scan of ``sales`` does. So every ingest path (MQTT batches, SQLite bulk, PostgreSQL
COPY) adds the sales it newly stores to ``sales_daily`` (local day, station, product)
and ``card_monthly`` (local month, card), in the same transaction as the sales: a sale
stored is counted, a duplicate is not, a rollback takes both back. ``rebuild`` counts
everything again (after the office changes its report time zone; ``rollup_state``
holds the zone the counts are in).

The local day is computed in Python on the MQTT path (zoneinfo) and in SQL on the bulk
paths and in ``rebuild`` (office.reports.localtime); tests hold them to the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from core.timefmt import iso, parse_iso, utc_now
from office.db import Vendor
from office.store import OfficeConnection

log = structlog.get_logger("office.rollups")

_UPSERT_DAILY = (
    "INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, amount, discount) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, station_id, product) DO UPDATE SET "
    "sales = sales_daily.sales + excluded.sales, "
    "volume_ml = sales_daily.volume_ml + excluded.volume_ml, "
    "amount = sales_daily.amount + excluded.amount, "
    "discount = sales_daily.discount + excluded.discount")
_UPSERT_MONTHLY = (
    "INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, discount) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (month, card_id) DO UPDATE SET "
    "sales = card_monthly.sales + excluded.sales, "
    "volume_ml = card_monthly.volume_ml + excluded.volume_ml, "
    "amount = card_monthly.amount + excluded.amount, "
    "discount = card_monthly.discount + excluded.discount")
_ON_CONFLICT_DAILY = _UPSERT_DAILY[_UPSERT_DAILY.index(" ON CONFLICT"):]
_ON_CONFLICT_MONTHLY = _UPSERT_MONTHLY[_UPSERT_MONTHLY.index(" ON CONFLICT"):]
#: PostgreSQL: all the rows of a roll-up in one statement (arrays, one per column).
_FIGURES = "?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]"
_UNNEST_DAILY = (
    "INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, amount, discount) "
    f"SELECT d, ?, p, n, v, a, x FROM unnest(?::text[], ?::text[], {_FIGURES}) "
    f"AS t (d, p, n, v, a, x){_ON_CONFLICT_DAILY}")
_UNNEST_MONTHLY = (
    "INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, discount) "
    f"SELECT m, c, n, v, a, x FROM unnest(?::text[], ?::text[], {_FIGURES}) "
    f"AS t (m, c, n, v, a, x){_ON_CONFLICT_MONTHLY}")


def zone(conn: OfficeConnection) -> str:
    """The IANA time zone the roll-ups count local days in."""
    row = conn.execute("SELECT timezone FROM rollup_state WHERE id = 1").fetchone()
    return str(row[0]) if row else "UTC"


@lru_cache(maxsize=65536)
def _local_day(minute: str, tz: str) -> str:
    at = datetime.fromisoformat(minute + ":00+00:00")
    return at.astimezone(ZoneInfo(tz)).date().isoformat()


def local_day(completed_at: str, tz: str) -> str:
    """The local day (``YYYY-MM-DD``) of a stored UTC time text in zone ``tz``."""
    return _local_day(completed_at[:16], tz)


class Counts:
    """The roll-up figures of sales about to be stored, summed in Python: the MQTT path
    and PostgreSQL's bulk path count the sales they store with this one definition."""

    def __init__(self, tz: str) -> None:
        self.tz = tz
        self.daily: dict[tuple[str, str], list[int]] = {}
        self.monthly: dict[tuple[str, str], list[int]] = {}

    def add(self, completed_at: str, product: str, card_id: str, volume_ml: int,
            amount: int, *, discount: int = 0) -> None:
        """Count one sale (``discount``: its list amount less ``amount``, else 0)."""
        day = _local_day(completed_at[:16], self.tz)
        for table, key in ((self.daily, (day, product)), (self.monthly, (day[:7], card_id))):
            got = table.get(key)
            if got is None:
                table[key] = [1, volume_ml, amount, discount]
            else:
                got[0] += 1
                got[1] += volume_ml
                got[2] += amount
                got[3] += discount

    def days(self, minute: str) -> tuple[str, str]:
        """The local day and month (``YYYY-MM``) of a UTC minute (``completed_at[:16]``)."""
        day = _local_day(minute, self.tz)
        return day, day[:7]

    def add_summed(self, daily: dict[tuple[str, str], list[int]],
                   monthly: dict[tuple[str, str], list[int]]) -> None:
        """Count figures already summed by (local day, product) and (local month
        ``YYYY-MM``, card), each [sales, volume_ml, amount, discount]."""
        for mine, theirs in ((self.daily, daily), (self.monthly, monthly)):
            for key, figures in theirs.items():
                got = mine.get(key)
                if got is None:
                    mine[key] = list(figures)
                else:
                    for i, value in enumerate(figures):
                        got[i] += value

    def add_sale(self, sale: dict[str, Any]) -> None:
        """Count one sale given as a journal row."""
        pricing = sale.get("pricing")
        discount = (int(pricing["list_amount"]) - int(sale["amount"])
                    if isinstance(pricing, dict) and "list_amount" in pricing else 0)
        self.add(sale["completed_at"], sale["product"], sale["card_id"],
                 int(sale["volume_ml"]), int(sale["amount"]), discount=discount)

    def store(self, conn: OfficeConnection, station_id: str) -> None:
        """Add what was counted to ``sales_daily`` and ``card_monthly``."""
        if self.daily and conn.vendor == "postgresql":  # a bundle's 20,000 cards: one statement
            for sql, table, lead in ((_UNNEST_DAILY, self.daily, (station_id,)),
                                     (_UNNEST_MONTHLY, self.monthly, ())):
                keys = sorted(table)
                months = table is self.monthly
                columns = [[k[0] + "-01" if months else k[0] for k in keys],
                           [k[1] for k in keys],
                           *([table[k][i] for k in keys] for i in range(4))]
                conn.execute(sql, (*lead, *columns))
        elif self.daily:
            conn.executemany(_UPSERT_DAILY, [(day, station_id, product, *f) for
                                             (day, product), f in sorted(self.daily.items())])
            conn.executemany(_UPSERT_MONTHLY, [(month + "-01", card, *f) for
                                               (month, card), f in sorted(self.monthly.items())])


def add_sales(conn: OfficeConnection, station_id: str, sales: Iterable[dict[str, Any]]
              ) -> None:
    """Count sales just stored (journal rows as the MQTT path has them)."""
    counts = Counts(zone(conn))
    for sale in sales:
        counts.add_sale(sale)
    counts.store(conn, station_id)


def discount_sql(vendor: str, pricing: str, amount: str) -> str:
    """SQL of a sale's discount in minor units: its list amount (``pricing``'s
    ``list_amount``) less ``amount``; 0 for a sale the pricing rules did not price.
    The one spelling of it for the roll-ups, the reports and the accounts."""
    if vendor == "postgresql":
        return f"COALESCE(({pricing}::jsonb ->> 'list_amount')::bigint - {amount}, 0)"
    return f"COALESCE(json_extract({pricing}, '$.list_amount') - {amount}, 0)"


def _day_sql(vendor: Vendor, column: str, tz: str, lo: str | None, hi: str | None) -> str:
    from office.reports import localtime

    low = parse_iso(lo) if lo else datetime(2000, 1, 1, tzinfo=UTC)
    high = parse_iso(hi) if hi else low
    when = localtime.local(vendor, column, ZoneInfo(tz), low, high)
    return f"{when}::date::text" if vendor == "postgresql" else f"substr({when}, 1, 10)"



def staged_sql(vendor: Vendor, *, stage: str, suffix: str, station: str, tz: str,
               lo: str | None, hi: str | None, new_only: str) -> tuple[str, str]:
    """The two ``INSERT ... SELECT`` statements that count a bulk path's staged rows
    (columns named ``<name><suffix>``) that ``new_only`` (a SQL condition) says are not
    stored yet; ``station`` is the SQL of the station id parameter."""
    c = {name: f"b.{name}{suffix}" for name in ("completed_at", "product", "card_id",
                                                 "volume_ml", "amount", "pricing")}
    day = _day_sql(vendor, c["completed_at"], tz, lo, hi)
    discount = discount_sql(vendor, c["pricing"], c["amount"])
    sums = (f"COUNT(*), SUM({c['volume_ml']}), SUM({c['amount']}), SUM({discount})")
    daily = (f"INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, amount, "
             f"discount) SELECT {day}, {station}, {c['product']}, {sums} FROM {stage} b "
             f"WHERE {new_only} GROUP BY {day}, {c['product']}{_ON_CONFLICT_DAILY}")
    month = (f"substr({day}, 1, 7) || '-01'" if vendor == "sqlite"
             else f"(substr({day}, 1, 7) || '-01')")
    monthly = (f"INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, "
               f"discount) SELECT {month}, {c['card_id']}, {sums} FROM {stage} b "
               f"WHERE {new_only} GROUP BY {month}, {c['card_id']}{_ON_CONFLICT_MONTHLY}")
    return daily, monthly


def rebuild(conn: OfficeConnection, tz: str) -> dict[str, int]:
    """Count every stored sale again in zone ``tz`` (one transaction); the row counts."""
    ZoneInfo(tz)  # a bad name fails before anything is deleted
    vendor = conn.vendor
    with conn.atomic():
        span = conn.one("SELECT MIN(completed_at), MAX(completed_at) FROM sales")
        day = _day_sql(vendor, "s.completed_at", tz, span[0], span[1])
        discount = discount_sql(vendor, "s.pricing", "s.amount")
        sums = "COUNT(*), SUM(s.volume_ml), SUM(s.amount), SUM(" + discount + ")"
        conn.execute("DELETE FROM sales_daily")
        conn.execute("DELETE FROM card_monthly")
        conn.execute(f"INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, "
                     f"amount, discount) SELECT {day}, s.station_id, s.product, {sums} "
                     f"FROM sales s GROUP BY 1, 2, 3")
        conn.execute(f"INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, "
                     f"discount) SELECT substr({day}, 1, 7) || '-01', s.card_id, {sums} "
                     f"FROM sales s GROUP BY 1, 2")
        conn.execute("UPDATE rollup_state SET timezone = ?, rebuilt_at = ? WHERE id = 1",
                     (tz, iso(utc_now())))
        counts = {t: int(conn.one(f"SELECT COUNT(*) FROM {t}")[0])
                  for t in ("sales_daily", "card_monthly")}
    log.info("rollups_rebuilt", timezone=tz, **counts)
    return counts
