"""Benchmark: sync drain of a sale backlog against its floor (DESIGN.md section 7, second target).

What: builds a station store with N undelivered sales (by default 1,000,000: journal
rows with a valid hash chain and their outbox rows, written straight into SQLite with
``executemany``), a head-office store with that station enrolled (real Ed25519 keys on
both sides) and a private ``mosquitto`` on a free port. Then it runs the real
:class:`cloud_sync.station_sync.StationSync` (the station store's connection and a
``threading.Lock`` as the daemon's writer lock) and the real
:class:`office.sync.mqtt.OfficeSync` (the office store's connection) in this
process, both through the broker, and times the drain: from the start of the station's
uplink until its outbox is empty, i.e. every sale signed, sent, verified, stored at the
office exactly once and its signed receipt applied at the station.

The *floor*, in the same run: the same N rows inserted into a fresh copy of the
office's ``sales`` table (same schema and indexes, same ``connect``: WAL,
``synchronous=FULL``) with one ``executemany`` per batch-size chunk, one transaction
each. It is measured before and after the drain; the faster of the two is the floor.
Target: drain rate >= 25% of the floor rate.

Run::

    .venv/bin/python bench/sync.py                  # 1,000,000 sales (a few minutes)
    .venv/bin/python bench/sync.py --scale 0.01     # 10,000 sales
    .venv/bin/python bench/sync.py --batch 2000     # sales per batch (and per floor chunk)

The script always exits 0 (a benchmark reports, it does not fail the build); the
PASS/FAIL line says whether the target is met. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cloud_sync.station_sync import StationSync
from core.config import Config, MqttConfig, OfficeConfig
from core.formats.journal import GENESIS, chain_hash
from core.keys import OFFICE_KEY, create_keypair, load_private_key, parse_public_text
from core.logs import configure as configure_logging
from core.timefmt import iso, utc_now
from office.store import OFFICE_DB, init_office, open_office
from office.sync.mqtt import OfficeSync
from offline_db.connection import connect
from offline_db.journal_checks import record_head_of_journal
from offline_db.store import DB_NAME, StationStore

TARGET_RATIO = 0.25
STATION_ID = "S-001"
CHUNK = 100_000
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PRODUCTS: tuple[tuple[str, int], ...] = (("AI92", 5090), ("AI95", 5299), ("DT", 6350))
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_B32_3 = tuple(_B32[i >> 10] + _B32[(i >> 5) & 31] + _B32[i & 31] for i in range(1 << 15))
_FLOOR_SQL_COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product",
                      "volume_ml", "unit_price", "amount", "authorized_at", "completed_at",
                      "wallet_debits", "prev_hash", "hash", "received_at", "via")


# -- small helpers --------------------------------------------------------------------------
def say(message: str) -> None:
    print(message, flush=True)


def sale_id_for(seq: int) -> str:
    """A unique ``A`` + 9-char id per seq, scattered like ``new_sale_id``'s."""
    x = (seq * 0x1D5A4F9B3C7) & ((1 << 45) - 1)  # odd multiplier: a bijection mod 2**45
    return "A" + _B32_3[x >> 30] + _B32_3[(x >> 15) & 0x7FFF] + _B32_3[x & 0x7FFF]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mosquitto_version() -> str:
    try:
        out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=10,
                             check=False)
    except OSError as exc:
        return f"unknown ({exc})"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def machine_facts() -> str:
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs, {platform.machine()}{mem}, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; "
            f"SQLite {sqlite3.sqlite_version}{load}")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# -- the broker ---------------------------------------------------------------------------
