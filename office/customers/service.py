"""Customers, marketing consent, customer groups and vehicles: one service for the
console and the CLI.

Each change is checked field by field (office.customers.fields: one sentence naming the
field, nothing changed), written with who made it, and recorded in the audit trail with
the values before and after, in one transaction. A change that alters what a card may
do (a customer joins a group, a group's limits change) also publishes the affected
cards' new documents as one card-master version (office.cards.compute).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.config import Config
from core.timefmt import iso, utc_now
from office import db
from office.access import audit
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.models import (
    CONSENT_CHANNELS,
    CONTACT_CHANNELS,
    CUSTOMER_KINDS,
    GROUP_KINDS,
    PAYMENT_TERMS,
    VEHICLE_TYPES,
    ConsentEvent,
    Counter,
    Customer,
    CustomerCategory,
    CustomerGroup,
    GroupMembership,
    Vehicle,
)
from office.customers.search import plate_key, search_key
from office.store import OfficeConnection


@dataclass(frozen=True)
class Who:
    """The person making a change and the door it comes through (console, cli)."""

    actor: str
    via: str

    @property
    def version_actor(self) -> str:
        """How card-master versions name the person: ``cli:root``, ``console:anna``."""
        return f"{self.via}:{self.actor}"


def now_text() -> str:
    return iso(utc_now())


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The audit's ``old``/``new`` of a change: only the fields that changed."""
    return {"old": {k: v for k, v in old.items() if new.get(k) != v},
            "new": {k: v for k, v in new.items() if old.get(k) != v}}


def next_id(name: str, prefix: str, model: Any, key: str) -> str:
    """The next free id of a kind (``C-000042``), from a counter kept in the store."""
    with db.atomic():
        counter, _ = Counter.objects.select_for_update().get_or_create(
            name=name, defaults={"value": 0})
        while True:
            counter.value += 1
            candidate = f"{prefix}{counter.value:06d}"
            if not model.objects.filter(**{key: candidate}).exists():
                break
        counter.save(update_fields=["value"])
    return candidate


def new_id(name: str, prefix: str, model: Any, key: str, given: str | None) -> str:
    """The id of a record about to be made: ``given`` (checked, and refused when a
    record has it already), else the next free one (:func:`next_id`)."""
    if not given:
        return next_id(name, prefix, model, key)
    chosen = F.identifier(key, given)
    if model.objects.filter(**{key: chosen}).exists():
        raise RecordRefused(f"{name} {chosen} already exists", reason="duplicate", field=key)
    return chosen


# -- customers ---------------------------------------------------------------------------

#: The fields a customer record takes from a form, an option or a spreadsheet column.
CUSTOMER_FIELDS = ("customer_id", "kind", "name", "phones", "emails", "addresses", "birthday",
                   "company", "category", "payment_terms", "credit_limit",
                   "preferred_channel", "notes", "region", "occupation")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.replace(";", ",").split(",")) if v]
    if isinstance(value, list | tuple):
        return list(value)
    raise RecordRefused("a list was expected", field=None)


