"""bench/office_scale.py at a tiny size, so that it does not rot: stations' real uplink
through a private mosquitto into one and then two ``office serve`` workers on
PostgreSQL; every run ends with every sale at the office exactly once, every outbox
empty, and a latency for every batch. No timing is asserted."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import office_scale

from tests import pg

STATIONS = 3
SALES = 120
BATCH = 50  # 50 + 50 + 20: three batches a station


def test_one_and_two_workers_store_every_sale_once(tmp_path: Path) -> None:
    pg.require_pg()
    cache = tmp_path / "cache"
    opts = office_scale.parse_args([
        "--stations", str(STATIONS), "--sales", str(SALES), "--batch", str(BATCH),
        "--workers", "1,2", "--cache", str(cache), "--dir", str(tmp_path / "run"),
        "--drop-wait"])
    runs = office_scale.measure(opts)
    assert [r.workers for r in runs] == [1, 2]
    for run in runs:
        assert run.problems == [], (run.workers, run.problems)
        assert run.sales == STATIONS * SALES
        assert run.batches >= STATIONS * 3  # more only if a station re-sent after a timeout
        assert len(run.latencies_us) == run.batches  # every batch receipted, each timed once
        assert run.refused == 0
        assert sum(run.per_worker_batches) >= run.batches
        assert run.seconds > 0 and len(run.floors_s) == 2
        # The workers and the database connections they opened during the drain are
        # found and counted (ticks of CPU, not a speed).
        assert set(run.usage) == {"workers", "postgres", "mosquitto"}
        assert run.usage["workers"].cpu_s > 0 and run.usage["postgres"].cpu_s > 0
    assert len(runs[1].per_worker_batches) == 2
    # The stations are generated once and taken from the cache the next time.
    folder = office_scale.cached_stations(STATIONS, SALES, opts.seed, cache)
    assert (folder / "built.json").exists()
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["S-001", "S-002",
                                                                        "S-003"]
    # Nothing of the bench is left on the server.
    with office_scale.admin() as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (f"fc_bench_scale_{os.getpid()}_%",)).fetchall()
    assert left == []


def test_quick_mode_is_small() -> None:
    opts = office_scale.parse_args(["--quick"])
    assert (opts.stations, opts.sales, opts.worker_counts) == (4, 1500, [1, 2])
    assert office_scale.parse_args([]).worker_counts == [1, 2, 4]
