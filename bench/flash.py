"""Benchmark: flash-drive bundle export and import of a sale backlog (DESIGN.md section 7).

What: builds a station store with N undelivered sales (by default 1,000,000) and a
head-office store with that station enrolled, exactly as ``bench/sync.py`` does (its
``generate_station`` and ``generate_office``). Then, each in its own child process
(``spawn``, so that its peak RSS is its own):

- **export**: the real :func:`cloud_sync.flash_station.export_sales` on a read-only
  connection (``StationStore.open_reader``), into a folder on the same file system:
  read, check each row's hash, compress, encrypt, sign, fsync, read back, rename.
- **decrypt**: open the bundle as the office (signature check over the whole file),
  then decrypt and decompress it: the plaintext size, and the part of the import
  that is reading the file.
- **import**: the real :func:`office.sync.flash.import_sales_bundle` into a
  fresh office store, then **import again** (every sale a duplicate).

The *floors*, in the same run, each measured twice (the faster counts):
export = the same journal rows read with one plain ``SELECT`` plus as many bytes as
the bundle written to a file in the same folder and fsynced; import = the bundle's
bytes read plus the same N rows (already in memory as tuples) inserted into a fresh
copy of the office ``sales`` table (``connect``: WAL, ``synchronous=FULL``) with one
``executemany`` in one transaction. Target: each phase under 10 s at 1,000,000 sales
(scaled linearly for other N); the ratio to the floor is printed beside it.

Run::

    .venv/bin/python bench/flash.py --scale 0.01    # 10,000 sales, a few seconds
    .venv/bin/python bench/flash.py                 # 1,000,000 sales (about 1.5-2 min)

The script always exits 0; the PASS/FAIL lines say whether the targets are met.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sync  # bench/sync.py: the same generated station and office

from cloud_sync.bundle import open_bundle
from cloud_sync.envelope import OFFICE
from core.config import Config, OfficeConfig
from core.keys import OFFICE_KEY, load_private_key, parse_public_text, public_text
from core.logs import configure as configure_logging
from core.timefmt import iso, utc_now
from edge.flash import export_sales
from office.ledger.bulk_sqlite import BULK_CACHE_KIB
from office.store import OFFICE_DB, open_office
from office.sync.flash import import_sales_bundle
from offline_db.connection import connect
from offline_db.store import DB_NAME, StationStore

TARGET_S = 10.0
TARGET_SALES = 1_000_000
STATION_ID = sync.STATION_ID
BLOCK = 1 << 20
MB = 1e6
Result = dict[str, Any]
_ROW_COLUMNS = ("station_id, seq, sale_id, card_id, pump, product, volume_ml, unit_price, "
                "amount, authorized_at, completed_at, wallet_debits, prev_hash, hash")

say = sync.say
rate = sync.rate


# -- measuring in a child process ------------------------------------------------------------
def peak_mb() -> float:
    """This process's peak resident set so far, in MiB.

    ``VmHWM`` of /proc/self/status where there is one: ``ru_maxrss`` survives
    ``execve``, so a spawned child would report the peak of the parent it was forked
    from (the generator's). Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for text in status:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20 if sys.platform == "darwin" else 1024)


def _quiet_child() -> None:
    """Log like the daemon (JSON lines), to nowhere, as bench/sync.py does."""
    configure_logging("info", "json", open(os.devnull, "w"))  # noqa: SIM115 - process-long


def in_child(fn: Callable[..., Result], *args: Any) -> Result:
    """Run ``fn(*args)`` in a fresh ``spawn`` process and return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                             initializer=_quiet_child) as pool:
        return pool.submit(fn, *args).result()


def profiled(call: Callable[[], Any], top: int) -> tuple[float, Any, str]:
    """Seconds and result of ``call()``; with ``top`` > 0, run under cProfile and report."""
    profiler = cProfile.Profile() if top > 0 else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = call()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    text = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        text = out.getvalue()
    return seconds, result, text


def station_config(station_dir: Path, office_dir: Path) -> Config:
    """The station's config as bench/sync.py builds it, with the office's public key."""
    base = Config()
    office_key = public_text(load_private_key(office_dir, OFFICE_KEY))
    parse_public_text(office_key)
    return dataclasses.replace(base, station=dataclasses.replace(
        base.station, id=STATION_ID, data_dir=station_dir, office_public_key=office_key))


# -- the phases (each runs in a child) -------------------------------------------------------
def phase_export(station_dir: Path, office_dir: Path, out_dir: Path, top: int) -> Result:
    base = peak_mb()
    config = station_config(station_dir, office_dir)
    store = StationStore.open_reader(station_dir)
    try:
        seconds, summary, profile = profiled(
            lambda: export_sales(config, store.conn, out_dir, now=utc_now()), top)
    finally:
        store.close()
    return {"seconds": seconds, "sales": summary.sales, "size": summary.size,
            "path": Path(summary.path), "base_mb": base, "peak_mb": peak_mb(),
            "profile": profile}


def phase_export_floor(station_dir: Path, out_dir: Path, size: int) -> Result:
    """One plain SELECT of the journal rows, then ``size`` bytes written and fsynced."""
    base = peak_mb()
    block = os.urandom(BLOCK)
    store = StationStore.open_reader(station_dir)
    scratch = out_dir / ".floor.tmp"
    try:
        started = time.perf_counter()
        cur = store.conn.cursor()
        cur.row_factory = None
        cur.execute(f"SELECT {_ROW_COLUMNS} FROM journal WHERE seq >= 1 ORDER BY seq")
        rows = 0
        while batch := cur.fetchmany(2000):
            rows += len(batch)
        read_s = time.perf_counter() - started
        with open(scratch, "xb") as f:
            view = memoryview(block)
            left = size
            while left:
                left -= f.write(view[:min(left, BLOCK)])
            f.flush()
            os.fsync(f.fileno())
        seconds = time.perf_counter() - started
    finally:
        store.close()
        scratch.unlink(missing_ok=True)
    return {"seconds": seconds, "read_s": read_s, "write_s": seconds - read_s, "rows": rows,
            "base_mb": base, "peak_mb": peak_mb()}


def phase_decrypt(station_dir: Path, office_dir: Path, bundle: Path) -> Result:
    """The office opens the bundle (signature over the file), decrypts and decompresses it."""
    base = peak_mb()
    key = load_private_key(office_dir, OFFICE_KEY)
    station_key = parse_public_text((station_dir / "station_key.pub").read_text().strip())
    started = time.perf_counter()
    with open_bundle(bundle, me=OFFICE, my_key=key, kind="sales",
                     key_for=lambda s: station_key if s == STATION_ID else None) as opened:
        verify_s = time.perf_counter() - started
        plain = lines = 0
        for block in opened.blocks():
            plain += len(block)
            lines += block.count(b"\n")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "verify_s": verify_s, "plain": plain, "lines": lines,
            "base_mb": base, "peak_mb": peak_mb()}


def phase_import(office_dir: Path, database: str, bundle: Path, top: int) -> Result:
    base = peak_mb()
    conn = open_office(OfficeConfig(data_dir=office_dir, database=database))
    try:
        seconds, result, profile = profiled(
            lambda: import_sales_bundle(conn, bundle, now=utc_now()), top)
    finally:
        conn.close()
    return {"seconds": seconds, "stored": result["stored"],
            "duplicates": result["duplicates"], "quarantined": result["quarantined"],
            "contiguous_seq": result["contiguous_seq"], "base_mb": base, "peak_mb": peak_mb(),
            "profile": profile}


def phase_import_floor(station_dir: Path, office_dir: Path, bundle: Path,
                       floor_path: Path) -> Result:
    """The bundle's bytes read, then N office rows inserted in one transaction."""
    base = peak_mb()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{floor_path}{suffix}").unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{station_dir / DB_NAME}?mode=ro", uri=True)
    rows = source.execute(f"SELECT {_ROW_COLUMNS}, ?, 'flash' FROM journal ORDER BY seq",
                          (iso(utc_now()),)).fetchall()  # in memory before the clock starts
    source.close()
    office = sqlite3.connect(f"file:{office_dir / OFFICE_DB}?mode=ro", uri=True)
    ddl = [r[0] for r in office.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'sales' AND sql IS NOT NULL "
        "ORDER BY type DESC, rowid")]  # the table first, then its indexes
    office.close()
    floor = connect(floor_path)
    # The same page cache as the real import sets (ingest_bulk.BULK_CACHE_KIB): a floor
    # must not be slower for want of a setting the measured code has.
    floor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    for sql in ddl:
        floor.execute(sql)
    insert = (f"INSERT INTO sales ({_ROW_COLUMNS}, received_at, via) "
              f"VALUES ({', '.join('?' * 16)})")
    try:
        started = time.perf_counter()
        with open(bundle, "rb") as f:
            size = 0
            while block := f.read(BLOCK):
                size += len(block)
        read_s = time.perf_counter() - started
        floor.execute("BEGIN IMMEDIATE")
        floor.executemany(insert, rows)
        floor.execute("COMMIT")
        seconds = time.perf_counter() - started
        count = int(floor.execute("SELECT COUNT(*) FROM sales").fetchone()[0])
    finally:
        floor.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{floor_path}{suffix}").unlink(missing_ok=True)
    return {"seconds": seconds, "read_s": read_s, "insert_s": seconds - read_s,
            "rows": count, "size": size, "base_mb": base, "peak_mb": peak_mb()}


