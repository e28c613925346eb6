"""bench/office_batch.py at a tiny size, so that it does not rot: batches ingested on
both databases, every sale stored, and on PostgreSQL no statement per sale (the new
sales and wallet debits go by COPY inside ``insert_sales``). No timing is asserted."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import office_batch
import office_scale

from office.ledger import ingest
from office.ledger.sale_rows import insert_sales
from tests import pg

BATCHES, SIZE, STATIONS = 4, 25, 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_batch_is_stored_and_its_statements_counted(backend: str) -> None:
    if backend == "postgresql":
        pg.require_pg()
    args = ["--batches", str(BATCHES), "--size", str(SIZE), "--stations", str(STATIONS)]
    opts = office_batch.parse_args(args + (["--sqlite"] if backend == "sqlite" else []))
    run = office_batch.measure(opts)
    assert (run.vendor, run.problems, len(run.batch_ms)) == (backend, [], BATCHES)
    assert run.count[office_batch.INSERT_SALES] == BATCHES
    debits = sum(1 for b in office_batch.batches(STATIONS, BATCHES, SIZE)
                 for r in b["sales"] for _ in r["wallet_debits"])
    assert debits > 0
    if backend == "sqlite":
        assert run.count["INSERT INTO sales (executemany)"] == BATCHES * SIZE
        assert run.count["INSERT INTO wallet_debits (executemany)"] == debits
    else:  # COPY: not a statement through the office connection, none per sale
        inserted = {k.split()[2] for k in run.count if k.startswith("INSERT INTO")}
        assert inserted == {"station_chain", "sales_daily", "card_monthly"}
        # Nothing runs once a sale (the most a batch: 4 SELECTs of its station's sales).
        assert max(run.count.values()) == 4 * BATCHES < BATCHES * SIZE
        with office_scale.admin() as conn:
            left = conn.execute("SELECT datname FROM pg_database WHERE datname = %s",
                                (f"{office_batch.DB_PREFIX}{os.getpid()}",)).fetchall()
        assert left == []
    assert vars(ingest)["insert_sales"] is insert_sales  # the counting is undone
