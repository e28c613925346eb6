"""A customer's 360° view: contacts, consent, groups, vehicles, cards with their state,
wallets and balances, recent sales and this month's consumption — the same data for the
console's detail page and ``forecourt office customers show``."""

from __future__ import annotations

from typing import Any

from core.config import Config
from core.display import litres
from core.periods import period_start_utc
from core.timefmt import iso, utc_now
from office import db
from office.customers import service


def _sales_of(card_ids: list[str], limit: int) -> list[dict[str, Any]]:
    if not card_ids:
        return []
    marks = ",".join("?" * len(card_ids))
    rows = db.fetchall(
        "SELECT station_id, seq, card_id, product, volume_ml, amount, completed_at, "
        f"vehicle_id, odometer_km FROM sales WHERE card_id IN ({marks}) "
        "ORDER BY completed_at DESC LIMIT ?", (*card_ids, limit))
    return [dict(zip(r.keys(), r, strict=True)) for r in rows]


def _consumption(card_ids: list[str], since: str) -> dict[str, Any]:
    if not card_ids:
        return {"since": since, "sales": 0, "volume_ml": 0, "amount": 0, "by_product": {}}
    marks = ",".join("?" * len(card_ids))
    by_product: dict[str, dict[str, int]] = {}
    for r in db.fetchall(
            "SELECT product, COUNT(*), SUM(volume_ml), SUM(amount) FROM sales "
            f"WHERE card_id IN ({marks}) AND completed_at >= ? GROUP BY product "
            "ORDER BY product", (*card_ids, since)):
        by_product[r[0]] = {"sales": int(r[1]), "volume_ml": int(r[2]), "amount": int(r[3])}
    return {"since": since, "sales": sum(p["sales"] for p in by_product.values()),
            "volume_ml": sum(p["volume_ml"] for p in by_product.values()),
            "amount": sum(p["amount"] for p in by_product.values()), "by_product": by_product}


def profile(customer_id: str, config: Config, *, recent: int = 20) -> dict[str, Any]:
    """Everything about one customer (RecordRefused if there is no such customer)."""
    from office.cards.service import card_record

    customer = service.get_customer(customer_id)
    data = service.customer_record(customer)
    data["consent"] = service.consent_of(customer)
    data["consent_history"] = service.consent_history(customer)
    data["vehicles"] = [service.vehicle_record(v)
                        for v in customer.vehicles.order_by("vehicle_id")]
    cards = [card_record(c) for c in customer.cards.order_by("card_id")]
    data["cards"] = cards
    data["wallets"] = [w for c in cards for w in c["wallets"]]
    card_ids = [c["card_id"] for c in cards]
    data["recent_sales"] = _sales_of(card_ids, recent)
    month = iso(period_start_utc("month", utc_now(), config.station.tz,
                                 config.station.week_start_index))
    data["this_month"] = _consumption(card_ids, month)
    return data


def text(data: dict[str, Any], config: Config) -> str:
    """The profile for a terminal."""
    money = config.station.money
    lines = [f"{data['customer_id']}  {data['name']}  ({data['kind']}, "
             f"{data['category'] or 'no category'}, {data['payment_terms']})"]
    if data["closed_at"]:
        lines.append(f"  CLOSED {data['closed_at'][:19]}"
                     + (f", merged into {data['merged_into']}" if data["merged_into"] else ""))
    for key, label in (("phones", "phone"), ("emails", "e-mail"), ("addresses", "address")):
        for value in data[key]:
            lines.append(f"  {label:<9} {value}")
    if data["birthday"]:
        lines.append(f"  born      {data['birthday']}")
    if data["groups"]:
        lines.append(f"  groups    {', '.join(data['groups'])}")
    consent = data["consent"]
    lines.append("  consent   " + ", ".join(
        f"{ch} {'yes' if consent[ch]['given'] else 'no'}" if ch in consent else f"{ch} never asked"
        for ch in ("sms", "email", "whatsapp")))
    for v in data["vehicles"]:
        lines.append(f"  vehicle   {v['vehicle_id']}  {v['plate']}  {v['vehicle_type']}")
    for c in data["cards"]:
        lines.append(f"  card      {c['card_id']}  {c['kind']}  {c['status']}"
                     + (f"  vehicle {c['vehicle']}" if c["vehicle"] else ""))
    for w in data["wallets"]:
        shown = (money.money(w["balance"]) if w["unit"] == "money"
                 else litres(w["balance"]))
        lines.append(f"  wallet    {w['wallet_id']}  {shown}"
                     + ("  OVERDRAWN" if w["balance"] < 0 else ""))
    month = data["this_month"]
    lines.append(f"  this month {month['sales']} sales, {litres(month['volume_ml'])}, "
                 f"{money.money(month['amount'])}")
    return "\n".join(lines)
