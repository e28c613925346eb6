"""Reports answered from the roll-ups when they answer the question exactly.

``sales_daily`` holds every stored sale's figures per local day, station and product
(office.ledger.rollups, kept at ingest in the same transaction as the sales). A report
by period, overall or per station or product, filtered by nothing but station and
product, and counted in the roll-ups' own time zone, is the same sum over a few
hundred thousand rows instead of millions of sales; anything else (a customer, a card,
a group, a vehicle, another zone) reads ``sales``. The rows come back in the shape
the sales query gives, so the report does not know which it read.
"""

from __future__ import annotations

from typing import Any

from office.db import Row
from office.ledger import rollups
from office.reports import localtime
from office.reports.params import Params
from office.store import OfficeConnection

_KEYS = {"none": ("NULL",), "station": ("d.station_id",), "product": ("d.product",),
         "station+product": ("d.station_id", "d.product")}
_SUMS = ("SUM(d.sales) AS sales, SUM(d.volume_ml) AS volume_ml, SUM(d.amount) AS amount, "
         "SUM(d.discount) AS discount")


def usable(conn: OfficeConnection, p: Params, per: str) -> bool:
    """Whether ``sales_daily`` answers ``p`` per ``per`` exactly."""
    return (per in _KEYS and set(p.filters) <= {"station", "product"}
            and rollups.zone(conn) == getattr(p.tz, "key", None))


def _where(p: Params) -> tuple[str, list[Any]]:
    clauses, args = ["d.day >= ? AND d.day <= ?"], [p.start.isoformat(), p.end.isoformat()]
    for key, column in (("station", "d.station_id"), ("product", "d.product")):
        if key in p.filters:
            clauses.append(f"{column} = ?")
            args.append(p.filters[key])
    return " AND ".join(clauses), args


def by_period(conn: OfficeConnection, p: Params, per: str) -> list[Row]:
    """(period, k, sales, volume_ml, amount, discount) per ``p.by`` period and ``per``."""
    bucket = localtime.date_bucket(conn.vendor, "d.day", by=p.by, week_start=p.week_start)
    where, args = _where(p)
    (key,) = _KEYS[per]
    return conn.execute(f"SELECT {bucket} AS period, {key} AS k, {_SUMS} FROM sales_daily d "
                        f"WHERE {where} GROUP BY 1, 2", args).fetchall()


def by_station_product(conn: OfficeConnection, p: Params) -> list[Row]:
    """(k0 station, k1 product, sales, volume_ml, amount, discount) over the range."""
    where, args = _where(p)
    return conn.execute(f"SELECT d.station_id AS k0, d.product AS k1, {_SUMS} "
                        f"FROM sales_daily d WHERE {where} GROUP BY 1, 2", args).fetchall()
