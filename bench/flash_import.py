"""Benchmark: a flash bundle of 1,000,000 sales imported into a PostgreSQL office (issue 16).

What: the real :func:`office.sync.flash.import_sales_bundle` of one station's sales
bundle into a fresh PostgreSQL office (``office.ledger.bulk_postgresql``: every line
hashed and judged in Python by a producer thread while the server stores the previous
chunk with ``COPY``), then the same bundle **again** (every sale a duplicate).

The *floor*, in the same run, measured before and after the imports (the faster
counts): a bare ``COPY`` of the same rows into the same table of a fresh office
database (the same schema and indexes, made from the same template): the rows
already formatted in memory as COPY text, one ``COPY ... FROM STDIN``, one commit.
Nothing checked, nothing counted, nothing else written. Targets: the import under
10 s at 1,000,000 sales (scaled linearly for another N) and within 1.25x of the floor.

Generated once and kept under ``/var/tmp/forecourt-bench-flash-import/<key>``: a
station store with N undelivered sales (``bench/sync.py``'s ``generate_station``),
the office's key and the exported bundle; ``built.json`` is written last (a folder
without it is built again). The office databases are made from a template database
named after the key, migrated and with the station enrolled once; each run's
databases are dropped at the end.

Run::

    .venv/bin/python bench/flash_import.py --scale 0.01    # 10,000 sales
    .venv/bin/python bench/flash_import.py                 # 1,000,000 sales
    .venv/bin/python bench/flash_import.py --profile 30    # then the import under cProfile

The script always exits 0; the PASS/FAIL lines say whether the targets are met.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sync  # bench/sync.py: the same generated station and its office
from flash import in_child, peak_mb, station_config  # bench/flash.py

from cloud_sync.bundle import open_bundle
from cloud_sync.envelope import OFFICE
from core.config import OfficeConfig
from core.keys import OFFICE_KEY, load_private_key, parse_public_text
from core.timefmt import iso, utc_now
from edge.flash import export_sales
from office.store import open_office
from office.sync.flash import import_sales_bundle
from offline_db.store import StationStore

CACHE = Path("/var/tmp/forecourt-bench-flash-import")
FORMAT = 1  # bump when the generated contents change
ADMIN_DSN = os.environ.get("FORECOURT_TEST_PG") or \
    "postgresql:///postgres?host=/var/run/postgresql"
TARGET_S = 10.0
TARGET_RATIO = 1.25
TARGET_SALES = 1_000_000
STATION_ID = sync.STATION_ID
#: The columns the floor fills: every column the import fills, in the table's order.
FLOOR_COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product", "volume_ml",
                 "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
                 "prev_hash", "hash", "received_at", "via")
say = sync.say
Result = dict[str, Any]


# -- the cached data -------------------------------------------------------------------------
def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def database_url(name: str) -> str:
    """The URL of database ``name`` on the admin DSN's server (Unix socket by default)."""
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    host = str(info.get("host") or "/var/run/postgresql")
    user = f"{quote(str(info['user']))}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    if host.startswith("/"):
        return f"postgresql://{user}{port and 'localhost' + port}/{name}?host={quote(host)}"
    return f"postgresql://{user}{host}{port}/{name}"


def _exists(admin: psycopg.Connection[Any], name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                         (name,)).fetchone() is not None


def build(n_sales: int, seed: int) -> Path:
    """The cached station, office key, bundle and template database for (N, seed)."""
    key = f"f{FORMAT}_n{n_sales}_s{seed}"
    folder = CACHE / key
    template = f"fc_bench_flash_{key}"
    with _admin() as admin:
        if (folder / "built.json").exists() and _exists(admin, template):
            return folder
        say(f"building {folder} (once) ...")
        shutil.rmtree(folder, ignore_errors=True)
        admin.execute(f"DROP DATABASE IF EXISTS {template}")
        folder.mkdir(parents=True)
        station_dir, office_dir, stick = folder / "station", folder / "office", folder / "stick"
        gen_s = sync.generate_station(station_dir, n_sales, seed)
        admin.execute(f"CREATE DATABASE {template}")
    sync.generate_office(office_dir, station_dir, database_url(template))
    stick.mkdir()
    store = StationStore.open_reader(station_dir)
    try:
        summary = export_sales(station_config(station_dir, office_dir), store.conn, stick,
                               now=utc_now())
    finally:
        store.close()
    (folder / "built.json").write_text(json.dumps(
        {"sales": n_sales, "seed": seed, "generated_s": round(gen_s, 1),
         "bundle": Path(summary.path).name, "template": template}))
    say(f"  built in {gen_s:.0f} s; bundle {Path(summary.path).stat().st_size / 1e6:.1f} MB")
    return folder


