"""Head-office ingest: exactly once per (station_id, seq), chain verified, gaps and forks shown.

The journals are made by the real station code (``Station.authorize`` / ``complete``
into a real station database) and read back with ``offline_db.journal.list_sales``,
the same rows the uplink ships.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import DatabaseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Config, StationConfig
from core.formats import journal as jformat
from core.formats.journal import GENESIS, chain_hash
from core.timefmt import iso, parse_iso
from edge.lifecycle import Station
from office.ledger.ingest import IngestResult, ingest_batch
from office.ledger.queries import SinceError, list_sales, station_overview
from office.store import OfficeConnection
from offline_db import journal
from offline_db.store import StationStore

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "card-store.json"
WALLET_CARD = "7800001234567890"  # money wallet W-1, so some sales carry wallet debits
DAY_LIMIT_CARD = "7800001234567893"  # day money limit, stations S-001 and S-002
SALES = 60
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
Rows = list[dict[str, Any]]


class Clock:
    """Three hours per reading, so day limits renew and timestamps differ."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=3)
        return self.now


def make_journal(data_dir: Path, station_id: str, sales: int) -> Rows:
    """``sales`` completed sales at a real station; its journal rows as the uplink reads them."""
    store, _ = StationStore.create(data_dir)
    try:
        station = Station(store, Config(station=StationConfig(id=station_id, data_dir=data_dir)),
                          clock=Clock())
        station.import_cards(SAMPLE, actor="test")
        i = 0
        while journal.last_entry(store.conn)[0] < sales:
            card = WALLET_CARD if i % 5 == 0 and i < 40 else DAY_LIMIT_CARD
            auth = station.authorize(card=card, pump=1 + i % 4, product="AI95")
            if auth["approved"]:
                station.complete(auth["sale_id"],
                                 volume_ml=min(1_000 + 137 * (i % 20), auth["max_volume_ml"]))
            i += 1
            assert i < sales * 3, "the sample cards stopped approving sales"
        assert journal.verify(store.conn).ok
        return journal.list_sales(store.conn)
    finally:
        store.close()


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    out = make_journal(tmp_path_factory.mktemp("s1"), "S-001", SALES)
    assert any(r["wallet_debits"] for r in out) and any(not r["wallet_debits"] for r in out)
    return out