class Broker:
    """A private ``mosquitto`` on a free port, persistence in ``directory``.

    The same configuration as the sync tests use (tests/network_fixtures.py; a
    benchmark does not import tests): ``user root`` when running as root, else
    mosquitto drops to user ``mosquitto`` and cannot write into a 0700 directory.
    """

    host = "127.0.0.1"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = directory / "mosquitto.log"
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true"]
        if os.geteuid() == 0:
            lines.append("user root")
        lines += ["persistence true", f"persistence_location {directory}/",
                  "autosave_interval 1", f"log_dest file {self.log}",
                  "log_type error", "log_type warning", "log_type notice"]
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"mosquitto exited with {self.proc.returncode}: "
                                 f"{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"mosquitto did not listen on port {self.port}: {self.log_text()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


# -- generation -------------------------------------------------------------------------
def generate_station(station_dir: Path, n_sales: int, seed: int,
                     station_id: str = STATION_ID) -> float:
    """A station store (``station_id``) with ``n_sales`` journal rows, every one still in
    the outbox.

    The schema comes from the real migrations (``StationStore.create``); the rows are
    bulk-loaded with ``executemany``: gap-free seqs from 1, a valid hash chain
    (``chain_hash``), completed over the last week (a week offline), ``wallet_debits``
    ``{}``. ``sync_state`` holds what a station with a card store has
    (``card_store_version`` etc.) and no ``last_receipt_seq``: nothing delivered yet.
    """
    started = time.perf_counter()
    store, _ = StationStore.create(station_dir, holder="bench/sync.py")
    store.close()
    create_keypair(station_dir)
    conn = sqlite3.connect(str(station_dir / DB_NAME), isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                           "sql IS NOT NULL AND tbl_name = 'journal'").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    rng = random.Random(seed)
    randrange = rng.randrange
    now = utc_now()
    start = now - timedelta(days=7)
    step_us = max(1, 7 * 86_400_000_000 // max(n_sales, 1))
    cards = [f"78{i:014d}" for i in range(20_000)]
    journal_sql = ("INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, "
                   "volume_ml, unit_price, amount, authorized_at, completed_at, wallet_debits, "
                   "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    jrows: list[tuple[Any, ...]] = []
    orows: list[tuple[int, str]] = []
    prev = GENESIS
    conn.execute("BEGIN")
    for seq in range(1, n_sales + 1):
        product, price = PRODUCTS[randrange(3)]
        volume = randrange(15_000, 70_001, 10)
        amount = (volume * price + 500) // 1000
        done = start + timedelta(microseconds=seq * step_us)
        completed = iso(done)
        authorized = iso(done - timedelta(seconds=randrange(60, 300)))
        sale = {"seq": seq, "sale_id": sale_id_for(seq), "station_id": station_id,
                "card_id": cards[randrange(len(cards))], "pump": randrange(1, 9),
                "product": product, "volume_ml": volume, "unit_price": price,
                "amount": amount, "authorized_at": authorized, "completed_at": completed,
                "wallet_debits": {}}
        digest = chain_hash(prev, sale)
        jrows.append((seq, sale["sale_id"], station_id, sale["card_id"], sale["pump"], product,
                      volume, price, amount, authorized, completed, "{}", prev, digest))
        orows.append((seq, completed))
        prev = digest
        if len(jrows) >= CHUNK:
            conn.executemany(journal_sql, jrows)
            conn.executemany("INSERT INTO outbox (seq, queued_at) VALUES (?, ?)", orows)
            jrows.clear()
            orows.clear()
            if seq % 200_000 == 0:
                say(f"  station: {seq:,} sales, {time.perf_counter() - started:.0f} s")
    if jrows:
        conn.executemany(journal_sql, jrows)
        conn.executemany("INSERT INTO outbox (seq, queued_at) VALUES (?, ?)", orows)
    conn.executemany(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("card_store_version", "1"), ("card_store_generated_at", iso(now)),
         ("card_store_expires_at", ""), ("card_store_confirmed_at", iso(now)),
         ("usage_as_of_seq", "0")])
    record_head_of_journal(conn)  # as each append records it (journal verify's anchor)
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return time.perf_counter() - started


def generate_office(office_dir: Path, station_dir: Path, database: str = "") -> None:
    """``forecourt office init`` + ``forecourt office station add`` for the station
    (``database``: the ``[office] database``, "" for SQLite in ``office_dir``)."""
    office = OfficeConfig(data_dir=office_dir, database=database)
    init_office(office)
    station_key = (station_dir / "station_key.pub").read_text().strip()
    parse_public_text(station_key)  # as the CLI checks it
    conn = open_office(office)
    conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) VALUES (?, ?, ?)",
                 (STATION_ID, station_key, iso(utc_now())))
    conn.close()


