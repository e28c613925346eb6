"""Voucher batches and their redemption ledger: one service for the console, the CLI and
the sale ingest.

- :func:`issue_batch` makes a batch (the next number, a fresh 32-byte key, a validity
  that starts after the activation delay) and gives its codes; audited.
- :func:`active_batch_docs` is what stations receive (inside the signed card store) to
  check codes offline.
- :func:`record_redemption` is called by the sale ingest for every voucher a sale used.
  One winner per voucher: **the earliest station time wins** (ties: the lower station
  id, then the lower sale id), whatever order the sales arrive in; every other
  redemption of the serial is a :class:`VoucherException` to settle.
- :func:`release` forgets the redemption of a sale voided at the office; :func:`settle`
  charges an exception to the customer of its card or writes it off; both audited.

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
from django.db import IntegrityError
from django.db.models import Count, Sum

from core import bounds as B
from core.display import Currency, litres
from core.formats import vouchers as fmt
from core.timefmt import iso, parse_iso, utc_now
from core.vouchers import VoucherError, code_for, is_genuine, read_code
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

#: What :func:`record_redemption` answers.
WON, EXCEPTION = "won", "exception"
ACTIONS = ("charge", "write_off")
_SERIAL = re.compile(r"[0-9]{12}")
_EXCEPTION_ID = re.compile(r"[0-9]{1,11}")
_RETRIES = 5
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
                now: datetime | None = None, note: str = ""
                ) -> tuple[VoucherBatch, list[str]]:
    """A new batch of ``count`` vouchers, each buying ``volume_ml`` of ``product`` or
    ``amount`` minor units (of ``product``, or of any product), valid from now + ``delay``
    (whole seconds) for ``valid``; and its codes. Audited (``vouchers.issue``)."""
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
                     new=_batch_fields(batch))
        # Stations learn the batch (and its key) in the next pricing revision.
        from office.pricing.rules import publish

        publish(conn, who, reason=f"voucher batch {batch_id} issued")
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


def _batch_fields(batch: VoucherBatch) -> dict[str, Any]:
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
    return {**_batch_fields(batch), "state": _state(batch, now),
            **_figures([batch.batch_id])[batch.batch_id]}


def batches(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every batch, newest first, as :func:`batch_record` gives it."""
    rows = list(VoucherBatch.objects.order_by("-number"))
    figures = _figures([b.batch_id for b in rows])
    return [{**_batch_fields(b), "state": _state(b, now), **figures[b.batch_id]}
            for b in rows]


def _state(batch: VoucherBatch, now: datetime | None) -> str:
    at = iso(now or utc_now())
    if at < batch.valid_from:
        return "not yet valid"
    return "valid" if at < batch.valid_until else "expired"


# -- the ledger --------------------------------------------------------------------------

def _order(row: VoucherRedemption | VoucherException) -> tuple[str, str, str]:
    """Which redemption of a voucher counts: the earliest station time, then the lower
    station id, then the lower sale id."""
    return (row.redeemed_at, row.station_id, row.sale_id)


def _batch_of_serial(serial: str) -> VoucherBatch:
    if not _SERIAL.fullmatch(serial):
        raise refused(f"a voucher serial is 12 digits, got {B.escaped(serial)!r}",
                      field="serial")
    batch: VoucherBatch | None = VoucherBatch.objects.filter(number=int(serial[:6])).first()
    if batch is None or not 1 <= int(serial[6:]) <= batch.count:
        raise refused(f"voucher {serial} is not in any batch the office issued",
                      reason="unknown", field="serial")
    return batch