@pytest.fixture(scope="module")
def rows2(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    return make_journal(tmp_path_factory.mktemp("s2"), "S-002", 10)


def enrol(conn: OfficeConnection) -> OfficeConnection:
    for sid in ("S-001", "S-002"):
        conn.execute("INSERT INTO stations VALUES (?, ?, ?)", (sid, "key-" + sid, "2026-11-01"))
    return conn


@pytest.fixture
def office(office_conn: OfficeConnection) -> Iterator[OfficeConnection]:
    """A fresh office store (SQLite or PostgreSQL) with S-001 and S-002 enrolled."""
    yield enrol(office_conn)
    office_conn.close()


def body(rows: Rows, first: int, last: int, *, station_id: str = "S-001",
         depth: int = 0) -> dict[str, Any]:
    """The sales-batch body for seqs ``first..last`` (1-based, inclusive)."""
    return {"station_id": station_id, "first_seq": first, "last_seq": last,
            "sales": copy.deepcopy(rows[first - 1:last]),
            "status": {"outbox_depth": depth, "oldest_undelivered_at": None,
                       "card_store_version": 17}}


def ingest(conn: OfficeConnection, b: Any, *, via: str = "mqtt",
           envelope_id: str = "e" * 32) -> IngestResult:
    return ingest_batch(conn, b, via=via, envelope_id=envelope_id, now=NOW)


def count(conn: OfficeConnection, table: str, where: str = "true") -> int:
    return int(conn.one(f"SELECT COUNT(*) FROM {table} WHERE {where}")[0])


def problems(conn: OfficeConnection, kind: str, *, open_only: bool = True
             ) -> list[tuple[int, int]]:
    sql = "SELECT first_seq, last_seq FROM chain_problems WHERE kind = ?"
    if open_only:
        sql += " AND resolved_at IS NULL"
    return [(a, b) for a, b in conn.execute(sql + " ORDER BY first_seq", (kind,))]


def stored(conn: OfficeConnection, station_id: str = "S-001") -> Rows:
    return list_sales(conn, station_id=station_id)


def same_sales(office_rows: Rows, station_rows: Rows) -> bool:
    keys = (*jformat.HASHED_FIELDS, "prev_hash", "hash")
    return [{k: r[k] for k in keys} for r in office_rows] == \
        [{k: r[k] for k in keys} for r in station_rows]


def rehash(rows: Rows, prev: str) -> Rows:
    """Re-chain ``rows`` consistently from ``prev`` (a forger who knows the rule)."""
    out = []
    for r in copy.deepcopy(rows):
        r["prev_hash"] = prev
        r["hash"] = prev = chain_hash(prev, r)
        out.append(r)
    return out


# -- the normal path ----------------------------------------------------------------------

def test_in_order_batches_store_everything_once(office: OfficeConnection, rows: Rows) -> None:
    for first in range(1, SALES + 1, 20):
        result = ingest(office, body(rows, first, first + 19, depth=SALES - first - 19))
        assert (result.stored, result.duplicates, result.quarantined) == (20, 0, None)
        assert result.contiguous_seq == first + 19
        assert result.contiguous_hash == rows[first + 18]["hash"]
        assert result.gaps == []
        assert result.receipt() == {"station_id": "S-001", "up_to_seq": first + 19,
                                    "hash": rows[first + 18]["hash"]}
    assert same_sales(stored(office), rows)
    assert count(office, "chain_problems") == 0
    assert count(office, "quarantine") == 0
    assert {r["via"] for r in stored(office)} == {"mqtt"}


def test_the_same_batch_twice_is_stored_once(office: OfficeConnection, rows: Rows) -> None:
    first = ingest(office, body(rows, 1, 20))
    again = ingest(office, body(rows, 1, 20), via="flash")
    assert (first.stored, first.duplicates) == (20, 0)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 20, None)
    assert again.contiguous_seq == 20
    assert count(office, "sales") == 20
    assert {r["via"] for r in stored(office)} == {"mqtt"}  # the first arrival is kept



def test_a_replayed_old_batch_does_not_roll_back_the_station_s_status(
        office: OfficeConnection, rows: Rows) -> None:
    """Issue 10 #10 sibling: a batch replayed (all its sales already held) is logged and
    counted like any replay, and its old status no longer overwrites a newer one."""
    ingest(office, body(rows, 1, 20, depth=40))
    ingest(office, body(rows, 21, 40, depth=20))
    old = ingest(office, body(rows, 1, 20, depth=40), via="flash")
    assert (old.stored, old.duplicates) == (0, 20)
    depth = office.one("SELECT outbox_depth FROM station_chain WHERE station_id = 'S-001'"
                           )[0]
    assert depth == 20  # the newer batch's figure stays

def test_out_of_order_batches_open_and_resolve_gaps(office: OfficeConnection,
                                                    rows: Rows) -> None:
    r = ingest(office, body(rows, 41, 50), via="flash")
    assert (r.stored, r.contiguous_seq, r.contiguous_hash) == (10, 0, GENESIS)
    assert r.gaps == [(1, 40)]
    assert problems(office, "gap") == [(1, 40)]
    r = ingest(office, body(rows, 1, 20))
    assert (r.contiguous_seq, r.gaps) == (20, [(21, 40)])
    assert problems(office, "gap") == [(21, 40)]
    r = ingest(office, body(rows, 51, 60))
    assert (r.contiguous_seq, r.gaps) == (20, [(21, 40)])
    r = ingest(office, body(rows, 21, 40), via="flash")
    assert (r.stored, r.contiguous_seq, r.contiguous_hash) == (20, 60, rows[-1]["hash"])
    assert r.gaps == []
    assert problems(office, "gap") == []
    assert problems(office, "gap", open_only=False) == [(21, 40)]  # shrunk, then resolved
    assert count(office, "chain_problems", "resolved_at IS NOT NULL") == 1
    assert same_sales(stored(office), rows)
    assert problems(office, "fork") == []