# -- the floor ----------------------------------------------------------------------------
def measure_floor(office_dir: Path, station_dir: Path, floor_path: Path, batch: int) -> float:
    """Seconds to insert the journal's rows into a fresh copy of the office ``sales`` table.

    One ``BEGIN IMMEDIATE; executemany(batch rows); COMMIT`` per chunk on a connection
    opened by ``connect`` (WAL, ``synchronous=FULL``, as the office's). Reading the rows
    from the station store is not timed.
    """
    for suffix in ("", "-wal", "-shm"):
        Path(f"{floor_path}{suffix}").unlink(missing_ok=True)
    office = sqlite3.connect(str(office_dir / OFFICE_DB))
    ddl = [r[0] for r in office.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'sales' AND sql IS NOT NULL "
        "ORDER BY type DESC, rowid")]  # the table first, then its indexes
    office.close()
    floor = connect(floor_path)
    for sql in ddl:
        floor.execute(sql)
    source = sqlite3.connect(f"file:{station_dir / DB_NAME}?mode=ro", uri=True)
    insert = (f"INSERT INTO sales ({', '.join(_FLOOR_SQL_COLUMNS)}) "
              f"VALUES ({', '.join('?' for _ in _FLOOR_SQL_COLUMNS)})")
    received = iso(utc_now())
    cursor = source.execute(
        "SELECT station_id, seq, sale_id, card_id, pump, product, volume_ml, unit_price, "
        "amount, authorized_at, completed_at, wallet_debits, prev_hash, hash, ?, 'mqtt' "
        "FROM journal ORDER BY seq", (received,))
    total_ns = 0
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            break
        t0 = time.perf_counter_ns()
        floor.execute("BEGIN IMMEDIATE")
        floor.executemany(insert, rows)
        floor.execute("COMMIT")
        total_ns += time.perf_counter_ns() - t0
    source.close()
    count = floor.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    floor.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{floor_path}{suffix}").unlink(missing_ok=True)
    if count == 0:
        raise SystemExit("the floor inserted nothing")
    return total_ns / 1e9


# -- the drain ----------------------------------------------------------------------------
@dataclasses.dataclass
class Drain:
    seconds: float
    receipts: int
    batches: int
    station_refused: int
    office_refused: dict[str, int]


def run_drain(config: Config, station_dir: Path, office_dir: Path, n_sales: int,
              timeout_s: float) -> Drain:
    """The real StationSync and OfficeSync through the broker until the outbox is empty."""
    office_conn = open_office(config)
    office_key = load_private_key(office_dir, OFFICE_KEY)
    office = OfficeSync(config, office_conn, office_key)
    store = StationStore.open_writer(station_dir, holder="bench/sync.py")
    station_key = load_private_key(station_dir)
    lock = threading.Lock()
    station = StationSync(config, store.conn, lock, station_key, office_key.public_key())
    watch = connect(station_dir / DB_NAME, readonly=True)
    office.start()
    try:
        if not office.link.wait_connected(10):
            raise SystemExit("the office did not connect to the broker")
        started = time.perf_counter()
        station.start()
        last_report = started
        delivered = 0
        while delivered < n_sales:
            time.sleep(0.02)
            row = watch.execute("SELECT value FROM sync_state "
                                "WHERE key = 'last_receipt_seq'").fetchone()
            delivered = int(row[0]) if row else 0
            now = time.perf_counter()
            if now - last_report >= 10:
                say(f"  drain: {delivered:,}/{n_sales:,} receipted, {now - started:.0f} s, "
                    f"{rate(delivered, now - started):,.0f} sales/s")
                last_report = now
            if now - started > timeout_s:
                say(f"  drain: timed out after {timeout_s:.0f} s at {delivered:,}")
                break
        seconds = time.perf_counter() - started
        return Drain(seconds, station.receipts, office.batches, station.refused,
                     dict(office.refused))
    finally:
        station.stop()
        office.stop()
        watch.close()
        store.close()
        office_conn.close()


