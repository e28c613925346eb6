"""Booking on a customer's account: payments received and adjustments (credit and debit
notes). One service for the CLI and the console.

Each booking checks every value first (a refusal is :class:`RecordRefused`, one
sentence naming the field, and nothing is stored), then stores the entry and its audit
entry (``account.payment``, ``account.adjustment``, with the person and the door) in one
transaction. Entries are never changed: a wrong one is undone by another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

import structlog

from core import bounds as B
from core.timefmt import iso, utc_now
from office.access import audit
from office.accounts.models import METHODS, AccountEntry
from office.customers import fields as F
from office.customers.errors import RecordRefused
from office.customers.models import Customer
from office.customers.service import Who
from office.store import OfficeConnection

log = structlog.get_logger(__name__)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The earliest value date a booking may carry.
EARLIEST = date(2000, 1, 1)


def refused(message: str, *, reason: str = "invalid", field: str | None = None
            ) -> RecordRefused:
    """The refusal to raise, logged (``accounts.refused``)."""
    log.info("accounts.refused", reason=reason, field=field, message=message)
    return RecordRefused(message, reason=reason, field=field)


def customer_of(customer_id: str) -> Customer:
    """The customer whose account is booked; refused when unknown or merged away."""
    found: Customer | None = Customer.objects.filter(customer_id=customer_id).first()
    if found is None:
        raise refused(f"customer {B.escaped(customer_id)} does not exist", reason="unknown",
                      field="customer")
    if found.merged_into:
        raise refused(f"customer {customer_id} was merged into {found.merged_into}; book "
                      "on that account", reason="conflict", field="customer")
    return found


def value_date(text: str | None, tz: tzinfo, *, now: datetime | None = None) -> str:
    """The booking's local day: ``text`` (YYYY-MM-DD, not after today) or today."""
    today = (now or utc_now()).astimezone(tz).date()
    if text is None or not text.strip():
        return today.isoformat()
    clean = text.strip()
    try:
        day = date.fromisoformat(clean) if _DAY.fullmatch(clean) else None
    except ValueError:
        day = None
    if day is None:
        raise refused(f"the date must be a day like 2026-11-30, not {B.escaped(clean)!r}",
                      field="date")
    if day > today:
        raise refused(f"the date {day} is after today ({today}): book money when it came in",
                      field="date")
    if day < EARLIEST:
        raise refused(f"the date {day} is before {EARLIEST}", field="date")
    return day.isoformat()


@dataclass(frozen=True)
class Booked:
    """An entry just stored, and the customer's balance before and after it."""

    entry: AccountEntry
    before: int
    after: int


def _book(conn: OfficeConnection, who: Who, customer_id: str, *, kind: str, amount: int,
          method: str, reference: str, day: str, reason: str, tz: tzinfo) -> Booked:
    from office.accounts import account

    with conn.atomic():
        customer = customer_of(customer_id)
        before = account.balance(conn, customer.customer_id, tz)
        entry: AccountEntry = AccountEntry.objects.create(
            customer=customer, kind=kind, amount=amount, method=method, reference=reference,
            value_date=day, reason=reason, at=iso(utc_now()), actor=who.actor, via=who.via)
        audit.record(actor=who.actor, via=who.via, action=f"account.{kind}",
                     object_kind="customer", object_id=customer.customer_id,
                     old={"balance": before},
                     new={"balance": before + amount, **entry_fields(entry)},
                     detail=reason or reference)
    log.info("accounts.booked", kind=kind, customer=customer_id, amount=amount,
             value_date=day, actor=who.actor, via=who.via)
    return Booked(entry, before, before + amount)


def pay(conn: OfficeConnection, who: Who, customer_id: str, amount: int, *, reference: str,
        method: str = "bank", day: str | None = None, tz: tzinfo,
        now: datetime | None = None) -> Booked:
    """Book a payment of ``amount`` minor units (positive) received from the customer."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise refused(f"a payment must be more than zero, not {amount}", field="amount")
    problem = B.int_problem(amount, 1, B.MAX_AMOUNT, "minor units")
    if problem:
        raise refused(f"the amount {problem}", field="amount")
    if method not in METHODS:
        raise refused(f"the method must be one of {', '.join(METHODS)}, not "
                      f"{B.escaped(str(method))!r}", field="method")
    ref = F.text("reference", reference, required=True, max_chars=200)
    booked_day = value_date(day, tz, now=now)
    return _book(conn, who, customer_id, kind="payment", amount=-amount, method=method,
                 reference=ref, day=booked_day, reason="", tz=tz)


def adjust(conn: OfficeConnection, who: Who, customer_id: str, amount: int, *, reason: str,
           reference: str = "", day: str | None = None, tz: tzinfo,
           now: datetime | None = None) -> Booked:
    """Book an adjustment: ``amount`` signed (negative: a credit note, the customer owes
    less; positive: a debit note), with the reason."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise refused("an adjustment must not be zero", field="amount")
    problem = B.int_problem(amount, -B.MAX_AMOUNT, B.MAX_AMOUNT, "minor units")
    if problem:
        raise refused(f"the amount {problem}", field="amount")
    why = F.text("reason", reason, required=True, max_chars=500)
    ref = F.text("reference", reference, max_chars=200)
    booked_day = value_date(day, tz, now=now)
    return _book(conn, who, customer_id, kind="adjustment", amount=amount, method="",
                 reference=ref, day=booked_day, reason=why, tz=tz)


def entry_fields(entry: AccountEntry) -> dict[str, Any]:
    """An entry as the audit trail and ``--json`` show it."""
    return {"entry_id": entry.id, "customer": entry.customer_id, "kind": entry.kind,
            "amount": entry.amount, "method": entry.method, "reference": entry.reference,
            "value_date": entry.value_date, "reason": entry.reason, "at": entry.at,
            "actor": entry.actor, "via": entry.via}
