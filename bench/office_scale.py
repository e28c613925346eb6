"""Benchmark: the head office's ingest rate with 1, 2 and 4 workers on PostgreSQL (issue 16).

What: S simulated stations, each a real station store (``bench/sync.py``'s
``generate_station``: the migrations' schema, a valid hash chain, every sale still in the
outbox; generated once and kept under ``/var/tmp/forecourt-bench-office-scale``, copied
for each run) with the station's real uplink (:class:`cloud_sync.station_sync.StationSync`,
the daemon's writer lock a ``threading.Lock``), run in ``--station-procs`` child processes.
They publish through a private ``mosquitto`` on a free port (``bench/sync.py``'s Broker, a
fresh one per run) into W ``forecourt office serve --worker N`` processes sharing the
stations' topics (MQTT 5 shared subscriptions), on a fresh PostgreSQL database copied from
one migrated for this bench run (``office.store.init_office``, the stations enrolled as
``forecourt office station add`` enrolls them).

Measured for each worker count: the wall time from the stations' start until every
station's outbox is empty (every sale receipted); the office must then hold every sale
exactly once (counted per station and compared seq by seq, hash by hash with the stations'
journals). Receipt latency: in the station processes, from a batch's first publish to the
applied receipt that covers it (``StationSync``'s link ``publish`` wrapped on the
instance, ``station_sync.apply_receipt`` wrapped in the module; StationSync's code is
unchanged).

The *floor*, in the same run and database: a bare ``COPY`` of the same rows (as the
office stores them) into an empty copy of the ``sales`` table (``LIKE sales INCLUDING
ALL``: the same key, indexes and check), one transaction, measured before and after the
drain (the faster counts). Printed: sales/s, latency p50/p99, the ratio of the ingest
rate to the floor's, the machine (nproc, load average before/after each run).

Run::

    .venv/bin/python bench/office_scale.py --quick      # 4 stations x 1,500 sales, 1 and 2 workers
    .venv/bin/python bench/office_scale.py              # 20 stations x 2,000 sales, 1, 2, 4 workers
    .venv/bin/python bench/office_scale.py --stations 50 --sales 1000 --workers 1,4

The script always exits 0 (a benchmark reports); FAIL lines say what was wrong.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg
import sync  # bench/sync.py: the station generator, the broker, machine facts
from authorize import percentile  # nearest rank
from psycopg import sql as pgsql

from cloud_sync import station_sync
from cloud_sync.station_sync import StationSync
from core.config import OfficeConfig, load_config_file
from core.keys import OFFICE_KEY, load_private_key
from core.logs import configure as configure_logging
from core.timefmt import iso, utc_now
from office.store import init_office, open_office
from offline_db.outbox import ReceiptResult, apply_receipt
from offline_db.store import StationStore

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/var/tmp/forecourt-bench-office-scale")
FORMAT = 1  # bump when the generated stations change
ADMIN_DSN = os.environ.get("FORECOURT_TEST_PG") or \
    "postgresql:///postgres?host=/var/run/postgresql"
PG_HOST = "/var/run/postgresql"
COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product", "volume_ml",
           "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
           "prev_hash", "hash", "received_at", "via")
say = sync.say


# -- the stations, generated once ------------------------------------------------------------
def station_ids(count: int) -> list[str]:
    return [f"S-{i:03d}" for i in range(1, count + 1)]


def cached_stations(count: int, sales: int, seed: int, cache: Path) -> Path:
    """A folder of ``count`` station stores with ``sales`` undelivered sales each (and
    their keys), made once: ``built.json`` is written last, a folder without it is made
    again."""
    folder = cache / f"v{FORMAT}_{count}x{sales}_{seed}"
    if (folder / "built.json").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    for n, sid in enumerate(station_ids(count)):
        sync.generate_station(folder / sid, sales, seed + n, station_id=sid)
    (folder / "built.json").write_text(json.dumps({"stations": count, "sales": sales,
                                                   "seed": seed, "built_at": iso(utc_now())}))
    say(f"  generated {count} stations x {sales:,} sales in "
        f"{time.perf_counter() - started:.1f} s into {folder}")
    return folder


def journal_rows(stations_dir: Path, ids: Sequence[str], received_at: str
                 ) -> list[tuple[Any, ...]]:
    """Every station's journal as office ``sales`` rows (COLUMNS), read before any clock."""
    rows: list[tuple[Any, ...]] = []
    for sid in ids:
        src = StationStore.open_reader(stations_dir / sid)
        try:
            rows += [tuple(r) for r in src.conn.execute(
                "SELECT station_id, seq, sale_id, card_id, pump, product, volume_ml, "
                "unit_price, amount, authorized_at, completed_at, wallet_debits, prev_hash, "
                "hash, ?, 'mqtt' FROM journal ORDER BY seq", (received_at,))]
        finally:
            src.close()
    return rows


