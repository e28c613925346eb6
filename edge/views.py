"""Read-only views for operators: status, a card's limits and wallets, open sales.

These take a connection that may be read-only (the daemon may be writing).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import date, datetime
from typing import Any

from core.config import Config
from core.periods import period_start_date
from core.rules.authorization import in_time_window, limit_used, station_allowed, visits_used
from edge.cardview import build_card_view, build_context, freshness
from offline_db import cards as store
from offline_db.journal_checks import anchor_seq
from offline_db.outbox import oldest_undelivered_at
from offline_db.state import get_state


def status(conn: sqlite3.Connection, config: Config, now: datetime) -> dict[str, Any]:
    version = get_state(conn, "card_store_version")
    fresh = freshness(conn, config, now)
    oldest = oldest_undelivered_at(conn)
    last = conn.execute("SELECT MAX(seq) AS seq FROM journal").fetchone()["seq"] \
        or anchor_seq(conn)  # every sale deleted after delivery: the last one deleted
    return {
        "station_id": config.station.id,
        "station_name": config.station.name,
        "data_dir": str(config.station.data_dir),
        "card_store_version": int(version) if version is not None else None,
        "card_store_confirmed_at": get_state(conn, "card_store_confirmed_at") or None,
        "card_store_expires_at": get_state(conn, "card_store_expires_at") or None,
        "card_data_age_s": fresh.age_s,
        "card_data_stale": fresh.stale,
        "card_data_stale_reason": fresh.stale_reason,
        "cards": conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0],
        "stop_list": conn.execute("SELECT COUNT(*) FROM stop_list").fetchone()[0],
        "open_authorizations": conn.execute(
            "SELECT COUNT(*) FROM authorizations WHERE state = 'open'").fetchone()[0],
        "journal_last_seq": last or 0,
        "outbox_depth": conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0],
        "oldest_undelivered_at": oldest,
        "last_receipt_seq": int(get_state(conn, "last_receipt_seq", "0") or 0),
    }


def card_show(conn: sqlite3.Connection, config: Config, card: str, now: datetime
              ) -> dict[str, Any] | None:
    """Everything that decides an authorization of the card, as the engine sees it now.

    Use of each limit and visit count is split into ``used`` (sales) and ``held`` (open
    authorizations, which may still fill); wallets say what this station's sales spent
    since the card data's balance, what is held on them and whether they have expired;
    then PIN state, time windows, allowed stations, and the vehicle with its binding,
    odometer requirement and last reading here.
    """
    row = store.find_card(conn, card)
    if row is None:
        return None
    view = build_card_view(conn, row, config, now)
    unheld = dataclasses.replace(view, holds=())  # the same card without open holds
    ctx = build_context(conn, config, now)
    local = now.astimezone(config.station.tz)
    today = local.date()
    limits = []
    for lim in view.limits:
        total = limit_used(view, lim, ctx)
        used = limit_used(unheld, lim, ctx)
        limits.append({
            "period": lim.period, "unit": lim.unit, "value": lim.value,
            "products": sorted(lim.products) if lim.products is not None else None,
            "period_start": None if lim.period == "fill" else period_start_date(
                lim.period, today, config.station.week_start_index).isoformat(),
            "used": used, "held": total - used, "remaining": max(0, lim.value - total)})
    visits = []
    for v in view.visits:
        total, used = visits_used(view, v.period, ctx), visits_used(unheld, v.period, ctx)
        visits.append({"period": v.period, "count": v.count, "used": used,
                       "held": total - used, "remaining": max(0, v.count - total)})
    held = store.wallets_held(conn, view.card_id)
    mark = store.wallets_as_of(conn, view.card_id,
                               int(get_state(conn, "usage_as_of_seq", "0") or 0))
    wallets = [dict(w) for w in store.wallets_available(conn, view.card_id, as_of_seq=mark)]
    for w in wallets:
        w.pop("card_id", None)
        w["held"] = held.get(w["wallet_id"], 0)
        # what this station's sales took since the card data's balance (available is
        # balance - spent - held)
        w["spent"] = w["balance"] - w["available"] - w["held"]
        w["expired"] = w["expires"] is not None and date.fromisoformat(w["expires"]) < today
    rules = json.loads(row["rules"])
    max_tries = config.authorization.pin_max_tries
    return {
        "card_id": view.card_id, "kind": view.kind, "status": view.status,
        "pan": row["pan"], "rfid_uid": row["rfid_uid"], "token_id": row["token_id"],
        "expires": view.expires.isoformat() if view.expires else None,
        "customer_id": row["customer_id"], "vehicle_id": row["vehicle_id"],
        "products": sorted(view.products) if view.products is not None else None,
        "on_stop_list": store.is_stop_listed(conn, card, view.card_id, row["pan"],
                                             row["rfid_uid"], row["token_id"]),
        "pin_required": view.pin_required, "pin_failures": view.pin_failures,
        "pin": {"required": view.pin_required, "failures": view.pin_failures,
                "max_tries": max_tries,
                "locked": view.pin_required and view.pin_failures >= max_tries},
        "time_windows": rules.get("time_windows", []),
        "in_time_window_now": in_time_window(view, local),
        "stations": rules.get("stations"), "station_groups": rules.get("station_groups"),
        "allowed_here": station_allowed(view, config.station.id,
                                        frozenset(config.station.groups)),
        "vehicle": {"vehicle_id": view.vehicle_id, "binding": view.vehicle_binding,
                    "odometer_required": view.odometer_required,
                    "last_odometer_km": view.last_odometer_km},
        "limits": limits, "visits": visits, "wallets": wallets,
        "open_holds": [{"products": sorted(h.products), "volume_ml": h.volume_ml,
                        "amount": h.amount}
                       for h in view.holds],
    }


_AUTH_COLUMNS = ("a.sale_id, a.state, a.reason, a.card_id, a.pump, a.products, "
                 "a.max_volume_ml, a.max_amount, a.created_at, a.closed_at, a.seq, "
                 "f.state AS pump_state, f.attention")
_AUTH_FROM = "authorizations a LEFT JOIN pump_fills f ON f.sale_id = a.sale_id"


def _auth_rows(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = dict(r)
        d["products"] = json.loads(d["products"])
        out.append(d)
    return out


def open_authorizations(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Authorizations still holding a reservation (pump not yet done), oldest first."""
    return _auth_rows(conn.execute(
        f"SELECT {_AUTH_COLUMNS} FROM {_AUTH_FROM} WHERE a.state = 'open' "
        "ORDER BY a.created_at").fetchall())


def recent_authorizations(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` decisions of every state (denials too), oldest first."""
    return _auth_rows(conn.execute(
        f"SELECT * FROM (SELECT {_AUTH_COLUMNS} FROM {_AUTH_FROM} "
        "ORDER BY a.created_at DESC LIMIT ?) ORDER BY created_at", (limit,)).fetchall())