def office_holds_all(st: sqlite3.Connection, of: Any, n_sales: int
                     ) -> tuple[list[str], str]:
    """Whether the office holds seqs 1..N exactly once, chained to the station's journal,
    with nothing quarantined: the problems found, and a one-line summary."""
    problems: list[str] = []
    last_hash = st.execute("SELECT hash FROM journal WHERE seq = ?", (n_sales,)).fetchone()
    count, lo, hi, distinct = of.execute(
        "SELECT COUNT(*), MIN(seq), MAX(seq), COUNT(DISTINCT seq) FROM sales "
        "WHERE station_id = ?", (STATION_ID,)).fetchone()
    head = of.execute("SELECT contiguous_seq, contiguous_hash FROM station_chain "
                      "WHERE station_id = ?", (STATION_ID,)).fetchone()
    quarantined = int(of.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])
    open_problems = int(of.execute("SELECT COUNT(*) FROM chain_problems "
                                   "WHERE resolved_at IS NULL").fetchone()[0])
    contiguous = int(head[0]) if head else 0
    summary = (f"office: {count:,} sales (seq {lo}-{hi}, {distinct:,} distinct), "
               f"contiguous_seq {contiguous:,}; quarantined {quarantined}, open chain "
               f"problems {open_problems}")
    if count != n_sales or distinct != n_sales or lo != 1 or hi != n_sales:
        problems.append(f"the office holds {count:,} sales (seq {lo}-{hi}), not exactly "
                        f"1..{n_sales:,}")
    if contiguous != n_sales:
        problems.append(f"contiguous_seq is {contiguous:,}, not {n_sales:,}")
    if head is None or last_hash is None or head[1] != last_hash[0]:
        problems.append("the office's contiguous hash is not the station's hash at seq N")
    if quarantined or open_problems:
        problems.append(f"{quarantined} quarantined batches, {open_problems} chain problems")
    return problems, summary


