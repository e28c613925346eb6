"""Turning stored rows into the engine's plain data (CardView, Context)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from core.config import Config
from core.formats.pricing import parse_pricing_text
from core.formats.snapshot import DAYS
from core.freshness import Freshness, assess
from core.periods import period_start_utc
from core.rules.authorization import (
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
from core.rules.pricing import PricingRules
from core.timefmt import iso, parse_iso
from offline_db import cards as store
from offline_db.pricing import pricing_document


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
                  stale_card_kinds=frozenset(o.stale_card_kinds),
                  odometer_max_step_km=config.odometer.max_step_km,
                  odometer_policy=config.odometer.policy)


@dataclass(frozen=True)
class StoreState:
    """What every authorization needs from the card store as a whole.

    It changes only when card data is applied, so the one writer may keep it between
    authorizations and drop it when it applies new data (:meth:`Station.import_cards`).
    """

    prices: dict[str, int]
    confirmed_at: datetime | None
    usage_as_of_seq: int
    #: The ``expires_at`` of the card data in the store (None: it does not expire).
    expires_at: datetime | None = None
    #: The pricing rules in force (None: the card store carries no pricing document).
    pricing: PricingRules | None = None

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> StoreState:
        state = {r["key"]: r["value"] for r in conn.execute(
            "SELECT key, value FROM sync_state WHERE key IN "
            "('card_store_confirmed_at', 'usage_as_of_seq', 'card_store_expires_at')")}
        confirmed = state.get("card_store_confirmed_at")
        expires = state.get("card_store_expires_at")
        document = pricing_document(conn)
        return cls(store.prices(conn), parse_iso(confirmed) if confirmed else None,
                   int(state.get("usage_as_of_seq") or 0),
                   parse_iso(expires) if expires else None,
                   None if document is None else parse_pricing_text(document))

    def freshness(self, now: datetime, *, max_age_s: int, skew_s: int) -> Freshness:
        """The data's age by the station's clock and whether it is stale (freshness.assess)."""
        return assess(self.confirmed_at, self.expires_at, now=now, max_age_s=max_age_s,
                      skew_s=skew_s)


def freshness(conn: sqlite3.Connection, config: Config, now: datetime) -> Freshness:
    """How fresh the station's card data is now (the rule authorization applies)."""
    return StoreState.load(conn).freshness(now, max_age_s=config.offline.max_data_age_s,
                                           skew_s=config.offline.max_clock_skew_s)


def build_context(conn: sqlite3.Connection, config: Config, now: datetime, *,
                  stop_listed: bool = False, state: StoreState | None = None,
                  policy: Policy | None = None, pump_busy: bool = False) -> Context:
    st = config.station
    state = state or StoreState.load(conn)
    fresh = state.freshness(now, max_age_s=config.offline.max_data_age_s,
                            skew_s=config.offline.max_clock_skew_s)
    return Context(now=now, station_id=st.id, prices=state.prices, tz=st.tz,
                   week_start=st.week_start_index, station_groups=frozenset(st.groups),
                   data_age_s=fresh.age_s, data_expired=fresh.stale_reason == "expired",
                   stop_listed=stop_listed, pump_busy=pump_busy,
                   policy=policy or policy_of(config))


def card_wallets(conn: sqlite3.Connection, card_id: str, store_mark: int, *,
                 exclude_sale: str | None = None) -> tuple[Wallet, ...]:
    """The card's wallets with what is available in each (the office balance as of its
    mark, less this station's later debits and its open holds but ``exclude_sale``'s).

    A completion needs only these, not the whole :func:`build_card_view` (limits, the
    card's past sales, usage, holds, odometer): two reads instead of about ten.
    """
    wallet_as_of = store.wallets_as_of(conn, card_id, store_mark)
    return tuple(
        Wallet(w["wallet_id"], w["unit"], w["available"], _set(w["products"]),
               date.fromisoformat(w["expires"]) if w["expires"] else None)
        for w in store.wallets_available(conn, card_id, as_of_seq=wallet_as_of,
                                         exclude_sale=exclude_sale))


def build_card_view(conn: sqlite3.Connection, row: sqlite3.Row, config: Config, now: datetime,
                    *, exclude_sale: str | None = None,
                    state: StoreState | None = None, vehicle: str | None = None) -> CardView:
    """Everything the engine needs about one card, usage and holds included.

    ``vehicle``: the vehicle of this sale (the identified one, else the card's), whose
    last odometer reading the reasonability check compares with.
    """
    card_id = row["card_id"]
    rules = json.loads(row["rules"])
    # Wallet balances are as of the card store's own mark; usage figures may be newer,
    # per card, when the office has sent the card's network-wide usage since.
    store_mark = (state or StoreState.load(conn)).usage_as_of_seq
    per_card = conn.execute("SELECT as_of_seq FROM card_usage_as_of WHERE card_id = ?",
                            (card_id,)).fetchone()
    as_of = per_card[0] if per_card is not None else store_mark
    tz, week_start = config.station.tz, config.station.week_start_index
    limits = tuple(Limit(r["period"], r["unit"], r["value"], _set(r["products"]))
                   for r in store.card_limits(conn, card_id))
    visits = tuple(VisitLimit(v["period"], v["count"]) for v in rules.get("visits", []))
    # Only the periods this card is limited by need its past sales.
    periods = {lim.period for lim in limits} | {v.period for v in visits}
    periods.discard("fill")
    sales: tuple[UsedSale, ...] = ()
    if periods:
        since = min(period_start_utc(p, now, tz, week_start) for p in periods)
        sales = tuple(UsedSale(r["product"], parse_iso(r["completed_at"]), r["volume_ml"],
                               r["amount"])
                      for r in store.local_sales(conn, [card_id, *rules.get("replaces", [])],
                                                 since=iso(since), as_of_seq=as_of))
    office = tuple(OfficeUsage(r["period"], date.fromisoformat(r["period_start"]), r["product"],
                               r["volume_ml"], r["amount"], r["visits"])
                   for r in store.card_usage(conn, card_id))
    holds = tuple(Hold(frozenset(json.loads(r["products"])), r["max_volume_ml"],
                       r["hold_amount"])
                  for r in store.open_holds(conn, card_id, exclude_sale=exclude_sale))
    wallets = card_wallets(conn, card_id, store_mark, exclude_sale=exclude_sale)
    windows = tuple(TimeWindow(frozenset(DAYS.index(d) for d in w["days"]),
                               _minutes(w["from"]), _minutes(w["to"]))
                    for w in rules.get("time_windows", []))
    stations = rules.get("stations")
    groups = rules.get("station_groups")
    return CardView(
        card_id=card_id, kind=row["kind"], status=row["status"],
        expires=date.fromisoformat(row["expires"]) if row["expires"] else None,
        products=_set(row["products"]), limits=limits,
        visits=visits,
        time_windows=windows,
        stations=frozenset(stations) if stations is not None else None,
        station_groups=frozenset(groups) if groups is not None else None,
        vehicle_id=row["vehicle_id"], vehicle_binding=bool(rules.get("vehicle_binding")),
        odometer_required=bool(rules.get("odometer_required")),
        pin_required="pin" in rules,
        pin_failures=store.pin_failures(conn, card_id, reset=rules["pin"].get("reset", 0),
                                        pin_hash=rules["pin"]["hash"])
        if "pin" in rules else 0,
        last_odometer_km=store.last_odometer(conn, vehicle or row["vehicle_id"]),
        wallets=wallets, sales=sales, office_usage=office, holds=holds)