# -- PostgreSQL ------------------------------------------------------------------------------
def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def database_url(name: str) -> str:
    return f"postgresql:///{name}?host={PG_HOST}"


def create_database(name: str, template: str | None = None) -> str:
    drop_database(name)
    query = pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name))
    if template:
        query = pgsql.SQL("{} TEMPLATE {}").format(query, pgsql.Identifier(template))
    with admin() as conn:
        conn.execute(query)
    return database_url(name)


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(pgsql.Identifier(name)))


def drop_databases(names: Sequence[str], wait: bool) -> None:
    """Drop the bench's databases. ``DROP DATABASE`` waits for a checkpoint of the whole
    server (18 s and more here while others write), so unless ``wait`` it runs in a
    detached process of its own, after the measuring is over."""
    if wait:
        for name in names:
            drop_database(name)
        return
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import office_scale as o; "
            "[o.drop_database(n) for n in sys.argv[2:]]")
    proc = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), *names],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    say(f"dropping the bench databases in the background (pid {proc.pid}): "
        f"{', '.join(names)}")


def make_template(name: str, office_dir: Path, stations_dir: Path, ids: Sequence[str]) -> str:
    """``forecourt office init`` on a new database, the stations enrolled; every
    connection closed so that it can be copied."""
    url = create_database(name)
    office = OfficeConfig(data_dir=office_dir, database=url)
    init_office(office)
    conn = open_office(office)
    with conn.atomic():
        for sid in ids:
            key = (stations_dir / sid / "station_key.pub").read_text().strip()
            conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) "
                         "VALUES (?, ?, ?)", (sid, key, iso(utc_now())))
    conn.close()
    from django.db import connections

    connections.close_all()  # a template must have no connections
    return url


