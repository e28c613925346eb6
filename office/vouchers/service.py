"""Voucher batches: one service for the console, the CLI and the pricing document.

- :func:`issue_batch` makes a batch (the next number, a fresh 32-byte key, a validity
  that starts after the activation delay) and gives its codes; audited.
- :func:`active_batch_docs` is what stations receive (inside the signed card store) to
  check codes offline.
- :func:`batch_record`, :func:`batches`: a batch with its figures.

Their redemptions are office.vouchers.ledger.

A refusal is :class:`RecordRefused` (one sentence; nothing changed) and a
``vouchers.refused`` log event. docs/pricing.md, "Vouchers".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db.models import Count, Sum

from core import bounds as B
from core.config import Config
from core.display import Currency, litres
from core.formats import vouchers as fmt
from core.timefmt import iso, parse_iso, utc_now
from core.vouchers import code_for
from office import db
from office.access import audit
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.service import Who, next_id, now_text
from office.store import OfficeConnection
from office.vouchers.models import (
    EXCEPTION_STATUSES,
    VoucherBatch,
    VoucherException,
    VoucherRedemption,
)

log = structlog.get_logger(__name__)

_DURATION = re.compile(r"\s*([0-9]{1,6})\s*([hdw])\s*", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
#: The longest validity or activation delay: ten years.
MAX_DURATION = timedelta(days=3650)


def refused(message: str, *, reason: str = "invalid", field: str | None = None
            ) -> RecordRefused:
    """The refusal to raise, logged (``vouchers.refused``) with its reason and field."""
    log.info("vouchers.refused", reason=reason, field=field, message=message)
    return RecordRefused(message, reason=reason, field=field)


def duration(text: str, option: str) -> timedelta:
    """``30d``, ``12h``, ``2w`` as a timedelta (at most ten years); ``option`` names it in
    the refusal."""
    match = _DURATION.fullmatch(text or "")
    if match is None:
        raise refused(f"{option} must be a number of hours, days or weeks like 12h, 30d or "
                      f"2w, got {B.escaped(str(text))!r}", field=option.lstrip("-"))
    span = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if span > MAX_DURATION:
        raise refused(f"{option} must be at most 3650 days, got {text.strip()}",
                      field=option.lstrip("-"))
    return span


def value_text(batch: VoucherBatch | fmt.VoucherBatch, money: Currency) -> str:
    """What one voucher of the batch buys, as people read it: ``AI95 20.000 l``,
    ``500.00 RUB of AI95``, ``500.00 RUB of any fuel``."""
    if batch.volume_ml is not None:
        return f"{batch.product} {litres(batch.volume_ml)}"
    assert batch.amount is not None
    return f"{money.money(batch.amount)} of {batch.product or 'any fuel'}"


# -- batches ---------------------------------------------------------------------------------

def core_batch(batch: VoucherBatch) -> fmt.VoucherBatch:
    """The batch as core.vouchers checks it (with its key)."""
    return fmt.VoucherBatch(
        batch_id=batch.batch_id, number=batch.number, count=batch.count,
        product=batch.product, volume_ml=batch.volume_ml, amount=batch.amount,
        valid_from=parse_iso(batch.valid_from), valid_until=parse_iso(batch.valid_until),
        key=bytes.fromhex(batch.key))


def get_batch(batch_id: str) -> VoucherBatch:
    found: VoucherBatch | None = VoucherBatch.objects.filter(batch_id=batch_id).first()
    if found is None:
        raise refused(f"voucher batch {B.escaped(batch_id)} does not exist", reason="unknown",
                      field="batch")
    return found


def _product(product: str | None, *, required: bool) -> str | None:
    if product is None or product == "":
        if required:
            raise refused("a volume voucher needs a product: the product it buys",
                          field="product")
        return None
    known = {str(r[0]) for r in db.fetchall("SELECT code FROM cm_products")}
    if product not in known:
        raise refused(f"product {B.escaped(product)!r} is not in the card master (known: "
                      f"{', '.join(sorted(known)) or 'none yet'})", reason="unknown",
                      field="product")
    return product


def issue_batch(conn: OfficeConnection, who: Who, *, product: str | None,
                volume_ml: int | None = None, amount: int | None = None, count: int,
                valid: timedelta, delay: timedelta = timedelta(0),
                now: datetime | None = None, note: str = "", config: Config | None = None
                ) -> tuple[VoucherBatch, list[str]]:
    """A new batch of ``count`` vouchers, each buying ``volume_ml`` of ``product`` or
    ``amount`` minor units (of ``product``, or of any product), valid from now + ``delay``
    (whole seconds) for ``valid``; and its codes. Audited (``vouchers.issue``).

    Stations learn the batch (and its key) in a new pricing revision; with ``config`` it
    is also sent to every station over MQTT at once, as a rule change is."""
    problem = B.int_problem(count, 1, fmt.MAX_COUNT, "vouchers")
    if problem:
        raise refused(f"count {problem}", field="count")
    if (volume_ml is None) == (amount is None):
        raise refused("a voucher buys either a volume (ml) or an amount (minor units), "
                      "exactly one of them", field="volume_ml")
    if volume_ml is not None:
        volume_ml = F.amount("volume", volume_ml, unit="volume", positive=True)
    if amount is not None:
        amount = F.amount("amount", amount, positive=True)
    if valid <= timedelta(0):
        raise refused("the validity must be longer than zero, e.g. 30d", field="valid")
    if delay < timedelta(0):
        raise refused("the activation delay cannot be negative", field="delay")
    note = F.notes("note", note)
    start = ((now or utc_now()) + delay).replace(microsecond=0)
    try:
        until = start + valid
    except OverflowError:
        raise refused("the validity is too long", field="valid") from None
    with conn.atomic():
        checked = _product(product, required=volume_ml is not None)
        batch_id = next_id("voucher batch", "VB", VoucherBatch, "batch_id")
        number = int(batch_id[2:])
        if number > fmt.MAX_NUMBER:
            raise refused(f"every voucher batch number up to {fmt.MAX_NUMBER} is taken",
                          reason="conflict", field="batch")
        batch: VoucherBatch = VoucherBatch.objects.create(
            batch_id=batch_id, number=number, product=checked, volume_ml=volume_ml,
            amount=amount, count=count, valid_from=iso(start), valid_until=iso(until),
            key=secrets.token_bytes(fmt.KEY_BYTES).hex(), created_by=who.actor,
            created_at=now_text(), note=note)
        audit.record(actor=who.actor, via=who.via, action="vouchers.issue",
                     object_kind="voucher_batch", object_id=batch_id,
                     new=batch_fields(batch))
        from office.pricing.rules import publish

        version = publish(conn, who, reason=f"voucher batch {batch_id} issued", config=config)
    if version is not None and config is not None:
        from office.cards import actions

        actions.publish(config, conn, version)
    log.info("vouchers.issued", batch_id=batch_id, count=count, product=checked,
             volume_ml=volume_ml, amount=amount, actor=who.actor)
    return batch, codes_of(batch)


def iter_codes(batch: VoucherBatch | fmt.VoucherBatch) -> Iterator[tuple[int, str]]:
    """(sequence, code) of every voucher of the batch, in order."""
    made = core_batch(batch) if isinstance(batch, VoucherBatch) else batch
    for seq in range(1, made.count + 1):
        yield seq, code_for(made, seq)


def codes_of(batch: VoucherBatch | fmt.VoucherBatch) -> list[str]:
    """Every code of the batch, voucher 1 first."""
    return [code for _seq, code in iter_codes(batch)]


def log_codes_taken(batch: VoucherBatch, who: Who, what: str) -> None:
    """Audit that someone took a batch's codes again (a download, a reprint): whoever
    has them holds the vouchers' value."""
    with db.atomic():
        audit.record(actor=who.actor, via=who.via, action="vouchers.codes",
                     object_kind="voucher_batch", object_id=batch.batch_id, detail=what)


