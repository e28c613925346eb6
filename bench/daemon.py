"""The station daemon's resident memory with 1,000,000 cards, and its time to READY=1.

DESIGN.md section 7: "Daemon resident memory under 80 MB with 1,000,000 cards; ready
(sd_notify) within 1.5 s of start." Both are measured on a real ``forecourt run``
process, started as systemd starts it: ``NOTIFY_SOCKET`` names a Unix datagram socket
this script owns, and the time runs from just before the process is spawned until
``READY=1`` arrives on it. The memory is the daemon's ``VmRSS`` (and its peak,
``VmHWM``) from /proc once it has served: after its first ``STATUS=`` line (which
counts the card store and the outbox) and ``--sales`` authorizations and completions
of random cards through its control socket.

The card store is bench/authorize.py's (the same generator: real migrations, then a
bulk load; ``--journal-rows`` adds sales history). The floors, measured in the same
run on the same machine:

- start: a bare ``python -c pass`` (the interpreter alone), and a ``python`` that opens
  the same SQLite file and reads one row (the least a store-backed process does);
- memory: a bare interpreter that imports nothing of ours, waiting.

Two things make a start here slower than on a station box, and the bench says so
rather than measure them as the daemon's:

- Byte code: ``pip install`` compiles every module when it installs; an editable
  checkout has no ``__pycache__`` until a module is first imported with byte-code
  writing on (and ``PYTHONDONTWRITEBYTECODE`` may be set). The bench compiles the
  project's packages first (``compileall``), as an install would.
- Extras: this virtual environment has the office's and the tests' extras too; a
  station box has neither. sqlite-utils imports numpy (office extra) whenever it is
  there, and structlog imports rich (import-linter's) whenever it is there: together
  about 25 MB and a third of a second. So the daemon is measured twice: as installed
  here (the ``forecourt`` console script), and as on a station box (the same
  ``cli.main`` with numpy, pandas and rich made unimportable).

Run: ``.venv/bin/python bench/daemon.py [--cards N] [--starts N] [--dir DIR [--reuse]]``
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.control import call
from offline_db.connection import connect
from offline_db.store import DB_NAME

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
authorize = importlib.import_module("authorize")  # bench/authorize.py: the card store

TARGET_RSS_MB = 80.0
TARGET_READY_S = 1.5
FORECOURT = str(Path(sys.executable).with_name("forecourt"))
#: The daemon as on a station box: no numpy or pandas to import (no office extras).
STATION_BOX = ("import sys; sys.modules['numpy'] = None; sys.modules['pandas'] = None; "
               "sys.modules['rich'] = None; "
               "from cli import main; sys.argv[0] = 'forecourt'; main()")
PACKAGES = ("core", "edge", "drivers", "offline_db", "cloud_sync", "cli.py")


def say(message: str) -> None:
    print(message, flush=True)


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid``, kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def median_time(run: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def floors(db: Path, n: int) -> dict[str, float]:
    """Start times of a bare interpreter and of one opening the store; a bare RSS."""
    bare = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), n)
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute(\"SELECT value FROM sync_state WHERE key = 'card_store_version'\")"
            ".fetchone()")
    sqlite = median_time(lambda: subprocess.run([sys.executable, "-c", code, str(db)],
                                                check=True), n)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; print(flush=True); "
                             "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()
    rss = rss_kb(proc.pid)["VmRSS"]
    proc.stdin.close()
    proc.wait()
    proc.stdout.close()
    return {"python_start_s": bare, "sqlite_start_s": sqlite, "python_rss_kb": rss}


class Notify:
    """The receiving end of ``NOTIFY_SOCKET``, as systemd holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def wait(self, prefix: str, timeout: float = 120.0) -> float:
        """perf_counter() when the first message starting with ``prefix`` arrived."""
        deadline = time.perf_counter() + timeout
        while (left := deadline - time.perf_counter()) > 0:
            self.sock.settimeout(left)
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            if message.startswith(prefix):
                return time.perf_counter()
        raise SystemExit(f"the daemon sent no {prefix!r} within {timeout:.0f} s")

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def start(command: list[str], config: Path, notify: Notify, log: Path
          ) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*command, "--config", str(config), "run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    ready = notify.wait("READY=1")
    return proc, ready - t0


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve(socket_path: Path, card_ids: list[str], sales: int, rng: random.Random) -> int:
    """Authorize and complete ``sales`` fills of random cards; how many were approved."""
    approved = 0
    for _ in range(sales):
        card = rng.choice(card_ids)
        auth = call(socket_path, "sale.authorize", {"card": card, "pump": 1},
                    actor="bench/daemon.py")
        if auth["approved"]:
            approved += 1
            product = auth["products"][0]
            call(socket_path, "sale.complete", {"sale_id": auth["sale_id"],
                                                "volume_ml": min(5000, auth["max_volume_ml"]),
                                                "product": product},
                 actor="bench/daemon.py")
    return approved


