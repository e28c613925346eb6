"""PostgreSQL's bulk path of the flash ingest (``office.ledger.ingest_bulk``): COPY.

Each line is judged by the MQTT path's own row check (``ingest_bulk.judge``: parsed,
checked field by field, and required to be exactly its canonical form), which also
yields its fields; a chunk of rows then goes into a temporary table with one ``COPY``
(psycopg's ``cursor.copy()``), the office's sales are probed for a fork in one join,
and one ``INSERT ... SELECT ... ON CONFLICT (station_id, seq) DO NOTHING`` stores the
new rows.

Why no SQL fast path as on SQLite: the check there proves a line *is* the canonical
JSON of its fields by re-encoding them with SQLite's JSON functions. PostgreSQL's
``jsonb`` keeps neither key order nor spelling (it sorts keys by length, prints
``{"a": 1}`` with spaces, normalises numbers), so that proof cannot be written in its
SQL; judging every row in Python gives the MQTT path's verdict by construction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.formats.journal import OPTIONAL_FIELDS, pricing_text
from office.ledger import rollups
from office.ledger.ingest_bulk import Line, judge, stored_fork
from office.store import OfficeConnection

#: The staged columns, in COPY order (the sales columns the station's line carries).
_COLUMNS = ("seq", "prev_hash", "hash", "sale_id", "card_id", "pump", "product",
            "volume_ml", "unit_price", "amount", "authorized_at", "completed_at",
            "wallet_debits", *OPTIONAL_FIELDS)
_TYPES = {"seq": "bigint PRIMARY KEY", "pump": "bigint", "volume_ml": "bigint",
          "unit_price": "bigint", "amount": "bigint", "odometer_km": "bigint"}
_STAGE = ("CREATE TEMP TABLE bulk_stage ("
          + ", ".join(f"{c} {_TYPES.get(c, 'text')}" for c in _COLUMNS)
          + ") ON COMMIT DROP")
_COPY = f"COPY bulk_stage ({', '.join(_COLUMNS)}) FROM STDIN"
_INSERT = (
    "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, volume_ml, "
    "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, "
    "received_at, via, vehicle_id, odometer_km, odometer_flag, pricing) SELECT %s, seq, "
    "sale_id, card_id, pump, product, volume_ml, unit_price, amount, authorized_at, "
    "completed_at, wallet_debits, prev_hash, hash, %s, %s, vehicle_id, odometer_km, "
    "odometer_flag, pricing "
    "FROM bulk_stage ON CONFLICT (station_id, seq) DO NOTHING")
#: One row per wallet debit of the staged sales (a stored one has the same hash, so the
#: same debits: DO NOTHING keeps it once).
_DEBITS = ("INSERT INTO wallet_debits (station_id, seq, wallet_id, value) SELECT %s, b.seq, "
           "j.key, j.value::bigint FROM bulk_stage b, jsonb_each_text(b.wallet_debits::jsonb) j "
           "WHERE b.wallet_debits <> '{}' ON CONFLICT DO NOTHING")
_FORK = ("SELECT b.seq FROM bulk_stage b JOIN sales s ON s.station_id = %s AND s.seq = b.seq "
         "WHERE s.hash <> b.hash ORDER BY b.seq LIMIT 1")


@contextmanager
def session(conn: OfficeConnection) -> Iterator[None]:  # noqa: ARG001 - nothing to tune
    yield


def _row(parsed: dict[str, Any]) -> tuple[Any, ...]:
    wallet = json.dumps(parsed["wallet_debits"], sort_keys=True, separators=(",", ":"))
    pricing = parsed.get("pricing")
    text = None if pricing is None else pricing_text(pricing)  # as the MQTT path stores it
    return tuple(wallet if c == "wallet_debits" else text if c == "pricing"
                 else parsed.get(c) for c in _COLUMNS)


class Stage:
    """One bundle's staging table (dropped when its transaction ends) and its chunks."""

    def __init__(self, conn: OfficeConnection, station_id: str, *, last: int, via: str,
                 at: str) -> None:
        from django.db import connection

        conn.activate()
        self.cursor = connection.cursor()
        self.station_id = station_id
        self.last = last
        self.via = via
        self.at = at
        self.count_new = rollups.staged_sql(
            "postgresql", stage="bulk_stage", suffix="", station="%s", tz=rollups.zone(conn),
            lo=None, hi=None,
            new_only="NOT EXISTS (SELECT 1 FROM sales s WHERE s.station_id = %s "
                     "AND s.seq = b.seq)")
        self.cursor.execute("DROP TABLE IF EXISTS pg_temp.bulk_stage")
        self.cursor.execute(_STAGE)

    def store(self, chunk: list[Line]) -> int:
        rows = [_row(judge(seq, line, prev_hash, digest, self.station_id))
                for seq, line, prev_hash, digest in chunk]
        cursor = self.cursor
        with cursor.cursor.copy(_COPY) as copy:  # psycopg's own cursor under Django's
            for row in rows:
                copy.write_row(row)
        cursor.execute(_FORK, (self.station_id,))
        fork = cursor.fetchone()
        if fork is not None:
            raise stored_fork(int(fork[0]), self.last)
        for statement in self.count_new:  # the roll-ups, before the rows are stored
            cursor.execute(statement, (self.station_id,) * statement.count("%s"))
        cursor.execute(_INSERT, (self.station_id, self.at, self.via))
        stored: int = cursor.rowcount
        cursor.execute(_DEBITS, (self.station_id,))
        cursor.execute("TRUNCATE bulk_stage")
        return stored

    def close(self) -> None:
        self.cursor.close()