def record_redemption(*, serial: str, station_id: str, sale_id: str, seq: int,
                      card_id: str | None, redeemed_at: str, value: int, volume_ml: int
                      ) -> str:
    """Record that a station's sale redeemed voucher ``serial``; ``"won"`` if it holds the
    voucher now, ``"exception"`` if an earlier redemption does.

    ``redeemed_at`` is the sale's completion time as its journal line has it
    (``2026-12-01T10:15:00.000000Z``). The same (serial, station, sale) again is a no-op
    with the same answer. Safe when several ingest workers record the same voucher at once:
    the ledger is unique by serial, its row is locked (``SELECT ... FOR UPDATE`` on
    PostgreSQL; SQLite's write transactions are serial) and a racing first insert retries.
    """
    if not B.TIMESTAMP.fullmatch(str(redeemed_at)):
        raise refused(f"redeemed_at must be a UTC time like 2026-12-01T10:15:00.000000Z, "
                      f"got {B.escaped(str(redeemed_at))!r}", field="redeemed_at")
    for name, number, cap in (("value", value, B.MAX_AMOUNT),
                              ("volume_ml", volume_ml, B.MAX_VOLUME_ML),
                              ("seq", seq, B.MAX_SEQ)):
        problem = B.int_problem(number, 0, cap)
        if problem:
            raise refused(f"{name} {problem}", field=name)
    for name, text in (("station_id", station_id), ("sale_id", sale_id),
                       ("card_id", card_id)):
        if text is None and name == "card_id":
            continue
        if not B.is_printable_text(text):
            raise refused(f"{name} must be one line of printable text, got "
                          f"{B.escaped(str(text))!r}", field=name)
    batch = _batch_of_serial(serial)
    fields = {"serial": serial, "batch": batch, "station_id": station_id, "sale_id": sale_id,
              "seq": seq, "card_id": card_id, "redeemed_at": redeemed_at, "value": value,
              "volume_ml": volume_ml}
    for attempt in range(_RETRIES):
        try:
            with db.atomic():
                return _record(fields)
        except IntegrityError:
            # Another worker inserted this voucher's first redemption (or this very sale)
            # between our look and our insert: look again.
            log.info("vouchers.redemption_retry", serial=serial, station_id=station_id,
                     sale_id=sale_id, attempt=attempt + 1)
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _record(fields: dict[str, Any]) -> str:
    serial, station_id, sale_id = fields["serial"], fields["station_id"], fields["sale_id"]
    winner: VoucherRedemption | None = (VoucherRedemption.objects.select_for_update()
                                        .filter(serial=serial).first())
    if winner is not None and (winner.station_id, winner.sale_id) == (station_id, sale_id):
        return WON
    if VoucherException.objects.filter(serial=serial, station_id=station_id,
                                       sale_id=sale_id).exists():
        return EXCEPTION
    now = now_text()
    if winner is None:
        VoucherRedemption.objects.create(**fields, recorded_at=now)
        log.info("vouchers.redeemed", serial=serial, station_id=station_id, sale_id=sale_id)
        return WON
    new = VoucherRedemption(**fields, recorded_at=now)
    if _order(new) < _order(winner):
        # The earlier station time takes the voucher over; the displaced one is the
        # exception now (the row is updated in place: the serial stays unique).
        _exception_from(winner, now)
        for name, value in fields.items():
            setattr(winner, name, value)
        winner.recorded_at = now
        winner.save()
        log.warning("vouchers.double_redemption", serial=serial, winner_station=station_id,
                    winner_sale=sale_id, displaced=True)
        return WON
    _exception_from(new, now)
    log.warning("vouchers.double_redemption", serial=serial, station_id=station_id,
                sale_id=sale_id, winner_station=winner.station_id, winner_sale=winner.sale_id)
    return EXCEPTION


def _exception_from(row: VoucherRedemption, now: str) -> VoucherException:
    made: VoucherException = VoucherException.objects.create(
        serial=row.serial, batch_id=row.batch_id, station_id=row.station_id,
        sale_id=row.sale_id, seq=row.seq, card_id=row.card_id, redeemed_at=row.redeemed_at,
        value=row.value, volume_ml=row.volume_ml, created_at=now)
    return made


def redemption_fields(row: VoucherRedemption) -> dict[str, Any]:
    return {"serial": row.serial, "batch_id": row.batch_id, "station_id": row.station_id,
            "sale_id": row.sale_id, "seq": row.seq, "card_id": row.card_id,
            "redeemed_at": row.redeemed_at, "value": row.value, "volume_ml": row.volume_ml,
            "recorded_at": row.recorded_at}