def measure(name: str, command: list[str], config: Path, data_dir: Path, starts: int,
            card_ids: list[str], sales: int, seed: int) -> dict[str, float]:
    notify = Notify(data_dir.parent / "notify.sock")
    log = data_dir.parent / "daemon.log"
    times = []
    try:
        for _ in range(starts):
            proc, seconds = start(command, config, notify, log)
            times.append(seconds)
            stop(proc)
        proc, seconds = start(command, config, notify, log)
        times.append(seconds)
        try:
            notify.wait("STATUS=")  # its first status: the card store and outbox counted
            idle = rss_kb(proc.pid)
            approved = serve(data_dir / "control.sock", card_ids, sales, random.Random(seed))
            served = rss_kb(proc.pid)
        finally:
            stop(proc)
    finally:
        notify.close()
    say(f"  {name}: ready in {', '.join(f'{t:.3f}' for t in times)} s; RSS idle "
        f"{idle['VmRSS'] / 1024:.1f} MB, after {sales} sales ({approved} approved) "
        f"{served['VmRSS'] / 1024:.1f} MB, peak {served['VmHWM'] / 1024:.1f} MB")
    return {"ready_s": statistics.median(times), "rss_kb": served["VmRSS"],
            "hwm_kb": served["VmHWM"]}


def write_config(work: Path, data_dir: Path) -> Path:
    config = work / "config.toml"
    config.write_text(f'[station]\nid = "{authorize.STATION_ID}"\ndata_dir = "{data_dir}"\n'
                      '[logging]\nformat = "json"\n')
    return config


def report(name: str, got: dict[str, float], floor: dict[str, float]) -> None:
    rss_mb, hwm_mb = got["rss_kb"] / 1024, got["hwm_kb"] / 1024
    say(f"{name}:")
    say(f"  ready (median): {got['ready_s']:.3f} s = "
        f"{got['ready_s'] / floor['python_start_s']:.1f}x python -c pass "
        f"({floor['python_start_s']:.3f} s), "
        f"{got['ready_s'] / floor['sqlite_start_s']:.1f}x python opening the store "
        f"({floor['sqlite_start_s']:.3f} s); target < {TARGET_READY_S} s: "
        f"{'PASS' if got['ready_s'] < TARGET_READY_S else 'FAIL'}")
    say(f"  RSS: {rss_mb:.1f} MB (peak {hwm_mb:.1f} MB) = "
        f"{got['rss_kb'] / floor['python_rss_kb']:.1f}x a bare python "
        f"({floor['python_rss_kb'] / 1024:.1f} MB); target < {TARGET_RSS_MB:.0f} MB: "
        f"{'PASS' if max(rss_mb, hwm_mb) < TARGET_RSS_MB else 'FAIL'}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--cards", type=int, default=1_000_000, help="cards (default 1,000,000)")
    p.add_argument("--journal-rows", type=int, default=0,
                   help="sales history in the journal (default 0)")
    p.add_argument("--starts", type=int, default=5,
                   help="timed starts of each daemon (default 5; the median is reported)")
    p.add_argument("--sales", type=int, default=200,
                   help="authorizations served before the memory is read (default 200)")
    p.add_argument("--floor-runs", type=int, default=10, help="runs of each floor (10)")
    p.add_argument("--dir", type=Path, default=None,
                   help="keep the data here (default: a temporary directory, deleted)")
    p.add_argument("--reuse", action="store_true", help="measure the store already in --dir")
    p.add_argument("--seed", type=int, default=42)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="forecourt-bench-daemon-")) if args.dir is None \
        else args.dir
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "station"
    say(f"machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    say(f"data directory: {data_dir}")
    try:
        config = write_config(work, data_dir)
        if args.reuse:
            gen, _rows = authorize.refresh_confirmation(data_dir)
        else:
            if (data_dir / DB_NAME).exists():
                raise SystemExit(f"{data_dir / DB_NAME} exists; use --reuse or another --dir")
            # The station's identity (its key) first, as on a real box; then the cards.
            subprocess.run([FORECOURT, "--config", str(config), "init"], check=True,
                           stdout=subprocess.DEVNULL)
            gen = authorize.generate(data_dir, args.cards, args.journal_rows, args.seed)
        conn = connect(data_dir / DB_NAME, readonly=True)
        cards = conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
        conn.close()
        os.sync()
        say(f"card store: {cards:,} cards, {(data_dir / DB_NAME).stat().st_size / 1e6:.0f} MB")
        # Byte code as an install leaves it (see the module docstring).
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        *(str(ROOT / p) for p in PACKAGES)], check=True,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
        say("floors ...")
        floor = floors(data_dir / DB_NAME, args.floor_runs)
        say("daemons ...")
        here = measure("as installed here (office extras present)", [FORECOURT], config,
                       data_dir, args.starts, gen.card_ids, args.sales, args.seed)
        box = measure("as on a station box (no numpy, pandas or rich)",
                      [sys.executable, "-c", STATION_BOX], config, data_dir, args.starts,
                      gen.card_ids, args.sales, args.seed)
        say("")
        report("as installed here (office extras present)", here, floor)
        report("as on a station box (no office extras)", box, floor)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
