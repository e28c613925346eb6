"""How the station's commands show a sale's pricing: the preset, the discounts, the
voucher and the points (``sale authorize``, ``sale complete``, ``journal list``)."""

from __future__ import annotations

from typing import Any

import click

from core.display import Currency, litres
from edge.pricing_sale import ALL_POINTS


class _Points(click.ParamType[int, Any]):
    """``--points``: a whole number of points, or ``all``."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return ALL_POINTS
        if not (text.isdigit() and int(text) <= ALL_POINTS):
            self.fail(f"{value!r} is not a number of points or 'all'", param, ctx)
        return int(text)


POINTS = _Points()


def preset_lines(d: dict[str, Any], money: Currency) -> list[str]:
    """The preset's prices per litre, the voucher and the points of an authorization."""
    out = []
    if d.get("preset_prices"):
        out.append("preset price " + ", ".join(f"{p} {money.price(v)}"
                                               for p, v in sorted(d["preset_prices"].items())))
    v = d.get("voucher")
    if v:
        buys = litres(v["volume_ml"]) if v.get("volume_ml") is not None \
            else money.money(v["amount"])
        out.append(f"voucher {v['serial']}: {buys}{' of ' + v['product'] if v['product'] else ''}")
    if d.get("points_hold"):
        out.append(f"points to burn: up to {d['points_hold']}")
    return out


def line_summary(line: dict[str, Any]) -> dict[str, Any]:
    """A journal line's ``pricing`` field as :func:`priced_lines` reads it."""
    return {"list_amount": line["list_amount"],
            "discounts": [{"rule_id": r, "amount": v} for r, v in line["discounts"]],
            "voucher": line.get("voucher"), "voucher_ml": line["voucher_ml"],
            "voucher_value": line["voucher_value"], "points_asked": line["points_asked"],
            "points_burned": line["points_burned"], "points_value": line["points_value"],
            "points_earned": line["points_earned"], "tier": line.get("tier"),
            "wallet_ml": line["wallet_ml"], "wallet_value": line["wallet_value"],
            "money_due": line["money_due"]}


def priced_lines(parts: dict[str, Any] | None, money: Currency) -> list[str]:
    """List amount, each discount, the voucher and the points of a priced sale."""
    if not parts:
        return []
    out = [f"list amount {money.money(parts['list_amount'])}"]
    out += [f"discount {d['rule_id']} -{money.money(d['amount'])}" for d in parts["discounts"]]
    if parts["voucher"]:
        paid = f" ({litres(parts['voucher_ml'])})" if parts["voucher_ml"] else ""
        out.append(f"voucher {parts['voucher']} paid {money.money(parts['voucher_value'])}{paid}")
    if parts["points_burned"] or parts["points_asked"]:
        fewer = (f" of {parts['points_asked']} asked (the card or the sale had no more)"
                 if parts["points_asked"] > parts["points_burned"] else "")
        out.append(f"points burned {parts['points_burned']}{fewer} = "
                   f"{money.money(parts['points_value'])}")
    if parts["points_earned"]:
        out.append(f"points earned {parts['points_earned']}")
    if parts.get("tier"):
        out.append(f"tier {parts['tier']}")
    return out
