"""SQLite's bulk path of the flash ingest (``office.ledger.ingest_bulk``): JSON functions.

Lines are staged in a temporary table in chunks, SQLite's JSON functions extract each
line's fields as it is inserted, and one query picks the rows that certainly pass
``sale_checks.check_row`` (``_FAST_ACCEPT``); every other row is judged in Python by the
MQTT path's own row check (``ingest_bulk.judge_all``), which gives the verdict and the
sentence. Then a set-based fork check against the stored sales and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.

Runs on the sqlite3 connection under Django's (``connection.connection``): the same
connection and transaction, without the placeholder conversion of ``office.db``, so
the statements keep SQLite's numbered parameters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from core.formats.journal import ODOMETER_FLAGS, OPTIONAL_FIELDS, canonical_sql
from office.ledger import rollups
from office.ledger.ingest_bulk import Line, judge_all, stored_fork
from office.ledger.sale_checks import (
    MAX_ODOMETER_KM,
    MAX_VEHICLE_LEN,
    MAX_WALLET_DEBIT,
    SALE_INTS,
    Refused,
)
from office.store import OfficeConnection

#: The office store's page cache during a bulk ingest (KiB): the random inserts into the
#: ``sales_card`` index of a million sales touch ~16,000 pages; with SQLite's default
#: 2 MB cache each is written and read back many times (insert 9.5 s, 6 s with this).
BULK_CACHE_KIB = 256 * 1024
_ASCII = "*[^ -~]*"  # GLOB: any character that is not printable ASCII
_TS_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]." \
           "[0-9][0-9][0-9][0-9][0-9][0-9]Z"
_TEXT = ("sale_id", "card_id", "product")
_COLUMNS = ("seq", "sale_id", "station_id", "card_id", "pump", "product", "volume_ml",
            "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
            *OPTIONAL_FIELDS)

#: Staging: each line's fields are extracted once, by SQLite, as it is inserted.
_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS bulk_stage (seq INTEGER PRIMARY KEY, "
          "line TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
          + ", ".join(f"{c}_" for c in _COLUMNS if c != "seq") + ")")  # no type: no affinity
_STAGE_INSERT = (
    "INSERT INTO temp.bulk_stage VALUES (?1, ?2, ?3, ?4, "
    + ", ".join(f"json_extract(?2, '$.{c}')" for c in _COLUMNS if c != "seq") + ")")

#: (``pricing_``: json_extract gives a canonical line's object as its canonical text, the
#: text the MQTT path stores.)
#: Rows that certainly pass ``sale_checks.check_row``: every condition is at least as strict
#: as the Python check, so a row it does not accept is judged in Python. The line must
#: be exactly the canonical JSON of its extracted fields (re-encoded by SQLite): that
#: proves it has the 12 fields, the optional ones present only when not null, and no
#: others, with these types and values.
_FAST_ACCEPT = " AND ".join([
    "line = " + canonical_sql(
        lambda c: "seq" if c == "seq" else f"{c}_",
        "CASE WHEN json_valid(wallet_debits_) THEN json(wallet_debits_) END"),
    "station_id_ = :station",
    *(f"typeof({c}_) = 'text' AND length({c}_) BETWEEN 1 AND 200 AND {c}_ NOT GLOB '{_ASCII}'"
      for c in _TEXT),
    *(f"typeof({c}_) = 'integer' AND {c}_ BETWEEN {low} AND {high}"
      for c, (low, high) in SALE_INTS.items()),
    *(f"typeof({c}_) = 'text' AND {c}_ GLOB '{_TS_GLOB}'"
      for c in ("authorized_at", "completed_at")),
    "(wallet_debits_ = '{}' OR (json_valid(wallet_debits_) AND "
    "json_type(wallet_debits_) = 'object' AND "
    "(SELECT COUNT(*) FROM json_each(wallet_debits_)) <= 100 AND "
    "NOT EXISTS (SELECT 1 FROM json_each(wallet_debits_) WHERE type != 'integer' "
    f"OR value NOT BETWEEN -{MAX_WALLET_DEBIT} AND {MAX_WALLET_DEBIT} "
    f"OR length(key) NOT BETWEEN 1 AND 200 OR key GLOB '{_ASCII}')))",
    f"(vehicle_id_ IS NULL OR (typeof(vehicle_id_) = 'text' AND length(vehicle_id_) "
    f"BETWEEN 1 AND {MAX_VEHICLE_LEN} AND vehicle_id_ NOT GLOB '{_ASCII}'))",
    f"(odometer_km_ IS NULL OR (typeof(odometer_km_) = 'integer' AND odometer_km_ "
    f"BETWEEN 0 AND {MAX_ODOMETER_KM}))",
    "(odometer_flag_ IS NULL OR odometer_flag_ IN ("
    + ", ".join(f"'{f}'" for f in ODOMETER_FLAGS) + "))",
    "pricing_ IS NULL",  # a priced line is read by its one reader, in Python
])

_INSERT = (
    "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, volume_ml, "
    "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, "
    "received_at, via, vehicle_id, odometer_km, odometer_flag, pricing) SELECT :station, "
    "seq, sale_id_, card_id_, pump_, product_, volume_ml_, unit_price_, amount_, "
    "authorized_at_, completed_at_, wallet_debits_, prev_hash, hash, :at, :via, vehicle_id_, "
    "odometer_km_, odometer_flag_, pricing_ "
    "FROM temp.bulk_stage WHERE true ON CONFLICT (station_id, seq) DO NOTHING")

#: One row per wallet debit of the staged sales (a stored one has the same hash, so the
#: same debits: DO NOTHING keeps it once).
_DEBITS = (
    "INSERT INTO wallet_debits (station_id, seq, wallet_id, value) SELECT :station, b.seq, "
    "j.key, j.value FROM temp.bulk_stage b, json_each(b.wallet_debits_) j "
    "WHERE b.wallet_debits_ != '{}' ON CONFLICT DO NOTHING")


def _raw(conn: OfficeConnection) -> sqlite3.Connection:
    """The sqlite3 connection under Django's default connection (this office's store)."""
    from django.db import connection

    conn.activate()
    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


@contextmanager
def session(conn: OfficeConnection) -> Iterator[None]:
    """A larger page cache for the length of one bundle's ingest."""
    raw = _raw(conn)
    cache = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(cache)}")


