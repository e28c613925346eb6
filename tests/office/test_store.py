"""The office store on Django: the schema of before, on SQLite and PostgreSQL, and the
raw-SQL seam (office.db) the sync code runs through."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections

from core.formats.journal import GENESIS as JOURNAL_GENESIS
from office import db
from office.cards.models import CardMasterVersion
from office.ledger.models import GENESIS, Sale, Station
from office.settings import OFFICE_DB, use_database
from tests.office.legacy_store import make_legacy_store
from tests.office_fixtures import OfficeDb

# (name, NOT NULL, default, position in the primary key or 0) per column, in order.
Column = tuple[str, bool, str | None, int]


@pytest.fixture(scope="module")
def legacy_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Column]]:
    """Every table of a store made by today's ``init_office`` (sqlite-utils migrations)."""
    folder = tmp_path_factory.mktemp("legacy-office")
    make_legacy_store(folder)
    conn = sqlite3.connect(folder / OFFICE_DB)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' "
            "ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name")]
        return {t: [(name, bool(notnull) or pk > 0, _default(dflt), pk)
                    for _, name, _, notnull, dflt, pk in conn.execute(
                        f"PRAGMA table_info({t})")]
                for t in tables}
    finally:
        conn.close()


def _default(text: str | None) -> str | None:
    """A column default as both databases show it: ``'x'::text`` and ``'x'`` alike."""
    if text is None:
        return None
    for cast in ("::text", "::bigint", "::integer"):
        text = text.removesuffix(cast)
    return text


