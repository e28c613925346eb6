"""The bulk (flash) ingest judges and stores rows exactly as the MQTT ingest does.

Both run on real office stores with a real station's journal. Hypothesis changes one
field of one sale to anything JSON can carry (wrong types, floats, huge or negative
numbers, control and non-ASCII text, missing and extra fields), re-chains the rows
as a (buggy or hostile) station would, and sends the same sales through
``ingest_batch`` and ``ingest_lines``: the verdicts and the stored rows must agree, on
SQLite (whose bulk path is SQL over JSON functions) and on PostgreSQL (COPY). Both ways
run one after the other on one database per test, emptied in between.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.formats.journal import GENESIS, HASHED_FIELDS, OPTIONAL_FIELDS, present
from office.ledger.ingest import ingest_batch
from office.ledger.ingest_bulk import ingest_lines
from office.store import OfficeConnection
from tests.cloud_sync.flash_desk import WALLET_CARD, Desk
from tests.office.bulk_journal import NOW, STATUS, rechain


@pytest.fixture(scope="module")
def journal_rows() -> Iterator[list[dict[str, Any]]]:
    root = Path(tempfile.mkdtemp(prefix="bulk-"))
    desk = Desk(root)
    try:
        desk.sell(4)
        desk.sell(2, card=WALLET_CARD)
        desk.sell(1, vehicle="V-17", odometer_km=120_400)
        desk.sell(1, vehicle="V-17", odometer_km=100_000)  # flagged: below the last reading
        desk.sell(1, vehicle="V-18")
        rows = desk.journal()
    finally:
        desk.close()
        shutil.rmtree(root)
    for r in rows:
        r["wallet_debits"] = json.loads(r["wallet_debits"])
        # The journal line holds the vehicle fields only when present.
        r.update(present({k: r.pop(k) for k in OPTIONAL_FIELDS}))
    assert [r.get("odometer_flag") for r in rows[-3:]] == [None, "odometer_unreasonable", None]
    yield rows


LEDGER = ("sales", "wallet_debits", "station_chain", "chain_problems", "quarantine",
          "sales_daily", "card_monthly")
ROLLUPS = ("SELECT * FROM sales_daily ORDER BY day, station_id, product",
           "SELECT * FROM card_monthly ORDER BY month, card_id")


@pytest.fixture
def office_template(office_conn: OfficeConnection) -> OfficeConnection:
    """This test's office store with S-001 enrolled (named for what it was: a template
    copied for each way; now emptied between the ways, on either database)."""
    office_conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-11-22')")
    office_conn.execute("UPDATE rollup_state SET timezone = 'America/St_Johns'")  # -03:30
    return office_conn


def emptied(conn: OfficeConnection) -> OfficeConnection:
    for table in LEDGER:
        conn.execute(f"DELETE FROM {table}")
    return conn


COLS = "seq, sale_id, card_id, pump, product, volume_ml, unit_price, amount, " \
       "authorized_at, completed_at, wallet_debits, prev_hash, hash, vehicle_id, " \
       "odometer_km, odometer_flag"


def both_ways(conn: OfficeConnection, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    sales, lines = rechain(rows)
    body = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
            "sales": copy.deepcopy(sales), "status": STATUS}
    by_mqtt = ingest_batch(emptied(conn), body, via="mqtt", envelope_id="e", now=NOW)
    stored_mqtt = conn.execute(f"SELECT {COLS} FROM sales ORDER BY seq").fetchall()
    counted_mqtt = [[tuple(r) for r in conn.execute(q).fetchall()] for q in ROLLUPS]
    meta = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
            "sales": len(sales), "first_prev_hash": GENESIS,
            "last_hash": sales[-1]["hash"], "volume_ml": 0, "amount": 0,
            "status": STATUS}
    by_flash = ingest_lines(emptied(conn), "S-001", meta, lines, via="flash", source="b",
                            now=NOW)
    stored_flash = conn.execute(f"SELECT {COLS} FROM sales ORDER BY seq").fetchall()
    assert [tuple(r) for r in stored_mqtt] == [tuple(r) for r in stored_flash]
    # The dashboard's roll-ups count the same sales the same way on both paths.
    assert counted_mqtt == [[tuple(r) for r in conn.execute(q).fetchall()] for q in ROLLUPS]
    assert sum(r[3] for r in counted_mqtt[0]) == len(stored_mqtt)
    return by_mqtt, by_flash


def test_good_rows_are_stored_the_same_way(journal_rows: list[dict[str, Any]],
                                           office_template: OfficeConnection) -> None:
    by_mqtt, by_flash = both_ways(office_template, journal_rows)
    assert by_mqtt.quarantined is None and by_flash.quarantined is None
    assert by_mqtt.stored == by_flash.stored == len(journal_rows)
    assert (by_mqtt.contiguous_seq, by_mqtt.contiguous_hash) == \
        (by_flash.contiguous_seq, by_flash.contiguous_hash)


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 1, 2**63 - 1, 2**63, -(2**63) + 1, 1.0, -0.0])
    | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", " ", "\x00", "\x1f", "\u00e9t\u00e9", "\u2028", "AI95\n",
                       "x" * 201, "2026-11-22T10:00:00.000000Z", "2026-11-22T10:00:00Z"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=5)


INTS = (st.integers(min_value=-3, max_value=3)
        | st.sampled_from([2**63 - 1, 2**63, -(2**63) + 1, -(2**63), 2**64, 10**30])
        | st.sampled_from([1.0, -0.0, 0.5, float("nan"), float("inf"), True, False, "7", None]))
TEXTS = (st.text(max_size=6)
         | st.sampled_from(["", " ", "\x00", "\x7f", "\u00e9t\u00e9", "\u2028", "\u200b",
                            "AI95\n", "x" * 200, "x" * 201, "\U0001f697", 7, None]))
TIMES = st.sampled_from(["2026-11-22T10:00:00.000000Z", "2026-11-22T10:00:00Z",
                         "2026-11-22 10:00:00.000000Z", "2026-11-22T10:00:00.000000+00:00",
                         "\uff12026-11-22T10:00:00.000000Z", "", 0, None])
#: Each sale integer's bounds and one past them (office.ledger.sale_checks.SALE_INTS); a wallet
#: debit's are +-10^14.
EDGES = {"pump": st.sampled_from([1, 99, 100]),
         "volume_ml": st.sampled_from([10**10, 10**10 + 1]),
         "unit_price": st.sampled_from([10**7, 10**7 + 1]),
         "amount": st.sampled_from([10**14, 10**14 + 1])}
DEBITS = INTS | st.sampled_from([10**14, 10**14 + 1, -(10**14), -(10**14) - 1])
BY_FIELD = {"seq": INTS, "pump": INTS | EDGES["pump"], "volume_ml": INTS | EDGES["volume_ml"],
            "unit_price": INTS | EDGES["unit_price"], "amount": INTS | EDGES["amount"],
            "sale_id": TEXTS, "card_id": TEXTS, "product": TEXTS, "station_id": TEXTS,
            "authorized_at": TIMES, "completed_at": TIMES,
            "wallet_debits": st.dictionaries(TEXTS.filter(lambda t: isinstance(t, str)),
                                             DEBITS, max_size=2) | ANY_JSON,
            "vehicle_id": TEXTS | st.just("V" * 200) | st.just("V" * 201), "odometer_km": INTS
            | st.sampled_from([10_000_000, 10_000_001]),
            "odometer_flag": TEXTS | st.just("odometer_unreasonable"),
            "pricing": ANY_JSON}  # a good one: tests/office/test_ingest_pricing.py


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_changed_row_gets_the_same_verdict_both_ways(
        journal_rows: list[dict[str, Any]], office_template: OfficeConnection,
        data: st.DataObject) -> None:
    rows = copy.deepcopy(journal_rows)
    i = data.draw(st.integers(0, len(rows) - 1), label="row")
    field = data.draw(st.sampled_from((*HASHED_FIELDS, *OPTIONAL_FIELDS)), label="field")
    how = data.draw(st.sampled_from(["value", "debit", "extra"]), label="how")
    if how == "value":
        rows[i][field] = data.draw(BY_FIELD[field] | ANY_JSON, label="value")
    elif how == "debit":
        key = data.draw(st.text(max_size=4) | st.just("W-1"), label="wallet")
        rows[i]["wallet_debits"] = {key: data.draw(DEBITS | ANY_JSON, label="debit")}
    else:
        rows[i][data.draw(st.text(min_size=1, max_size=6), label="extra")] = 1
    by_mqtt, by_flash = both_ways(office_template, rows)
    assert by_mqtt.quarantined == by_flash.quarantined
    assert (by_mqtt.stored, by_mqtt.contiguous_seq) == (by_flash.stored,
                                                        by_flash.contiguous_seq)


# Issue 10 #8's sibling at the office: a sale line's integers have the station's ranges
# (offline_db/bounds.py), on both paths, not merely 0..2^63-1.
SALE_BOUNDS = {"pump": (1, 99), "volume_ml": (0, 10**10), "unit_price": (0, 10**7),
               "amount": (0, 10**14)}
OUT_OF_BOUNDS = [
    *((f, hi + 1, f"{f} must be at most {hi}") for f, (_, hi) in SALE_BOUNDS.items()),
    *((f, 2**63 - 1, f"{f} must be at most {hi}") for f, (_, hi) in SALE_BOUNDS.items()),
    ("pump", 0, "pump must be at least 1"),
    ("wallet_debits", {"W-1": 10**14 + 1}, "wallet_debits"),
    ("wallet_debits", {"W-1": -(10**14) - 1}, "wallet_debits"),
    ("wallet_debits", {"W-1": 2**63 - 1}, "wallet_debits"),
]


@pytest.mark.parametrize(("field", "value", "says"), OUT_OF_BOUNDS,
                         ids=[f"{f}={v}" for f, v, _ in OUT_OF_BOUNDS])
def test_a_sale_beyond_the_bounds_is_malformed_both_ways(
        journal_rows: list[dict[str, Any]], office_template: OfficeConnection, field: str,
        value: Any, says: str) -> None:
    rows = copy.deepcopy(journal_rows)
    rows[2][field] = value  # re-chained: a station that signs what it sends
    by_mqtt, by_flash = both_ways(office_template, rows)
    assert by_mqtt.quarantined == by_flash.quarantined == "malformed"
    assert by_mqtt.stored == by_flash.stored == 0
    assert by_mqtt.detail == by_flash.detail
    assert by_mqtt.detail.startswith("sale seq 3: ") and says in by_mqtt.detail
    if field == "wallet_debits":
        assert "100000000000000" in by_mqtt.detail


AT_BOUNDS = [
    *((f, lo) for f, (lo, _) in SALE_BOUNDS.items()),
    *((f, hi) for f, (_, hi) in SALE_BOUNDS.items()),
    ("wallet_debits", {"W-1": 10**14}), ("wallet_debits", {"W-1": -(10**14)}),
]


@pytest.mark.parametrize(("field", "value"), AT_BOUNDS, ids=[f"{f}={v}" for f, v in AT_BOUNDS])
def test_a_sale_at_the_bounds_is_stored_both_ways(
        journal_rows: list[dict[str, Any]], office_template: OfficeConnection, field: str,
        value: Any) -> None:
    rows = copy.deepcopy(journal_rows)
    rows[2][field] = value
    by_mqtt, by_flash = both_ways(office_template, rows)
    assert by_mqtt.quarantined is None and by_flash.quarantined is None
    assert by_mqtt.stored == by_flash.stored == len(rows)


@pytest.mark.parametrize("name", ["\x00", "a\x00b", "\x1b[2J"])
def test_a_field_named_with_control_characters_is_quarantined_both_ways(
        journal_rows: list[dict[str, Any]], office_template: OfficeConnection, name: str) -> None:
    """Found by the parity test on PostgreSQL: the quarantine's detail quoted the field
    name raw, and PostgreSQL's text cannot hold a NUL, so the batch raised instead of
    being quarantined. The detail is stored printable on both databases."""
    rows = copy.deepcopy(journal_rows)
    rows[0][name] = 1
    by_mqtt, by_flash = both_ways(office_template, rows)
    assert by_mqtt.quarantined == by_flash.quarantined == "malformed"
    assert by_mqtt.detail == by_flash.detail
    assert "\x00" not in by_mqtt.detail and "\x1b" not in by_mqtt.detail
    assert by_mqtt.stored == by_flash.stored == 0


def test_the_first_chunk_is_small_and_every_line_is_chained_once() -> None:
    """The COPY starts after ``FIRST_CHUNK_ROWS`` lines, not a whole chunk; each line's
    hash covers the previous line's, across the chunks' seams."""
    import hashlib

    from office.ledger import ingest_bulk

    lines = [f'{{"seq":{n}}}'.encode() for n in range(1, 5001)]
    chunks = list(ingest_bulk._chunks(iter(lines), 1, GENESIS))
    assert [len(c) for c in chunks] == [ingest_bulk.FIRST_CHUNK_ROWS,
                                        5000 - ingest_bulk.FIRST_CHUNK_ROWS]
    flat = [row for chunk in chunks for row in chunk]
    assert [seq for seq, *_ in flat] == list(range(1, 5001))
    prev = GENESIS
    for (_, text, prev_hash, digest), line in zip(flat, lines, strict=True):
        assert (text, prev_hash) == (line.decode(), prev)
        assert digest == hashlib.sha256(prev.encode() + b"\n" + line).hexdigest()
        prev = digest