def store_chunks(conn: OfficeConnection, station_id: str, chunks: Iterable[list[Line]], *,
                 first: int, last: int, via: str, at: str) -> tuple[int, int, str]:  # noqa: ARG001
    """Stage, check and store each chunk in turn (``ingest_bulk.Dialect``)."""
    stored = seen = 0
    last_hash = ""
    stage = Stage(conn, station_id, last=last, via=via, at=at)
    try:
        for chunk in chunks:
            stored += stage.store(chunk)
            seen += len(chunk)
            last_hash = chunk[-1][3]
    finally:
        stage.close()
    return stored, seen, last_hash


class Stage:
    """One bundle's staging table (``temp.bulk_stage``) and its chunks."""

    def __init__(self, conn: OfficeConnection, station_id: str, *, last: int, via: str,
                 at: str) -> None:
        self.raw = _raw(conn)
        self.station_id = station_id
        self.last = last
        self.params: dict[str, Any] = {"station": station_id, "at": at, "via": via}
        self.zone = rollups.zone(conn)
        self.raw.execute("DROP TABLE IF EXISTS temp.bulk_stage")
        self.raw.execute(_STAGE)

    def store(self, chunk: list[Line]) -> int:
        raw = self.raw
        try:
            raw.executemany(_STAGE_INSERT, chunk)
        except sqlite3.OperationalError:  # a line SQLite cannot parse as JSON
            judge_all(chunk, self.station_id)
            raise Refused("malformed", f"a sale line in seq {chunk[0][0]}-"
                          f"{chunk[-1][0]} is not JSON") from None
        self._check_chunk()
        fork = raw.execute(  # CROSS JOIN: probe sales by key for each staged row
            "SELECT b.seq FROM temp.bulk_stage b CROSS JOIN sales s "
            "WHERE s.station_id = ? AND s.seq = b.seq AND s.hash != b.hash "
            "ORDER BY b.seq LIMIT 1", (self.station_id,)).fetchone()
        if fork is not None:
            raise stored_fork(fork[0], self.last)
        self._count_new()
        stored: int = raw.execute(_INSERT, self.params).rowcount
        raw.execute(_DEBITS, self.params)
        raw.execute("DELETE FROM temp.bulk_stage")
        return stored

    def _count_new(self) -> None:
        """Add the staged sales not stored yet to the roll-ups (before they are stored)."""
        lo, hi = self.raw.execute("SELECT MIN(completed_at_), MAX(completed_at_) "
                                  "FROM temp.bulk_stage").fetchone()
        for statement in rollups.staged_sql(
                "sqlite", stage="temp.bulk_stage", suffix="_", station=":station",
                tz=self.zone, lo=lo, hi=hi,
                new_only="NOT EXISTS (SELECT 1 FROM sales s WHERE s.station_id = :station "
                         "AND s.seq = b.seq)"):
            self.raw.execute(statement, self.params)

    def _check_chunk(self) -> None:
        """Judge every staged row SQLite cannot accept at once with the MQTT row check."""
        # IS NOT 1, not NOT (...): a NULL anywhere makes the whole test NULL, not false.
        query = (f"SELECT seq, line, prev_hash, hash FROM temp.bulk_stage "
                 f"WHERE ({_FAST_ACCEPT}) IS NOT 1 ORDER BY seq")
        try:
            doubtful = self.raw.execute(query, {"station": self.station_id}).fetchall()
        except sqlite3.OperationalError:  # a value SQLite's JSON functions refuse: judge all
            doubtful = self.raw.execute("SELECT seq, line, prev_hash, hash FROM "
                                        "temp.bulk_stage ORDER BY seq").fetchall()
        judge_all(doubtful, self.station_id)

    def close(self) -> None:
        self.raw.execute("DELETE FROM temp.bulk_stage")