def fresh_database(template: str, name: str) -> str:
    """A new database ``name`` copied from ``template``; its URL."""
    with _admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return database_url(name)


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the phases (each in a child process) -------------------------------------------------------
def server_cpu(pid: int) -> float:
    """CPU seconds the server process ``pid`` (a backend on this machine) has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process, the kernel's too)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def phase_import(office_dir: Path, url: str, bundle: Path, top: int) -> Result:
    conn = open_office(OfficeConfig(data_dir=office_dir, database=url))
    profiler = cProfile.Profile() if top else None
    try:
        backend = int(conn.one("SELECT pg_backend_pid()")[0])
        server0, client0 = server_cpu(backend), time.process_time()
        machine0 = machine_busy()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = import_sales_bundle(conn, bundle, now=utc_now())
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        machine_s = machine_busy() - machine0
        server_s, client_s = server_cpu(backend) - server0, time.process_time() - client0
    finally:
        conn.close()
    text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        text = out.getvalue()
    return {"seconds": seconds, "stored": result["stored"], "duplicates": result["duplicates"],
            "quarantined": result["quarantined"], "contiguous_seq": result["contiguous_seq"],
            "peak_mb": peak_mb(), "profile": text, "server_s": server_s, "client_s": client_s,
            "machine_s": machine_s}


def _copy_text(station_dir: Path, office_dir: Path, bundle: Path) -> list[bytes]:
    """The bundle's sales as COPY text rows of ``FLOOR_COLUMNS``, in 1 MB blocks."""
    key = load_private_key(office_dir, OFFICE_KEY)
    station_key = parse_public_text((station_dir / "station_key.pub").read_text().strip())
    at = iso(utc_now()).encode()
    blocks: list[bytes] = []
    rows: list[bytes] = []
    size = 0
    with open_bundle(bundle, me=OFFICE, my_key=key, kind="sales",
                     key_for=lambda s: station_key if s == STATION_ID else None) as opened:
        lines = opened.lines()
        meta = json.loads(next(lines))
        prev = meta["first_prev_hash"]
        for line in lines:
            sale = json.loads(line)
            digest = hashlib.sha256(prev.encode() + b"\n" + line).hexdigest()
            text = "\t".join((STATION_ID, str(sale["seq"]), sale["sale_id"], sale["card_id"],
                              str(sale["pump"]), sale["product"], str(sale["volume_ml"]),
                              str(sale["unit_price"]), str(sale["amount"]),
                              sale["authorized_at"], sale["completed_at"], "{}", prev, digest,
                              at.decode(), "flash")) + "\n"
            prev = digest
            rows.append(text.encode())
            size += len(rows[-1])
            if size >= 1 << 20:
                blocks.append(b"".join(rows))
                rows, size = [], 0
    if rows:
        blocks.append(b"".join(rows))
    return blocks


def phase_floor(station_dir: Path, office_dir: Path, bundle: Path, url: str) -> Result:
    """A bare COPY of the bundle's rows (formatted before the clock starts), one commit."""
    blocks = _copy_text(station_dir, office_dir, bundle)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        backend = conn.info.backend_pid
        server0 = server_cpu(backend)
        machine0 = machine_busy()
        started = time.perf_counter()
        with cur.copy(f"COPY sales ({', '.join(FLOOR_COLUMNS)}) FROM STDIN") as copy:
            for block in blocks:
                copy.write(block)
        copied = time.perf_counter() - started
        conn.commit()
        seconds = time.perf_counter() - started
        machine_s = machine_busy() - machine0
        server_s = server_cpu(backend) - server0
        rows = cur.execute("SELECT COUNT(*) FROM sales").fetchone()
    return {"seconds": seconds, "copy_s": copied, "rows": rows[0] if rows else 0,
            "peak_mb": peak_mb(), "server_s": server_s, "machine_s": machine_s}


