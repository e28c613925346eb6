"""Merging a duplicate customer into the one kept: everything of the other moves, in one
transaction, audited; a preview says exactly what would move and changes nothing.

What moves from ``other`` to ``keep``:

- **cards**, and with them their wallets (ledgers and balances), limits, points and
  history; the sales follow the cards (a customer's sales are their cards' sales);
- **vehicles**;
- **consent events**: the whole history moves; on each channel the latest event (by
  time) is the consent that stands, whichever record it came from;
- **group memberships**: the union (a group both were in is kept once);
- **phones, e-mails, addresses**: the union (a phone ``keep`` has in another form,
  "0532 123 45 67" for "+90 532 123 45 67", is not added twice);
- **empty fields** of ``keep`` (birthday, company, category, preferred channel, notes,
  region, occupation; the credit limit of a credit customer) are filled from ``other``;
  what ``keep`` has stays;
- a **company's members**: when both are companies, the people of ``other`` become
  members of ``keep``. A company with members is not merged into a person (it would
  leave its members with a closed company): that is refused with one sentence.

``other`` is then marked ``merged_into = keep`` and closed (its record stays, for the
history and the audit trail). Refused: a customer merged into itself, into a closed or
merged customer, or a customer already merged.

The cards that moved, and those of ``keep`` (whose groups may have grown), get their new
documents in one card-master version inside the transaction (office.cards.compute), sent
to every station after commit (office.cards.actions.publish).
"""

from __future__ import annotations

import json
from typing import Any

from core.config import Config
from office import db
from office.access import audit
from office.cards import actions, compute
from office.cards.models import Card, Wallet
from office.customers.duplicates import phone_key
from office.customers.errors import RecordRefused
from office.customers.models import ConsentEvent, Customer, GroupMembership, Vehicle
from office.customers.search import search_key
from office.customers.service import Who, customer_record, get_customer, now_text
from office.store import OfficeConnection

#: Fields of ``keep`` filled from ``other`` when empty, and what counts as empty.
FILLED = {"birthday": None, "company_id": None, "category_id": None,
          "preferred_channel": "none", "notes": "", "region": "", "occupation": ""}


def _pair(keep_id: str, other_id: str) -> tuple[Customer, Customer]:
    """The two customers, or the sentence why they cannot be merged."""
    if keep_id == other_id:
        raise RecordRefused(f"customer {keep_id} cannot be merged into itself",
                            reason="conflict", field="other")
    keep = get_customer(keep_id)
    other = get_customer(other_id)
    if keep.merged_into is not None:
        raise RecordRefused(f"customer {keep_id} was merged into {keep.merged_into}; merge "
                            f"into {keep.merged_into} instead", reason="conflict", field="keep")
    if keep.closed_at is not None:
        raise RecordRefused(f"customer {keep_id} is closed; merge into an open customer",
                            reason="conflict", field="keep")
    if other.merged_into is not None:
        raise RecordRefused(f"customer {other_id} was already merged into "
                            f"{other.merged_into}", reason="conflict", field="other")
    if other.kind == "company" and keep.kind != "company":
        members = Customer.objects.filter(company_id=other_id).exclude(customer_id=keep_id)
        if members.exists():
            raise RecordRefused(
                f"customer {other_id} is a company with {members.count()} member(s); merge "
                "it into a company customer (its members move with it)",
                reason="conflict", field="other")
    return keep, other


def _union(first: list[Any], second: list[Any]) -> list[Any]:
    return list(dict.fromkeys([*first, *second]))


def _consent_after(keep: Customer, other: Customer) -> dict[str, bool]:
    """Per channel, the consent that stands after the merge: the latest event of both."""
    out: dict[str, bool] = {}
    for e in ConsentEvent.objects.filter(customer_id__in=[keep.customer_id, other.customer_id]
                                         ).order_by("at", "id"):
        out[e.channel] = bool(e.given)
    return dict(sorted(out.items()))


def plan(keep: Customer, other: Customer) -> dict[str, Any]:
    """What merging ``other`` into ``keep`` moves and changes (reads only)."""
    cards = sorted(Card.objects.filter(customer_id=other.customer_id)
                   .values_list("card_id", flat=True))
    wallets = sorted(Wallet.objects.filter(card_id__in=cards)
                     .values_list("wallet_id", flat=True))
    sales = 0
    for start in range(0, len(cards), 500):
        chunk = cards[start:start + 500]
        row = db.fetchone(f"SELECT COUNT(*) FROM sales WHERE card_id IN "
                          f"({','.join('?' * len(chunk))})", chunk)
        sales += int(row[0]) if row else 0
    keep_groups = set(keep.memberships.values_list("group_id", flat=True))
    other_groups = sorted(other.memberships.values_list("group_id", flat=True))
    fields: dict[str, Any] = {}
    for name, empty in FILLED.items():
        mine, theirs = getattr(keep, name), getattr(other, name)
        if mine == empty and theirs != empty and theirs is not None:
            if name == "company_id" and (theirs == keep.customer_id or keep.kind == "company"):
                continue  # a company belongs to no company, least of all itself
            fields[name.removesuffix("_id")] = theirs
    if keep.company_id == other.customer_id:
        fields["company"] = other.company_id  # keep left the company merged into it
    if (keep.payment_terms == "credit" and keep.credit_limit is None
            and other.credit_limit is not None):
        fields["credit_limit"] = other.credit_limit
    keep_phones, keep_emails = json.loads(keep.phones), json.loads(keep.emails)
    keep_numbers = {phone_key(p) for p in keep_phones} - {None}
    keep_addresses = json.loads(keep.addresses)
    return {
        "keep": keep.customer_id, "other": other.customer_id,
        "cards": cards, "wallets": wallets, "sales": sales,
        "vehicles": sorted(Vehicle.objects.filter(customer_id=other.customer_id)
                           .values_list("vehicle_id", flat=True)),
        "consent_events": other.consent_events.count(),
        "consent": _consent_after(keep, other),
        "groups": [g for g in other_groups if g not in keep_groups],
        "groups_already": [g for g in other_groups if g in keep_groups],
        "members": sorted(Customer.objects.filter(company_id=other.customer_id)
                          .exclude(customer_id=keep.customer_id)
                          .values_list("customer_id", flat=True)),
        "phones": [p for p in json.loads(other.phones) if p not in keep_phones
                   and (phone_key(p) is None or phone_key(p) not in keep_numbers)],
        "emails": [e for e in json.loads(other.emails) if e not in keep_emails],
        "addresses": [a for a in json.loads(other.addresses) if a not in keep_addresses],
        "fields": fields,
    }


