"""Issuing cards, reissue, limits, wallets and top-ups: one service for the console and
the CLI.

Every change writes the records, an audit entry with the values before and after, and
the cards' new documents as one card-master version (office.cards.compute), in one
transaction; then the version is sent to every station at once when ``[mqtt]`` is on
(office.cards.actions.publish), else stations get it when they next sync or by flash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core import identifiers
from core.cards import CARD_KINDS
from core.config import Config
from office import db
from office.access import audit
from office.cards import actions, compute
from office.cards.models import (
    LIMIT_PERIODS,
    LIMIT_UNITS,
    WALLET_UNITS,
    BlankCard,
    Card,
    CardLimit,
    Wallet,
    WalletEntry,
)
from office.cards.wallets import office_balances
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.service import Who, get_customer, get_vehicle, new_id, now_text
from office.store import OfficeConnection


@dataclass(frozen=True)
class Published:
    """The card-master version a change made (None: no card document changed) and
    whether stations were told now (actions.Change.published)."""

    version: int | None
    published: bool | None


def _publish(conn: OfficeConnection, config: Config, card_ids: list[str], who: Who
             ) -> int | None:
    version, changes = compute.publish(conn, config, card_ids, actor=who.version_actor)
    return version if changes else None


def _told(conn: OfficeConnection, config: Config, version: int | None) -> Published:
    if version is None:
        return Published(None, None)
    return Published(version, actions.publish(config, conn, version))


def get_card(conn: OfficeConnection, identifier: str) -> Card:
    """The card whose id, PAN, RFID UID or token id is ``identifier`` (however written)."""
    from office.cards.master import find_card_id

    card_id = find_card_id(conn, identifier)
    if card_id is None:
        raise RecordRefused(f"card {identifier} does not exist", reason="unknown", field="card")
    card: Card = Card.objects.get(card_id=card_id)
    return card


def card_record(card: Card) -> dict[str, Any]:
    """A card as plain values: its own fields, limits, wallets with office balances."""
    wallets = list(card.wallets.order_by("wallet_id"))
    balances = office_balances([w.wallet_id for w in wallets])
    return {
        "card_id": card.card_id, "kind": card.kind, "status": card.status,
        "pan": card.pan, "rfid_uid": card.rfid_uid, "token_id": card.token_id,
        "expires": card.expires, "customer": card.customer_id, "vehicle": card.vehicle_id,
        "driver": card.driver,
        "products": None if card.products is None else json.loads(card.products),
        "rules": json.loads(card.rules),
        "limits": [{"period": lim.period, "unit": lim.unit, "value": lim.value,
                    "products": None if lim.products is None else json.loads(lim.products)}
                   for lim in card.limits.order_by("id")],
        "wallets": [{"wallet_id": w.wallet_id, "unit": w.unit, "balance": balances[w.wallet_id],
                     "products": None if w.products is None else json.loads(w.products),
                     "expires": w.expires} for w in wallets],
        "replaced_by": card.replaced_by, "replaces": json.loads(card.replaces),
        "issued_at": card.issued_at, "issued_by": card.issued_by,
        "modified_at": card.modified_at, "modified_by": card.modified_by,
    }


def _products(field: str, value: Any) -> str | None:
    """A JSON list of known product codes, or None (all products)."""
    if value is None or value in ("", []):
        return None
    items = value if isinstance(value, list | tuple) else [
        v.strip() for v in str(value).replace(";", ",").split(",") if v.strip()]
    known = {r[0] for r in db.fetchall("SELECT code FROM cm_products")}
    for code in items:
        if code not in known:
            raise RecordRefused(f"{field} names an unknown product {code!r} (known: "
                                f"{', '.join(sorted(known)) or 'none yet'})", reason="unknown",
                                field=field)
    return json.dumps(sorted(set(items)))


def _identifier_free(column: str, value: str, card_id: str | None = None) -> None:
    taken = Card.objects.filter(**{column: value}).exclude(card_id=card_id or "").first()
    if taken is not None:
        raise RecordRefused(f"{column} {value} is already card {taken.card_id}'s",
                            reason="duplicate", field=column)


# -- issue -------------------------------------------------------------------------------

def issue(conn: OfficeConnection, config: Config, values: dict[str, Any], who: Who
          ) -> tuple[Card, Published]:
    """Issue a card to a customer.

    ``values``: ``customer`` (required), ``kind`` (rfid, magstripe, smart, digital),
    optionally ``card_id`` (default: the PAN, else the next ``K-000123``), ``pan``,
    ``rfid_uid``, ``vehicle``, ``driver``, ``expires``, ``products``; ``stock``: take the
    identifiers from the next blank card of that kind in stock (or the blank with that
    PAN/UID when given).
    """
    with conn.atomic():
        db.lock_card_master()
        card = _issue(values, who)
        version = _publish(conn, config, [card.card_id], who)
    return card, _told(conn, config, version)


def issue_unpublished(values: dict[str, Any], who: Who) -> Card:
    """:func:`issue`'s records and audit entry without its card-master version: for an
    import that issues many cards in its own transaction, with ``db.lock_card_master()``
    held, and publishes them as one version (office.cards.transfer)."""
    return _issue(values, who)


def _issue(values: dict[str, Any], who: Who) -> Card:
    """The new card's records and audit entry (inside the caller's transaction and lock)."""
    kind = F.choice("kind", values.get("kind"), CARD_KINDS)
    pan = values.get("pan") or None
    uid = values.get("rfid_uid") or None
    if pan is not None:
        pan = identifiers.pan(str(pan))
        if pan is None:
            raise RecordRefused(f"pan {values['pan']!r} must be 8-19 digits", field="pan")
    if uid is not None:
        uid = identifiers.uid(str(uid))
        if uid is None:
            raise RecordRefused(f"rfid_uid {values['rfid_uid']!r} must be 8-20 hex digits",
                                field="rfid_uid")
    expires = F.day("expires", values.get("expires"))
    driver = F.text("driver", values.get("driver"))
    customer = get_customer(F.text("customer", values.get("customer"), required=True))
    if customer.closed_at is not None:
        raise RecordRefused(f"customer {customer.customer_id} is closed; no card issued",
                            reason="conflict", field="customer")
    vehicle = get_vehicle(values["vehicle"]) if values.get("vehicle") else None
    blank = _blank(kind, pan, uid) if values.get("stock") else None
    if blank is not None:
        pan, uid = blank.pan or pan, blank.rfid_uid or uid
    if kind == "magstripe" and pan is None:
        raise RecordRefused("a magnetic-stripe card needs a pan", field="pan")
    if kind == "rfid" and uid is None:
        raise RecordRefused("an RFID card needs an rfid_uid", field="rfid_uid")
    card_id = new_id("card", "K-", Card, "card_id", values.get("card_id") or pan)
    for column, value in (("pan", pan), ("rfid_uid", uid)):
        if value is not None:
            _identifier_free(column, value)
    stamp = now_text()
    card: Card = Card.objects.create(
        card_id=card_id, kind=kind, status="active", pan=pan, rfid_uid=uid,
        expires=expires, customer=customer, vehicle=vehicle, driver=driver,
        products=_products("products", values.get("products")), issued_at=stamp,
        issued_by=who.actor, modified_at=stamp, modified_by=who.actor)
    if blank is not None:
        blank.issued_as = card_id
        blank.save(update_fields=["issued_as"])
    audit.record(actor=who.actor, via=who.via, action="card.issue", object_kind="card",
                 object_id=card_id, new=card_record(card),
                 detail=f"from stock batch {blank.batch}" if blank else "")
    return card


def _blank(kind: str, pan: str | None, uid: str | None) -> BlankCard:
    """The blank card to issue: the one with that PAN/UID, else the oldest of the kind."""
    blanks = BlankCard.objects.select_for_update().filter(kind=kind, issued_as__isnull=True)
    if pan is not None:
        blanks = blanks.filter(pan=pan)
    if uid is not None:
        blanks = blanks.filter(rfid_uid=uid)
    blank: BlankCard | None = blanks.order_by("id").first()
    if blank is None:
        raise RecordRefused(f"no blank {kind} card in stock"
                            + (" with that identifier" if pan or uid else ""),
                            reason="unknown", field="stock")
    return blank


# -- status, reissue ---------------------------------------------------------------------

def change_status(config: Config, identifier: str, status: str, who: Who
                  ) -> actions.StatusChange:
    """Block, unblock, or mark a card lost, stolen or withdrawn (office.cards.actions)."""
    return actions.change_status(config, identifier, status, actor=who.actor, via=who.via)


def reissue(conn: OfficeConnection, config: Config, identifier: str, values: dict[str, Any],
            who: Who) -> tuple[Card, Published]:
    """A new card in place of ``identifier``: it takes over the customer, vehicle, driver,
    products, rules, limits and wallets (their balances and ledgers), the points account
    (lots and history), and the use so far
    (``replaces``: its sales count towards the new card's limits everywhere); the old
    card becomes ``replaced``, at every station, in the same version.

    ``values``: ``card_id``, ``kind`` (default: the old card's), ``pan``, ``rfid_uid``,
    ``expires``, ``stock`` as for :func:`issue`.
    """
    with conn.atomic():
        db.lock_card_master()
        old = get_card(conn, identifier)
        if old.status == "replaced":
            raise RecordRefused(f"card {old.card_id} was already replaced by "
                                f"{old.replaced_by}", reason="conflict", field="card")
        new_values = {"customer": old.customer_id, "kind": values.get("kind") or old.kind,
                      "vehicle": old.vehicle_id, "driver": old.driver,
                      "expires": values.get("expires", old.expires),
                      "products": None if old.products is None else json.loads(old.products),
                      **{k: values[k] for k in ("card_id", "pan", "rfid_uid", "stock")
                         if values.get(k)}}
        if old.customer_id is None:
            raise RecordRefused(f"card {old.card_id} has no customer; issue a new card "
                                "instead", reason="conflict", field="card")
        before = card_record(old)
        # The old card's identifiers stay its own: a lost card's PAN must keep failing.
        card = _issue(new_values, who)
        rules = json.loads(old.rules)
        rules.pop("pin", None)  # a new card gets its own PIN (or none)
        card.rules = json.dumps(rules, sort_keys=True)
        card.replaces = json.dumps([*json.loads(old.replaces), old.card_id])
        card.save(update_fields=["rules", "replaces"])
        CardLimit.objects.filter(card=old).update(card=card)
        Wallet.objects.filter(card=old).update(card=card)
        from office.pricing.points import move_account

        move_account(old.card_id, card.card_id)
        old.status, old.replaced_by = "replaced", card.card_id
        old.modified_at, old.modified_by = now_text(), who.actor
        old.save(update_fields=["status", "replaced_by", "modified_at", "modified_by"])
        audit.record(actor=who.actor, via=who.via, action="card.reissue", object_kind="card",
                     object_id=old.card_id, old=before, new={
                         "status": "replaced", "replaced_by": card.card_id,
                         "new_card": card_record(card)})
        version = _publish(conn, config, [old.card_id, card.card_id], who)
    return card, _told(conn, config, version)


# -- limits ------------------------------------------------------------------------------

def set_limit(conn: OfficeConnection, config: Config, owner: str, values: dict[str, Any],
              who: Who, *, group: bool = False) -> Published:
    """Set (or with ``value`` None remove) a limit of a card, or of a customer group.

    A limit is known by its period, unit and products: setting one with the same three
    replaces its value. ``values``: ``period`` (fill, day, week, month, year), ``unit``
    (volume: ml, money: minor units), ``value``, ``products`` (None: all).
    """
    from office.customers.service import get_group, group_cards

    period = F.choice("period", values.get("period"), LIMIT_PERIODS)
    unit = F.choice("unit", values.get("unit"), LIMIT_UNITS)
    value = values.get("value")
    value = None if value is None else F.amount("value", value, unit=unit)
    with conn.atomic():
        db.lock_card_master()
        products = _products("products", values.get("products"))
        if group:
            holder = get_group(owner)
            where: dict[str, Any] = {"group": holder}
            kind, object_id = "group", holder.group_id
            cards = group_cards(holder)
        else:
            card = get_card(conn, owner)
            if card.status == "replaced":
                raise RecordRefused(f"card {card.card_id} was replaced by {card.replaced_by}; "
                                    "set the limit on that card", reason="conflict",
                                    field="card")
            where = {"card": card}
            kind, object_id, cards = "card", card.card_id, [card.card_id]
        existing = CardLimit.objects.filter(period=period, unit=unit, products=products,
                                            **where).first()
        old = None if existing is None else existing.value
        if old == value:
            return Published(None, None)
        if value is None:
            assert existing is not None
            existing.delete()
        elif existing is None:
            CardLimit.objects.create(period=period, unit=unit, value=value, products=products,
                                     **where)
        else:
            existing.value = value
            existing.save(update_fields=["value"])
        key = {"period": period, "unit": unit,
               "products": None if products is None else json.loads(products)}
        audit.record(actor=who.actor, via=who.via, action=f"{kind}.limit", object_kind=kind,
                     object_id=object_id, old=None if old is None else {**key, "value": old},
                     new=None if value is None else {**key, "value": value})
        version = _publish(conn, config, cards, who)
    return _told(conn, config, version)


# -- wallets -----------------------------------------------------------------------------

def add_wallet(conn: OfficeConnection, config: Config, identifier: str,
               values: dict[str, Any], who: Who) -> tuple[Wallet, Published]:
    """Open a wallet on a card: ``unit`` (money or volume), ``balance`` (its opening
    entry), ``products``, ``expires``, ``wallet_id`` (default: the next ``W-000123``)."""
    unit = F.choice("unit", values.get("unit"), WALLET_UNITS)
    balance = F.amount("balance", values.get("balance") or 0, unit=unit)
    expires = F.day("expires", values.get("expires"))
    with conn.atomic():
        db.lock_card_master()
        card = get_card(conn, identifier)
        if card.status == "replaced":
            raise RecordRefused(f"card {card.card_id} was replaced by {card.replaced_by}",
                                reason="conflict", field="card")
        wallet_id = new_id("wallet", "W-", Wallet, "wallet_id", values.get("wallet_id"))
        stamp = now_text()
        wallet = Wallet.objects.create(wallet_id=wallet_id, card=card, unit=unit,
                                       products=_products("products", values.get("products")),
                                       expires=expires, created_at=stamp, created_by=who.actor)
        WalletEntry.objects.create(wallet=wallet, kind="opening", value=balance, at=stamp,
                                   actor=who.actor, via=who.via,
                                   reason=F.text("reason", values.get("reason")))
        audit.record(actor=who.actor, via=who.via, action="wallet.add", object_kind="wallet",
                     object_id=wallet_id, new={"card": card.card_id, "unit": unit,
                                               "balance": balance, "expires": expires})
        version = _publish(conn, config, [card.card_id], who)
    return wallet, _told(conn, config, version)


def post(conn: OfficeConnection, config: Config, wallet_id: str, value: Any, who: Who, *,
         kind: str, reason: str = "") -> tuple[int, int, Published]:
    """A top-up (``kind`` topup: a positive amount) or an adjustment (either sign, with a
    reason) of a wallet; (balance before, balance after, the version)."""
    if kind not in ("topup", "adjustment"):
        raise ValueError(f"kind must be topup or adjustment, not {kind!r}")
    with conn.atomic():
        db.lock_card_master()
        wallet = Wallet.objects.select_related("card").filter(wallet_id=wallet_id).first()
        if wallet is None:
            raise RecordRefused(f"wallet {wallet_id} does not exist", reason="unknown",
                                field="wallet")
        amount = F.amount("amount", value, unit=wallet.unit, signed=kind == "adjustment",
                          positive=kind == "topup")
        if kind == "adjustment" and amount == 0:
            raise RecordRefused("amount of an adjustment must not be zero", field="amount")
        why = F.text("reason", reason, required=kind == "adjustment")
        before = office_balances([wallet_id])[wallet_id]
        WalletEntry.objects.create(wallet=wallet, kind=kind, value=amount, at=now_text(),
                                   actor=who.actor, via=who.via, reason=why)
        after = before + amount
        audit.record(actor=who.actor, via=who.via, action=f"wallet.{kind}",
                     object_kind="wallet", object_id=wallet_id, old={"balance": before},
                     new={"balance": after, kind: amount}, detail=why)
        version = _publish(conn, config, [wallet.card.card_id], who)
    return before, after, _told(conn, config, version)


def wallet_record(wallet_id: str) -> dict[str, Any]:
    """A wallet with its office balance and its ledger (entries and debits), newest first."""
    wallet = Wallet.objects.filter(wallet_id=wallet_id).first()
    if wallet is None:
        raise RecordRefused(f"wallet {wallet_id} does not exist", reason="unknown",
                            field="wallet")
    entries = [{"at": e.at, "kind": e.kind, "value": e.value, "actor": e.actor, "via": e.via,
                "reason": e.reason} for e in wallet.entries.order_by("-at", "-id")]
    debits = [{"station_id": r[0], "seq": r[1], "value": r[2], "completed_at": r[3]}
              for r in db.fetchall(
                  "SELECT d.station_id, d.seq, d.value, s.completed_at FROM wallet_debits d "
                  "JOIN sales s ON s.station_id = d.station_id AND s.seq = d.seq "
                  "WHERE d.wallet_id = ? ORDER BY s.completed_at DESC LIMIT 200",
                  (wallet_id,))]
    return {"wallet_id": wallet.wallet_id, "card": wallet.card_id, "unit": wallet.unit,
            "products": None if wallet.products is None else json.loads(wallet.products),
            "expires": wallet.expires, "balance": office_balances([wallet_id])[wallet_id],
            "entries": entries, "debits": debits}


# -- rules: visits, time windows, stations, vehicle binding, odometer ----------------------

#: The rules ``set_rules`` takes, in the card-store format's names.
RULES = ("visits", "time_windows", "stations", "station_groups", "vehicle_binding",
         "odometer_required")


def set_rules(conn: OfficeConnection, config: Config, identifier: str,
              values: dict[str, Any], who: Who) -> Published:
    """Replace some of a card's rules (a key with None removes that rule). Each is
    checked as every station checks it (the card-store format), naming the field."""
    from core.errors import CardStoreFormatError
    from core.formats.snapshot import parse_card

    unknown = sorted(set(values) - set(RULES))
    if unknown:
        raise RecordRefused(f"{unknown[0]} is not a card rule (use {', '.join(RULES)})",
                            field=unknown[0])
    with conn.atomic():
        db.lock_card_master()
        card = get_card(conn, identifier)
        if card.status == "replaced":
            raise RecordRefused(f"card {card.card_id} was replaced by {card.replaced_by}",
                                reason="conflict", field="card")
        old = json.loads(card.rules)
        new = dict(old)
        for key, value in values.items():
            if value is None or value is False or value == []:
                new.pop(key, None)
            else:
                new[key] = value
        try:
            parse_card({"card_id": card.card_id, "kind": card.kind,
                        **({"vehicle_id": card.vehicle_id} if card.vehicle_id else {}),
                        **{k: v for k, v in new.items() if k in RULES}}, "card")
        except CardStoreFormatError as exc:
            raise RecordRefused(str(exc).replace("card.", "", 1), field="rules") from None
        if new == old:
            return Published(None, None)
        card.rules = json.dumps(new, sort_keys=True)
        card.modified_at, card.modified_by = now_text(), who.actor
        card.save(update_fields=["rules", "modified_at", "modified_by"])
        audit.record(actor=who.actor, via=who.via, action="card.rules", object_kind="card",
                     object_id=card.card_id,
                     old={k: old.get(k) for k in values}, new={k: new.get(k) for k in values})
        version = _publish(conn, config, [card.card_id], who)
    return _told(conn, config, version)


def overdrawn_wallets() -> list[dict[str, Any]]:
    """Every wallet below zero (offline sales beyond its balance), worst first, with its
    card and customer: what head-office staff must settle."""
    from office.cards.wallets import overdrawn

    out = []
    for wallet_id, balance in overdrawn():
        wallet = Wallet.objects.select_related("card").get(wallet_id=wallet_id)
        out.append({"wallet_id": wallet_id, "balance": balance, "unit": wallet.unit,
                    "card": wallet.card_id, "customer": wallet.card.customer_id})
    return out