def exception_fields(row: VoucherException) -> dict[str, Any]:
    return {"exception_id": row.id, "serial": row.serial, "batch_id": row.batch_id,
            "station_id": row.station_id, "sale_id": row.sale_id, "seq": row.seq,
            "card_id": row.card_id, "customer_id": row.customer_id,
            "redeemed_at": row.redeemed_at, "value": row.value, "volume_ml": row.volume_ml,
            "status": row.status, "settled_by": row.settled_by, "settled_at": row.settled_at,
            "note": row.note, "created_at": row.created_at}


def release(serial: str, sale_id: str, who: Who, reason: str) -> dict[str, Any]:
    """A sale voided at the office gives its voucher back.

    If the sale held the voucher, its redemption leaves the ledger and the earliest open
    exception of the serial (earliest station time, then station, then sale) becomes the
    winner in its place; if the sale was an open exception, that exception is closed.
    Either way the voided redemption is kept as an exception of status ``voided``, so the
    same sale arriving again changes nothing. Audited (``vouchers.release``).
    """
    reason = F.text("reason", reason, required=True)
    with db.atomic():
        _batch_of_serial(serial)
        winner: VoucherRedemption | None = (VoucherRedemption.objects.select_for_update()
                                            .filter(serial=serial, sale_id=sale_id).first())
        now = now_text()
        promoted: dict[str, Any] | None = None
        if winner is not None:
            old = redemption_fields(winner)
            voided = _exception_from(winner, now)
            winner.delete()
            waiting = sorted(VoucherException.objects.select_for_update()
                             .filter(serial=serial, status="open").exclude(id=voided.id),
                             key=_order)
            if waiting:
                first = waiting[0]
                VoucherRedemption.objects.create(
                    serial=serial, batch_id=first.batch_id, station_id=first.station_id,
                    sale_id=first.sale_id, seq=first.seq, card_id=first.card_id,
                    redeemed_at=first.redeemed_at, value=first.value,
                    volume_ml=first.volume_ml, recorded_at=now)
                promoted = exception_fields(first)
                first.delete()
        else:
            found: VoucherException | None = (VoucherException.objects.select_for_update()
                                              .filter(serial=serial, sale_id=sale_id)
                                              .first())
            if found is None:
                raise refused(f"voucher {serial} has no redemption by sale "
                              f"{B.escaped(sale_id)}", reason="unknown", field="sale_id")
            if found.status != "open":
                raise refused(f"voucher {serial}'s redemption by sale {B.escaped(sale_id)} "
                              f"is already {found.status.replace('_', ' ')}",
                              reason="conflict", field="sale_id")
            old = exception_fields(found)
            voided = found
        voided.status, voided.settled_by, voided.settled_at = "voided", who.actor, now
        voided.note = reason
        voided.save(update_fields=["status", "settled_by", "settled_at", "note"])
        new = {"voided": exception_fields(voided), "promoted": promoted}
        audit.record(actor=who.actor, via=who.via, action="vouchers.release",
                     object_kind="voucher", object_id=serial, old=old, new=new,
                     detail=reason)
    return new


# -- exceptions --------------------------------------------------------------------------

def exceptions(status: str | None = None) -> list[dict[str, Any]]:
    """Exceptions (all, or those of ``status``), oldest first."""
    rows = VoucherException.objects.order_by("created_at", "id")
    if status is not None:
        rows = rows.filter(status=F.choice("status", status, EXCEPTION_STATUSES))
    return [exception_fields(r) for r in rows]


