"""Card records from card-store documents: how a card-store file (or a card master
kept before issue 12) becomes the office's own records.

:func:`card_fields` is pure (no database): the columns, limits and wallets of a card
document. :func:`adopt` writes them, creating the customers and vehicles the document
names when the office does not know them yet. A wallet new to the office opens with the
document's balance (an ``opening`` ledger entry); a wallet it knows keeps its ledger
(top-ups and adjustments change balances, a file does not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.timefmt import iso, utc_now

#: The card-store fields kept together in a card's ``rules`` column.
RULE_KEYS = ("visits", "time_windows", "stations", "station_groups", "vehicle_binding",
             "odometer_required", "pin")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class CardFields:
    """A card document as record columns, its own limits and its wallets."""

    columns: dict[str, Any]
    limits: list[dict[str, Any]] = field(default_factory=list)
    wallets: list[dict[str, Any]] = field(default_factory=list)


def card_fields(doc: dict[str, Any]) -> CardFields:
    """The record of a (validated, normalised) card-store card document."""
    columns = {
        "card_id": doc["card_id"], "kind": doc["kind"], "status": doc.get("status", "active"),
        "pan": doc.get("pan"), "rfid_uid": doc.get("rfid_uid"),
        "token_id": doc.get("token_id"), "expires": doc.get("expires"),
        "customer_id": doc.get("customer_id"), "vehicle_id": doc.get("vehicle_id"),
        "products": _json(doc.get("products")),
        "rules": _json({k: doc[k] for k in RULE_KEYS if k in doc}),
        "imported_usage": _json(doc.get("usage", [])),
        "replaces": _json(doc.get("replaces", [])),
    }
    limits = [{"period": lim["period"], "unit": lim["unit"], "value": lim["value"],
               "products": _json(lim.get("products"))} for lim in doc.get("limits", [])]
    wallets = [{"wallet_id": w["wallet_id"], "unit": w["unit"], "balance": w["balance"],
                "products": _json(w.get("products")), "expires": w.get("expires")}
               for w in doc.get("wallets", [])]
    return CardFields(columns, limits, wallets)


def adopt(docs: list[dict[str, Any]], *, customers: list[dict[str, Any]],
          groups: list[dict[str, Any]], vehicles: list[dict[str, Any]], actor: str,
          via: str = "cli", apps: Any = None) -> list[str]:
    """Create or update the records of card documents (inside the caller's transaction);
    the card ids written. ``apps``: a migration's model registry (default: the live one).
    """
    if apps is None:
        from django.apps import apps as live

        apps = live
    customer_model = apps.get_model("customers", "Customer")
    group_model = apps.get_model("customers", "CustomerGroup")
    member_model = apps.get_model("customers", "GroupMembership")
    vehicle_model = apps.get_model("customers", "Vehicle")
    card_model = apps.get_model("cards", "Card")
    limit_model = apps.get_model("cards", "CardLimit")
    wallet_model = apps.get_model("cards", "Wallet")
    entry_model = apps.get_model("cards", "WalletEntry")
    now = iso(utc_now())
    stamp = {"created_at": now, "created_by": actor, "modified_at": now, "modified_by": actor}

    for g in groups:
        group_model.objects.get_or_create(group_id=g["group_id"], defaults={
            "name": g.get("name") or g["group_id"], **stamp})
    named = {c["customer_id"]: c for c in customers}
    named.update({d["customer_id"]: {"customer_id": d["customer_id"]}
                  for d in docs if d.get("customer_id") and d["customer_id"] not in named})
    for v in vehicles:
        if v.get("customer_id") and v["customer_id"] not in named:
            named[v["customer_id"]] = {"customer_id": v["customer_id"]}
    for customer_id, c in sorted(named.items()):
        made, created = customer_model.objects.get_or_create(
            customer_id=customer_id, defaults={"name": c.get("name") or customer_id,
                                               "search_key": "", **stamp})
        if created:
            from office.customers.search import search_key

            made.search_key = search_key(made.name, customer_id=customer_id)
            made.save(update_fields=["search_key"])
        if c.get("group_id") and group_model.objects.filter(group_id=c["group_id"]).exists():
            member_model.objects.get_or_create(customer_id=customer_id,
                                               group_id=c["group_id"],
                                               defaults={"added_at": now, "added_by": actor})
    plates = {v["vehicle_id"]: v for v in vehicles}
    plates.update({d["vehicle_id"]: {"vehicle_id": d["vehicle_id"]}
                   for d in docs if d.get("vehicle_id") and d["vehicle_id"] not in plates})
    for vehicle_id, v in sorted(plates.items()):
        from office.customers.search import plate_key

        plate = v.get("plate") or vehicle_id
        vehicle_model.objects.get_or_create(vehicle_id=vehicle_id, defaults={
            "plate": plate, "plate_key": plate_key(plate), "customer_id": v.get("customer_id"),
            **stamp})

    written = []
    for doc in docs:
        f = card_fields(doc)
        card_id = f.columns["card_id"]
        existing = card_model.objects.filter(card_id=card_id).first()
        if existing is None:
            card_model.objects.create(**f.columns, issued_at=now, issued_by=actor,
                                      modified_at=now, modified_by=actor)
        else:
            for key, value in f.columns.items():
                setattr(existing, key, value)
            existing.modified_at, existing.modified_by = now, actor
            existing.save()
        limit_model.objects.filter(card_id=card_id).delete()
        limit_model.objects.bulk_create([limit_model(card_id=card_id, **lim)
                                         for lim in f.limits])
        for w in f.wallets:
            wallet, created = wallet_model.objects.get_or_create(
                wallet_id=w["wallet_id"], defaults={
                    "card_id": card_id, "unit": w["unit"], "products": w["products"],
                    "expires": w["expires"], "created_at": now, "created_by": actor})
            if created:
                entry_model.objects.create(wallet_id=wallet.wallet_id, kind="opening",
                                           value=w["balance"], at=now, actor=actor,
                                           via=via, reason="card-store file")
            else:
                wallet.card_id, wallet.products, wallet.expires = (
                    card_id, w["products"], w["expires"])
                wallet.save()
        written.append(card_id)
    return written
