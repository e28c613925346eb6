"""The rule set as clerks define it, and its publication to stations.

Each change (a discount added or ended, an earning rule, a multiplier, the tiers, the
caps, the holiday calendar, the programme's point value and expiry) is checked by the
very parser stations use (core.formats.pricing), audited with who made it, and
published at once: a new pricing revision, kept for ever (the office recomputes every
sale with the revision it names), carried to stations by a card-master version whose
one operation is ``{"op": "pricing", "pricing": <document>}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog

from core.config import Config
from core.errors import CardStoreFormatError
from core.formats.pricing import parse_pricing
from core.rules.pricing import PricingRules
from core.timefmt import utc_now
from office import db
from office.access import audit
from office.cards import master as card_master
from office.customers.errors import RecordRefused
from office.customers.service import Who, now_text
from office.pricing.models import PricingRevision, PricingRule, PricingSetting
from office.store import OfficeConnection

log = structlog.get_logger(__name__)
SECTIONS = {"discount": ("discounts", "D"), "earn": ("earn", "P"),
            "multiplier": ("multipliers", "M")}
SETTINGS = ("loyalty", "tiers", "caps", "holidays")


def _refused(exc: CardStoreFormatError, where: str, what: str) -> RecordRefused:
    return RecordRefused(str(exc).replace(where, what, 1))


def _setting(key: str) -> Any:
    row = PricingSetting.objects.filter(key=key).first()
    return None if row is None else json.loads(row.value)


def document(revision: int, now: datetime | None = None) -> dict[str, Any]:
    """The pricing document the records make now, numbered ``revision``."""
    from office.vouchers.service import active_batch_docs

    rules = {section: [json.loads(r.doc) for r in PricingRule.objects.filter(
        section=section, active=True).order_by("rule_id")] for section in SECTIONS}
    doc: dict[str, Any] = {"revision": revision, "discounts": rules["discount"]}
    holidays = _setting("holidays")
    if holidays:
        doc["holidays"] = holidays
    loyalty = _setting("loyalty")
    if loyalty is not None:
        doc["loyalty"] = {**loyalty, "earn": rules["earn"], "multipliers": rules["multiplier"],
                          "tiers": _setting("tiers") or [], "caps": _setting("caps") or []}
    batches = active_batch_docs(now or utc_now())
    if batches:
        doc["vouchers"] = batches
    return doc


def in_force() -> bool:
    """Whether a pricing document was ever published: from then on sales are priced and
    every card's consumption, tier, points and loyalty facts go to stations."""
    return bool(PricingRevision.objects.exists())


def latest() -> PricingRevision | None:
    row: PricingRevision | None = PricingRevision.objects.order_by("-revision").first()
    return row


def rules_of(revision: int) -> PricingRules | None:
    """The parsed rule set of a published revision (None if there is no such revision)."""
    row = PricingRevision.objects.filter(revision=revision).first()
    return None if row is None else parse_pricing(json.loads(row.doc))


def publish(conn: OfficeConnection, who: Who, *, reason: str, config: Config | None = None
            ) -> int | None:
    """Make a new revision if the records changed the document; its card-master version
    (None when nothing changed). Inside the caller's transaction."""
    if not db.in_transaction():
        raise RuntimeError("publish must be called inside atomic()")
    db.lock_card_master()
    last = latest()
    revision = (last.revision if last else 0) + 1
    doc = document(revision)
    parse_pricing(doc)  # what stations will refuse is refused here first
    if last is not None and {**json.loads(last.doc), "revision": revision} == doc:
        return None
    version = card_master.record_version(conn, [{"op": "pricing", "pricing": doc}],
                                         who.version_actor)
    PricingRevision.objects.create(revision=revision, doc=json.dumps(doc, sort_keys=True),
                                   created_at=now_text(), created_by=who.version_actor,
                                   card_master_version=version)
    if last is None:
        # The first document: every card now carries its customer's loyalty facts and
        # its consumption (office.cards.compute, usage), in one more version.
        from office.cards import compute
        from office.cards.models import Card

        ids = list(Card.objects.values_list("card_id", flat=True))
        later, changes = compute.publish(conn, config or Config(), ids,
                                         actor=who.version_actor)
        version = later if changes else version
    audit.record(actor=who.actor, via=who.via, action="pricing.publish",
                 object_kind="pricing", object_id=str(revision), detail=reason,
                 new={"revision": revision, "version": version})
    log.info("pricing.published", revision=revision, version=version, reason=reason)
    return version


def _check_rule(section: str, rule: dict[str, Any]) -> None:
    """Parse one rule as stations will (its place named plainly in the refusal)."""
    key = SECTIONS[section][0]
    if section == "discount":
        doc: dict[str, Any] = {"revision": 0, "discounts": [rule]}
    else:
        doc = {"revision": 0, "loyalty": {"point_value": 1, "expiry_days": 1, key: [rule]}}
    where = "pricing.discounts[0]" if section == "discount" else f"pricing.loyalty.{key}[0]"
    try:
        parse_pricing(doc)
    except CardStoreFormatError as exc:
        raise _refused(exc, where, f"the {section} rule") from None