def preview(keep_id: str, other_id: str) -> dict[str, Any]:
    """What :func:`merge` would do, changing nothing (the same refusals)."""
    keep, other = _pair(keep_id, other_id)
    return {**plan(keep, other), "preview": True}


def merge(conn: OfficeConnection, config: Config, keep_id: str, other_id: str, who: Who
          ) -> dict[str, Any]:
    """Merge ``other`` into ``keep`` (see the module's docstring); the plan that was
    carried out, with the card-master ``version`` (None: no card document changed) and
    ``published`` (actions.Change.published)."""
    with conn.atomic():
        db.lock_card_master()
        keep, other = _pair(keep_id, other_id)
        done = plan(keep, other)
        before_keep, before_other = customer_record(keep), customer_record(other)
        stamp = now_text()
        _apply(keep, other, done, who, stamp)
        after_keep = customer_record(get_customer(keep_id))
        after_other = customer_record(get_customer(other_id))
        moved = {k: done[k] for k in ("cards", "wallets", "vehicles", "groups", "members")
                 if done[k]}
        audit.record(actor=who.actor, via=who.via, action="customer.merge",
                     object_kind="customer", object_id=keep_id,
                     old={k: v for k, v in before_keep.items() if after_keep[k] != v},
                     new={**{k: v for k, v in after_keep.items() if before_keep[k] != v},
                          "merged": other_id, "moved": moved,
                          "consent_events": done["consent_events"]},
                     detail=f"{other_id} merged into {keep_id}")
        audit.record(actor=who.actor, via=who.via, action="customer.merge",
                     object_kind="customer", object_id=other_id,
                     old={k: before_other[k] for k in ("merged_into", "closed_at")},
                     new={k: after_other[k] for k in ("merged_into", "closed_at")},
                     detail=f"{other_id} merged into {keep_id}")
        cards = sorted({*done["cards"], *Card.objects.filter(customer_id=keep_id)
                        .values_list("card_id", flat=True)})
        version, changes = compute.publish(conn, config, cards, actor=who.version_actor)
    if not changes:
        return {**done, "preview": False, "version": None, "published": None}
    return {**done, "preview": False, "version": version,
            "published": actions.publish(config, conn, version)}


def _apply(keep: Customer, other: Customer, done: dict[str, Any], who: Who, stamp: str
           ) -> None:
    """Carry out ``done`` (inside the caller's transaction)."""
    Card.objects.filter(card_id__in=done["cards"]).update(
        customer_id=keep.customer_id, modified_at=stamp, modified_by=who.actor)
    Vehicle.objects.filter(vehicle_id__in=done["vehicles"]).update(
        customer_id=keep.customer_id, modified_at=stamp, modified_by=who.actor)
    ConsentEvent.objects.filter(customer_id=other.customer_id).update(
        customer_id=keep.customer_id)
    GroupMembership.objects.filter(customer_id=other.customer_id,
                                   group_id__in=done["groups"]).update(
        customer_id=keep.customer_id)
    GroupMembership.objects.filter(customer_id=other.customer_id).delete()
    Customer.objects.filter(customer_id__in=done["members"]).update(
        company_id=keep.customer_id, modified_at=stamp, modified_by=who.actor)
    phones = sorted(_union(json.loads(keep.phones), done["phones"]))
    emails = sorted(_union(json.loads(keep.emails), done["emails"]))
    keep.phones, keep.emails = json.dumps(phones), json.dumps(emails)
    keep.addresses = json.dumps(_union(json.loads(keep.addresses), done["addresses"]),
                                ensure_ascii=False)
    for name, value in done["fields"].items():
        setattr(keep, name + "_id" if name in ("company", "category") else name, value)
    keep.search_key = search_key(keep.name, customer_id=keep.customer_id, phones=phones,
                                 emails=emails)
    keep.modified_at, keep.modified_by = stamp, who.actor
    keep.save()
    other.merged_into = keep.customer_id
    other.closed_at = other.closed_at or stamp
    other.modified_at, other.modified_by = stamp, who.actor
    other.save(update_fields=["merged_into", "closed_at", "modified_at", "modified_by"])
