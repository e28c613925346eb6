"""The dashboard's roll-ups (office.ledger.rollups): every sale stored is counted once,
on its local day, whichever path stored it.

The MQTT path computes local days in Python, the bulk paths and ``rebuild`` in SQL
(a CASE over the zone's offsets on SQLite, AT TIME ZONE on PostgreSQL): Hypothesis
draws completion times around the daylight-saving changes of zones with whole, half
and three-quarter hour offsets, and the three must agree, on both databases.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from office.ledger import rollups
from office.ledger.ingest import ingest_batch
from office.ledger.ingest_bulk import ingest_lines
from office.store import OfficeConnection
from tests.office.bulk_journal import STATUS, rechain
from tests.office.test_ingest_bulk import journal_rows

__all__ = ["journal_rows"]  # the module fixture, used here too

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DAILY = ("SELECT day, station_id, product, sales, volume_ml, amount FROM sales_daily "
         "ORDER BY 1, 2, 3")
MONTHLY = "SELECT month, card_id, sales, volume_ml, amount FROM card_monthly ORDER BY 1, 2"


def z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def store(office_conn: OfficeConnection) -> Iterator[OfficeConnection]:
    office_conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-01-01')")
    yield office_conn


def timed(rows: list[dict[str, Any]], times: list[str]) -> tuple[list[dict[str, Any]],
                                                                  list[bytes]]:
    out = []
    for row, at in zip(rows, times, strict=False):
        out.append({**copy.deepcopy(row), "completed_at": at, "authorized_at": at})
    return rechain(out)


def by_mqtt(conn: OfficeConnection, sales: list[dict[str, Any]]) -> int:
    body = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
            "sales": copy.deepcopy(sales), "status": STATUS}
    result = ingest_batch(conn, body, via="mqtt", envelope_id="e" * 32, now=NOW)
    assert result.quarantined is None, result
    return result.stored


def counts(conn: OfficeConnection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return ([tuple(r) for r in conn.execute(DAILY)], [tuple(r) for r in conn.execute(MONTHLY)])


def test_a_sale_counts_on_its_local_day_once(store: OfficeConnection,
                                             journal_rows: list[dict[str, Any]]) -> None:
    store.execute("UPDATE rollup_state SET timezone = 'Europe/Berlin'")
    # Berlin: 2026-03-28 is +01:00, 2026-03-29 switches to +02:00 at 01:00 UTC.
    times = ["2026-03-28T22:59:59.999999Z",   # 23:59:59 on the 28th
             "2026-03-28T23:00:00.000000Z",   # 00:00 on the 29th
             "2026-03-29T21:59:59.000000Z",   # 23:59:59 CEST on the 29th (a 23-hour day)
             "2026-03-29T22:00:00.000000Z",   # 00:00 on the 30th
             "2026-03-31T21:59:00.000000Z"]   # 23:59 on the 31st: March
    sales, _ = timed(journal_rows, times)
    assert by_mqtt(store, sales) == 5
    vol = [s["volume_ml"] for s in sales]
    daily, monthly = counts(store)
    assert [(d, n, v) for d, _s, _p, n, v, _a in daily] == [
        ("2026-03-28", 1, vol[0]), ("2026-03-29", 2, vol[1] + vol[2]),
        ("2026-03-30", 1, vol[3]), ("2026-03-31", 1, vol[4])]
    assert {m for m, *_ in monthly} == {"2026-03-01"}  # two cards, one month
    assert sum(n for _m, _c, n, _v, _a in monthly) == 5
    assert by_mqtt(store, sales) == 0  # a replay
    assert counts(store) == (daily, monthly)
    rollups.rebuild(store, "Europe/Berlin")
    assert counts(store) == (daily, monthly)
    rollups.rebuild(store, "UTC")  # the office moves its calendar: counted again
    assert [(r[0], r[3]) for r in counts(store)[0]] == [("2026-03-28", 2), ("2026-03-29", 2),
                                                        ("2026-03-31", 1)]
    assert rollups.zone(store) == "UTC"


ZONES = ("Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/New_York", "Pacific/Chatham")
EDGES = [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 3, 29, 1, tzinfo=UTC),
         datetime(2026, 4, 4, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC),
         datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC)]
TIMES = st.builds(lambda edge, quarters, us: edge + timedelta(minutes=15 * quarters,
                                                             microseconds=-us),
                  st.sampled_from(EDGES), st.integers(min_value=-26 * 4, max_value=26 * 4),
                  st.sampled_from([0, 1, 999_999]))  # a microsecond before a local midnight


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone=st.sampled_from(ZONES), times=st.lists(TIMES, min_size=1, max_size=9))
@example(zone="Europe/Berlin", times=[datetime(2026, 3, 28, 23, tzinfo=UTC)
                                      - timedelta(microseconds=1)])
def test_the_three_ways_of_counting_agree(store: OfficeConnection,
                                          journal_rows: list[dict[str, Any]], zone: str,
                                          times: list[datetime]) -> None:
    for table in ("sales", "wallet_debits", "station_chain", "sales_daily", "card_monthly"):
        store.execute(f"DELETE FROM {table}")
    store.execute("UPDATE rollup_state SET timezone = ?", (zone,))
    stamps = [z(t) for t in sorted(times)]
    sales, lines = timed(journal_rows, stamps)
    stored = by_mqtt(store, sales)
    python = counts(store)
    assert sum(r[3] for r in python[0]) == stored == len(sales)
    rollups.rebuild(store, zone)
    assert counts(store) == python
    for table in ("sales", "wallet_debits", "station_chain", "sales_daily", "card_monthly"):
        store.execute(f"DELETE FROM {table}")
    meta = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
            "sales": len(sales), "first_prev_hash": sales[0]["prev_hash"],
            "last_hash": sales[-1]["hash"], "volume_ml": 0, "amount": 0, "status": STATUS}
    result = ingest_lines(store, "S-001", meta, lines, via="flash", source="b", now=NOW)
    assert result.quarantined is None and result.stored == len(sales)
    assert counts(store) == python
