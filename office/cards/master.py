"""The head office's card master: versioned, and the deltas stations apply.

Every change (an imported card-store file, a card blocked or unblocked) becomes one
new version holding its operations (offline_db.deltas format). A station that is
behind by at most ``MAX_DELTA_VERSIONS`` versions gets the operations in between;
further behind, it gets a full snapshot in the card-store format.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from core import identifiers
from core.config import Config
from core.errors import ForecourtError
from core.formats.snapshot import FORMAT, CardSpec, parse_snapshot
from core.freshness import check_expires_at
from core.timefmt import iso, utc_now
from office import db
from office.store import OfficeConnection

MAX_DELTA_VERSIONS = 500
MESSAGE_VALID = timedelta(hours=24)


class CardMasterRefusal(ForecourtError):
    """The card master refuses an operation on a card (unknown, wrong kind or status)."""

    code = "card_refused"


def find_card_doc(conn: OfficeConnection, identifier: str) -> dict[str, Any] | None:
    """The master's card document whose card id, PAN, RFID UID or token id is
    ``identifier``, written in any of its forms (``find_card_id``)."""
    card_id = find_card_id(conn, identifier)
    if card_id is None:
        return None
    row = conn.one("SELECT doc FROM cm_cards WHERE card_id = ?", (card_id,))
    return dict(json.loads(row["doc"]))


def token_card(conn: OfficeConnection, identifier: str, today: date) -> str:
    """The card id to put in a digital-card token for ``identifier``, or a refusal.

    Only an active, unexpired card of kind ``digital`` gets a token: a token for any
    other card would be refused at every station, and one for a blocked card is
    exactly what blocking must prevent.
    """
    card = find_card_doc(conn, identifier)
    if card is None:
        raise CardMasterRefusal(f"card {identifier} is not in the card master; no token "
                                "issued")
    card_id = str(card["card_id"])
    status = card.get("status", "active")
    if status != "active":
        raise CardMasterRefusal(f"card {card_id} is {status}; no token issued")
    if card.get("kind") != "digital":
        raise CardMasterRefusal(f"card {card_id} is a {card.get('kind')} card; tokens are "
                                "issued only for digital cards")
    expires = card.get("expires")
    if expires is not None and date.fromisoformat(expires) < today:
        raise CardMasterRefusal(f"card {card_id} expired on {expires}; no token issued")
    return card_id


def latest_version(conn: OfficeConnection) -> int:
    row = conn.one("SELECT MAX(version) FROM cm_versions")
    return int(row[0] or 0)


def record_version(conn: OfficeConnection, ops: list[dict[str, Any]], actor: str,
                   at_least: int = 0) -> int:
    """Number and keep one new version with its operations (the next one, or
    ``at_least`` when that is ahead); inside the caller's transaction.

    Takes the card-master lock itself (again, if the caller already holds it): with
    several office workers, versions are strictly ordered by the database, never by
    what one process read earlier.
    """
    db.lock_card_master()
    version = max(latest_version(conn) + 1, at_least)
    conn.execute("INSERT INTO cm_versions VALUES (?, ?, ?, ?)",
                 (version, iso(utc_now()), actor, json.dumps(ops, separators=(",", ":"))))
    return version


def _sync_docs(conn: OfficeConnection, table: str, key: str, docs: list[dict[str, Any]],
               op: str) -> list[dict[str, Any]]:
    """Make ``table`` hold exactly ``docs``; the operations that did it (changed ones only)."""
    stored = {r[0]: r[1] for r in conn.execute(f"SELECT * FROM {table}")}
    ops: list[dict[str, Any]] = []
    for item in docs:
        text = json.dumps(item, sort_keys=True)
        if stored.pop(item[key], None) != text:
            ops.append({"op": op, op: item})
            conn.execute(f"INSERT INTO {table} VALUES (?, ?) ON CONFLICT ({key}) "
                         "DO UPDATE SET doc = excluded.doc", (item[key], text))
    for gone in stored:
        ops.append({"op": f"{op}_delete", key: gone})
        conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (gone,))
    return ops


def import_file(conn: OfficeConnection, data: bytes, *, actor: str,
                config: Config | None = None, via: str = "cli") -> tuple[int, int]:
    """Load a card-store document into the office's records; return (version, operations).

    Products and the stop list become what the file says; its customers, groups,
    vehicles and cards are created or updated (cards the file does not name are kept:
    the office's records are the truth, a file adds to them). The new version is the
    file's ``version`` when that is ahead of the master, else the next one. A file whose
    ``expires_at`` has passed is refused (:class:`~core.errors.CardStoreTimeError`).
    """
    from office.cards import compute, records

    snap = parse_snapshot(data)  # strict validation first: nothing changes on a bad file
    # The master re-issues the data under the office's own word (its snapshots carry
    # no expires_at): a file the office no longer vouches for must not become fresh.
    check_expires_at(snap.expires_at, now=utc_now(), generated_at=snap.generated_at)
    doc = json.loads(data)
    cards = _normalised_cards(doc.get("cards", []), snap.cards)
    with conn.atomic():
        db.lock_card_master()  # versions strictly in order with other writers
        ops = _sync_docs(conn, "cm_products", "code", doc["products"], "product")
        ops += _sync_stop_list(conn, set(snap.stop_list))
        card_ids = records.adopt(cards, customers=snap.customers, groups=snap.customer_groups,
                                 vehicles=snap.vehicles, actor=actor, via=via)
        # A file's own version is kept when it is ahead (stations may have loaded it
        # from the same file already), so versions never go back for anyone.
        version, changes = compute.publish(conn, config or Config(), card_ids, actor=actor,
                                           at_least=doc["version"], extra_ops=ops)
    return version, changes


def _normalised_cards(docs: list[dict[str, Any]], specs: list[CardSpec]
                      ) -> list[dict[str, Any]]:
    """The card documents with PAN and UID in their one form (core.identifiers)."""
    out = []
    for raw, spec in zip(docs, specs, strict=True):
        doc = dict(raw)
        for key in ("pan", "rfid_uid"):
            if getattr(spec, key) is not None:
                doc[key] = getattr(spec, key)
        out.append(doc)
    return out


def _sync_stop_list(conn: OfficeConnection, wanted: set[str]) -> list[dict[str, Any]]:
    """Make the stop list hold exactly ``wanted`` (canonical entries); the operations.

    Entries an older release kept as written are compared by their canonical form
    and rewritten in it, without an operation: stations normalise theirs too.
    """
    stored: set[str] = set()
    for (entry,) in conn.execute("SELECT identifier FROM cm_stop_list").fetchall():
        form = identifiers.canonical(entry)
        stored.add(form)
        if form != entry:
            conn.execute("DELETE FROM cm_stop_list WHERE identifier = ?", (entry,))
            conn.execute("INSERT INTO cm_stop_list VALUES (?) ON CONFLICT DO NOTHING", (form,))
    ops: list[dict[str, Any]] = []
    for ident in sorted(wanted - stored):
        ops.append({"op": "stop_add", "identifier": ident})
        conn.execute("INSERT INTO cm_stop_list VALUES (?)", (ident,))
    for ident in sorted(stored - wanted):
        ops.append({"op": "stop_remove", "identifier": ident})
        conn.execute("DELETE FROM cm_stop_list WHERE identifier = ?", (ident,))
    return ops


def find_card_id(conn: OfficeConnection, identifier: str) -> str | None:
    """The card id of the office's card whose card id, PAN, RFID UID or token id is
    ``identifier``, written in any of its forms (core.identifiers)."""
    for column, value in identifiers.lookups(identifier):
        row = conn.execute(f"SELECT card_id FROM cards WHERE {column} = ? LIMIT 1",
                           (value,)).fetchone()
        if row is not None:
            return str(row[0])
    return None


def set_status(conn: OfficeConnection, card: str, status: str, *, actor: str,
               config: Config | None = None) -> tuple[int, bool, str]:
    """Set the status of ``card`` (any identifier); return (version, changed, card id)."""
    from office.cards import compute
    from office.cards.models import Card

    with conn.atomic():
        db.lock_card_master()  # versions strictly in order with other writers
        card_id = find_card_id(conn, card)
        if card_id is None:
            raise CardMasterRefusal(f"card {card} is not in the card master; nothing changed")
        record = Card.objects.get(card_id=card_id)
        if record.status == status:
            return latest_version(conn), False, card_id
        record.status = status
        record.modified_at, record.modified_by = iso(utc_now()), actor
        record.save(update_fields=["status", "modified_at", "modified_by"])
        version, _ = compute.publish(conn, config or Config(), [card_id], actor=actor)
        return version, True, card_id


def pin_reset(conn: OfficeConnection, identifier: str, *, actor: str,
              config: Config | None = None) -> tuple[str, int]:
    """Reset a card's PIN try count everywhere; return (card id, new version).

    The card's ``pin.reset`` becomes the new card-master version: a generation that
    only grows, so every station that applies it counts wrong PINs from zero again,
    whatever the card's data said before. Recorded with ``actor`` like every version.
    """
    from office.cards import compute
    from office.cards.models import Card

    with conn.atomic():
        db.lock_card_master()  # versions strictly in order with other writers
        card_id = find_card_id(conn, identifier)
        if card_id is None:
            raise CardMasterRefusal(f"card {identifier} is not in the card master; nothing "
                                    "changed")
        record = Card.objects.get(card_id=card_id)
        rules = json.loads(record.rules)
        if not isinstance(rules.get("pin"), dict):
            raise CardMasterRefusal(f"card {card_id} has no PIN; nothing changed")
        version = latest_version(conn) + 1
        rules["pin"] = {**rules["pin"], "reset": version}
        record.rules = json.dumps(rules, sort_keys=True)
        record.modified_at, record.modified_by = iso(utc_now()), actor
        record.save(update_fields=["rules", "modified_at", "modified_by"])
        recorded, _ = compute.publish(conn, config or Config(), [card_id], actor=actor)
        assert recorded == version
    return card_id, version


def snapshot(conn: OfficeConnection, now: datetime | None = None,
             config: Config | None = None) -> dict[str, Any]:
    """The whole master as a card-store document at the latest version, made at ``now``.

    Wallet balances and usage are as of each station's contiguous mark, taken now, and
    the marks go with them (``station_seqs``): a station subtracts only its own later
    sales and debits (docs/card-store.md, "Wallets").
    """
    from office.cards.usage import usage_ops
    from office.customers.records import extras

    now = now or utc_now()
    cards = [json.loads(r[0]) for r in conn.execute("SELECT doc FROM cm_cards ORDER BY card_id")]
    fresh = {op["card_id"]: op for op in usage_ops(conn, [c["card_id"] for c in cards],
                                                    config or Config(), now)}
    seqs = {r["station_id"]: int(r["contiguous_seq"]) for r in conn.execute(
        "SELECT station_id, contiguous_seq FROM station_chain ORDER BY station_id")}
    for card in cards:
        op = fresh.get(card["card_id"])
        if op is None:
            continue
        card.pop("usage", None)
        if op["usage"]:
            card["usage"] = op["usage"]
        balances = {w["wallet_id"]: w["balance"] for w in op.get("wallets", [])}
        for wallet in card.get("wallets", []):
            wallet["balance"] = balances.get(wallet["wallet_id"], wallet["balance"])
    doc: dict[str, Any] = {"format": FORMAT, "version": latest_version(conn),
                           "generated_at": iso(now).replace(".000000", ""),
                           "station_seqs": seqs,
                           "products": [json.loads(r[0]) for r in conn.execute(
                               "SELECT doc FROM cm_products ORDER BY code")],
                           "cards": cards,
                           "stop_list": [r[0] for r in conn.execute(
                               "SELECT identifier FROM cm_stop_list ORDER BY identifier")]}
    doc.update(extras())
    from office.pricing.rules import card_master_op

    pricing = card_master_op()
    if pricing is not None:
        doc["pricing"] = pricing
    from office.vouchers.used import used_serials

    used = used_serials(now)
    if used:
        doc["vouchers_used"] = used  # redeemed anywhere: refused everywhere
    return doc


def message_for(conn: OfficeConnection, station_version: int | None,
                now: datetime | None = None, config: Config | None = None) -> dict[str, Any]:
    """The ``cards`` body that brings a station from ``station_version`` to the latest.

    ``now`` (default: the clock) is when it is made: its snapshot's ``generated_at``
    and its ``expires_at`` count from it, as the station checks (core.freshness). A
    delta ends with the current usage and wallet balances of the cards it names, so
    versions made long ago do not bring back old figures.
    """
    from office.cards.usage import usage_ops

    latest = latest_version(conn)
    now = now or utc_now()
    expires = iso(now + MESSAGE_VALID)
    have = -1 if station_version is None else station_version
    if 0 <= have <= latest and latest - have <= MAX_DELTA_VERSIONS:
        ops: list[dict[str, Any]] = []
        for r in conn.execute("SELECT ops FROM cm_versions WHERE version > ? ORDER BY version",
                              (have,)):
            ops.extend(json.loads(r[0]))
        named = [op["card"]["card_id"] for op in ops if op["op"] == "card"]
        if named:
            ops += usage_ops(conn, named, config or Config(), now)
        return {"mode": "delta", "from_version": have, "to_version": latest, "ops": ops,
                "expires_at": expires}
    return {"mode": "snapshot", "snapshot": snapshot(conn, now, config), "expires_at": expires}


def delta_of(conn: OfficeConnection, version: int) -> dict[str, Any]:
    """The ``cards`` body of one version (published to every station when made)."""
    row = conn.execute("SELECT ops FROM cm_versions WHERE version = ?", (version,)).fetchone()
    return {"mode": "delta", "from_version": version - 1, "to_version": version,
            "ops": json.loads(row[0]) if row else [],
            "expires_at": iso(utc_now() + MESSAGE_VALID)}