def phase_idle() -> Result:
    """A child that only imported what the phases import: its baseline."""
    return {"base_mb": peak_mb()}


# -- checking the office ---------------------------------------------------------------------
def verify(station_dir: Path, office_dir: Path, database: str, n_sales: int) -> list[str]:
    """What is wrong with the office after the imports (empty when all is right)."""
    st = connect(station_dir / DB_NAME, readonly=True)
    of = open_office(OfficeConfig(data_dir=office_dir, database=database))
    try:
        problems, summary = sync.office_holds_all(st, of, n_sales)
        transfers = [tuple(t) for t in of.execute(
            "SELECT stored, duplicates, outcome FROM flash_transfers "
            "WHERE direction = 'in' ORDER BY id")]
    finally:
        st.close()
        of.close()
    say(f"{summary}; flash_transfers in: {transfers}")
    expected = [(n_sales, 0, "stored"), (0, n_sales, "stored")]
    if transfers != expected:
        problems.append(f"flash_transfers (stored, duplicates, outcome) are {transfers}, "
                        f"not {expected}")
    return problems


# -- entry point -----------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sales", type=int, default=TARGET_SALES,
                   help="undelivered sales in the station (default 1,000,000)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply --sales (e.g. 0.01)")
    p.add_argument("--dir", type=Path, default=None,
                   help="keep the stores and the bundle in DIR (default: a temporary "
                        "directory, deleted)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--office-database", default="", metavar="URL",
                   help="the office store: '' (default) a SQLite file, or a postgresql:// URL "
                        "of an empty database (the import floor stays SQLite's)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="after measuring, export and import once more under cProfile and "
                        "print the top N functions of each (by own time)")
    return p.parse_args(argv)