def clean_customer(values: dict[str, Any], *, current: Customer | None = None
                   ) -> dict[str, Any]:
    """The model fields of ``values`` (CUSTOMER_FIELDS), each checked; the others of
    ``current`` are kept. Raises RecordRefused naming the first bad field."""
    unknown = sorted(set(values) - set(CUSTOMER_FIELDS) - {"groups"})
    if unknown:
        raise RecordRefused(f"{unknown[0]} is not a customer field", field=unknown[0])
    out: dict[str, Any] = {}
    if "kind" in values:
        out["kind"] = F.choice("kind", values["kind"] or "person", CUSTOMER_KINDS)
    if "name" in values or current is None:
        out["name"] = F.text("name", values.get("name"), required=True)
    if "phones" in values:
        out["phones"] = json.dumps(sorted(dict.fromkeys(
            F.phone("phone", p) for p in _as_list(values["phones"]))))
    if "emails" in values:
        out["emails"] = json.dumps(sorted(dict.fromkeys(
            F.email("email", e) for e in _as_list(values["emails"]))))
    if "addresses" in values:
        items = values["addresses"]
        items = [items] if isinstance(items, str) else list(items or [])
        out["addresses"] = json.dumps([F.text("address", a, required=True) for a in items
                                       if a and str(a).strip()], ensure_ascii=False)
    if "birthday" in values:
        out["birthday"] = F.day("birthday", values["birthday"], past=True)
    if "company" in values:
        company = values["company"] or None
        if company is not None:
            found = Customer.objects.filter(customer_id=company).first()
            if found is None or found.kind != "company":
                raise RecordRefused(f"company {company} is not a company customer",
                                    reason="unknown", field="company")
        out["company_id"] = company
    if "category" in values:
        category = values["category"] or None
        if category is not None and not CustomerCategory.objects.filter(
                code=category).exists():
            codes = ", ".join(CustomerCategory.objects.order_by("code")
                              .values_list("code", flat=True))
            raise RecordRefused(f"category {category!r} is not in the list ({codes})",
                                reason="unknown", field="category")
        out["category_id"] = category
    if "payment_terms" in values:
        out["payment_terms"] = F.choice("payment_terms", values["payment_terms"] or "prepaid",
                                        PAYMENT_TERMS)
    if "credit_limit" in values:
        limit = values["credit_limit"]
        out["credit_limit"] = None if limit in (None, "") else F.amount("credit_limit", limit)
    if "preferred_channel" in values:
        out["preferred_channel"] = F.choice("preferred_channel",
                                            values["preferred_channel"] or "none",
                                            CONTACT_CHANNELS)
    if "notes" in values:
        out["notes"] = F.notes("notes", values["notes"])
    for key in ("region", "occupation"):
        if key in values:
            out[key] = F.text(key, values[key])
    terms = out.get("payment_terms", current.payment_terms if current else "prepaid")
    limit = out.get("credit_limit", current.credit_limit if current else None)
    if terms == "prepaid" and limit is not None:
        raise RecordRefused("credit_limit is only for customers on credit (payment_terms "
                            "credit)", field="credit_limit")
    return out


def _key_of(customer: Customer) -> str:
    return search_key(customer.name, customer_id=customer.customer_id,
                      phones=json.loads(customer.phones), emails=json.loads(customer.emails))


def customer_record(customer: Customer) -> dict[str, Any]:
    """A customer as plain values (JSON output, audit old/new)."""
    return {
        "customer_id": customer.customer_id, "kind": customer.kind, "name": customer.name,
        "phones": json.loads(customer.phones), "emails": json.loads(customer.emails),
        "addresses": json.loads(customer.addresses), "birthday": customer.birthday,
        "company": customer.company_id, "category": customer.category_id,
        "payment_terms": customer.payment_terms, "credit_limit": customer.credit_limit,
        "preferred_channel": customer.preferred_channel, "notes": customer.notes,
        "region": customer.region, "occupation": customer.occupation,
        "groups": sorted(customer.memberships.values_list("group_id", flat=True)),
        "closed_at": customer.closed_at, "merged_into": customer.merged_into,
        "created_at": customer.created_at, "created_by": customer.created_by,
        "modified_at": customer.modified_at, "modified_by": customer.modified_by,
    }


def get_customer(customer_id: str) -> Customer:
    found: Customer | None = Customer.objects.filter(customer_id=customer_id).first()
    if found is None:
        raise RecordRefused(f"customer {customer_id} does not exist", reason="unknown",
                            field="customer_id")
    return found


def add_customer(conn: OfficeConnection, values: dict[str, Any], who: Who) -> Customer:
    """A new customer (its id made when not given); joins ``values['groups']`` if any."""
    groups = [F.identifier("group", g) for g in _as_list(values.get("groups"))]
    clean = clean_customer({k: v for k, v in values.items() if k != "customer_id"})
    with conn.atomic():
        customer_id = new_id("customer", "C-", Customer, "customer_id",
                             values.get("customer_id"))
        stamp = now_text()
        customer = Customer(customer_id=customer_id, created_at=stamp, created_by=who.actor,
                            modified_at=stamp, modified_by=who.actor, **clean)
        customer.search_key = _key_of(customer)
        customer.save(force_insert=True)
        for group_id in groups:
            _join(customer, group_id, who, stamp)
        audit.record(actor=who.actor, via=who.via, action="customer.add",
                     object_kind="customer", object_id=customer_id,
                     new=customer_record(customer))
    return customer