def _exception_to_settle(target: str) -> VoucherException:
    """The open exception ``target`` names: its id, or a voucher (serial or code) with
    exactly one open exception."""
    text = target.strip()
    if _EXCEPTION_ID.fullmatch(text):
        found: VoucherException | None = (VoucherException.objects.select_for_update()
                                          .filter(id=int(text)).first())
        if found is None:
            raise refused(f"there is no voucher exception {text}", reason="unknown",
                          field="exception")
        return found
    serial = _serial_of(text)
    rows: list[VoucherException] = list(VoucherException.objects.select_for_update()
                                        .filter(serial=serial).order_by("id"))
    open_rows = [r for r in rows if r.status == "open"]
    if len(open_rows) == 1:
        return open_rows[0]
    if len(open_rows) > 1:
        raise refused(f"voucher {serial} has {len(open_rows)} open exceptions (ids "
                      f"{', '.join(str(r.id) for r in open_rows)}); name one by its id",
                      reason="conflict", field="exception")
    if rows:
        return rows[-1]  # settled already: refused with who and when
    raise refused(f"voucher {serial} has no exception", reason="unknown", field="exception")


def _serial_of(text: str) -> str:
    """A 12-digit serial as given, or the serial of a voucher code in any form."""
    if _SERIAL.fullmatch(text):
        return text
    try:
        return read_code(text)[:12]
    except VoucherError:
        raise refused(f"{B.escaped(text)!r} is neither an exception id, a 12-digit voucher "
                      "serial nor a voucher code", field="exception") from None


def settle(target: str, who: Who, action: str, note: str = "") -> dict[str, Any]:
    """Settle an open exception: ``charge`` it to the customer of its card (recording
    the customer and the value) or ``write_off``. Audited (``vouchers.charge``,
    ``vouchers.write_off``); settling again is refused, naming who settled it and when."""
    action = F.choice("action", action, ACTIONS)
    note = F.notes("note", note)
    if action == "write_off" and not note.strip():
        raise refused("say why the voucher is written off (--note)", field="note")
    with db.atomic():
        row = _exception_to_settle(target)
        if row.status != "open":
            raise refused(f"voucher exception {row.id} (voucher {row.serial}) is already "
                          f"{row.status.replace('_', ' ')} by {row.settled_by} at "
                          f"{(row.settled_at or '')[:19]}; nothing changed twice",
                          reason="conflict", field="exception")
        old = exception_fields(row)
        if action == "charge":
            from office.cards.models import Card

            card = Card.objects.filter(card_id=row.card_id).first() if row.card_id else None
            if card is None or card.customer_id is None:
                raise refused(f"voucher exception {row.id} has no card with a customer to "
                              "charge; write it off instead", reason="conflict",
                              field="exception")
            row.customer_id = card.customer_id
        row.status = "charged" if action == "charge" else "written_off"
        row.settled_by, row.settled_at, row.note = who.actor, now_text(), note
        row.save(update_fields=["status", "customer_id", "settled_by", "settled_at", "note"])
        new = exception_fields(row)
        audit.record(actor=who.actor, via=who.via, action=f"vouchers.{action}",
                     object_kind="voucher_exception", object_id=str(row.id), old=old,
                     new=new, detail=note)
    log.info("vouchers.settled", exception_id=row.id, serial=row.serial, action=action,
             value=row.value, customer_id=row.customer_id, actor=who.actor)
    return new


# -- looking a voucher up ----------------------------------------------------------------

def voucher_record(text: str) -> dict[str, Any]:
    """What the office knows of one voucher, given its code (any form) or serial: its
    batch, whether the code is genuine, its redemption and its exceptions."""
    given = text.strip()
    code: str | None = None
    if not _SERIAL.fullmatch(given):
        try:
            code = read_code(given)
        except VoucherError as exc:
            raise refused(str(exc), field="voucher") from None
    serial = code[:12] if code else given
    batch = _batch_of_serial(serial)
    winner = VoucherRedemption.objects.filter(serial=serial).first()
    return {
        "serial": serial, "batch_id": batch.batch_id,
        "genuine": None if code is None else is_genuine(core_batch(batch), code),
        "batch": {**_batch_fields(batch), "state": _state(batch, None)},
        "redemption": None if winner is None else redemption_fields(winner),
        "exceptions": [exception_fields(r) for r in
                       VoucherException.objects.filter(serial=serial).order_by("id")],
    }
