"""The bulk (flash) ingest judges and stores rows exactly as the MQTT ingest does.

Both run on real office stores with a real station's journal. Hypothesis changes one
field of one sale to anything JSON can carry (wrong types, floats, huge or negative
numbers, control and non-ASCII text, missing and extra fields), re-chains the rows
as a (buggy or hostile) station would, and sends the same sales through
``ingest_batch`` and ``ingest_lines``: the verdicts and the stored rows must agree.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.formats.journal import GENESIS, HASHED_FIELDS, OPTIONAL_FIELDS, present
from office.ledger.ingest import ingest_batch
from office.ledger.ingest_bulk import ingest_lines
from office.ledger.store import init_office, open_office
from tests.cloud_sync.flash_desk import WALLET_CARD, Desk

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 17}


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


@pytest.fixture(scope="module")
def office_template() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="office-"))
    init_office(root)
    conn = open_office(root)
    conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-11-22')")
    conn.close()
    yield root
    shutil.rmtree(root)


def fresh_office(template: Path) -> Any:
    target = Path(tempfile.mkdtemp(prefix="office-copy-"))
    shutil.copytree(template, target, dirs_exist_ok=True)
    return open_office(target), target


def rechain(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Hash the rows as a (buggy or hostile) station would: whatever fields they have."""
    prev = GENESIS
    out, lines = [], []
    for row in rows:
        fields = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        line = json.dumps(fields, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()
        digest = hashlib.sha256(prev.encode() + b"\n" + line).hexdigest()
        out.append({**fields, "prev_hash": prev, "hash": digest})
        lines.append(line)
        prev = digest
    return out, lines


def both_ways(template: Path, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    sales, lines = rechain(rows)
    mqtt_conn, mqtt_dir = fresh_office(template)
    flash_conn, flash_dir = fresh_office(template)
    try:
        body = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
                "sales": copy.deepcopy(sales), "status": STATUS}
        by_mqtt = ingest_batch(mqtt_conn, body, via="mqtt", envelope_id="e", now=NOW)
        meta = {"station_id": "S-001", "first_seq": 1, "last_seq": len(sales),
                "sales": len(sales), "first_prev_hash": GENESIS,
                "last_hash": sales[-1]["hash"], "volume_ml": 0, "amount": 0,
                "status": STATUS}
        by_flash = ingest_lines(flash_conn, "S-001", meta, lines, via="flash", source="b",
                                now=NOW)
        cols = "seq, sale_id, card_id, pump, product, volume_ml, unit_price, amount, " \
               "authorized_at, completed_at, wallet_debits, prev_hash, hash, vehicle_id, " \
               "odometer_km, odometer_flag"
        stored_mqtt = mqtt_conn.execute(f"SELECT {cols} FROM sales ORDER BY seq").fetchall()
        stored_flash = flash_conn.execute(f"SELECT {cols} FROM sales ORDER BY seq").fetchall()
        assert [tuple(r) for r in stored_mqtt] == [tuple(r) for r in stored_flash]
        return by_mqtt, by_flash
    finally:
        mqtt_conn.close()
        flash_conn.close()
        shutil.rmtree(mqtt_dir)
        shutil.rmtree(flash_dir)


def test_good_rows_are_stored_the_same_way(journal_rows: list[dict[str, Any]],
                                           office_template: Path) -> None:
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
#: Each sale integer's bounds and one past them (office.ledger.ingest.SALE_INTS); a wallet
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
            "odometer_flag": TEXTS | st.just("odometer_unreasonable")}


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_changed_row_gets_the_same_verdict_both_ways(
        journal_rows: list[dict[str, Any]], office_template: Path, data: st.DataObject) -> None:
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
        journal_rows: list[dict[str, Any]], office_template: Path, field: str, value: Any,
        says: str) -> None:
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
        journal_rows: list[dict[str, Any]], office_template: Path, field: str,
        value: Any) -> None:
    rows = copy.deepcopy(journal_rows)
    rows[2][field] = value
    by_mqtt, by_flash = both_ways(office_template, rows)
    assert by_mqtt.quarantined is None and by_flash.quarantined is None
    assert by_mqtt.stored == by_flash.stored == len(rows)
