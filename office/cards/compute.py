"""The card store computed from the office's records (issue 12).

The office's records (``office.customers`` and ``office.cards`` models) are the truth;
what stations receive is computed from them, in today's card-store format, by
:func:`card_doc`, and published by :func:`publish`: every card whose computed document
differs from the one stations hold (``cm_cards``) becomes one operation of a new
card-master version, so the delta and snapshot machinery of ``office.cards.master``
carries it unchanged.

What a card's document holds, besides its own fields:

- **limits**: the card's own limits, then every limit of each of its customer's groups
  whose period, unit and products the card does not limit itself (a card overrides a
  group limit by setting its own for the same period, unit and products). All of them
  are enforced, so with several groups the strictest wins.
- **products, stations, station_groups**: the card's own list, else the lists its
  customer's groups set (a card may do only what every one of its groups allows: the
  lists are intersected).
- **wallets**: each with its balance as of the stations' contiguous marks (office.cards.
  wallets); the same version carries a ``usage`` operation with those marks, so each
  station subtracts only its own later debits (docs/card-store.md, "Wallets").
- **replaces**: the cards this one took over from (reissue), so a station counts their
  sales towards this card's limits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.config import Config
from core.formats.snapshot import CardSpec, parse_card
from core.timefmt import utc_now
from office import db
from office.cards import master as card_master
from office.cards.models import Card, CardLimit
from office.cards.usage import bounded, usage_ops
from office.cards.wallets import station_balances
from office.store import OfficeConnection

#: Restrictions a customer group may set for its members' cards (intersected).
GROUP_LIST_RULES = ("products", "stations", "station_groups")


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def limit_doc(lim: CardLimit) -> dict[str, Any]:
    doc: dict[str, Any] = {"period": lim.period, "unit": lim.unit, "value": lim.value}
    products = _load(lim.products)
    if products is not None:
        doc["products"] = sorted(products)
    return doc


def _limit_key(doc: dict[str, Any]) -> tuple[str, str, tuple[str, ...] | None]:
    products = doc.get("products")
    return doc["period"], doc["unit"], None if products is None else tuple(sorted(products))


def _intersect(lists: Iterable[list[str] | None]) -> list[str] | None:
    out: set[str] | None = None
    for items in lists:
        if items is None:
            continue
        out = set(items) if out is None else out & set(items)
    return None if out is None else sorted(out)


def card_doc(card: Card, balances: dict[str, int], *, pricing: bool = False
             ) -> dict[str, Any]:
    """The card-store document of ``card`` (its limits, group rules, wallets resolved).

    ``balances``: wallet id -> balance as stations should count it (wallets.station_balances);
    ``pricing``: a pricing document is in force, so the customer's loyalty facts go too.
    """
    doc: dict[str, Any] = {"card_id": card.card_id, "kind": card.kind, "status": card.status}
    for key in ("pan", "rfid_uid", "token_id", "expires"):
        value = getattr(card, key)
        if value is not None:
            doc[key] = value
    if card.customer_id is not None:
        doc["customer_id"] = card.customer_id
    if card.vehicle_id is not None:
        doc["vehicle_id"] = card.vehicle_id
    doc.update(json.loads(card.rules))
    # (.all() and sorting here: the related rows were fetched once for all cards, docs_for)
    groups = []
    if card.customer is not None:
        groups = [m.group for m in sorted(card.customer.memberships.all(),
                                          key=lambda m: m.group_id)]
    own = [limit_doc(lim) for lim in sorted(card.limits.all(), key=lambda lim: lim.id)]
    keys = {_limit_key(d) for d in own}
    inherited = []
    for group in groups:
        for lim in sorted(group.limits.all(), key=lambda lim: lim.id):
            d = limit_doc(lim)
            if _limit_key(d) not in keys:
                inherited.append(d)
    if own or inherited:
        doc["limits"] = own + inherited
    group_rules = [json.loads(g.rules) for g in groups]
    own_products = _load(card.products)
    if own_products is not None:
        doc["products"] = sorted(own_products)
    for key in GROUP_LIST_RULES:
        if key in doc:
            continue
        merged = _intersect(r.get(key) for r in group_rules)
        if merged is not None:
            doc[key] = merged
    wallets = []
    for w in sorted(card.wallets.all(), key=lambda w: w.wallet_id):
        wd: dict[str, Any] = {"wallet_id": w.wallet_id, "unit": w.unit,
                              "balance": bounded(balances.get(w.wallet_id, 0), w.unit)}
        products = _load(w.products)
        if products is not None:
            wd["products"] = sorted(products)
        if w.expires is not None:
            wd["expires"] = w.expires
        wallets.append(wd)
    if wallets:
        doc["wallets"] = wallets
    usage = json.loads(card.imported_usage)
    if usage:
        doc["usage"] = usage
    replaces = json.loads(card.replaces)
    if replaces:
        doc["replaces"] = replaces
    loyalty = loyalty_facts(card, [g.group_id for g in groups]) if pricing else {}
    if loyalty:
        doc["loyalty"] = loyalty
    return doc


def loyalty_facts(card: Card, group_ids: list[str]) -> dict[str, Any]:
    """What pricing rules may ask of the card's customer (docs/pricing.md): category,
    groups and the birthday's month and day (never the year)."""
    customer = card.customer
    if customer is None:
        return {}
    out: dict[str, Any] = {}
    if customer.category_id is not None:
        out["category"] = customer.category_id
    if group_ids:
        out["groups"] = sorted(group_ids)
    if customer.birthday:
        out["birthday"] = customer.birthday[5:10]
    return out