def _columns(table: str) -> list[Column]:
    """The columns of ``table`` in the current database (Django's connection).

    The NOT NULL of a primary-key column counts as set: SQLite lets a legacy TEXT primary
    key hold NULL by an old quirk, Django declares it NOT NULL (the office never stored
    one); an INTEGER PRIMARY KEY can never be NULL.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f'PRAGMA table_info("{table}")')
            return [(name, bool(notnull) or pk > 0, _default(dflt), pk)
                    for _, name, _, notnull, dflt, pk in cursor.fetchall()]
        cursor.execute(
            "SELECT c.column_name, c.is_nullable = 'NO', c.column_default, "
            "COALESCE(k.ordinal_position, 0) FROM information_schema.columns c "
            "LEFT JOIN information_schema.table_constraints t ON t.table_name = c.table_name "
            "AND t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema "
            "LEFT JOIN information_schema.key_column_usage k ON k.constraint_name = "
            "t.constraint_name AND k.column_name = c.column_name "
            "AND k.table_schema = c.table_schema "
            "WHERE c.table_name = %s AND c.table_schema = current_schema() "
            "ORDER BY c.ordinal_position", [table])
        rows = cursor.fetchall()
    # An identity column (BigAutoField) shows no default; SQLite's legacy ones show none.
    return [(name, notnull, _default(dflt), pk) for name, notnull, dflt, pk in rows]


#: Columns the apps' own migrations added to a legacy table later (at its end, nullable).
ADDED: dict[str, list[Column]] = {"sales": [("pricing", False, None, 0)],
                                   "station_chain": [("receipted_seq", False, None, 0)]}


def test_every_legacy_table_is_made_with_the_same_columns(
        office_db: OfficeDb, legacy_schema: dict[str, list[Column]]) -> None:
    assert len(legacy_schema) == 14
    tables = set(connection.introspection.table_names())
    assert set(legacy_schema) <= tables
    for table, legacy in legacy_schema.items():
        assert _columns(table) == legacy + ADDED.get(table, []), table


def test_the_genesis_default_is_the_journals() -> None:
    assert GENESIS == JOURNAL_GENESIS


def test_database_defaults_apply_to_raw_inserts(office_db: OfficeDb) -> None:
    """A raw INSERT that leaves a column out gets the old default, on both databases."""
    db.execute("INSERT INTO station_chain (station_id) VALUES (?)", ("S1",))
    row = db.fetchone("SELECT contiguous_seq, contiguous_hash FROM station_chain")
    assert row is not None and tuple(row) == (0, "0" * 64)
    db.execute("INSERT INTO quarantine (reason, detail, envelope_id, received_at, payload, "
               "payload_sha256, last_received_at) VALUES ('r', 'd', 'e', 't', 'p', 'h', 't')")
    assert db.fetchall("SELECT repeats FROM quarantine")[0][0] == 1
    db.execute("INSERT INTO flash_transfers (at, direction, station_id, file, outcome) "
               "VALUES ('t', 'in', 'S1', 'f', 'ok')")
    row = db.fetchone("SELECT id, detail FROM flash_transfers")
    assert row is not None and row["detail"] == "" and row["id"] == 1
    # Positional inserts (no column list) rely on the old column order.
    db.execute("INSERT INTO refused_messages VALUES (?, 1, ?, ?)", ("bad", "t", "why"))
    db.execute("INSERT INTO cm_versions VALUES (?, ?, ?, ?)", (1, "t", "me", "[]"))
    assert CardMasterVersion.objects.get(version=1).actor == "me"


@pytest.mark.parametrize(("sql", "params"), [
    ("INSERT INTO chain_problems (station_id, kind, first_seq, last_seq, detail, found_at) "
     "VALUES ('S1', 'loop', 1, 2, '', 't')", ()),
    ("INSERT INTO flash_transfers (at, direction, station_id, file, outcome) "
     "VALUES ('t', 'sideways', 'S1', 'f', 'ok')", ()),
    ("INSERT INTO office_identity VALUES (2, 'k', 't')", ()),
    ("INSERT INTO stations VALUES (?, NULL, 't')", ("S1",)),
])
def test_check_constraints_and_not_null_refuse(office_db: OfficeDb, sql: str,
                                               params: tuple[Any, ...]) -> None:
    with pytest.raises(IntegrityError), db.atomic():
        db.execute(sql, params)


def test_the_indexes_of_before_are_there(office_db: OfficeDb) -> None:
    found: dict[str, str]
    if office_db.backend == "sqlite":
        found = dict(db.fetchall(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
    else:
        found = dict(db.fetchall(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))
    for name in ("sales_completed_at", "sales_card", "quarantine_station",
                 "chain_problems_open", "audit_entries_at", "audit_entries_object"):
        assert name in found, name
    assert "resolved_at" in found["chain_problems_open"].split("WHERE", 1)[1]


def test_sqlite_sales_is_without_rowid(sqlite_office_db: OfficeDb) -> None:
    row = db.fetchone("SELECT sql FROM sqlite_master WHERE name = 'sales'")
    assert row is not None and row[0].rstrip().endswith("WITHOUT ROWID")


def _sale(seq: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "station_id": "S1", "seq": seq, "sale_id": f"sale-{seq}", "card_id": "C1", "pump": 1,
        "product": "DIESEL", "volume_ml": 10_000_000_000, "unit_price": 10_000_000,
        "amount": 10**14, "authorized_at": "2026-11-22T10:15:00.000000Z",
        "completed_at": "2026-11-22T10:16:00.000000Z", "wallet_debits": "[]",
        "prev_hash": "0" * 64, "hash": "1" * 64, "received_at": "2026-11-22T10:17:00.000000Z",
        "via": "mqtt"}
    values.update(changes)
    return values


def test_sales_primary_key_refuses_a_second_station_seq(office_db: OfficeDb) -> None:
    Sale.objects.create(**_sale(1))
    Sale.objects.create(**_sale(2))
    Sale.objects.create(**_sale(1, station_id="S2"))
    with pytest.raises(IntegrityError), db.atomic():
        Sale.objects.create(**_sale(1, sale_id="another"))
    row = _sale(2, sale_id="raw")
    with pytest.raises(IntegrityError), db.atomic():
        db.execute(f"INSERT INTO sales ({', '.join(row)}) VALUES "
                   f"({', '.join('?' * len(row))})", tuple(row.values()))
    sale = Sale.objects.get(pk=("S1", 1))
    assert (sale.sale_id, sale.amount, sale.volume_ml) == ("sale-1", 10**14, 10_000_000_000)
    assert Sale.objects.count() == 3


def test_sales_refuse_a_via_other_than_mqtt_or_flash(office_db: OfficeDb) -> None:
    with pytest.raises(IntegrityError), db.atomic():
        Sale.objects.create(**_sale(1, via="carrier pigeon"))


# --- office.db: placeholders ---------------------------------------------------------


@pytest.mark.parametrize(("sql", "converted", "style"), [
    ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s",
     "qmark"),
    ("SELECT '?', 'it''s ?', \"odd?col\" FROM t WHERE b = ?",
     "SELECT '?', 'it''s ?', \"odd?col\" FROM t WHERE b = %s", "qmark"),
    ("SELECT a FROM t WHERE b LIKE '10%' AND c = ?",
     "SELECT a FROM t WHERE b LIKE '10%%' AND c = %s", "qmark"),
    ("SELECT a % 2 FROM t -- what? 100%\nWHERE b = ? /* and? */",
     "SELECT a %% 2 FROM t -- what? 100%%\nWHERE b = %s /* and? */", "qmark"),
    ("SELECT * FROM t WHERE s = :station AND a > :at",
     "SELECT * FROM t WHERE s = %(station)s AND a > %(at)s", "named"),
    ("SELECT a::text, '12:30' FROM t", "SELECT a::text, '12:30' FROM t", None),
    ("SELECT '%s' FROM t", "SELECT '%%s' FROM t", None),
])
def test_placeholders_are_converted_outside_literals(sql: str, converted: str,
                                                     style: str | None) -> None:
    assert db.convert(sql) == (converted, style)


@pytest.mark.parametrize("sql", ["SELECT ?1", "SELECT ? WHERE x = :name"])
def test_placeholders_that_cannot_be_converted_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="placeholders"):
        db.convert(sql)


def test_placeholder_style_and_params_must_agree() -> None:
    with pytest.raises(TypeError, match="mapping"):
        db.execute("SELECT :a", ("x",))
    with pytest.raises(TypeError, match="sequence"):
        db.execute("SELECT ?", {"a": 1})


def test_literals_with_question_marks_and_percents_reach_the_database(
        office_db: OfficeDb) -> None:
    row = db.fetchone("SELECT '?' AS q, 'it''s 100%' AS p, '%s' AS s, ? AS v, "
                      "CASE WHEN ? LIKE 'ab%' THEN 1 ELSE 0 END AS m -- no? 5%",
                      ("x?%", "abc"))
    assert row is not None
    assert tuple(row) == ("?", "it's 100%", "%s", "x?%", 1)
    named = db.fetchone("SELECT :one AS one, ':two' AS two, 7 % 4 AS mod",
                        {"one": "1:1"})
    assert named is not None and tuple(named) == ("1:1", ":two", 3)
    # No values at all: a '%' still reaches the database as itself.
    assert tuple(db.fetchall("SELECT '5%' AS p, 7 % 4 AS m")[0]) == ("5%", 3)


# --- office.db: rows, cursors, transactions ---------------------------------------------


def test_rows_work_like_sqlite3_rows(office_db: OfficeDb) -> None:
    db.execute("INSERT INTO stations VALUES (?, ?, ?)", ("S1", "key1", "t1"))
    db.execute("INSERT INTO stations VALUES (?, ?, ?)", ("S2", "key2", "t2"))
    rows = db.fetchall("SELECT station_id, public_key AS Key, COUNT(*) AS n FROM stations "
                       "GROUP BY station_id, public_key ORDER BY station_id")
    first = rows[0]
    assert first[0] == first["station_id"] == "S1"
    assert first["key"] == first["KEY"] == first[1] == "key1"  # any case, like sqlite3.Row
    assert first[-1] == first["n"] == 1
    assert first[0:2] == ("S1", "key1")
    assert first.keys() in (["station_id", "Key", "n"], ["station_id", "key", "n"])
    assert {k.lower(): v for k, v in dict(first).items()} == {
        "station_id": "S1", "key": "key1", "n": 1}
    station, key, n = rows[1]
    assert (station, key, n) == ("S2", "key2", 1)
    with pytest.raises(IndexError):
        first["nope"]
    assert dict(db.execute("SELECT station_id, public_key FROM stations").fetchall()) == {
        "S1": "key1", "S2": "key2"}
    assert [r["station_id"] for r in db.execute("SELECT * FROM stations ORDER BY 1")] == [
        "S1", "S2"]
    assert db.fetchone("SELECT * FROM stations WHERE station_id = ?", ("S9",)) is None


def test_rowcount_and_executemany(office_db: OfficeDb) -> None:
    cursor = db.executemany("INSERT INTO stations VALUES (?, ?, ?)",
                            [(f"S{i}", "k", "t") for i in range(5)])
    assert cursor.description is None
    assert db.execute("UPDATE stations SET public_key = ? WHERE station_id <> ?",
                      ("k2", "S0")).rowcount == 4
    db.executemany("UPDATE stations SET enrolled_at = :at WHERE station_id = :s",
                   [{"at": "t9", "s": "S1"}, {"at": "t8", "s": "S2"}])
    assert [tuple(r) for r in db.fetchall(
        "SELECT station_id, enrolled_at FROM stations WHERE enrolled_at <> 't' "
        "ORDER BY station_id")] == [("S1", "t9"), ("S2", "t8")]


def test_atomic_rolls_back_and_nests(office_db: OfficeDb) -> None:
    assert not db.in_transaction()
    with pytest.raises(RuntimeError), db.atomic():
        assert db.in_transaction()
        db.execute("INSERT INTO stations VALUES ('S1', 'k', 't')")
        raise RuntimeError("undo")
    assert db.fetchall("SELECT * FROM stations") == []
    with db.atomic():
        db.execute("INSERT INTO stations VALUES ('S1', 'k', 't')")
        with pytest.raises(IntegrityError), db.atomic():
            db.execute("INSERT INTO stations VALUES ('S2', 'k', 't')")
            db.execute("INSERT INTO stations VALUES ('S1', 'k', 't')")
    assert [r[0] for r in db.fetchall("SELECT station_id FROM stations")] == ["S1"]


def test_on_commit_runs_only_after_commit(office_db: OfficeDb) -> None:
    sent: list[str] = []
    with db.atomic():
        db.on_commit(lambda: sent.append("receipt"))
        assert sent == []
    assert sent == ["receipt"]
    with pytest.raises(RuntimeError), db.atomic():
        db.on_commit(lambda: sent.append("never"))
        raise RuntimeError("rolled back")
    assert sent == ["receipt"]


def test_vendor_is_the_backend(office_db: OfficeDb) -> None:
    assert db.vendor() == office_db.backend


# --- switching databases ----------------------------------------------------------------


@pytest.mark.parametrize("other", ["sqlite", "postgresql"])
def test_one_process_switches_between_stores(
        office_db: OfficeDb, make_office_db: Callable[[str], OfficeDb], other: str) -> None:
    Station.objects.create(station_id="A", public_key="ka", enrolled_at="t")
    second = make_office_db(other)

    seen: dict[str, Any] = {}

    def in_thread(key: str) -> None:  # another thread's connection, on whatever is current
        seen[key] = sorted(Station.objects.values_list("station_id", flat=True))
        seen[key + "-wrapper"] = connections["default"]

    worker = threading.Thread(target=in_thread, args=("first",))
    worker.start()
    worker.join()
    assert seen["first"] == ["A"]

    use_database(second.database, second.data_dir)
    assert db.vendor() == other
    assert seen["first-wrapper"].connection is None  # the other thread's was closed too
    assert list(Station.objects.all()) == []
    Station.objects.create(station_id="B", public_key="kb", enrolled_at="t")
    worker = threading.Thread(target=in_thread, args=("second",))
    worker.start()
    worker.join()
    assert seen["second"] == ["B"]

    use_database(office_db.database, office_db.data_dir)
    assert db.vendor() == office_db.backend
    assert [s.station_id for s in Station.objects.all()] == ["A"]


def test_no_switch_inside_a_transaction(office_db: OfficeDb, tmp_path: Path) -> None:
    with db.atomic(), pytest.raises(RuntimeError, match="inside a transaction"):
        use_database("", tmp_path)
    assert db.vendor() == office_db.backend
