"""Benchmark: the office's time per MQTT sales batch (``ingest_batch``), without a broker.

What: ``--batches`` batches of ``--size`` sales (500: ``[mqtt] batch_max_sales``) from
``--stations`` stations in turn, each one ``ingest_batch`` call as ``office serve`` makes
it (one transaction under the station's lock: checks, chain, store, roll-ups, head,
gaps, status), on a fresh migrated PostgreSQL database (``--sqlite``: a SQLite store).
The sales are made here: a valid hash chain per station, one in five with two wallet
debits, every other one with a vehicle and an odometer reading. Pricing is not in force
(no revision published), so nothing is settled.

Printed: ms per batch (median, p90, mean), and per batch the statements the ingest ran
through the office connection by kind (their first words) with their count and time:
where a batch's time goes and which statements run once per row. ``insert_sales`` (the
new sales and their wallet debits, rows built and written: ``COPY`` on PostgreSQL, which
is not a statement through the connection) is timed as a whole.

Run::

    .venv/bin/python bench/office_batch.py                  # PostgreSQL, 40 x 500 sales
    .venv/bin/python bench/office_batch.py --sqlite
    .venv/bin/python bench/office_batch.py --batches 100 --size 500 --stations 4

The script always exits 0 (a benchmark reports). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import office_scale  # bench/office_scale.py: PostgreSQL databases for benches
import sync  # bench/sync.py: machine facts, say

from core.config import OfficeConfig
from core.formats.journal import GENESIS, chain_hash
from core.timefmt import iso
from office.ledger import ingest
from office.ledger.ingest import ingest_batch
from office.store import OfficeConnection, init_office, open_office

say = sync.say
START = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
DB_PREFIX = "forecourt_bench_batch_"
INSERT_SALES = "insert_sales: all of it, its statements (above) included"
STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 17}


def station_sales(station_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` chained journal rows of one station (as the uplink ships them)."""
    rng = random.Random(seed)
    prev, rows = GENESIS, []
    for seq in range(1, count + 1):
        done = START + timedelta(seconds=37 * seq)
        volume = rng.randrange(15_000, 70_001, 10)
        row: dict[str, Any] = {
            "seq": seq, "sale_id": f"{station_id}-{seq:09d}", "station_id": station_id,
            "card_id": f"78{rng.randrange(20_000):014d}", "pump": rng.randrange(1, 9),
            "product": "AI95", "volume_ml": volume, "unit_price": 5_990,
            "amount": (volume * 5_990 + 500) // 1000,
            "authorized_at": iso(done - timedelta(seconds=90)), "completed_at": iso(done),
            "wallet_debits": ({"W-1": -volume, "W-2": -1_000} if seq % 5 == 0 else {})}
        if seq % 2 == 0:
            row["vehicle_id"] = f"V-{rng.randrange(1000)}"
            row["odometer_km"] = rng.randrange(10_000_000)
        row["prev_hash"] = prev
        prev = row["hash"] = chain_hash(prev, row)
        rows.append(row)
    return rows


