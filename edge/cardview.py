"""Turning stored rows into the engine's plain data (CardView, Context)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime

from edge.config import Config
from edge.engine import (
    CardView,
    Context,
    Hold,
    Limit,
    OfficeUsage,
    Policy,
    TimeWindow,
    UsedSale,
    VisitLimit,
    Wallet,
)
from edge.periods import period_start_utc
from offline_db import cards as store
from offline_db.connection import iso, parse_iso
from offline_db.snapshot import DAYS
from offline_db.state import get_state


def _set(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(json.loads(text))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def policy_of(config: Config) -> Policy:
    a, o = config.authorization, config.offline
    return Policy(max_fill_ml=a.max_fill_ml, min_preset_ml=a.min_preset_ml,
                  pin_max_tries=a.pin_max_tries, max_data_age_s=o.max_data_age_s,
                  stale_policy=o.stale_policy, stale_fill_cap_ml=o.stale_fill_cap_ml,
                  stale_card_kinds=frozenset(o.stale_card_kinds))


def data_age_s(conn: sqlite3.Connection, now: datetime) -> int | None:
    """Seconds since the card data was last confirmed fresh (None: never loaded)."""
    confirmed = get_state(conn, "card_store_confirmed_at")
    if not confirmed:
        return None
    return max(0, int((now - parse_iso(confirmed)).total_seconds()))


def build_context(conn: sqlite3.Connection, config: Config, now: datetime, *,
                  stop_listed: bool = False) -> Context:
    st = config.station
    return Context(now=now, station_id=st.id, prices=store.prices(conn), tz=st.tz,
                   week_start=st.week_start_index, station_groups=frozenset(st.groups),
                   data_age_s=data_age_s(conn, now), stop_listed=stop_listed,
                   policy=policy_of(config))


def build_card_view(conn: sqlite3.Connection, row: sqlite3.Row, config: Config, now: datetime,
                    *, exclude_sale: str | None = None) -> CardView:
    """Everything the engine needs about one card, usage and holds included."""
    card_id = row["card_id"]
    rules = json.loads(row["rules"])
    as_of = int(get_state(conn, "usage_as_of_seq", "0") or 0)
    tz, week_start = config.station.tz, config.station.week_start_index
    since = min(period_start_utc("year", now, tz, week_start),
                period_start_utc("week", now, tz, week_start))
    sales = tuple(UsedSale(r["product"], parse_iso(r["completed_at"]), r["volume_ml"],
                           r["amount"])
                  for r in store.local_sales(conn, card_id, since=iso(since), as_of_seq=as_of))
    office = tuple(OfficeUsage(r["period"], date.fromisoformat(r["period_start"]), r["product"],
                               r["volume_ml"], r["amount"], r["visits"])
                   for r in store.card_usage(conn, card_id))
    holds = tuple(Hold(frozenset(json.loads(r["products"])), r["max_volume_ml"],
                       r["hold_amount"])
                  for r in store.open_holds(conn, card_id, exclude_sale=exclude_sale))
    wallets = tuple(
        Wallet(w["wallet_id"], w["unit"], w["available"], _set(w["products"]),
               date.fromisoformat(w["expires"]) if w["expires"] else None)
        for w in store.wallets_available(conn, card_id, as_of_seq=as_of,
                                         exclude_sale=exclude_sale))
    limits = tuple(Limit(r["period"], r["unit"], r["value"], _set(r["products"]))
                   for r in store.card_limits(conn, card_id))
    windows = tuple(TimeWindow(frozenset(DAYS.index(d) for d in w["days"]),
                               _minutes(w["from"]), _minutes(w["to"]))
                    for w in rules.get("time_windows", []))
    stations = rules.get("stations")
    groups = rules.get("station_groups")
    return CardView(
        card_id=card_id, kind=row["kind"], status=row["status"],
        expires=date.fromisoformat(row["expires"]) if row["expires"] else None,
        products=_set(row["products"]), limits=limits,
        visits=tuple(VisitLimit(v["period"], v["count"]) for v in rules.get("visits", [])),
        time_windows=windows,
        stations=frozenset(stations) if stations is not None else None,
        station_groups=frozenset(groups) if groups is not None else None,
        vehicle_id=row["vehicle_id"], vehicle_binding=bool(rules.get("vehicle_binding")),
        odometer_required=bool(rules.get("odometer_required")),
        pin_required="pin" in rules, pin_failures=store.pin_failures(conn, card_id),
        wallets=wallets, sales=sales, office_usage=office, holds=holds)
