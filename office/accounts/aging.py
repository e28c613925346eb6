"""Aging of what a customer owes, and how payments settle charges (first in, first out).

The buckets and the settling of payments are pure functions over plain data (no
database), so the rules are tested alone:

- **FIFO**: credits (payments and credit notes) settle the oldest charges first. So the
  part of the balance still unpaid is made of the *newest* charges: office.accounts.daily
  ages every customer's balance over its newest charge days in one statement.
- **Due date**: a charge is due ``due_days`` after its local day (``[office_reports]
  credit_due_days``); it is *overdue* from the day after, and ``today - due`` is its
  days past due. Buckets: 1-30 days past due (called "0-30"), 31-60, 61-90, over 90;
  what is not due yet is *current*.
- **Payment pattern** (:func:`settle`): each payment's part that settled a charge took
  ``payment day - charge day`` days and was on time if paid by the due date; a part
  that settled nothing (paid in advance) counts in neither.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

BUCKETS = ("current", "d0_30", "d31_60", "d61_90", "d90")
BUCKET_TITLES = {"current": "Not due", "d0_30": "0-30 days", "d31_60": "31-60 days",
                 "d61_90": "61-90 days", "d90": "Over 90 days"}


#: (the most days past due, bucket), in order; past the last: ``d90``. The credit
#: report's SQL (office.accounts.daily) is written from this table too.
BUCKET_LIMITS = ((0, "current"), (30, "d0_30"), (60, "d31_60"), (90, "d61_90"))


def bucket_of(days_past_due: int) -> str:
    """The bucket of a charge ``days_past_due`` past its due date (<= 0: not due)."""
    for limit, name in BUCKET_LIMITS:
        if days_past_due <= limit:
            return name
    return BUCKETS[-1]


@dataclass
class Aging:
    """The unpaid balance by bucket, and the day of the oldest charge still unpaid."""

    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    oldest_unpaid: date | None = None

    @property
    def overdue(self) -> int:
        return sum(v for k, v in self.buckets.items() if k != "current")


@dataclass(frozen=True)
class Settled:
    """One payment's settlement: what it paid of charges, in how many amount-days, and
    how much of it came by the due date."""

    payment_day: date
    amount: int
    applied: int
    amount_days: int
    on_time: int


def settle(charges: Iterable[tuple[date, int]], credits: Iterable[tuple[date, int, bool]],
           due_days: int) -> list[Settled]:
    """Apply ``credits`` ``(day, amount, is_payment)`` to ``charges`` ``(day, amount)``,
    both in day order, oldest charges first; one :class:`Settled` per payment.

    A credit settles only charges of its day or before; what it cannot settle yet
    (paid in advance) waits and settles later charges as they come, counted in no
    payment's figures."""
    events = sorted([(d, 0, a, False) for d, a in charges]
                    + [(d, 1, a, p) for d, a, p in credits], key=lambda e: (e[0], e[1]))
    open_charges: deque[list[object]] = deque()  # [day, left]
    advance: deque[int] = deque()  # credit not yet applied (paid in advance)
    out: list[Settled] = []
    work: list[list[int]] = []  # per payment: applied, amount_days, on_time

    def apply(index: int, pay_day: date, left: int) -> int:
        while left > 0 and open_charges:
            charge = open_charges[0]
            c_day, c_left = charge[0], charge[1]
            assert isinstance(c_day, date) and isinstance(c_left, int)
            part = min(left, c_left)
            if index >= 0:
                row = work[index]
                row[0] += part
                row[1] += part * (pay_day - c_day).days
                if pay_day <= c_day + timedelta(days=due_days):
                    row[2] += part
            charge[1] = c_left - part
            left -= part
            if charge[1] == 0:
                open_charges.popleft()
        return left

    for day, order, amount, is_payment in events:
        if order == 0:
            open_charges.append([day, amount])
            while advance and open_charges:
                rest = apply(-1, day, advance.popleft())
                if rest:
                    advance.appendleft(rest)
            continue
        index = -1
        if is_payment:
            out.append(Settled(day, amount, 0, 0, 0))
            work.append([0, 0, 0])
            index = len(out) - 1
        rest = apply(index, day, amount)
        if rest:
            advance.append(rest)
    return [Settled(s.payment_day, s.amount, w[0], w[1], w[2])
            for s, w in zip(out, work, strict=True)]