def test_a_gap_filled_in_the_middle_splits(office: OfficeConnection, rows: Rows) -> None:
    ingest(office, body(rows, 1, 10))
    ingest(office, body(rows, 31, 40))
    assert problems(office, "gap") == [(11, 30)]
    r = ingest(office, body(rows, 15, 20))
    assert r.gaps == [(11, 14), (21, 30)]
    assert problems(office, "gap") == [(11, 14), (21, 30)]
    ingest(office, body(rows, 50, 55))
    assert problems(office, "gap") == [(11, 14), (21, 30), (41, 49)]
    r = ingest(office, body(rows, 11, 35))
    assert (r.stored, r.duplicates, r.contiguous_seq) == (14, 11, 40)
    assert problems(office, "gap") == [(41, 49)]
    overview = station_overview(office)[0]
    assert overview["contiguous_seq"] == 40
    assert [(g["first_seq"], g["last_seq"]) for g in overview["gaps"]] == [(41, 49)]


def test_overlapping_batches(office: OfficeConnection, rows: Rows) -> None:
    assert ingest(office, body(rows, 1, 30)).stored == 30
    r = ingest(office, body(rows, 21, 50))
    assert (r.stored, r.duplicates, r.contiguous_seq) == (20, 10, 50)
    r = ingest(office, body(rows, 5, 60), via="flash")
    assert (r.stored, r.duplicates, r.contiguous_seq) == (10, 46, 60)
    assert same_sales(stored(office), rows)


# -- tampering and forks ------------------------------------------------------------------

def test_a_tampered_row_quarantines_the_batch(office: OfficeConnection, rows: Rows) -> None:
    bad = body(rows, 1, 20)
    bad["sales"][4]["volume_ml"] += 1_000  # the hash is left as it was
    r = ingest(office, bad)
    assert (r.stored, r.quarantined, r.contiguous_seq) == (0, "bad_chain", 0)
    assert "seq 5 was altered" in r.detail
    assert count(office, "sales") == 0
    assert problems(office, "bad_chain") == [(5, 5)]
    q = office.one("SELECT * FROM quarantine")
    assert (q["station_id"], q["first_seq"], q["last_seq"], q["reason"]) == \
        ("S-001", 1, 20, "bad_chain")
    good = ingest(office, body(rows, 1, 20))
    assert (good.stored, good.quarantined, good.contiguous_seq) == (20, None, 20)


def test_a_rehashed_row_that_breaks_the_link_is_a_bad_chain(office: OfficeConnection,
                                                            rows: Rows) -> None:
    bad = body(rows, 1, 10)
    bad["sales"][3]["amount"] = 1
    bad["sales"][3]["hash"] = chain_hash(bad["sales"][3]["prev_hash"], bad["sales"][3])
    r = ingest(office, bad)
    assert r.quarantined == "bad_chain" and "seq 5 does not link" in r.detail
    wrong_start = body(rows, 1, 3)
    wrong_start["sales"] = rehash(wrong_start["sales"], "1" * 64)
    assert ingest(office, wrong_start).quarantined == "bad_chain"
    assert count(office, "sales") == 0


def test_a_forged_history_is_a_fork(office: OfficeConnection, rows: Rows) -> None:
    ingest(office, body(rows, 1, 40))
    forged_rows = copy.deepcopy(rows)
    forged_rows[20]["volume_ml"] += 500
    forged_rows[20:] = rehash(forged_rows[20:], rows[19]["hash"])
    # same seqs, different content, consistently chained
    r = ingest(office, body(forged_rows, 21, 40))
    assert (r.quarantined, r.stored, r.contiguous_seq) == ("fork", 0, 40)
    # the forged continuation does not link to the stored seq 40
    r = ingest(office, body(forged_rows, 41, 50))
    assert r.quarantined == "fork"
    # a batch overlapping the stored part with a forged tail
    r = ingest(office, body(forged_rows, 15, 45))
    assert r.quarantined == "fork"
    assert count(office, "sales") == 40
    assert same_sales(stored(office), rows[:40])
    assert count(office, "quarantine", "reason = 'fork'") == 3
    assert problems(office, "fork")
    assert station_overview(office)[0]["forks"]
    # the genuine history still goes on
    r = ingest(office, body(rows, 41, 60))
    assert (r.stored, r.quarantined, r.contiguous_seq) == (20, None, 60)