def batches(stations: int, count: int, size: int) -> Iterator[dict[str, Any]]:
    """``count`` batch bodies of ``size`` sales, the stations in turn."""
    per_station = -(-count // stations) * size
    sales = {f"S-{n:03d}": station_sales(f"S-{n:03d}", per_station, n)
             for n in range(1, stations + 1)}
    ids = sorted(sales)
    for i in range(count):
        sid, first = ids[i % stations], (i // stations) * size + 1
        yield {"station_id": sid, "first_seq": first, "last_seq": first + size - 1,
               "sales": sales[sid][first - 1:first - 1 + size], "status": STATUS}


class Timed:
    """Count and time, by kind, the statements run through one office connection and
    the calls of ``insert_sales``, while in use (``with``); then everything is as before."""

    def __init__(self, conn: OfficeConnection) -> None:
        self.conn = conn
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._insert = ingest.insert_sales  # type: ignore[attr-defined]  # patched where used

    def __enter__(self) -> Timed:
        for name in ("execute", "executemany"):
            setattr(self.conn, name, self._wrap(name, getattr(self.conn, name)))
        setattr(ingest, "insert_sales", self._insert_sales)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        for name in ("execute", "executemany"):
            delattr(self.conn, name)  # the instance's wrapper: the class's method again
        setattr(ingest, "insert_sales", self._insert)  # noqa: B010

    def _insert_sales(self, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            self._insert(*args, **kwargs)
        finally:
            self.seconds[INSERT_SALES] += time.perf_counter() - started
            self.count[INSERT_SALES] += 1

    @staticmethod
    def kind(sql: str) -> str:
        words = re.sub(r"\s+", " ", sql).strip().split(" ")
        if words[0] in ("INSERT", "COPY") or words[:2] == ["DELETE", "FROM"]:
            return " ".join(words[:3])
        if words[0] == "UPDATE":
            return " ".join(words[:2])
        table = words[words.index("FROM") + 1] if "FROM" in words else "?"
        return f"{words[0]} ... FROM {table}"

    def _wrap(self, name: str, original: Any) -> Any:
        def run(sql: str, params: Any = ()) -> Any:
            if name == "executemany":
                params = list(params)
            started = time.perf_counter()
            try:
                return original(sql, params)
            finally:
                key = self.kind(sql) + (" (executemany)" if name == "executemany" else "")
                self.seconds[key] += time.perf_counter() - started
                self.count[key] += len(params) if name == "executemany" else 1
        return run


@dataclasses.dataclass
class Result:
    """One run: the backend, each batch's milliseconds, and per statement kind its count
    and seconds over the whole run; ``problems`` says what was wrong, if anything."""

    vendor: str
    batch_ms: list[float]
    count: dict[str, int]
    seconds: dict[str, float]
    problems: list[str]


def ingest_all(conn: OfficeConnection, opts: argparse.Namespace) -> Result:
    """Enrol the stations, then ingest every batch, each one timed."""
    with conn.atomic():
        for n in range(1, opts.stations + 1):
            conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) "
                         "VALUES (?, ?, ?)", (f"S-{n:03d}", "ed25519:bench", iso(START)))
    bodies = list(batches(opts.stations, opts.batches, opts.size))
    took: list[float] = []
    problems: list[str] = []
    now = datetime.now(UTC)
    with Timed(conn) as timed:
        for i, body in enumerate(bodies):
            started = time.perf_counter()
            result = ingest_batch(conn, body, via="mqtt", envelope_id=f"{i:032x}", now=now)
            took.append(time.perf_counter() - started)
            if result.quarantined or result.stored != opts.size:
                problems.append(f"batch {i}: {result}")
    stored = conn.one("SELECT COUNT(*) FROM sales")[0]
    if stored != opts.batches * opts.size:
        problems.append(f"the office holds {stored} sales, not {opts.batches * opts.size}")
    return Result(conn.vendor, [t * 1000 for t in took], dict(timed.count),
                  dict(timed.seconds), problems)


def measure(opts: argparse.Namespace) -> Result:
    """One run on a fresh migrated office store (PostgreSQL, dropped after; or SQLite)."""
    with tempfile.TemporaryDirectory(prefix="forecourt-bench-batch-") as tmp:
        name = f"{DB_PREFIX}{os.getpid()}"
        url = "" if opts.sqlite else office_scale.create_database(name)
        office = OfficeConfig(data_dir=Path(tmp), database=url)
        try:
            init_office(office)
            conn = open_office(office)
            try:
                return ingest_all(conn, opts)
            finally:
                conn.close()
        finally:
            if url:
                from django.db import connections

                connections.close_all()
                office_scale.drop_database(name)


def report(run: Result, opts: argparse.Namespace) -> None:
    ms = sorted(run.batch_ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    say(f"{run.vendor}: {opts.batches} batches x {opts.size} sales: "
        f"median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, mean "
        f"{statistics.fmean(ms):.1f} ms per batch "
        f"({opts.size * len(ms) * 1000 / sum(ms):,.0f} sales/s)")
    say("per batch, by statement (count, ms):")
    for key in sorted(run.seconds, key=lambda k: -run.seconds[k]):
        each_ms = run.seconds[key] * 1000 / opts.batches
        say(f"  {run.count[key] / opts.batches:8.1f}  {each_ms:7.2f}  {key}")
    for problem in run.problems:
        say(f"FAIL {problem}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--batches", type=int, default=40, help="batches (default 40)")
    p.add_argument("--size", type=int, default=500, help="sales per batch (default 500)")
    p.add_argument("--stations", type=int, default=4, help="stations (default 4)")
    p.add_argument("--sqlite", action="store_true", help="a SQLite store, not PostgreSQL")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    say(f"machine: {sync.machine_facts()}")
    report(measure(opts), opts)
    say(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
