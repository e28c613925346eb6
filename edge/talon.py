"""Vouchers at the station: whether a verified voucher may still be used here, and the
preset of a talon sale (a voucher alone pays: docs/pricing.md, "At the station")."""

from __future__ import annotations

import sqlite3

from core.money import max_volume_for
from core.reasons import Reason
from core.rules.pricing import Voucher
from offline_db.pricing import voucher_taken, voucher_used_elsewhere


def used_refusal(conn: sqlite3.Connection, serial: str) -> tuple[Reason, str] | None:
    """``voucher_used`` when this station already took the voucher (an open or completed
    sale) or the office reported it redeemed elsewhere; None when it is free."""
    taken = voucher_taken(conn, serial)
    if taken is not None:
        return (Reason.VOUCHER_USED, f"voucher {serial} was already used at this station "
                                     f"(sale {taken})")
    if voucher_used_elsewhere(conn, serial):
        return Reason.VOUCHER_USED, f"voucher {serial} was redeemed at another station"
    return None


def talon_products(voucher: Voucher, asked: str | None, prices: dict[str, int]) -> list[str]:
    """What a talon sale may fill: the voucher's product (an amount voucher for any
    product: the one asked, else every product), among those this station prices."""
    wanted = [voucher.product] if voucher.product else [asked] if asked else sorted(prices)
    return [p for p in wanted if p in prices]


def talon_volume(voucher: Voucher, products: list[str], *, prices: dict[str, int],
                 presets: dict[str, int], max_fill_ml: int, volume_ml: int | None,
                 amount: int | None) -> int:
    """The talon's preset: the voucher's volume (or what its amount buys at the list
    price), never past the station's largest fill or what was asked; the smallest over
    the products it may fill, so it is safe whichever nozzle is lifted."""
    caps = [voucher.volume_ml if voucher.volume_ml is not None
            else max_volume_for(voucher.amount or 0, prices[p]) for p in products]
    asked = [volume_ml] if volume_ml is not None else []
    money = [max_volume_for(amount, presets[p]) for p in products] if amount is not None else []
    return min([*caps, max_fill_ml, *asked, *money])
