"""Pricing rules in words for the console: "3 %", "2.00 RUB a litre", "from 30.000 l in
one fill", "22:00–06:00", "group G-VIP" — never basis points, millilitres or minor
units, which are how the document stores them (docs/pricing.md)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from core.display import Currency, litres


def percent(bp: int) -> str:
    """Basis points as a percent: 300 -> "3 %", 250 -> "2.5 %", 1 -> "0.01 %"."""
    whole, frac = divmod(bp, 100)
    text = f"{whole}.{frac:02d}".rstrip("0").rstrip(".") if frac else str(whole)
    return f"{text} %"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def conditions(when: dict[str, Any], money: Currency) -> list[str]:
    """Each condition of a rule's ``when`` as a short phrase (all must hold)."""
    out: list[str] = []
    plural = {"products": (_("product"), _("products")),
              "stations": (_("station"), _("stations")),
              "station_groups": (_("station group"), _("station groups")),
              "card_kinds": (_("card kind"), _("card kinds")),
              "categories": (_("category"), _("categories")),
              "groups": (_("group"), _("groups")), "tiers": (_("tier"), _("tiers"))}
    for key, (one, many) in plural.items():
        names = when.get(key)
        if names:
            out.append(f"{one if len(names) == 1 else many} {', '.join(names)}")
    if when.get("valid_from"):
        out.append(_("from %(day)s") % {"day": when["valid_from"]})
    if when.get("valid_until"):
        out.append(_("until %(day)s") % {"day": when["valid_until"]})
    if when.get("days"):
        out.append(", ".join(when["days"]))
    if when.get("hours"):
        out.append(f"{when['hours']['from']}–{when['hours']['to']}")
    if when.get("holidays"):
        out.append(_("on holidays"))
    if when.get("min_fill_ml") is not None:
        out.append(_("from %(volume)s in one fill") % {"volume": _litres(when["min_fill_ml"])})
    consumption = when.get("consumption")
    if consumption:
        amount = (_litres(consumption["at_least"]) if consumption["unit"] == "volume"
                  else money.money(consumption["at_least"]))
        out.append((_("at least %(amount)s this month") if consumption["month"] == "this"
                    else _("at least %(amount)s last month")) % {"amount": amount})
    if when.get("birthday_days") is not None:
        out.append(_("within %(n)s days of the birthday") % {"n": when["birthday_days"]})
    if when.get("min_fills") is not None:
        out.append(_("from the %(nth)s fill of the month") % {
            "nth": _ordinal(when["min_fills"])})
    return out


def _litres(ml: int) -> str:
    """Litres without needless decimals: 30000 -> "30 l", 1500 -> "1.5 l"."""
    text = litres(ml)[:-2]
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} l"


def value(section: str, rule: dict[str, Any], money: Currency) -> str:
    """What a rule gives: a discount's money off, an earning rule's points, a
    multiplier's factor."""
    if section == "discount":
        if rule.get("percent_bp") is not None:
            return percent(rule["percent_bp"])
        return str(_("%(money)s a litre") % {"money": money.money(rule["per_litre"])})
    if section == "earn":
        per = (_litres(rule["per"]) if rule["basis"] == "volume" else money.money(rule["per"]))
        return str(_("%(points)s points per %(per)s") % {"points": rule["points"],
                                                           "per": per})
    return str(_("points × %(percent)s %%") % {"percent": rule["percent"]})


def record(row: dict[str, Any], money: Currency) -> dict[str, Any]:
    """A rule record (office.pricing.rules.rule_records) with its words added."""
    rule = row["rule"]
    return {**row, "value": value(row["section"], rule, money),
            "conditions": conditions(rule.get("when") or {}, money),
            "name": rule.get("name") or "", "kind": rule.get("kind") or rule.get("basis")
            or "", "stackable": bool(rule.get("stackable")), "order": rule.get("order", 0)}


def tiers(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{**t, "volume": _litres(t["at_least_ml"]), "shown": f"{t['percent']} %"}
            for t in rows or []]


def tiers_text(rows: list[dict[str, Any]] | None) -> str:
    """The tiers as the tiers form takes them back (name, litres, percent a line)."""
    def plain(ml: int) -> str:
        whole, frac = divmod(ml, 1000)
        return f"{whole}.{frac:03d}".rstrip("0").rstrip(".")

    return "\n".join(f"{t['name']} {plain(t['at_least_ml'])} {t['percent']}"
                      for t in rows or [])