def test_a_fork_against_a_stored_later_row(office: OfficeConnection, rows: Rows) -> None:
    ingest(office, body(rows, 1, 20))
    ingest(office, body(rows, 41, 60))
    forged = copy.deepcopy(rows)
    forged[20]["volume_ml"] += 1
    forged[20:40] = rehash(forged[20:40], rows[19]["hash"])  # links to 20, not to 41
    r = ingest(office, body(forged, 21, 40))
    assert (r.quarantined, r.contiguous_seq, r.gaps) == ("fork", 20, [(21, 40)])
    r = ingest(office, body(rows, 21, 40))
    assert (r.quarantined, r.contiguous_seq, r.gaps) == (None, 60, [])


def test_a_repeated_bad_batch_is_counted_not_copied(office: OfficeConnection,
                                                    rows: Rows) -> None:
    bad = body(rows, 1, 5)
    bad["sales"][0]["pump"] = 9
    for _ in range(3):
        assert ingest(office, bad).quarantined == "bad_chain"
    assert count(office, "quarantine") == 1
    assert office.one("SELECT repeats FROM quarantine")[0] == 3
    assert count(office, "chain_problems") == 1


# -- malformed and unknown ----------------------------------------------------------------

def _set_row(i: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(b: dict[str, Any]) -> None:
        b["sales"][i][key] = value
    return edit


def _del_row(i: int, key: str) -> Callable[[dict[str, Any]], None]:
    def edit(b: dict[str, Any]) -> None:
        del b["sales"][i][key]
    return edit


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(b: dict[str, Any]) -> None:
        b[key] = value
    return edit


def _swap_seqs(b: dict[str, Any]) -> None:
    b["sales"][1], b["sales"][2] = b["sales"][2], b["sales"][1]


def _skip_a_seq(b: dict[str, Any]) -> None:
    del b["sales"][2]
    b["last_seq"] -= 1


def _status(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(b: dict[str, Any]) -> None:
        b["status"][key] = value
    return edit


def _drop_status_field(b: dict[str, Any]) -> None:
    del b["status"]["outbox_depth"]


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "float volume": _set_row(3, "volume_ml", 1500.0),
    "float amount": _set_row(0, "amount", 79.5),
    "string amount": _set_row(0, "amount", "7950"),
    "bool pump": _set_row(0, "pump", True),
    "negative volume": _set_row(2, "volume_ml", -5),
    "huge integer": _set_row(2, "unit_price", 2**70),
    "volume beyond its bound": _set_row(2, "volume_ml", 10**10 + 1),
    "amount beyond its bound": _set_row(2, "amount", 2**63 - 1),
    "unit price beyond its bound": _set_row(2, "unit_price", 10**7 + 1),
    "pump 0": _set_row(2, "pump", 0),
    "pump 100": _set_row(2, "pump", 100),
    "wallet debit beyond its bound": _set_row(0, "wallet_debits", {"W-1": -(10**14) - 1}),
    "float wallet debit": _set_row(0, "wallet_debits", {"W-1": 12.5}),
    "wallet debits as a list": _set_row(0, "wallet_debits", [1, 2]),
    "missing field": _del_row(1, "card_id"),
    "unknown field": _set_row(1, "discount", 5),
    "bad timestamp": _set_row(1, "completed_at", "2026-11-18 10:00:00"),
    "timestamp with non-ASCII digits": _set_row(1, "completed_at",
                                                "\uff12026-11-18T10:00:00.000000Z"),
    "upper-case hash": lambda b: b["sales"][0].update(hash=b["sales"][0]["hash"].upper()),
    "short prev_hash": _set_row(0, "prev_hash", "00"),
    "empty card id": _set_row(0, "card_id", ""),
    "non-consecutive seqs": _swap_seqs,
    "a seq skipped": _skip_a_seq,
    "null seq": _set_row(0, "seq", None),
    "last_seq does not match": _set("last_seq", 9),
    "first_seq zero": _set("first_seq", 0),
    "first_seq as a string": _set("first_seq", "1"),
    "sales not a list": _set("sales", {"1": {}}),
    "no sales": lambda b: b.update(sales=[], last_seq=0),
    "sales of strings": _set("sales", ["x", "y", "z", "w", "v"]),
    "station id not a string": _set("station_id", 1),
    "missing status": lambda b: b.pop("status"),
    "status field missing": _drop_status_field,
    "float outbox depth": _status("outbox_depth", 1.0),
    "bad oldest_undelivered_at": _status("oldest_undelivered_at", 5),
    "unknown top-level field": _set("extra", 1),
}


@pytest.mark.parametrize("edit", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_batches_are_quarantined(office: OfficeConnection, rows: Rows,
                                           edit: Callable[[dict[str, Any]], None]) -> None:
    b = body(rows, 1, 5)
    edit(b)
    r = ingest(office, b)
    assert r.quarantined == "malformed"
    assert r.stored == 0 and r.contiguous_seq == 0
    assert r.detail and "\n" not in r.detail
    assert count(office, "sales") == 0
    assert count(office, "quarantine", "reason = 'malformed'") == 1
    assert count(office, "chain_problems") == 0
    assert office.execute("SELECT last_seen_at FROM station_chain").fetchone() is None
    assert ingest(office, body(rows, 1, 5)).stored == 5


def test_a_batch_naming_another_station_is_refused_whole(office: OfficeConnection,
                                                         rows: Rows) -> None:
    """Issue 10 #0: a sale line of another station, or a batch its sender did not make."""
    b = body(rows, 1, 5)
    b["sales"][2]["station_id"] = "S-002"
    r = ingest(office, b)
    assert (r.quarantined, r.stored) == ("wrong_station", 0)
    assert "S-002" in r.detail and "\n" not in r.detail
    # S-002, signing with its own key, sends S-001's batch: the sender is whose it is.
    r = ingest_batch(office, body(rows, 1, 5), via="mqtt", envelope_id="f" * 32, now=NOW,
                     sender="S-002")
    assert (r.station_id, r.quarantined, r.stored) == ("S-002", "wrong_station", 0)
    assert count(office, "sales") == 0
    assert count(office, "quarantine", "reason = 'wrong_station'") == 2
    assert count(office, "quarantine", "station_id = 'S-002'") == 1
    assert ingest(office, body(rows, 1, 5)).stored == 5


@pytest.mark.parametrize("raw", [None, [], "sales", 42, {}, {"station_id": "S-001"}])
def test_a_body_that_is_not_a_batch_is_quarantined(office: OfficeConnection, raw: Any) -> None:
    r = ingest(office, cast(Any, raw))
    assert r.quarantined == "malformed"
    assert count(office, "quarantine") == 1


def test_too_many_sales_in_one_batch(office: OfficeConnection, rows: Rows,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("office.ledger.sale_checks.MAX_BATCH_ROWS", 10)
    r = ingest(office, body(rows, 1, 11))
    assert r.quarantined == "malformed" and "more than 10" in r.detail


def test_an_unknown_station_is_refused(office: OfficeConnection, rows: Rows) -> None:
    b = body(rows, 1, 5)
    b["station_id"] = "S-404"
    for row in b["sales"]:
        row["station_id"] = "S-404"
    b["sales"] = rehash(b["sales"], GENESIS)
    r = ingest(office, b)
    assert (r.quarantined, r.stored) == ("unknown_station", 0)
    assert count(office, "sales") == 0
    assert count(office, "quarantine", "reason = 'unknown_station'") == 1
    assert [s["station_id"] for s in station_overview(office)] == ["S-001", "S-002"]


def test_a_database_failure_stores_nothing(office: OfficeConnection, rows: Rows) -> None:
    if office.vendor == "sqlite":
        office.execute("CREATE TEMP TRIGGER fail BEFORE INSERT ON main.sales WHEN NEW.seq = 15 "
                       "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    else:
        office.execute("CREATE FUNCTION fail_15() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       "BEGIN IF NEW.seq = 15 THEN RAISE EXCEPTION 'disk full'; END IF; "
                       "RETURN NEW; END $$")
        office.execute("CREATE TRIGGER fail BEFORE INSERT ON sales FOR EACH ROW "
                       "EXECUTE FUNCTION fail_15()")
    with pytest.raises(DatabaseError, match="disk full"):
        ingest(office, body(rows, 1, 20, depth=7))
    assert count(office, "sales") == 0
    assert count(office, "station_chain") == 0
    office.execute("DROP TRIGGER temp.fail" if office.vendor == "sqlite"
                   else "DROP TRIGGER fail ON sales")
    assert ingest(office, body(rows, 1, 20)).contiguous_seq == 20


def test_via_must_be_known(office: OfficeConnection, rows: Rows) -> None:
    with pytest.raises(ValueError, match="via"):
        ingest(office, body(rows, 1, 2), via="pigeon")


# -- reading ------------------------------------------------------------------------------

def test_overview_and_sales_listing(office: OfficeConnection, rows: Rows,
                                    rows2: Rows) -> None:
    ingest(office, body(rows, 1, 20))
    b = body(rows, 31, 40, depth=20)
    b["status"].update(oldest_undelivered_at=rows[40]["completed_at"], card_store_version=18)
    ingest(office, b)
    ingest(office, body(rows2, 1, 10, station_id="S-002", depth=0))
    bad = body(rows2, 1, 3, station_id="S-002")
    bad["sales"][1]["amount"] += 1
    ingest(office, bad)
    s1, s2 = station_overview(office)
    assert s1["station_id"] == "S-001" and s1["contiguous_seq"] == 20
    assert s1["last_seq"] == 40
    assert (s1["outbox_depth"], s1["card_store_version"]) == (20, 18)
    assert s1["oldest_undelivered_at"] == rows[40]["completed_at"]
    assert s1["last_seen_at"] == "2026-11-25T12:00:00.000000Z"
    assert [(g["first_seq"], g["last_seq"]) for g in s1["gaps"]] == [(21, 30)]
    assert s1["forks"] == [] and s1["quarantined"] == 0
    assert s2["contiguous_seq"] == 10 and s2["gaps"] == [] and s2["quarantined"] == 1
    assert len(s2["bad_chains"]) == 1

    every = list_sales(office)
    assert len(every) == 40
    assert {"station_id", "seq", "card_id", "volume_ml", "amount", "product",
            "completed_at"} <= every[0].keys()
    assert all(isinstance(s["volume_ml"], int) and isinstance(s["amount"], int) for s in every)
    assert [s["seq"] for s in list_sales(office, station_id="S-002")] == list(range(1, 11))
    newest = list_sales(office, station_id="S-001", limit=5)
    assert [s["seq"] for s in newest] == [36, 37, 38, 39, 40]
    assert len(list_sales(office, limit=5)) == 5
    assert list_sales(office, limit=0) == []
    cut = rows[9]["completed_at"]
    assert [s["seq"] for s in list_sales(office, station_id="S-001", since=cut)] == \
        [*range(10, 21), *range(31, 41)]
    day = cut[:10]
    expected = [r["seq"] for r in rows[:40] if r["completed_at"] >= day
                and not 21 <= r["seq"] <= 30]
    assert [s["seq"] for s in list_sales(office, station_id="S-001", since=day)] == expected
    naive = datetime.fromisoformat(cut[:-1])  # no zone means UTC
    assert len(list_sales(office, station_id="S-001", since=naive)) == 21
    three_hours_earlier = iso(parse_iso(cut) - timedelta(hours=3))
    expected = [r["seq"] for r in rows[:40] if r["completed_at"] >= three_hours_earlier
                and not 21 <= r["seq"] <= 30]
    assert [s["seq"] for s in list_sales(office, station_id="S-001",
                                         since=cut[:19] + "+03:00")] == expected
    assert list_sales(office, since="2099-01-01") == []
    for wrong in ("yesterday", "2026-02-30", ""):
        with pytest.raises(SinceError, match="ISO date"):
            list_sales(office, since=wrong)


# -- property: any split, any order, any duplicates ---------------------------------------

def _expected_gaps(have: set[int]) -> tuple[int, list[tuple[int, int]]]:
    contiguous = 0
    while contiguous + 1 in have:
        contiguous += 1
    gaps: list[tuple[int, int]] = []
    start = contiguous + 1
    for seq in sorted(s for s in have if s > contiguous):
        if seq > start:
            gaps.append((start, seq - 1))
        start = seq + 1
    return contiguous, gaps


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    cuts = sorted(draw(st.sets(st.integers(2, SALES), max_size=12)))
    bounds = [1, *cuts, SALES + 1]
    batches = [(a, b - 1) for a, b in itertools.pairwise(bounds)]
    extra = draw(st.lists(st.sampled_from(batches), max_size=6))
    overlaps = draw(st.lists(st.tuples(st.integers(1, SALES), st.integers(0, 15)), max_size=3))
    plan = batches + extra + [(a, min(SALES, a + n)) for a, n in overlaps]
    plan = draw(st.permutations(plan))
    return [(a, b, draw(st.sampled_from(["mqtt", "flash"]))) for a, b in plan]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plan=deliveries())
def test_any_delivery_order_ends_exactly_once(office_conn: OfficeConnection, rows: Rows,
                                              plan: list[tuple[int, int, str]]) -> None:
    conn = office_conn  # one database per test: emptied for each example
    for table in ("sales", "wallet_debits", "station_chain", "chain_problems", "quarantine",
                  "stations"):
        conn.execute(f"DELETE FROM {table}")
    enrol(conn)
    try:
        have: set[int] = set()
        for i, (first, last, via) in enumerate(plan):
            r = ingest(conn, body(rows, first, last), via=via, envelope_id=f"{i:032x}")
            new = set(range(first, last + 1)) - have
            assert r.quarantined is None
            assert (r.stored, r.duplicates) == (len(new), last - first + 1 - len(new))
            have |= new
            contiguous, gaps = _expected_gaps(have)
            assert r.contiguous_seq == contiguous
            assert r.contiguous_hash == (rows[contiguous - 1]["hash"] if contiguous else GENESIS)
            assert r.gaps == gaps
            assert problems(conn, "gap") == gaps
        assert same_sales(stored(conn), rows)
        assert count(conn, "sales") == SALES
        overview = station_overview(conn)[0]
        assert overview["contiguous_seq"] == SALES
        assert overview["gaps"] == [] and overview["forks"] == []
        assert overview["quarantined"] == 0
        assert count(conn, "chain_problems", "resolved_at IS NULL") == 0
    finally:
        conn.close()


# -- a sale's vehicle and odometer reach the office (issue 10 #16) ------------------------

def vehicle_journal(data_dir: Path) -> Rows:
    """Sales with and without a vehicle, one flagged, as the uplink ships them."""
    from offline_db.outbox import pending_batch

    store, _ = StationStore.create(data_dir)
    try:
        station = Station(store, Config(station=StationConfig(id="S-001", data_dir=data_dir)),
                          clock=Clock())
        station.import_cards(SAMPLE, actor="test")
        for vehicle, km in (("V-17", 120_400), (None, None), ("V-17", 99_000), ("V-9", None)):
            auth = station.authorize(card=DAY_LIMIT_CARD, pump=1, product="AI95",
                                     volume_ml=1_000, vehicle=vehicle, odometer_km=km)
            assert auth["approved"], auth
            station.complete(auth["sale_id"], volume_ml=1_000)
        return pending_batch(store.conn, max_sales=10, max_bytes=100_000)
    finally:
        store.close()


def test_vehicle_and_odometer_are_stored_at_the_office(office: OfficeConnection,
                                                      tmp_path: Path) -> None:
    sales = vehicle_journal(tmp_path / "v")
    assert [("vehicle_id" in r, "odometer_km" in r, "odometer_flag" in r) for r in sales] == [
        (True, True, False), (False, False, False), (True, True, True), (True, False, False)]
    result = ingest(office, body(sales, 1, 4))
    assert (result.quarantined, result.stored) == (None, 4)
    got = [(r["vehicle_id"], r["odometer_km"], r["odometer_flag"]) for r in stored(office)]
    assert got == [("V-17", 120_400, None), (None, None, None),
                   ("V-17", 99_000, "odometer_unreasonable"), ("V-9", None, None)]


@pytest.mark.parametrize(("field", "value"), [
    ("vehicle_id", None), ("vehicle_id", ""), ("vehicle_id", "V\n17"), ("vehicle_id", "V" * 201),
    ("odometer_km", None), ("odometer_km", -1), ("odometer_km", 1.5),
    ("odometer_km", 10_000_001), ("odometer_flag", "looks_odd"), ("odometer_flag", None),
])
def test_bad_vehicle_fields_quarantine_the_batch(office: OfficeConnection, tmp_path: Path,
                                                 field: str, value: Any) -> None:
    sales = vehicle_journal(tmp_path / "v")
    sales[1][field] = value  # the shape is judged before the chain
    result = ingest(office, body(sales, 1, 4))
    assert result.quarantined == "malformed", result
    assert field in result.detail
    assert count(office, "sales") == 0


def test_network_use_is_never_more_than_a_station_accepts(office: OfficeConnection,
                                                          sample_store_file: Path) -> None:
    # Found verifying issue 10 (#8's kind of mistake across the boundary): an enrolled
    # station's batch with two sales of 2^63-1 ml made the office broadcast a use of
    # 2^64 ml. Every station refused the whole usage message (its bound is 10^10 ml), and
    # every flash reply carrying it was refused whole, receipt and card changes too, at
    # every station. A use past the station's bound exhausts any limit all the same, so
    # the office sends no more than the bound. (The office now refuses a sale beyond the
    # bounds; two sales each at them still add up to twice the bound.)
    from core import bounds
    from core.formats.deltas import parse_ops
    from office.cards import master as card_master
    from office.cards.usage import usage_ops

    card_master.import_file(office, sample_store_file.read_bytes(), actor="test")
    now = datetime.now(UTC)
    at = iso(now - timedelta(seconds=5))
    prev, sales = GENESIS, []
    for seq in (1, 2):
        row: dict[str, Any] = {
            "seq": seq, "sale_id": f"HUGE-{seq}", "station_id": "S-002",
            "card_id": "7800001234567893", "pump": 1, "product": "AI95",
            "volume_ml": bounds.MAX_VOLUME_ML, "unit_price": bounds.MAX_UNIT_PRICE,
            "amount": bounds.MAX_AMOUNT,
            "authorized_at": at, "completed_at": at, "wallet_debits": {}, "prev_hash": prev}
        prev = row["hash"] = chain_hash(prev, row)
        sales.append(row)
    batch = {"station_id": "S-002", "first_seq": 1, "last_seq": 2, "sales": sales,
             "status": {"outbox_depth": 0, "oldest_undelivered_at": None,
                        "card_store_version": 17}}
    assert ingest_batch(office, batch, via="mqtt", envelope_id="f" * 32, now=now).stored == 2
    ops = usage_ops(office, ["7800001234567893"], Config(), now)
    parse_ops(ops)  # what every station checks: no refusal
    (entry,) = [u for u in ops[0]["usage"] if u["period"] == "day"]
    assert (entry["volume_ml"], entry["amount"]) == (bounds.MAX_VOLUME_ML, bounds.MAX_AMOUNT)