def line(name: str, r: Result, n_sales: int, size: int, plain: int) -> str:
    s = r["seconds"]
    return (f"{name}: {s:.3f} s = {rate(n_sales, s):,.0f} sales/s, bundle "
            f"{size / MB / s:,.1f} MB/s, plaintext {plain / MB / s:,.1f} MB/s; "
            f"peak RSS {r['peak_mb']:,.0f} MB (child after imports {r['base_mb']:,.0f} MB)")


def runs(results: list[Result]) -> str:
    return ", ".join(f"{r['seconds']:.3f}" for r in results)


def verdict(name: str, seconds: float, floor_s: float, target_s: float, n_sales: int) -> str:
    ok = "PASS" if seconds < target_s else "FAIL"
    return (f"{ok}: {name} of {n_sales:,} sales in {seconds:.3f} s (target < {target_s:.2f} s"
            f"{'' if n_sales == TARGET_SALES else ', 10 s scaled to N'}); "
            f"{seconds / floor_s:.2f}x its floor of {floor_s:.3f} s")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n_sales = max(1, round(args.sales * args.scale))
    target_s = TARGET_S * n_sales / TARGET_SALES
    parent_base = peak_mb()
    temporary = args.dir is None
    root: Path = Path(tempfile.mkdtemp(prefix="forecourt-bench-flash-")) if temporary \
        else args.dir
    station_dir, template = root / "station", root / "office-template"
    stick = root / "stick"
    if (station_dir / DB_NAME).exists() or (template / OFFICE_DB).exists():
        raise SystemExit(f"{root} already holds stores; use another --dir")
    say(f"data directory: {root} (the bundle goes to {stick}, on the same file system)")
    try:
        say(f"generating a station store with {n_sales:,} undelivered sales ...")
        gen_s = sync.generate_station(station_dir, n_sales, args.seed)
        sync.generate_office(template, station_dir, args.office_database)
        # The floor is SQLite's: a SQLite office made the same way gives it the schema.
        schema = template
        if args.office_database:
            schema = root / "office-schema"
            sync.generate_office(schema, station_dir)
        stick.mkdir()
        say(f"  generated in {gen_s:.1f} s; station database "
            f"{(station_dir / DB_NAME).stat().st_size / MB:,.0f} MB")
        os.sync()  # write-back of the bulk load must not land on the measured fsyncs
        idle = in_child(phase_idle)

        say("export ...")
        exp = in_child(phase_export, station_dir, template, stick, 0)
        bundle: Path = exp["path"]
        size = int(exp["size"])
        say(f"  {exp['seconds']:.2f} s, {size / MB:,.1f} MB bundle")
        say("decrypt (open as the office, verify, decrypt, decompress) ...")
        dec = in_child(phase_decrypt, station_dir, template, bundle)
        plain = int(dec["plain"])
        say(f"  {dec['seconds']:.2f} s, {plain / MB:,.1f} MB plaintext, {dec['lines']:,} lines")
        floors_e = [in_child(phase_export_floor, station_dir, stick, size) for _ in range(2)]
        fe = min(floors_e, key=lambda r: float(r["seconds"]))
        say(f"  export floor: {runs(floors_e)} s")

        office_dir = root / "office"
        shutil.copytree(template, office_dir)
        floor_path = root / "floor.db"
        floors_i = [in_child(phase_import_floor, station_dir, schema, bundle, floor_path)]
        say(f"  import floor: {floors_i[0]['seconds']:.2f} s")
        say("import into a fresh office store ...")
        imp = in_child(phase_import, office_dir, args.office_database, bundle, 0)
        say(f"  {imp['seconds']:.2f} s, stored {imp['stored']:,}")
        say("import again (every sale a duplicate) ...")
        dup = in_child(phase_import, office_dir, args.office_database, bundle, 0)
        say(f"  {dup['seconds']:.2f} s, duplicates {dup['duplicates']:,}")
        floors_i.append(in_child(phase_import_floor, station_dir, schema, bundle,
                                 floor_path))
        fi = min(floors_i, key=lambda r: float(r["seconds"]))
        problems = verify(station_dir, office_dir, args.office_database, n_sales)
        if exp["sales"] != n_sales or dec["lines"] != n_sales + 1:
            problems.append(f"the bundle holds {exp['sales']:,} sales and "
                            f"{dec['lines']:,} lines, not {n_sales:,} and {n_sales + 1:,}")

        say("")
        say(f"machine: {sync.machine_facts()}")
        say(f"sales: {n_sales:,}; station generated in {gen_s:.1f} s; bundle "
            f"{size / MB:,.1f} MB for {plain / MB:,.1f} MB of sale lines "
            f"({plain / size:.1f}x smaller)")
        say(f"RSS: parent {parent_base:,.0f} MB at start, {peak_mb():,.0f} MB peak (it "
            f"generated the data); a child that only imports: {idle['base_mb']:,.0f} MB")
        say(line("export", exp, n_sales, size, plain))
        say(f"  floor: {fe['seconds']:.3f} s (SELECT {fe['rows']:,} rows {fe['read_s']:.2f} s "
            f"+ write and fsync {size / MB:,.1f} MB {fe['write_s']:.2f} s); runs: "
            f"{runs(floors_e)} s, the faster counts")
        say(f"  decrypt alone: {dec['seconds']:.3f} s (signature over the file "
            f"{dec['verify_s']:.3f} s, decrypt + decompress "
            f"{dec['seconds'] - dec['verify_s']:.3f} s); peak RSS {dec['peak_mb']:,.0f} MB")
        say(line("import", imp, n_sales, size, plain))
        say(f"  floor: {fi['seconds']:.3f} s (read {size / MB:,.1f} MB {fi['read_s']:.2f} s + "
            f"one-transaction executemany of {fi['rows']:,} rows {fi['insert_s']:.2f} s); "
            f"runs: {runs(floors_i)} s, the faster "
            f"counts; peak RSS {fi['peak_mb']:,.0f} MB (rows held as tuples)")
        say(line("import again (all duplicates)", dup, n_sales, size, plain))
        say(verdict("export", exp["seconds"], fe["seconds"], target_s, n_sales))
        say(verdict("import", imp["seconds"], fi["seconds"], target_s, n_sales))
        say(verdict("import again", dup["seconds"], fi["seconds"], target_s, n_sales))
        for problem in problems:
            say(f"FAIL: {problem}")

        if args.profile:
            say("")
            prof = in_child(phase_export, station_dir, template, stick, args.profile)
            say(f"profile of export ({prof['seconds']:.2f} s under cProfile):\n"
                f"{prof['profile']}")
            if args.office_database:
                say("profile of import: with a SQLite office only (a fresh copy of it)")
                return 0
            fresh = root / "office-profile"
            shutil.copytree(template, fresh)
            prof = in_child(phase_import, fresh, "", bundle, args.profile)
            say(f"profile of import ({prof['seconds']:.2f} s under cProfile):\n"
                f"{prof['profile']}")
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
