"""A batch's new sales into ``sales`` and ``wallet_debits``: ``COPY`` on PostgreSQL,
``executemany`` on SQLite.

The MQTT ingest (``ingest._store``) has already decided, under the station's lock,
which rows of the batch are new; this only writes them, in the caller's transaction.
On PostgreSQL a row-by-row insert costs a statement per sale and per wallet debit
(65-75 ms for a batch of 500 sales in ``bench/office_batch.py``); ``COPY`` on the same
connection, in the same transaction, writes them in one go (about 20 ms with building
the rows). ``INSERT ... SELECT FROM unnest(...)`` of one array per column was measured
too: about twice the COPY, most of it psycopg rendering the arrays as SQL text
(docs/benchmarks.md). A failed COPY raises Django's ``DatabaseError`` like any other
statement. SQLite has no round trips to save.
"""

from __future__ import annotations

import json
from typing import Any

from core.formats.journal import OPTIONAL_FIELDS, pricing_text
from office.store import OfficeConnection

#: The columns of ``sales`` as every ingest path writes them and the queries read them.
SALE_COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product", "volume_ml",
                "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
                "prev_hash", "hash", "received_at", "via", *OPTIONAL_FIELDS)
_DEBIT_COLUMNS = ("station_id", "seq", "wallet_id", "value")
_INSERT_SALES = (f"INSERT INTO sales ({', '.join(SALE_COLUMNS)}) "
                 f"VALUES ({', '.join('?' for _ in SALE_COLUMNS)})")
_INSERT_DEBITS = (f"INSERT INTO wallet_debits ({', '.join(_DEBIT_COLUMNS)}) "
                  "VALUES (?, ?, ?, ?)")
COPY_SALES = f"COPY sales ({', '.join(SALE_COLUMNS)}) FROM STDIN"
COPY_DEBITS = f"COPY wallet_debits ({', '.join(_DEBIT_COLUMNS)}) FROM STDIN"


def insert_sales(conn: OfficeConnection, station_id: str, rows: list[dict[str, Any]], *,
                 via: str, at: str) -> None:
    """Store journal rows (as a batch carries them) not held yet, received ``at`` by
    ``via``, and one ``wallet_debits`` row per wallet each debits
    (office.cards.wallets sums them)."""
    sales = [(station_id, r["seq"], r["sale_id"], r["card_id"], r["pump"], r["product"],
              r["volume_ml"], r["unit_price"], r["amount"], r["authorized_at"],
              r["completed_at"],
              json.dumps(r["wallet_debits"], sort_keys=True, separators=(",", ":")),
              r["prev_hash"], r["hash"], at, via, *(_column(r, k) for k in OPTIONAL_FIELDS))
             for r in rows]
    debits = [(station_id, r["seq"], wallet, value) for r in rows
              for wallet, value in sorted(r["wallet_debits"].items())]
    if conn.vendor == "postgresql":
        _copy(COPY_SALES, sales)
        _copy(COPY_DEBITS, debits)
        return
    conn.executemany(_INSERT_SALES, sales)
    conn.executemany(_INSERT_DEBITS, debits)


def _copy(statement: str, rows: list[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` of ``rows`` on the connection the office store uses (so in
    its transaction); psycopg writes each value in COPY's text format (None: NULL)."""
    if not rows:
        return
    from django.db import connection

    with (connection.cursor() as wrapper, connection.wrap_database_errors,
          wrapper.cursor.copy(statement) as copy):  # psycopg's own cursor under Django's
        for row in rows:
            copy.write_row(row)


def _column(row: dict[str, Any], key: str) -> Any:
    """An optional field as its column holds it (``pricing``: JSON text)."""
    value = row.get(key)
    return pricing_text(value) if key == "pricing" and value is not None else value