def add_rule(conn: OfficeConnection, section: str, rule: dict[str, Any], who: Who,
             config: Config | None = None) -> tuple[str, int | None]:
    """Add a discount, earning rule or multiplier; (its rule id, card-master version)."""
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {', '.join(SECTIONS)}")
    with db.atomic():
        rule_id = rule.get("rule_id") or _next_id(SECTIONS[section][1])
        rule = {**rule, "rule_id": rule_id}
        _check_rule(section, rule)
        if PricingRule.objects.filter(rule_id=rule_id).exists():
            raise RecordRefused(f"rule {rule_id} exists already",
                                reason="duplicate", field="rule_id")
        if section != "discount" and _setting("loyalty") is None:
            raise RecordRefused("set the programme's point value and expiry first "
                                "(loyalty settings)", reason="conflict")
        stamp = now_text()
        PricingRule.objects.create(rule_id=rule_id, section=section,
                                   doc=json.dumps(rule, sort_keys=True), created_at=stamp,
                                   created_by=who.actor, modified_at=stamp,
                                   modified_by=who.actor)
        audit.record(actor=who.actor, via=who.via, action=f"pricing.{section}.add",
                     object_kind="pricing_rule", object_id=rule_id, new=rule)
        version = publish(conn, who, reason=f"{section} {rule_id} added", config=config)
    return rule_id, version


def _next_id(prefix: str) -> str:
    taken = set(PricingRule.objects.filter(rule_id__startswith=f"{prefix}-")
                .values_list("rule_id", flat=True))
    n = len(taken) + 1
    while f"{prefix}-{n:04d}" in taken:
        n += 1
    return f"{prefix}-{n:04d}"


def end_rule(conn: OfficeConnection, rule_id: str, who: Who, config: Config | None = None
             ) -> int | None:
    """Stop a rule (it stays in the records and in earlier revisions)."""
    with db.atomic():
        rule = PricingRule.objects.filter(rule_id=rule_id).first()
        if rule is None:
            raise RecordRefused(f"there is no rule {rule_id}",
                                reason="unknown", field="rule_id")
        if not rule.active:
            raise RecordRefused(f"rule {rule_id} has ended already",
                                reason="conflict", field="rule_id")
        rule.active = False
        rule.modified_at, rule.modified_by = now_text(), who.actor
        rule.save()
        audit.record(actor=who.actor, via=who.via, action=f"pricing.{rule.section}.end",
                     object_kind="pricing_rule", object_id=rule_id, old={"active": True},
                     new={"active": False})
        return publish(conn, who, reason=f"{rule.section} {rule_id} ended", config=config)


def set_setting(conn: OfficeConnection, key: str, value: Any, who: Who,
                config: Config | None = None) -> int | None:
    """Replace one programme setting (checked as stations will read it)."""
    if key not in SETTINGS:
        raise ValueError(f"key must be one of {', '.join(SETTINGS)}")
    with db.atomic():
        old = _setting(key)
        loyalty = value if key == "loyalty" else _setting("loyalty")
        probe: dict[str, Any] = {"revision": 0}
        if key == "holidays":
            probe["holidays"] = value
        elif loyalty is None:
            raise RecordRefused("set the programme's point value and expiry first "
                                "(loyalty settings)", reason="conflict")
        else:
            probe["loyalty"] = {**loyalty, **({key: value} if key != "loyalty" else {})}
        try:
            parse_pricing(probe)
        except CardStoreFormatError as exc:
            raise RecordRefused(str(exc).removeprefix("pricing.")) from None
        PricingSetting.objects.update_or_create(key=key, defaults={
            "value": json.dumps(value, sort_keys=True), "modified_at": now_text(),
            "modified_by": who.actor})
        audit.record(actor=who.actor, via=who.via, action=f"pricing.{key}.set",
                     object_kind="pricing_setting", object_id=key, old=old, new=value)
        return publish(conn, who, reason=f"{key} set", config=config)


def rule_records(*, include_ended: bool = False) -> list[dict[str, Any]]:
    rows = PricingRule.objects.order_by("section", "rule_id")
    if not include_ended:
        rows = rows.filter(active=True)
    return [{"rule_id": r.rule_id, "section": r.section, "active": r.active,
             "rule": json.loads(r.doc), "created_by": r.created_by, "created_at": r.created_at,
             "modified_by": r.modified_by, "modified_at": r.modified_at} for r in rows]


def settings_record() -> dict[str, Any]:
    return {key: _setting(key) for key in SETTINGS}


def card_master_op() -> dict[str, Any] | None:
    """The latest published document, for a snapshot (None before the first)."""
    row = latest()
    return None if row is None else dict(json.loads(row.doc))