def verify(station_dir: Path, office_dir: Path, n_sales: int) -> list[str]:
    """What is wrong at the end (an empty list when every sale arrived exactly once)."""
    st = connect(station_dir / DB_NAME, readonly=True)
    of = open_office(OfficeConfig(data_dir=office_dir))
    try:
        problems, summary = office_holds_all(st, of, n_sales)
        outbox = int(st.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        st.close()
        of.close()
    say(f"{summary}; station outbox {outbox:,}")
    if outbox:
        problems.append(f"{outbox:,} sales are still in the station's outbox")
    return problems


# -- entry point --------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sales", type=int, default=1_000_000,
                   help="sales in the backlog (default 1,000,000)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply --sales (e.g. 0.01)")
    p.add_argument("--batch", type=int, default=MqttConfig().batch_max_sales,
                   help="sales per batch ([mqtt] batch_max_sales) and rows per floor "
                        f"transaction (default {MqttConfig().batch_max_sales})")
    p.add_argument("--batch-bytes", type=int, default=0,
                   help="[mqtt] batch_max_bytes (default: the config default "
                        f"{MqttConfig().batch_max_bytes:,} per "
                        f"{MqttConfig().batch_max_sales} sales of --batch)")
    p.add_argument("--dir", type=Path, default=None,
                   help="keep the stores in DIR (default: a temporary directory, deleted)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=0.0,
                   help="give up the drain after this many seconds (default: 60 + 2 ms a "
                        "sale)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n_sales = max(1, round(args.sales * args.scale))
    batch = max(1, args.batch)
    default = MqttConfig()
    batch_bytes = args.batch_bytes or default.batch_max_bytes * max(
        1, -(-batch // default.batch_max_sales))  # the default cap per 500 sales
    timeout_s = args.timeout or 60 + n_sales * 0.002
    # The sync threads log like the daemon (JSON lines), to nowhere.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    configure_logging("info", "json", devnull)
    temporary = args.dir is None
    root: Path = Path(tempfile.mkdtemp(prefix="forecourt-bench-sync-")) if temporary \
        else args.dir
    station_dir, office_dir = root / "station", root / "office"
    if (station_dir / DB_NAME).exists() or (office_dir / OFFICE_DB).exists():
        raise SystemExit(f"{root} already holds stores; use another --dir")
    say(f"data directory: {root}")
    broker = Broker(root / "mosquitto")
    try:
        say(f"generating a station store with {n_sales:,} undelivered sales ...")
        gen_s = generate_station(station_dir, n_sales, args.seed)
        generate_office(office_dir, station_dir)
        say(f"  generated in {gen_s:.1f} s; station database "
            f"{(station_dir / DB_NAME).stat().st_size / 1e6:,.0f} MB")
        os.sync()  # write-back of the bulk load must not land on the measured fsyncs
        broker.start()
        base = Config()
        config = dataclasses.replace(
            base,
            station=dataclasses.replace(base.station, id=STATION_ID, data_dir=station_dir),
            office=dataclasses.replace(base.office, data_dir=office_dir),
            mqtt=dataclasses.replace(base.mqtt, enabled=True, host=broker.host,
                                     port=broker.port, batch_max_sales=batch,
                                     batch_max_bytes=batch_bytes))
        config.mqtt.validate()
        floor_path = root / "floor.db"
        say(f"floor (before the drain): {n_sales:,} rows, {batch} a transaction ...")
        floor_before = measure_floor(office_dir, station_dir, floor_path, batch)
        say(f"  {floor_before:.2f} s, {rate(n_sales, floor_before):,.0f} rows/s")
        say(f"drain: StationSync -> mosquitto -> OfficeSync, receipts back, {batch} sales "
            f"a batch (at most {batch_bytes:,} bytes) ...")
        drain = run_drain(config, station_dir, office_dir, n_sales, timeout_s)
        say(f"  {drain.seconds:.2f} s, {rate(n_sales, drain.seconds):,.0f} sales/s")
        say(f"floor (after the drain): {n_sales:,} rows, {batch} a transaction ...")
        floor_after = measure_floor(office_dir, station_dir, floor_path, batch)
        say(f"  {floor_after:.2f} s, {rate(n_sales, floor_after):,.0f} rows/s")
        broker.stop()

        problems = verify(station_dir, office_dir, n_sales)
        floor_s = min(floor_before, floor_after)
        drain_rate, floor_rate = rate(n_sales, drain.seconds), rate(n_sales, floor_s)
        ratio = drain_rate / floor_rate
        say("")
        say(f"machine: {machine_facts()}")
        say(f"broker: {mosquitto_version()} (private, persistence on, 127.0.0.1)")
        say(f"sales: {n_sales:,}; batch: {batch} sales, at most {batch_bytes:,} bytes; "
            f"station generated in {gen_s:.1f} s")
        say(f"drain: {drain.seconds:.2f} s = {drain_rate:,.0f} sales/s "
            f"({drain.batches:,} batches ingested, {drain.receipts:,} receipts applied, "
            f"refused: station {drain.station_refused}, office {drain.office_refused or 0})")
        say(f"floor: {floor_s:.2f} s = {floor_rate:,.0f} rows/s (before the drain "
            f"{floor_before:.2f} s, after {floor_after:.2f} s; the faster counts)")
        verdict = "PASS" if ratio >= TARGET_RATIO and not problems else "FAIL"
        say(f"{verdict}: drain rate is {ratio:.3f} of the floor rate "
            f"(target >= {TARGET_RATIO:g})")
        for problem in problems:
            say(f"FAIL: {problem}")
    finally:
        broker.stop()
        devnull.close()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
