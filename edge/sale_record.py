"""A card decision as the store keeps it: the sale id, the ``authorizations`` row with its
wallet holds, and the answer the caller gets (edge.lifecycle, edge.talon).

Each is written inside the caller's transaction: durable before visible.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import datetime
from typing import Any

from core.rules.authorization import Decision, Request
from core.timefmt import iso

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_sale_id() -> str:
    """A short, unambiguous id an operator can read out and type: ``A`` + 9 chars."""
    return "A" + "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(9))


def record_decision(conn: sqlite3.Connection, sale_id: str, card_id: str, request: Request,
                    decision: Decision, *, prices: dict[str, int], now: datetime, actor: str,
                    journal: dict[str, Any] | None = None,
                    pricing: dict[str, Any] | None = None, voucher_serial: str | None = None,
                    points_hold: int = 0) -> None:
    """Record a decision; ``journal`` holds what its sale's journal line will carry;
    ``pricing`` what the sale is priced from at completion (pricing_sale), with the
    voucher's serial (unique among open and completed authorizations) and the points
    the open authorization may burn."""
    conn.execute(
        "INSERT INTO authorizations (sale_id, card_id, pump, state, reason, products, "
        "prices, max_volume_ml, max_amount, hold_amount, request, created_at, closed_at, "
        "actor, pricing, voucher_serial, points_hold) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sale_id, card_id, request.pump, "open" if decision.approved else "denied",
         str(decision.reason), json.dumps(list(decision.products)),
         json.dumps({p: prices[p] for p in decision.products}), decision.max_volume_ml,
         decision.max_amount, decision.hold_amount,
         json.dumps({"product": request.product, "volume_ml": request.volume_ml,
                     "amount": request.amount, "vehicle_id": request.vehicle_id,
                     "odometer_km": request.odometer_km, **(journal or {})}),
         iso(now), None if decision.approved else iso(now), actor,
         None if pricing is None else json.dumps(pricing, sort_keys=True),
         voucher_serial, points_hold))
    if decision.wallet_holds:
        conn.executemany(
            "INSERT INTO wallet_holds VALUES (?, ?, ?)",
            [(sale_id, w, v) for w, v in sorted(decision.wallet_holds.items())])


def decision_json(sale_id: str, card_id: str, pump: int, d: Decision, *,
                  detail: str | None = None, pricing: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """The answer to an authorization; ``detail``: the sentence behind a refusal made
    before the engine (which token problem, which clone), else None; ``pricing``:
    the preset prices, voucher and points of a priced authorization."""
    out = {"approved": d.approved, "reason": str(d.reason), "detail": detail,
           "sale_id": sale_id if d.approved else None, "decision_id": sale_id,
           "card_id": card_id, "pump": pump, "products": list(d.products),
           "max_volume_ml": d.max_volume_ml, "max_amount": d.max_amount,
           "hold_amount": d.hold_amount,
           "stale_data": d.stale, "odometer_flag": d.odometer_flag,
           "preset_prices": None, "voucher": None, "points_hold": None}
    if pricing is not None:
        out.update(preset_prices=pricing["preset_prices"], voucher=pricing["voucher"],
                   points_hold=pricing["points_asked"])
    return out
