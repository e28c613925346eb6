"""The set-based aging (office.accounts.daily) against an independent walk, on SQLite
and PostgreSQL: for random charges and credits of several customers at once, every
customer's balance, buckets and oldest unpaid day are what walking its charge days
back from the newest (first in, first out) gives."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from office.accounts import account, daily
from office.accounts.aging import BUCKETS, bucket_of
from office.store import OfficeConnection, open_office
from tests.office import accounts_fixture as F
from tests.office_fixtures import OfficeDb

FIRST = date(2026, 1, 1)
TODAY = date(2026, 6, 30)
TZ = F.REPORTS.tz
_numbers = itertools.count()

#: (day offset from FIRST, amount): a debit note (> 0) or a payment / credit note (< 0).
_entry = st.tuples(st.integers(0, 200), st.integers(-50_000, 50_000).filter(bool))
_customers = st.lists(st.lists(_entry, max_size=12), min_size=1, max_size=4)


def _walk(entries: list[tuple[int, int]], as_of: date, due_days: int
          ) -> tuple[int, dict[str, int], date | None]:
    """The balance, buckets and oldest unpaid day by a plain walk back over the charges."""
    kept = [(FIRST + timedelta(days=d), a) for d, a in entries
            if FIRST + timedelta(days=d) <= as_of]
    owed = sum(a for _d, a in kept)
    buckets = dict.fromkeys(BUCKETS, 0)
    oldest = None
    left = owed
    for day, amount in sorted(((d, a) for d, a in kept if a > 0), reverse=True):
        if left <= 0:
            break
        part = min(left, amount)
        buckets[bucket_of((TODAY - (day + timedelta(days=due_days))).days)] += part
        oldest = day
        left -= part
    return owed, buckets, oldest


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customers=_customers, as_of_offset=st.integers(100, 200),
       due_days=st.sampled_from([0, 14, 30]))
def test_set_based_aging_is_the_walk(office_db: OfficeDb, customers: list[list[tuple[int, int]]],
                                     as_of_offset: int, due_days: int) -> None:
    conn: OfficeConnection = open_office(office_db.config)
    try:
        ids = []
        for entries in customers:
            customer_id = f"H-{next(_numbers)}"
            ids.append(customer_id)
            F.customer(conn, customer_id, "credit", None)
            for number, (day, amount) in enumerate(entries):
                conn.execute(
                    "INSERT INTO account_entries (customer_id, kind, amount, method, "
                    "reference, value_date, reason, at, actor, via) VALUES "
                    "(?, 'adjustment', ?, '', ?, ?, 'test', ?, 't', 'cli')",
                    (customer_id, amount, str(number),
                     (FIRST + timedelta(days=day)).isoformat(), F.STAMP))
        as_of = FIRST + timedelta(days=as_of_offset)
        found = daily.agings(conn, TZ, due_days, today=TODAY, as_of=as_of)
        balances = account.balances(conn, TZ, as_of)
        for customer_id, entries in zip(ids, customers, strict=True):
            owed, buckets, oldest = _walk(entries, as_of, due_days)
            assert balances.get(customer_id, 0) == owed
            if owed <= 0:
                assert customer_id not in found
                continue
            balance, aged = found[customer_id]
            assert balance == owed
            assert aged.buckets == buckets
            assert sum(aged.buckets.values()) == owed
            assert aged.oldest_unpaid == oldest
    finally:
        conn.close()