def check_doc(doc: dict[str, Any]) -> CardSpec:
    """The document read back as stations will read it: a record the card-store format
    refuses (a value past its bounds) is caught here, naming the field, before it is
    published (core.errors.CardStoreFormatError)."""
    return parse_card(doc, f"card {doc['card_id']}")


def docs_for(card_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The computed documents of ``card_ids`` (those that exist), by card id.

    500 cards a query (a group's cards may be more than a query may name), each batch's
    limits, wallets, memberships and groups' limits fetched together with it.
    """
    ids = sorted(set(card_ids))
    out: dict[str, dict[str, Any]] = {}
    from office.pricing.rules import in_force

    pricing = in_force()
    for start in range(0, len(ids), 500):
        cards = list(Card.objects.filter(card_id__in=ids[start:start + 500])
                     .select_related("customer")
                     .prefetch_related("limits", "wallets",
                                       "customer__memberships__group__limits"))
        balances = station_balances([w.wallet_id for c in cards for w in c.wallets.all()])
        out.update((c.card_id, card_doc(c, balances, pricing=pricing)) for c in cards)
    return out


def publish(conn: OfficeConnection, config: Config, card_ids: Iterable[str], *,
            actor: str, at_least: int = 0, extra_ops: list[dict[str, Any]] | None = None
            ) -> tuple[int, int]:
    """Make the card master hold the computed documents of ``card_ids``; (version, ops).

    Called inside the caller's transaction (with ``db.lock_card_master()`` held), after
    the records changed. Only documents that differ become operations; each card with
    limits or wallets also gets a ``usage`` operation with the current marks. Nothing to
    publish keeps the latest version and returns 0 operations.
    """
    if not db.in_transaction():
        raise RuntimeError("publish must be called inside atomic()")
    ops: list[dict[str, Any]] = list(extra_ops or [])
    changed: list[str] = []
    for card_id, doc in sorted(docs_for(card_ids).items()):
        check_doc(doc)
        text = json.dumps(doc, sort_keys=True)
        row = conn.execute("SELECT doc FROM cm_cards WHERE card_id = ?", (card_id,)).fetchone()
        if row is not None and row[0] == text:
            continue
        conn.execute("INSERT INTO cm_cards VALUES (?, ?) ON CONFLICT (card_id) "
                     "DO UPDATE SET doc = excluded.doc", (card_id, text))
        ops.append({"op": "card", "card": doc})
        changed.append(card_id)
    if not ops:
        return card_master.latest_version(conn), 0
    ops += usage_ops(conn, changed, config, utc_now())
    return card_master.record_version(conn, ops, actor, at_least), len(ops)