def edit_customer(conn: OfficeConnection, customer_id: str, values: dict[str, Any], who: Who,
                  config: Config | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change a customer's fields; (before, after). Nothing to change changes nothing.

    With ``config``, a change of what pricing rules read (category, birthday) publishes
    the customer's cards, so stations price with it (office.cards.compute.loyalty_facts).
    """
    version = None
    with conn.atomic():
        customer = get_customer(customer_id)
        old = customer_record(customer)
        for key, value in clean_customer(values, current=customer).items():
            setattr(customer, key, value)
        customer.search_key = _key_of(customer)
        new = customer_record(customer)
        if new == old:
            return old, new
        customer.modified_at, customer.modified_by = now_text(), who.actor
        customer.save()
        new = customer_record(customer)
        audit.record(actor=who.actor, via=who.via, action="customer.change",
                     object_kind="customer", object_id=customer_id, **changed(old, new))
        if config is not None and any(old.get(k) != new.get(k)
                                      for k in ("category", "birthday")):
            from office.cards import compute

            db.lock_card_master()
            version, changes = compute.publish(conn, config, customer_cards(customer_id),
                                               actor=who.version_actor)
            version = version if changes else None
    if version is not None and config is not None:
        from office.cards import actions

        actions.publish(config, conn, version)
    return old, new


# -- consent -----------------------------------------------------------------------------

def set_consent(conn: OfficeConnection, customer_id: str, channel: str, *, given: bool,
                source: str, who: Who) -> bool:
    """Record consent given or withdrawn on ``channel``; False if it already stood so."""
    channel = F.choice("channel", channel, CONSENT_CHANNELS)
    source = F.text("source", source, required=True)
    with conn.atomic():
        customer = get_customer(customer_id)
        before = consent_of(customer).get(channel)
        if before is not None and before["given"] == given:
            return False
        ConsentEvent.objects.create(customer=customer, channel=channel, given=given,
                                    at=now_text(), source=source, recorded_by=who.actor)
        audit.record(actor=who.actor, via=who.via,
                     action="consent.give" if given else "consent.withdraw",
                     object_kind="customer", object_id=customer_id,
                     old={channel: None if before is None else before["given"]},
                     new={channel: given}, detail=source)
    return True


def consent_of(customer: Customer) -> dict[str, dict[str, Any]]:
    """Per channel: the latest event (given, at, source, recorded_by); absent: never asked."""
    out: dict[str, dict[str, Any]] = {}
    for e in customer.consent_events.order_by("at", "id"):
        out[e.channel] = {"given": e.given, "at": e.at, "source": e.source,
                          "recorded_by": e.recorded_by}
    return out


def consent_history(customer: Customer) -> list[dict[str, Any]]:
    return [{"channel": e.channel, "given": e.given, "at": e.at, "source": e.source,
             "recorded_by": e.recorded_by} for e in customer.consent_events.order_by("at", "id")]


# -- groups ------------------------------------------------------------------------------

def get_group(group_id: str) -> CustomerGroup:
    found: CustomerGroup | None = CustomerGroup.objects.filter(group_id=group_id).first()
    if found is None:
        raise RecordRefused(f"group {group_id} does not exist", reason="unknown",
                            field="group")
    return found


def group_record(group: CustomerGroup) -> dict[str, Any]:
    from office.cards.compute import limit_doc

    return {"group_id": group.group_id, "name": group.name, "kind": group.kind,
            "rules": json.loads(group.rules),
            "limits": [limit_doc(lim) for lim in group.limits.order_by("id")],
            "members": sorted(group.memberships.values_list("customer_id", flat=True))}


def group_cards(group: CustomerGroup) -> list[str]:
    """The cards of the group's members (their documents inherit from the group)."""
    from office.cards.models import Card

    return sorted(Card.objects.filter(customer__memberships__group=group)
                  .values_list("card_id", flat=True))


def customer_cards(customer_id: str) -> list[str]:
    from office.cards.models import Card

    return sorted(Card.objects.filter(customer_id=customer_id)
                  .values_list("card_id", flat=True))


def add_group(conn: OfficeConnection, values: dict[str, Any], who: Who) -> CustomerGroup:
    group_id = F.identifier("group_id", values.get("group_id"))
    name = F.text("name", values.get("name") or group_id, required=True)
    kind = F.choice("kind", values.get("kind") or "other", GROUP_KINDS)
    rules = check_group_rules(values.get("rules") or {})
    with conn.atomic():
        if CustomerGroup.objects.filter(group_id=group_id).exists():
            raise RecordRefused(f"group {group_id} already exists", reason="duplicate",
                                field="group_id")
        stamp = now_text()
        group: CustomerGroup = CustomerGroup.objects.create(group_id=group_id, name=name, kind=kind,
                                             rules=json.dumps(rules, sort_keys=True),
                                             created_at=stamp, created_by=who.actor,
                                             modified_at=stamp, modified_by=who.actor)
        audit.record(actor=who.actor, via=who.via, action="group.add", object_kind="group",
                     object_id=group_id, new=group_record(group))
    return group


def check_group_rules(rules: Any) -> dict[str, Any]:
    """A group's inherited restrictions: ``products``, ``stations``, ``station_groups``
    (lists of codes); checked as the card-store format checks a card's."""
    from office.cards.compute import GROUP_LIST_RULES

    if not isinstance(rules, dict):
        raise RecordRefused("rules must be an object", field="rules")
    out: dict[str, Any] = {}
    for key, value in rules.items():
        if key not in GROUP_LIST_RULES:
            raise RecordRefused(f"rules.{key} is not a group rule (use "
                                f"{', '.join(GROUP_LIST_RULES)})", field="rules")
        if value is None:
            continue
        items = _as_list(value)
        out[key] = sorted({F.text(f"rules.{key}", v, required=True) for v in items})
    if "products" in out:
        known = {r[0] for r in db.fetchall("SELECT code FROM cm_products")}
        unknown = sorted(set(out["products"]) - known)
        if unknown:
            raise RecordRefused(f"rules.products names an unknown product {unknown[0]!r}",
                                reason="unknown", field="rules")
    return out


def edit_group(conn: OfficeConnection, config: Config, group_id: str,
               values: dict[str, Any], who: Who) -> int | None:
    """Change a group's name, kind or rules; the card-master version if cards changed."""
    from office.cards import compute

    with conn.atomic():
        db.lock_card_master()
        group = get_group(group_id)
        old = group_record(group)
        if "name" in values:
            group.name = F.text("name", values["name"], required=True)
        if "kind" in values:
            group.kind = F.choice("kind", values["kind"], GROUP_KINDS)
        if "rules" in values:
            group.rules = json.dumps(check_group_rules(values["rules"]), sort_keys=True)
        new = group_record(group)
        if new == old:
            return None
        group.modified_at, group.modified_by = now_text(), who.actor
        group.save()
        audit.record(actor=who.actor, via=who.via, action="group.change",
                     object_kind="group", object_id=group_id, old=old, new=new)
        version, changes = compute.publish(conn, config, group_cards(group),
                                           actor=who.version_actor)
    return version if changes else None


def _join(customer: Customer, group_id: str, who: Who, stamp: str) -> bool:
    group = get_group(group_id)
    _, made = GroupMembership.objects.get_or_create(
        customer=customer, group=group, defaults={"added_at": stamp, "added_by": who.actor})
    return bool(made)


def set_membership(conn: OfficeConnection, config: Config, customer_id: str,
                   group_id: str, *, member: bool, who: Who) -> int | None:
    """Put a customer in a group or take them out; the version if their cards changed."""
    from office.cards import compute

    with conn.atomic():
        db.lock_card_master()
        customer = get_customer(customer_id)
        group = get_group(group_id)
        if member:
            changed = _join(customer, group_id, who, now_text())
        else:
            changed = GroupMembership.objects.filter(customer=customer,
                                                     group=group).delete()[0] > 0
        if not changed:
            return None
        audit.record(actor=who.actor, via=who.via,
                     action="group.join" if member else "group.leave",
                     object_kind="customer", object_id=customer_id,
                     old=None if member else {"group": group_id},
                     new={"group": group_id} if member else None)
        version, changes = compute.publish(conn, config, customer_cards(customer_id),
                                           actor=who.version_actor)
    return version if changes else None


# -- vehicles ----------------------------------------------------------------------------

VEHICLE_FIELDS = ("vehicle_id", "plate", "customer", "vehicle_type", "fuel",
                  "tank_capacity_ml", "notes")


def vehicle_record(vehicle: Vehicle) -> dict[str, Any]:
    return {"vehicle_id": vehicle.vehicle_id, "plate": vehicle.plate,
            "customer": vehicle.customer_id, "vehicle_type": vehicle.vehicle_type,
            "fuel": vehicle.fuel, "tank_capacity_ml": vehicle.tank_capacity_ml,
            "notes": vehicle.notes, "retired_at": vehicle.retired_at,
            "cards": sorted(vehicle.cards.values_list("card_id", flat=True))}


def get_vehicle(vehicle_id: str) -> Vehicle:
    found: Vehicle | None = Vehicle.objects.filter(vehicle_id=vehicle_id).first()
    if found is None:
        raise RecordRefused(f"vehicle {vehicle_id} does not exist", reason="unknown",
                            field="vehicle")
    return found


def clean_vehicle(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(VEHICLE_FIELDS))
    if unknown:
        raise RecordRefused(f"{unknown[0]} is not a vehicle field", field=unknown[0])
    out: dict[str, Any] = {}
    if "plate" in values:
        out["plate"] = F.text("plate", values["plate"], required=True, max_chars=32)
        out["plate_key"] = plate_key(out["plate"])
    if "customer" in values:
        customer = values["customer"] or None
        if customer is not None:
            get_customer(customer)
        out["customer_id"] = customer
    if "vehicle_type" in values:
        out["vehicle_type"] = F.choice("vehicle_type", values["vehicle_type"] or "car",
                                       VEHICLE_TYPES)
    if "fuel" in values:
        fuel = values["fuel"] or None
        if fuel is not None and not db.fetchone("SELECT 1 FROM cm_products WHERE code = ?",
                                                (fuel,)):
            raise RecordRefused(f"fuel {fuel!r} is not a known product code", reason="unknown",
                                field="fuel")
        out["fuel"] = fuel
    if "tank_capacity_ml" in values:
        tank = values["tank_capacity_ml"]
        out["tank_capacity_ml"] = None if tank in (None, "") else F.amount(
            "tank_capacity_ml", tank, unit="volume", positive=True)
    if "notes" in values:
        out["notes"] = F.notes("notes", values["notes"])
    return out


def add_vehicle(conn: OfficeConnection, values: dict[str, Any], who: Who) -> Vehicle:
    if not values.get("plate"):
        raise RecordRefused("plate is required", field="plate")
    clean = clean_vehicle({k: v for k, v in values.items() if k != "vehicle_id"})
    with conn.atomic():
        vehicle_id = new_id("vehicle", "V-", Vehicle, "vehicle_id", values.get("vehicle_id"))
        stamp = now_text()
        vehicle: Vehicle = Vehicle.objects.create(
            vehicle_id=vehicle_id, created_at=stamp, created_by=who.actor, modified_at=stamp,
            modified_by=who.actor, **clean)
        audit.record(actor=who.actor, via=who.via, action="vehicle.add",
                     object_kind="vehicle", object_id=vehicle_id,
                     new=vehicle_record(vehicle))
    return vehicle


def edit_vehicle(conn: OfficeConnection, vehicle_id: str, values: dict[str, Any], who: Who
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    with conn.atomic():
        vehicle = get_vehicle(vehicle_id)
        old = vehicle_record(vehicle)
        for key, value in clean_vehicle(values).items():
            setattr(vehicle, key, value)
        new = vehicle_record(vehicle)
        if new == old:
            return old, new
        vehicle.modified_at, vehicle.modified_by = now_text(), who.actor
        vehicle.save()
        audit.record(actor=who.actor, via=who.via, action="vehicle.change",
                     object_kind="vehicle", object_id=vehicle_id, **changed(old, new))
    return old, new


def odometer_readings(vehicle_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The vehicle's odometer readings from its sales, newest first (flagged ones too)."""
    rows = db.fetchall(
        "SELECT completed_at, station_id, seq, card_id, odometer_km, odometer_flag FROM sales "
        "WHERE vehicle_id = ? AND odometer_km IS NOT NULL ORDER BY completed_at DESC LIMIT ?",
        (vehicle_id, limit))
    return [dict(zip(r.keys(), r, strict=True)) for r in rows]


def close_customer(conn: OfficeConnection, customer_id: str, who: Who) -> bool:
    """Close a customer (the ``delete`` right): the record and its history stay, it is
    left out of lists and gets no new cards. Refused while a card of theirs is active
    (withdraw or block it first: a closed customer's card must not take fuel)."""
    from office.cards.models import Card

    with conn.atomic():
        customer = get_customer(customer_id)
        if customer.closed_at is not None:
            return False
        active = sorted(Card.objects.filter(customer=customer, status="active")
                        .values_list("card_id", flat=True))
        if active:
            raise RecordRefused(f"customer {customer_id} still has active cards "
                                f"({', '.join(active[:5])}); withdraw or block them first",
                                reason="conflict", field="customer_id")
        customer.closed_at = now_text()
        customer.modified_at, customer.modified_by = customer.closed_at, who.actor
        customer.save(update_fields=["closed_at", "modified_at", "modified_by"])
        audit.record(actor=who.actor, via=who.via, action="customer.close",
                     object_kind="customer", object_id=customer_id,
                     old={"closed_at": None}, new={"closed_at": customer.closed_at})
    return True