def measure_floor(url: str, rows: Sequence[tuple[Any, ...]]) -> float:
    """Seconds for one bare COPY of ``rows`` into an empty copy of ``sales`` (its key,
    indexes and check), one transaction, committed; the table is dropped after."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bench_floor_sales (LIKE sales INCLUDING ALL)")
        conn.commit()
        copy = f"COPY bench_floor_sales ({', '.join(COLUMNS)}) FROM STDIN"
        try:
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(copy) as out:
                for row in rows:
                    out.write_row(row)
            conn.commit()
            seconds = time.perf_counter() - started
            count = conn.execute("SELECT COUNT(*) FROM bench_floor_sales").fetchone()
        finally:
            conn.rollback()
            conn.execute("DROP TABLE bench_floor_sales")
            conn.commit()
    if count is None or count[0] != len(rows):
        raise SystemExit(f"the floor COPY stored {count} rows, not {len(rows)}")
    return seconds


# -- the office workers ----------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc/PID/stat), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runnable_wait_seconds(pid: int) -> float:
    """Time the threads of process ``pid`` have waited runnable for a CPU so far
    (/proc/PID/task/*/schedstat, second field): on a shared machine, the part of the
    wall time that is waiting for a core rather than for the database or the network."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


@dataclasses.dataclass
class Usage:
    """CPU and runnable-waiting seconds of a set of processes (a difference of two)."""

    cpu_s: float = 0.0
    wait_s: float = 0.0

    @classmethod
    def of(cls, pids: Sequence[int]) -> Usage:
        return cls(sum(cpu_seconds(p) for p in pids),
                   sum(runnable_wait_seconds(p) for p in pids))

    @classmethod
    def since(cls, before: dict[int, Usage], pids: Sequence[int]) -> Usage:
        """What ``pids`` used since ``before`` (per pid; a process not in it was born
        since, all of its use counts)."""
        total = cls()
        for pid in pids:
            total = total + (cls.of([pid]) - before.get(pid, cls()))
        return total

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s + other.cpu_s, self.wait_s + other.wait_s)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s - other.cpu_s, self.wait_s - other.wait_s)

    def __str__(self) -> str:
        return f"CPU {self.cpu_s:.1f} s, waiting for a CPU {self.wait_s:.1f} s"


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL server processes serving database ``url`` (but this query's)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]


def forecourt_exe() -> str:
    exe = shutil.which("forecourt", path=os.path.dirname(sys.executable))
    if not exe:
        raise SystemExit("the forecourt console script is not installed next to this Python")
    return exe


def write_config(path: Path, office_dir: Path, url: str, port: int, workers: int,
                 batch: int, receipt_timeout_s: int) -> Path:
    """The repository's config.toml with this run's office, broker and worker count."""
    text = (ROOT / "config.toml").read_text()
    for old, new in (('data_dir = "var/office"', f'data_dir = "{office_dir}"'),
                     ('\ndatabase = ""\n', f'\ndatabase = "{url}"\n'),
                     ("enabled = false", "enabled = true"),
                     ("port = 1883", f"port = {port}"),
                     ("batch_max_sales = 500", f"batch_max_sales = {batch}"),
                     ("receipt_timeout_s = 15", f"receipt_timeout_s = {receipt_timeout_s}"),
                     ('format = "auto"', 'format = "json"'),
                     ("\nworkers = 1\n", f"\nworkers = {workers}\n")):
        if text.count(old) != 1:
            raise SystemExit(f"config.toml changed: {old!r} is not there once")
        text = text.replace(old, new)
    path.write_text(text)
    return path


class Workers:
    """``forecourt office serve --worker N`` processes, each logging to its own file."""

    def __init__(self, config_file: Path, count: int) -> None:
        self.config_file = config_file
        self.names = [str(n) for n in range(1, count + 1)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.config_file.parent / f"worker-{name}.log"

    def start(self, timeout: float = 60.0) -> None:
        for name in self.names:
            with self.log(name).open("ab") as log:
                self.procs[name] = subprocess.Popen(
                    [forecourt_exe(), "--config", str(self.config_file), "office", "serve",
                     "--worker", name], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not all('"office.ready"' in self.log(n).read_text() for n in self.names):
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = {n: self.log(n).read_text()[-600:] for n in dead or self.names}
                raise SystemExit(f"office workers not ready (exited: {dead}): {tail}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        return [self.procs[n].pid for n in self.names]

    def batches(self) -> list[int]:
        """Batches each worker ingested (its ``office.batch`` log lines)."""
        return [self.log(n).read_text().count('"office.batch"') for n in self.names]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()


# -- the stations' side (child processes) ----------------------------------------------------
@dataclasses.dataclass
class StationsJob:
    config_file: Path
    office_dir: Path
    stations_dir: Path
    ids: list[str]
    sales: int
    ready: Path  # made when this child's stations are set up
    go: Path  # made by the parent when every child is ready: all start at once
    timeout_s: float


@dataclasses.dataclass
class StationsResult:
    started: float  # time.time() this child's stations were started
    cpu_s: float  # this process's CPU time from the start until every outbox was empty
    finished: dict[str, float]  # station -> time.time() its outbox was empty
    latencies_us: list[int]
    publishes: int  # sales batches published (re-sends included)
    batches: int  # distinct batches
    receipts: int
    replays: int
    refused: int
    outbox_left: int


class Observed:
    """One station's uplink, observed: when each batch was first published, and the
    applied receipts that covered them (StationSync itself is unchanged)."""

    def __init__(self, sid: str, sync_: StationSync, store: StationStore) -> None:
        self.id = sid
        self.sync = sync_
        self.store = store
        self.sent: dict[tuple[int, int], float] = {}  # (first, last) -> first publish
        self.waiting: list[tuple[int, float]] = []  # (last, sent) not yet covered
        self.latencies_us: list[int] = []
        self.publishes = 0
        self.mutex = threading.Lock()
        real_publish = sync_.link.publish

        def publish(topic: str, payload: bytes, *args: Any, **kwargs: Any) -> bool:
            if topic.endswith("/sales"):
                with sync_._window_lock:  # the entry StationSync appended just before
                    entry = sync_._window[-1] if sync_._window else None
                if entry is not None:
                    with self.mutex:
                        self.publishes += 1
                        if (entry.first, entry.last) not in self.sent:
                            self.sent[(entry.first, entry.last)] = time.perf_counter()
                            self.waiting.append((entry.last, self.sent[(entry.first,
                                                                        entry.last)]))
            return real_publish(topic, payload, *args, **kwargs)

        sync_.link.publish = publish  # type: ignore[method-assign]

    def receipted(self, up_to: int) -> None:
        now = time.perf_counter()
        with self.mutex:
            still = []
            for last, sent in self.waiting:
                if last <= up_to:
                    self.latencies_us.append(round((now - sent) * 1e6))
                else:
                    still.append((last, sent))
            self.waiting = still


def run_stations(job: StationsJob) -> StationsResult:
    """The stations of one child process: start together at ``job.start_at``, run until
    every outbox is empty (or the timeout), stop; what was observed."""
    configure_logging("info", "json", open(os.devnull, "w"))  # noqa: SIM115 - process-long
    base = load_config_file(job.config_file)
    office_key = load_private_key(job.office_dir, OFFICE_KEY).public_key()
    stations: list[Observed] = []
    for sid in job.ids:
        sdir = job.stations_dir / sid
        config = dataclasses.replace(base, station=dataclasses.replace(
            base.station, id=sid, data_dir=sdir))
        store = StationStore.open_writer(sdir, holder="bench/office_scale.py")
        sync_ = StationSync(config, store.conn, threading.Lock(), load_private_key(sdir),
                            office_key)
        stations.append(Observed(sid, sync_, store))
    by_conn = {id(o.store.conn): o for o in stations}

    def observed_apply(conn: Any, *, up_to_seq: int, hash_: str) -> ReceiptResult:
        result = apply_receipt(conn, up_to_seq=up_to_seq, hash_=hash_)
        if result.accepted:
            by_conn[id(conn)].receipted(up_to_seq)
        return result

    setattr(station_sync, "apply_receipt", observed_apply)  # noqa: B010 - the wrap
    finished: dict[str, float] = {}
    job.ready.touch()
    while not job.go.exists():
        time.sleep(0.001)
    started = time.time()
    cpu_start = time.process_time()
    for o in stations:
        o.sync.start()
    deadline = time.monotonic() + job.timeout_s
    while len(finished) < len(stations) and time.monotonic() < deadline:
        time.sleep(0.01)
        for o in stations:
            if o.id in finished:
                continue
            with o.sync.lock:
                row = o.store.conn.execute("SELECT value FROM sync_state "
                                           "WHERE key = 'last_receipt_seq'").fetchone()
            if row is not None and int(row[0]) == job.sales:
                finished[o.id] = time.time()
    cpu_s = time.process_time() - cpu_start
    left = 0
    for o in stations:
        o.sync.stop()
        left += int(o.store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        o.store.close()
    return StationsResult(
        started, cpu_s, finished, [x for o in stations for x in o.latencies_us],
        sum(o.publishes for o in stations), sum(len(o.sent) for o in stations),
        sum(o.sync.receipts for o in stations), sum(o.sync.replays for o in stations),
        sum(o.sync.refused for o in stations), left)


# -- one run ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    workers: int
    sales: int
    seconds: float
    latencies_us: list[int]
    floor_s: float
    floors_s: list[float]
    per_worker_batches: list[int]
    publishes: int
    batches: int
    receipts: int
    replays: int
    refused: int
    usage: dict[str, Usage]  # workers, postgres (their backends), mosquitto: in the drain
    cpu_stations_s: float  # the station processes' CPU seconds during the drain
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    problems: list[str]

    @property
    def rate(self) -> float:
        return sync.rate(self.sales, self.seconds)

    @property
    def floor_rate(self) -> float:
        return sync.rate(self.sales, self.floor_s)

    def p(self, q: float) -> float:
        """The latency percentile q in ms (nearest rank)."""
        if not self.latencies_us:
            return float("nan")
        return percentile(sorted(self.latencies_us), q) / 1000


def check_office(url: str, rows: Sequence[tuple[Any, ...]], ids: Sequence[str],
                 sales: int) -> list[str]:
    """What is wrong at the office (empty when it holds every sale exactly once)."""
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        held = conn.execute("SELECT station_id, seq, hash FROM sales").fetchall()
        heads = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT station_id, contiguous_seq, contiguous_hash FROM station_chain")}
        quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()
        open_problems = conn.execute("SELECT COUNT(*) FROM chain_problems "
                                     "WHERE resolved_at IS NULL").fetchone()
    want = {(r[0], r[1], r[13]) for r in rows}
    got = {tuple(r) for r in held}
    if len(held) != len(rows) or got != want:
        problems.append(f"the office holds {len(held):,} sales ({len(got - want):,} not in "
                        f"the journals, {len(want - got):,} missing), not exactly the "
                        f"{len(rows):,} of the journals")
    last = {r[0]: r[13] for r in rows if r[1] == sales}
    wrong = [sid for sid in ids if heads.get(sid) != (sales, last.get(sid))]
    if wrong:
        problems.append(f"station_chain is not at seq {sales} with its hash for {wrong}")
    if (quarantined and quarantined[0]) or (open_problems and open_problems[0]):
        problems.append(f"quarantined batches {quarantined}, open chain problems "
                        f"{open_problems}")
    return problems


def run_once(opts: argparse.Namespace, workers: int, root: Path, cache_dir: Path,
             template: str, template_office: Path, ids: list[str]) -> Run:
    run_dir = root / f"workers-{workers}"
    stations_dir = run_dir / "stations"
    shutil.copytree(cache_dir, stations_dir, ignore=shutil.ignore_patterns("built.json"))
    office_dir = run_dir / "office"
    shutil.copytree(template_office, office_dir)
    db_name = f"{template[:-4]}_w{workers}"
    url = create_database(db_name, template=template)
    broker = sync.Broker(run_dir / "mosquitto")
    office = None
    try:
        broker.start()
        config_file = write_config(run_dir / "config.toml", office_dir, url, broker.port,
                                   workers, opts.batch, opts.receipt_timeout)
        rows = journal_rows(stations_dir, ids, iso(utc_now()))
        floors = [measure_floor(url, rows)]
        office = Workers(config_file, workers)
        office.start()
        os.sync()  # the copies' write-back must not land on the drain
        chunks = [ids[i::opts.station_procs] for i in range(opts.station_procs)]
        chunks = [c for c in chunks if c]
        go = run_dir / "go"
        readies = [run_dir / f"ready-{i}" for i in range(len(chunks))]
        with ProcessPoolExecutor(max_workers=len(chunks), mp_context=get_context("spawn")
                                 ) as pool:
            futures = [pool.submit(run_stations, StationsJob(
                config_file, office_dir, stations_dir, chunk, opts.sales, ready, go,
                opts.timeout)) for chunk, ready in zip(chunks, readies, strict=True)]
            while not all(r.exists() for r in readies):
                failed = [f for f in futures if f.done()]
                if failed:
                    failed[0].result()  # raises what went wrong
                    raise SystemExit("a station process ended before it was ready")
                time.sleep(0.01)
            load_before = os.getloadavg()
            def processes() -> dict[str, list[int]]:
                # A worker's database connections open with its first batch: the
                # server processes are listed again at the end.
                return {"workers": office.pids(), "postgres": backend_pids(url),
                        "mosquitto": [broker.proc.pid] if broker.proc else []}

            before = {pid: Usage.of([pid]) for group in processes().values() for pid in group}
            start_at = time.time()
            go.touch()
            results = [f.result() for f in futures]
        usage = {k: Usage.since(before, v) for k, v in processes().items()}
        load_after = os.getloadavg()
        finished = {k: v for r in results for k, v in r.finished.items()}
        problems: list[str] = []
        if len(finished) < len(ids):
            problems.append(f"{len(ids) - len(finished)} stations not delivered within "
                            f"{opts.timeout:.0f} s")
        start_at = min(r.started for r in results)  # all within a few ms of start_at
        seconds = (max(finished.values()) if finished else time.time()) - start_at
        office.stop()
        per_worker = office.batches()
        floors.append(measure_floor(url, rows))
        problems += check_office(url, rows, ids, opts.sales)
        left = sum(r.outbox_left for r in results)
        if left:
            problems.append(f"{left:,} sales still in the stations' outboxes")
        refused = sum(r.refused for r in results)
        if refused:
            problems.append(f"the stations refused {refused} receipts")
        return Run(workers, len(rows), seconds, [x for r in results for x in r.latencies_us],
                   min(floors), floors, per_worker, sum(r.publishes for r in results),
                   sum(r.batches for r in results), sum(r.receipts for r in results),
                   sum(r.replays for r in results), refused, usage,
                   sum(r.cpu_s for r in results), load_before, load_after,
                   problems)
    finally:
        if office is not None:
            office.stop()
        broker.stop()


# -- reporting and entry point ---------------------------------------------------------------
def load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def report(run: Run) -> str:
    return (f"workers {run.workers}: {run.sales:,} sales in {run.seconds:.2f} s = "
            f"{run.rate:,.0f} sales/s; receipt latency p50 {run.p(0.5):,.0f} ms, p99 "
            f"{run.p(0.99):,.0f} ms ({len(run.latencies_us):,} batches); floor COPY "
            f"{run.floor_s:.3f} s = {run.floor_rate:,.0f} rows/s (runs "
            f"{', '.join(f'{s:.3f}' for s in run.floors_s)}); ingest rate = "
            f"{run.rate / run.floor_rate:.3f} of the floor's; batches per worker "
            f"{run.per_worker_batches}; published {run.publishes:,} for {run.batches:,} "
            f"batches; receipts {run.receipts:,}, replays {run.replays:,}; "
            f"{'; '.join(f'{k}: {u}' for k, u in run.usage.items())}; stations: CPU "
            f"{run.cpu_stations_s:.1f} s; CPU ms a published batch: workers "
            f"{run.usage['workers'].cpu_s * 1000 / max(1, run.publishes):.0f}, postgres "
            f"{run.usage['postgres'].cpu_s * 1000 / max(1, run.publishes):.0f}, stations "
            f"{run.cpu_stations_s * 1000 / max(1, run.publishes):.0f}; load "
            f"{load(run.load_before)} -> {load(run.load_after)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--stations", type=int, default=20, help="stations (default 20)")
    p.add_argument("--sales", type=int, default=2000,
                   help="undelivered sales in each station's outbox (default 2,000)")
    p.add_argument("--workers", default="1,2,4",
                   help="worker counts to measure, comma-separated (default 1,2,4)")
    p.add_argument("--quick", action="store_true",
                   help="4 stations x 1,500 sales, 1 and 2 workers (under a minute)")
    p.add_argument("--station-procs", type=int, default=2,
                   help="processes the stations run in (default 2)")
    p.add_argument("--batch", type=int, default=500,
                   help="[mqtt] batch_max_sales (default 500, as config.toml)")
    p.add_argument("--receipt-timeout", type=int, default=15,
                   help="[mqtt] receipt_timeout_s (default 15, as config.toml)")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="give up a run after this many seconds (default 60 + 5 ms a sale)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--cache", type=Path, default=CACHE,
                   help=f"where the generated stations are kept (default {CACHE})")
    p.add_argument("--dir", type=Path, default=None,
                   help="keep the run's files (stores, logs) in DIR (default: a temporary "
                        "directory, deleted)")
    p.add_argument("--drop-wait", action="store_true",
                   help="drop the bench's databases before exiting (default: in a detached "
                        "process, as DROP DATABASE waits for a server checkpoint)")
    args = p.parse_args(argv)
    if args.quick:
        args.stations, args.sales, args.workers = 4, 1500, "1,2"
    args.worker_counts = [int(w) for w in str(args.workers).split(",") if w.strip()]
    if not args.worker_counts or min(args.worker_counts) < 1:
        p.error("--workers: counts of 1 or more, e.g. 1,2,4")
    args.station_procs = max(1, min(args.station_procs, args.stations))
    args.timeout = args.timeout or 60 + 0.005 * args.stations * args.sales
    return args


def measure(opts: argparse.Namespace, on_run: Callable[[Run], None] = lambda _: None
            ) -> list[Run]:
    """Every worker count of ``opts`` measured; the runs."""
    ids = station_ids(opts.stations)
    say(f"stations: {opts.stations} x {opts.sales:,} undelivered sales ...")
    cache_dir = cached_stations(opts.stations, opts.sales, opts.seed, opts.cache)
    temporary = opts.dir is None
    root: Path = Path(tempfile.mkdtemp(prefix="forecourt-bench-scale-")) if temporary \
        else opts.dir
    root.mkdir(parents=True, exist_ok=True)
    template = f"fc_bench_scale_{os.getpid()}_tpl"
    template_office = root / "office-template"
    runs: list[Run] = []
    try:
        make_template(template, template_office, cache_dir, ids)
        for workers in opts.worker_counts:
            say(f"{workers} worker(s) ...")
            run = run_once(opts, workers, root, cache_dir, template, template_office, ids)
            say("  " + report(run))
            for problem in run.problems:
                say(f"  FAIL: {problem}")
            runs.append(run)
            on_run(run)
    finally:
        drop_databases([template, *(f"{template[:-4]}_w{w}" for w in opts.worker_counts)],
                       opts.drop_wait)
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    configure_logging("info", "json", open(os.devnull, "w"))  # noqa: SIM115 - process-long
    say(f"machine: nproc {os.cpu_count()}; {sync.machine_facts()}")
    with admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    say(f"PostgreSQL {row[0] if row else '?'}; broker {sync.mosquitto_version()}")
    load_start = os.getloadavg()
    runs = measure(opts)
    say("")
    say(f"load average: {load(load_start)} at the start, {load(os.getloadavg())} at the end")
    say(f"{'workers':>7} {'sales/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'floor/s':>9} "
        f"{'ratio':>6} {'vs 1 worker':>11}")
    one = runs[0].rate if runs else 0.0
    for run in runs:
        say(f"{run.workers:>7} {run.rate:>9,.0f} {run.p(0.5):>8,.0f} {run.p(0.99):>8,.0f} "
            f"{run.floor_rate:>9,.0f} {run.rate / run.floor_rate:>6.3f} "
            f"{run.rate / one:>10.2f}x")
    bad = [p for run in runs for p in run.problems]
    say("FAIL: " + "; ".join(bad) if bad else
        "every run: every sale at the office exactly once, every outbox empty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