# -- entry point -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sales", type=int, default=TARGET_SALES)
    p.add_argument("--scale", type=float, default=1.0, help="multiply --sales (e.g. 0.01)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rounds", type=int, default=1,
                   help="import into a fresh database N times, a floor after each (the "
                        "fastest of each counts: a loaded machine varies from run to run)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="then import once more under cProfile and print the top N functions")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n_sales = max(1, round(args.sales * args.scale))
    target_s = TARGET_S * n_sales / TARGET_SALES
    folder = build(n_sales, args.seed)
    built = json.loads((folder / "built.json").read_text())
    station_dir, office_dir = folder / "station", folder / "office"
    bundle = folder / "stick" / built["bundle"]
    tag = f"{os.getpid()}"
    names = {"office": f"fc_bench_fi_office_{tag}", "floor": f"fc_bench_fi_floor_{tag}"}
    try:
        floors: list[Result] = []
        imports: list[Result] = []
        for round_ in range(args.rounds + 1):
            if round_:
                say("import into a fresh office database ...")
                url = fresh_database(built["template"], names["office"])
                imports.append(in_child(phase_import, office_dir, url, bundle, 0))
                say(f"  {imports[-1]['seconds']:.2f} s, stored {imports[-1]['stored']:,}")
            floor_url = fresh_database(built["template"], names["floor"])
            floors.append(in_child(phase_floor, station_dir, office_dir, bundle, floor_url))
            say(f"  floor: {floors[-1]['seconds']:.2f} s")
        say("import again (every sale a duplicate) ...")
        dup = in_child(phase_import, office_dir, url, bundle, 0)
        say(f"  {dup['seconds']:.2f} s, duplicates {dup['duplicates']:,}")
        imp = min(imports, key=lambda r: float(r["seconds"]))
        fl = min(floors, key=lambda r: float(r["seconds"]))
        problems = []
        if (imp["stored"], imp["contiguous_seq"], imp["quarantined"]) != \
                (n_sales, n_sales, None):
            problems.append(f"the import stored {imp['stored']:,} up to "
                            f"{imp['contiguous_seq']:,} ({imp['quarantined']}), not {n_sales:,}")
        if (dup["stored"], dup["duplicates"]) != (0, n_sales):
            problems.append(f"the second import stored {dup['stored']:,} and found "
                            f"{dup['duplicates']:,} duplicates, not 0 and {n_sales:,}")
        if fl["rows"] != n_sales:
            problems.append(f"the floor copied {fl['rows']:,} rows, not {n_sales:,}")
        with psycopg.connect(database_url(names["office"])) as check:
            version = check.execute("SHOW server_version").fetchone()
            held = check.execute("SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) "
                                 "FROM sales").fetchone()
        if held != (n_sales, n_sales, 1, n_sales):
            problems.append(f"the office holds (rows, seqs, min, max) {held}")
        ratio = imp["seconds"] / fl["seconds"]
        say("")
        say(f"machine: {sync.machine_facts()}; PostgreSQL {version[0] if version else '?'}")
        say(f"sales: {n_sales:,}; bundle {bundle.stat().st_size / 1e6:,.1f} MB")
        say(f"import: {imp['seconds']:.3f} s = {n_sales / imp['seconds']:,.0f} sales/s; "
            f"CPU: ours {imp['client_s']:.2f} s, the server's {imp['server_s']:.2f} s, the "
            f"machine's {imp['machine_s']:.2f} s; "
            f"peak RSS {imp['peak_mb']:,.0f} MB")
        say(f"  runs {', '.join(format(r['seconds'], '.3f') for r in imports)} s, the faster "
            "counts")
        say(f"import again (all duplicates): {dup['seconds']:.3f} s")
        say(f"floor (bare COPY + commit): {fl['seconds']:.3f} s (COPY {fl['copy_s']:.3f} s, "
            f"the server's CPU {fl['server_s']:.2f} s, the machine's {fl['machine_s']:.2f} s); "
            f"runs {', '.join(format(r['seconds'], '.3f') for r in floors)} s, the faster "
            "counts")
        fast = imp["seconds"] < target_s
        say(f"{'PASS' if ratio <= TARGET_RATIO and not problems else 'FAIL'}: the import "
            f"took {ratio:.2f}x the bare COPY of the same rows (target <= {TARGET_RATIO})")
        say(f"{'PASS' if fast and not problems else 'FAIL'}: import of {n_sales:,} sales in "
            f"{imp['seconds']:.3f} s (target < {target_s:.2f} s)"
            + ("" if fast or fl["seconds"] < target_s else
               f"; this machine's bare COPY alone takes {fl['seconds']:.3f} s"))
        for problem in problems:
            say(f"FAIL: {problem}")
        if args.profile:
            url = fresh_database(built["template"], names["office"])
            prof = in_child(phase_import, office_dir, url, bundle, args.profile)
            say(f"\nprofile of the import ({prof['seconds']:.2f} s under cProfile; the "
                f"producer thread is not in it):\n{prof['profile']}")
    finally:
        for name in names.values():
            drop_database(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
