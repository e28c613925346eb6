"""Issue 10 #7: the journal's end is anchored, and a malformed row is reported, never raised.

Every kind of tampering here leaves the hash chain itself intact or unreadable:
cut tails, a last row edited and rehashed, a deleted head record, a rewritten head,
a sale dropped from the outbox, malformed columns of every type and NULLs.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from core.config import Config, StationConfig
from core.errors import JournalError
from core.formats import journal as jformat
from edge.lifecycle import Station
from offline_db import journal
from offline_db.journal_checks import HEAD_KEY, read_head
from offline_db.outbox import apply_receipt, pending_batch
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock, expected_hash, rows, sell

SALES = 5


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Station]:
    """A station after five sales (seq 1..5), none receipted yet."""
    store, _ = StationStore.create(tmp_path / "data")
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data"))
    st = Station(store, config, clock=Clock())
    st.import_cards(SAMPLE, actor="test")
    for i in range(SALES):
        sell(st, 3_000 + 1_111 * i, product=("AI92", "AI95", "DT")[i % 3])
    try:
        yield st
    finally:
        store.close()


def reasons(result: journal.VerifyResult) -> set[str]:
    return {p.reason for p in result.problems}


def cut(conn: sqlite3.Connection, *seqs: int, outbox: bool = True) -> None:
    """Delete journal rows as an intruder would (foreign keys off)."""
    conn.execute("PRAGMA foreign_keys = OFF")
    for seq in seqs:
        if outbox:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        conn.execute("DELETE FROM wallet_debits WHERE seq = ?", (seq,))
        conn.execute("DELETE FROM journal WHERE seq = ?", (seq,))
    conn.execute("PRAGMA foreign_keys = ON")


def rehash_from(conn: sqlite3.Connection, first: int) -> None:
    """Recompute the chain from ``first`` on, as a careful forger would."""
    prev = conn.execute("SELECT prev_hash FROM journal WHERE seq = ?", (first,)).fetchone()[0]
    for row in rows(conn)[first - 1:]:
        digest = expected_hash(prev, row)
        conn.execute("UPDATE journal SET prev_hash = ?, hash = ? WHERE seq = ?",
                     (prev, digest, row["seq"]))
        prev = digest


def set_head(conn: sqlite3.Connection, seq: int) -> None:
    digest = conn.execute("SELECT hash FROM journal WHERE seq = ?", (seq,)).fetchone()[0]
    conn.execute("UPDATE sync_state SET value = ? WHERE key = ?", (f"{seq} {digest}", HEAD_KEY))


# -- the recorded head ------------------------------------------------------------------

def test_every_sale_records_the_head_in_its_transaction(filled: Station) -> None:
    assert read_head(filled.conn) == journal.last_entry(filled.conn)
    assert journal.verify(filled.conn).ok


def test_a_fresh_station_records_an_empty_head(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path / "data")
    try:
        assert read_head(store.conn) == (0, jformat.GENESIS)
        assert journal.verify(store.conn).ok
    finally:
        store.close()


@pytest.mark.parametrize("keep", [0, 1, 3, SALES - 1])
def test_cut_tail_is_caught(filled: Station, keep: int) -> None:
    cut(filled.conn, *range(keep + 1, SALES + 1))
    result = journal.verify(filled.conn)
    assert not result.ok
    assert result.first_bad_seq == keep + 1
    assert {"tail_missing", "sale_missing"} <= reasons(result)
    assert "missing from the end" in result.problem
    assert f"recorded seq {SALES} as its last sale" in result.problem


def test_cut_tail_leaving_its_outbox_rows_is_caught(filled: Station) -> None:
    cut(filled.conn, 4, 5, outbox=False)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert {"tail_missing", "queued_missing", "sale_missing"} <= reasons(result)


def test_cut_tail_with_a_rewritten_head_is_caught_by_the_authorizations(
        filled: Station) -> None:
    cut(filled.conn, 4, 5)
    set_head(filled.conn, 3)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, 4, {"sale_missing"})
    assert "completed as seq 4, which is missing" in result.problem


def test_cut_tail_after_a_receipt_is_caught_by_the_receipt(filled: Station) -> None:
    last = journal.last_entry(filled.conn)
    assert apply_receipt(filled.conn, up_to_seq=last[0], hash_=last[1]).accepted
    cut(filled.conn, 4, 5)
    set_head(filled.conn, 3)
    filled.conn.execute("DELETE FROM authorizations WHERE seq > 3")
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, 5,
                                                                  {"receipted_missing"})


def test_cut_middle_is_caught(filled: Station) -> None:
    cut(filled.conn, 3)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert {"sequence_gap", "sale_missing"} <= reasons(result)


def test_last_row_edited_and_rehashed_is_caught(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET volume_ml = 1, amount = 1 WHERE seq = ?", (SALES,))
    rehash_from(filled.conn, SALES)  # the chain recomputes: only the head can tell
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, SALES,
                                                                  {"head_mismatch"})
    assert f"seq {SALES} was altered" in result.problem


def test_rehashed_chain_and_head_are_caught_by_the_receipt(filled: Station) -> None:
    last = journal.last_entry(filled.conn)
    assert apply_receipt(filled.conn, up_to_seq=last[0], hash_=last[1]).accepted
    filled.conn.execute("UPDATE journal SET volume_ml = 1, amount = 1 WHERE seq = 2")
    rehash_from(filled.conn, 2)
    set_head(filled.conn, SALES)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, SALES,
                                                                  {"receipt_mismatch"})


def test_deleted_head_record_is_caught(filled: Station) -> None:
    filled.conn.execute("DELETE FROM sync_state WHERE key = ?", (HEAD_KEY,))
    result = journal.verify(filled.conn)
    assert (result.ok, reasons(result)) == (False, {"head_missing"})
    assert result.first_bad_seq is None


@pytest.mark.parametrize("value", ["garbage", "5", f"5 {'A' * 64}", ""])
def test_unreadable_head_record_is_caught(filled: Station, value: str) -> None:
    filled.conn.execute("UPDATE sync_state SET value = ? WHERE key = ?", (value, HEAD_KEY))
    assert reasons(journal.verify(filled.conn)) == {"head_missing"}


def test_rows_added_behind_the_head_are_caught(filled: Station) -> None:
    set_head(filled.conn, 3)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, 4,
                                                                  {"tail_unrecorded"})


def test_sale_dropped_from_the_outbox_is_caught(filled: Station) -> None:
    filled.conn.execute("DELETE FROM outbox WHERE seq = 3")
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq, reasons(result)) == (False, 3, {"not_queued"})
    assert "would never reach it" in result.problem


def test_a_sale_after_a_cut_tail_never_reuses_a_seq(filled: Station) -> None:
    cut(filled.conn, 4, 5)
    with capture_logs() as logs:
        done = sell(filled, 2_000)
    assert done["seq"] == SALES + 1  # the office already holds 4 and 5
    assert any(e["event"] == "journal.head_mismatch" for e in logs)
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert read_head(filled.conn) == (SALES + 1, done["hash"])


def test_a_sale_after_an_edited_last_row_keeps_the_recorded_chain(filled: Station) -> None:
    original = journal.last_entry(filled.conn)[1]
    filled.conn.execute("UPDATE journal SET volume_ml = 1, amount = 1 WHERE seq = ?", (SALES,))
    rehash_from(filled.conn, SALES)
    done = sell(filled, 2_000)
    assert done["seq"] == SALES + 1
    assert rows(filled.conn)[-1]["prev_hash"] == original
    result = journal.verify(filled.conn)
    assert (result.first_bad_seq, reasons(result)) == (SALES + 1, {"bad_link"})


# -- malformed rows ---------------------------------------------------------------------

MALFORMED: list[tuple[str, Any, str]] = [
    ("wallet_debits", "not json", "wallet_debits is not JSON"),
    ("wallet_debits", "[1, 2]", "wallet_debits is not a JSON object"),
    ("wallet_debits", '{"W-1": 1.5}', "wallet_debits is not a JSON object"),
    ("wallet_debits", '{"W-1": "12"}', "wallet_debits is not a JSON object"),
    ("wallet_debits", '{"W-1": true}', "wallet_debits is not a JSON object"),
    ("wallet_debits", '{"W-1": -4}', "wallet_debits is not a JSON object"),
    ("wallet_debits", b"{}", "wallet_debits is not text"),
    ("volume_ml", "abc", "volume_ml is not a whole number"),
    ("volume_ml", 1.5, "volume_ml is not a whole number"),
    ("volume_ml", b"\x00\x01", "volume_ml is not a whole number"),
    ("amount", "12.5x", "amount is not a whole number"),
    ("unit_price", 52.99, "unit_price is not a whole number"),
    ("pump", "x", "pump is not a whole number"),
    ("pump", 0, "pump is not a pump number"),
    ("sale_id", b"A1", "sale_id is not non-empty text"),
    ("card_id", "", "card_id is not non-empty text"),
    ("station_id", b"S-001", "station_id is not non-empty text"),
    ("product", b"AI95", "product is not non-empty text"),
    ("completed_at", "yesterday", "completed_at is not a UTC time"),
    ("authorized_at", 1_700_000_000, "authorized_at is not a UTC time"),
    ("hash", "zz", "hash is not 64 lower-case hex digits"),
    ("prev_hash", b"\x00" * 32, "prev_hash is not 64 lower-case hex digits"),
    # The optional vehicle and odometer columns (NULL when a sale has none).
    ("vehicle_id", "", "vehicle_id is not non-empty text"),
    ("vehicle_id", b"V-17", "vehicle_id is not non-empty text"),
    ("odometer_km", "abc", "odometer_km is not a whole number"),
    ("odometer_km", 10**8, "odometer_km is not a whole number"),
    ("odometer_km", 1.5, "odometer_km is not a whole number"),
    ("odometer_flag", "maybe", "odometer_flag is not one of odometer_unreasonable"),
]


@pytest.mark.parametrize(("column", "value", "phrase"), MALFORMED)
@pytest.mark.parametrize("rehashed", [False, True])
def test_malformed_column_is_broken_at_its_seq(filled: Station, column: str, value: Any,
                                               phrase: str, rehashed: bool) -> None:
    filled.conn.execute(f"UPDATE journal SET {column} = ? WHERE seq = 2", (value,))
    if rehashed and column not in ("hash", "prev_hash"):
        with contextlib.suppress(TypeError, ValueError):  # not even a forger can hash it
            rehash_from(filled.conn, 2)
    result = journal.verify(filled.conn)
    assert not result.ok
    assert result.first_bad_seq == 2
    assert result.problems[0].reason == "malformed"
    assert result.problem.startswith("seq 2 is malformed: ")
    assert phrase in result.problem
    assert (result.rows, result.last_seq) == (1, 1)


def loosen(conn: sqlite3.Connection) -> None:
    """Rebuild the journal without its constraints, so that NULLs can be written."""
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("CREATE TABLE journal_loose AS SELECT * FROM journal")
    conn.execute("DROP TABLE journal")
    conn.execute("ALTER TABLE journal_loose RENAME TO journal")


COLUMNS = ("sale_id", "station_id", "card_id", "pump", "product", "volume_ml", "unit_price",
           "amount", "authorized_at", "completed_at", "wallet_debits", "prev_hash", "hash")


@pytest.mark.parametrize("column", COLUMNS)
def test_null_in_any_column_is_broken_at_its_seq(filled: Station, column: str) -> None:
    loosen(filled.conn)
    filled.conn.execute(f"UPDATE journal SET {column} = NULL WHERE seq = 3")
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem == f"seq 3 is malformed: {column} is empty (NULL)"


def test_null_seq_is_reported_not_raised(filled: Station) -> None:
    loosen(filled.conn)
    filled.conn.execute("UPDATE journal SET seq = NULL WHERE seq = 4")
    result = journal.verify(filled.conn)
    assert not result.ok
    assert result.first_bad_seq == 1  # NULL sorts first: nothing before it is anchored
    assert "has no whole-number seq" in result.problem


def test_text_seq_is_reported_not_raised(filled: Station) -> None:
    loosen(filled.conn)
    filled.conn.execute("UPDATE journal SET seq = 'four' WHERE seq = 4")
    result = journal.verify(filled.conn)
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_malformed_row_is_logged(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET wallet_debits = 'not json' WHERE seq = 2")
    with capture_logs() as logs:
        journal.verify(filled.conn)
    event = next(e for e in logs if e["event"] == "journal.verify_failed")
    assert (event["first_bad_seq"], event["reasons"]) == (2, ["malformed"])


def test_listing_a_malformed_row_is_one_sentence(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET wallet_debits = 'not json' WHERE seq = 2")
    with pytest.raises(JournalError, match=r"^journal row seq 2 is malformed \(wallet_debits "
                       r"is not JSON\); run 'forecourt journal verify'$"):
        journal.list_sales(filled.conn)
    assert [r["seq"] for r in journal.list_sales(filled.conn, since_seq=2)] == [3, 4, 5]


def test_uplink_stops_before_a_malformed_row(filled: Station) -> None:
    filled.conn.execute("UPDATE journal SET wallet_debits = 'not json' WHERE seq = 3")
    with capture_logs() as logs:
        batch = pending_batch(filled.conn, max_sales=100, max_bytes=1_000_000)
    assert [r["seq"] for r in batch] == [1, 2]
    assert any(e["event"] == "sync.journal_malformed" and e["seq"] == 3 for e in logs)
    filled.conn.execute("UPDATE journal SET product = ? WHERE seq = 1", (b"\xff",))
    assert pending_batch(filled.conn, max_sales=100, max_bytes=1_000_000) == []


# -- a database from before the head was recorded ----------------------------------------

def test_upgrade_records_the_head_and_the_receipt_hash(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path / "data")
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data"))
    st = Station(store, config, clock=Clock())
    st.import_cards(SAMPLE, actor="test")
    for _ in range(3):
        sell(st, 2_000)
    seq2 = rows(store.conn)[1]["hash"]
    assert apply_receipt(store.conn, up_to_seq=2, hash_=seq2).accepted
    last = journal.last_entry(store.conn)
    # As a database written before migration 0006: no head, no receipt hash.
    store.conn.execute("DELETE FROM sync_state WHERE key IN (?, 'last_receipt_hash')",
                       (HEAD_KEY,))
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0009_journal_head'")
    store.close()
    reader = StationStore.open_reader(tmp_path / "data")
    try:  # not yet opened to write: nothing to check the end against, and no false alarm
        assert journal.verify(reader.conn).ok
    finally:
        reader.close()
    with StationStore.open_writer(tmp_path / "data") as again:
        assert read_head(again.conn) == last
        assert again.conn.execute("SELECT value FROM sync_state WHERE key = "
                                  "'last_receipt_hash'").fetchone()[0] == seq2
        assert journal.verify(again.conn).ok


# -- what the head office is told ---------------------------------------------------------

def test_the_status_sent_to_the_office_raises_an_alarm_for_a_broken_tail(
        filled: Station) -> None:
    """Verification of issue 10 #7: with the last row edited and rehashed (or the tail
    cut), 'journal verify' fails, yet 'flash export' wrote the bundle with no alarm, so
    the head office stored the altered sale unwarned. The station's status alarms name it."""
    from cloud_sync.flash_station import alarms

    assert alarms(filled.conn, {}) == []
    filled.conn.execute("UPDATE journal SET amount = 1 WHERE seq = ?", (SALES,))
    rehash_from(filled.conn, SALES)
    raised = alarms(filled.conn, {})
    assert len(raised) == 1 and raised[0].startswith("journal broken at seq 5: ")
    assert raised[0].endswith("[head_mismatch]; run 'forecourt journal verify'")
    cut(filled.conn, SALES)
    assert any("[tail_missing]" in a for a in alarms(filled.conn, {}))