def active_batch_docs(now: datetime | None = None) -> list[dict[str, Any]]:
    """The batch document (core.formats.vouchers.batch_doc, with its key) of every batch
    not yet expired at ``now``: what the pricing document stations receive carries."""
    at = iso(now or utc_now())
    return [fmt.batch_doc(core_batch(b))
            for b in VoucherBatch.objects.filter(valid_until__gt=at).order_by("number")]


def batch_fields(batch: VoucherBatch) -> dict[str, Any]:
    """A batch's own fields, never its key."""
    return {"batch_id": batch.batch_id, "number": batch.number, "product": batch.product,
            "volume_ml": batch.volume_ml, "amount": batch.amount, "count": batch.count,
            "valid_from": batch.valid_from, "valid_until": batch.valid_until,
            "created_by": batch.created_by, "created_at": batch.created_at,
            "note": batch.note}


def _figures(batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per batch: redeemed count, value and volume; exceptions by status, with values."""
    out: dict[str, dict[str, Any]] = {
        b: {"redeemed": 0, "redeemed_value": 0, "redeemed_volume_ml": 0,
            "exceptions": dict.fromkeys(EXCEPTION_STATUSES, 0),
            "exception_values": dict.fromkeys(EXCEPTION_STATUSES, 0)} for b in batch_ids}
    for row in (VoucherRedemption.objects.filter(batch_id__in=batch_ids).values("batch_id")
                .annotate(n=Count("id"), value=Sum("value"), volume=Sum("volume_ml"))):
        got = out[row["batch_id"]]
        got["redeemed"], got["redeemed_value"] = row["n"], row["value"] or 0
        got["redeemed_volume_ml"] = row["volume"] or 0
    for row in (VoucherException.objects.filter(batch_id__in=batch_ids)
                .values("batch_id", "status").annotate(n=Count("id"), value=Sum("value"))):
        got = out[row["batch_id"]]
        got["exceptions"][row["status"]] = row["n"]
        got["exception_values"][row["status"]] = row["value"] or 0
    return out


def batch_record(batch_id: str, now: datetime | None = None) -> dict[str, Any]:
    """A batch as plain values (never its key): its fields, whether it is valid now, how
    many vouchers were redeemed (count, value, volume) and its exceptions by status."""
    batch = get_batch(batch_id)
    return {**batch_fields(batch), "state": batch_state(batch, now),
            **_figures([batch.batch_id])[batch.batch_id]}


def batches(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every batch, newest first, as :func:`batch_record` gives it."""
    rows = list(VoucherBatch.objects.order_by("-number"))
    figures = _figures([b.batch_id for b in rows])
    return [{**batch_fields(b), "state": batch_state(b, now), **figures[b.batch_id]}
            for b in rows]


def batch_state(batch: VoucherBatch, now: datetime | None) -> str:
    at = iso(now or utc_now())
    if at < batch.valid_from:
        return "not yet valid"
    return "valid" if at < batch.valid_until else "expired"


# -- the ledger --------------------------------------------------------------------------
