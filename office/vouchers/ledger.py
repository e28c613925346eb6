"""The redemption ledger of vouchers: one winner per voucher, the rest exceptions.

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
from typing import Any

import structlog
from django.db import IntegrityError

from core import bounds as B
from core.vouchers import VoucherError, is_genuine, read_code
from office import db
from office.access import audit
from office.customers import fields as F
from office.customers.service import Who, now_text
from office.vouchers.models import (
    EXCEPTION_STATUSES,
    VoucherBatch,
    VoucherException,
    VoucherRedemption,
)
from office.vouchers.service import batch_fields, batch_state, core_batch, refused

log = structlog.get_logger(__name__)

#: What :func:`record_redemption` answers.
WON, EXCEPTION = "won", "exception"
ACTIONS = ("charge", "write_off")
_SERIAL = re.compile(r"[0-9]{12}")
_EXCEPTION_ID = re.compile(r"[0-9]{1,11}")
_RETRIES = 5


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
        "batch": {**batch_fields(batch), "state": batch_state(batch, None)},
        "redemption": None if winner is None else redemption_fields(winner),
        "exceptions": [exception_fields(r) for r in
                       VoucherException.objects.filter(serial=serial).order_by("id")],
    }
