"""Builds (and caches) the office store bench/reports.py measures.

The store is made the way the office makes it (``office.store.init_office``: the
migrations, the key); then the people and things are written with ``executemany`` /
``COPY`` from Python (a seeded ``random.Random``; 100,000 customers, 120,000 cards,
20,000 vehicles, groups, wallets, voucher batches), and the sales and what follows
from them with ``INSERT ... SELECT`` inside the database (bench/reports_sql.py), on a
raw connection with the durability switched off for the build only (SQLite
``journal_mode=OFF, synchronous=OFF``; PostgreSQL ``synchronous_commit=off``). The
secondary indexes of the big tables are dropped first and recreated from their own
SQL afterwards; the build checks that the indexes are then exactly the migrations'.
Last, ``office.ledger.rollups.rebuild`` counts the roll-ups (timed on its own).

A built store is kept under ``/var/tmp/forecourt-bench-reports/<key>`` (the SQLite file
and the office key; PostgreSQL: a database named after the key), with ``built.json``
written last: a store without it is built again.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from customers import FIRST, LAST, PREFIX
from psycopg import sql as pgsql
from reports_sql import (
    VOUCHER_BATCHES,
    VOUCHER_VALUE,
    Dialect,
    derived,
    station_sales,
    tank_ml,
)

from core.config import OfficeConfig

CACHE = Path("/var/tmp/forecourt-bench-reports")
FORMAT = 2  # bump when the generated contents change
ADMIN_DSN = os.environ.get("FORECOURT_TEST_PG") or "postgresql:///postgres?host=/var/run/postgresql"
STATIONS = 300
CUSTOMERS = 100_000
#: The tables loaded by SQL whose secondary indexes are dropped during the load.
BULK_TABLES = ("sales", "wallet_debits", "wallet_entries", "priced_sales", "points_entries",
               "points_lots", "voucher_redemptions", "voucher_exceptions")
REGIONS = ("north", "south", "east", "west", "centre", "coast", "mountains", "capital",
           "lakes", "valley", "islands", "border")
OCCUPATIONS = ("driver", "farmer", "teacher", "engineer", "trader", "nurse", "builder",
               "student", "retired", "clerk", "")
#: The categories the migrations create.
CATEGORIES = ("regular", "vip", "business", "new")


@dataclass(frozen=True)
class Spec:
    """What to build: the key of the cache entry."""

    backend: str  # sqlite | postgresql
    sales: int
    seed: int
    end: date  # the last local day of the year of sales
    tz: str
    customers: int = CUSTOMERS

    @property
    def key(self) -> str:
        zone = self.tz.replace("/", "_").lower()
        people = "" if self.customers == CUSTOMERS else f"_c{self.customers}"
        return (f"v{FORMAT}_{self.backend[:2]}_{self.sales}_{self.seed}_{self.end:%Y%m%d}_"
                f"{zone}{people}")

    @property
    def people(self) -> People:
        return People(self.customers)

    @property
    def start(self) -> date:
        return self.end - timedelta(days=364)

    @property
    def base_epoch(self) -> int:
        """UTC seconds of the first local midnight of the year."""
        first = datetime(self.start.year, self.start.month, self.start.day,
                         tzinfo=ZoneInfo(self.tz))
        return int(first.timestamp())


@dataclass(frozen=True)
class People:
    """How many of each: ``customers`` personal cards (a few customers hold two), a
    fifth as many fleet cards and vehicles (three in four cards bound to their
    vehicle), 0.3 % of the customers fleet companies owning them."""

    customers: int

    @property
    def companies(self) -> int:
        return max(3, self.customers * 3 // 1000)

    @property
    def personal(self) -> int:
        return self.customers

    @property
    def fleet(self) -> int:
        return self.customers // 5

    @property
    def bound(self) -> int:
        return self.fleet * 3 // 4

    def owner(self, j: int) -> str:
        """The fleet company of fleet card / vehicle ``j``: a few companies own most."""
        return _customer_id(int(self.companies * (j / self.fleet) ** 3))


@dataclass
class Built:
    """A built store and what its build cost."""

    data_dir: Path
    database: str  # "" for SQLite, else the URL
    build_s: float
    rollups_s: float
    size_bytes: int
    counts: dict[str, int]
    reused: bool = False

    @property
    def config(self) -> OfficeConfig:
        return OfficeConfig(data_dir=self.data_dir, database=self.database)


def _pg_name(spec: Spec) -> str:
    return ("fcbench_reports_" + spec.key.replace("-", "_"))[:63]


def _pg_url(name: str) -> str:
    return f"postgresql:///{name}?host=/var/run/postgresql"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def drop(spec: Spec, root: Path = CACHE) -> None:
    """Forget the cached store of ``spec`` (folder and database)."""
    shutil.rmtree(root / spec.key, ignore_errors=True)
    if spec.backend == "postgresql":
        with _admin() as conn:
            conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(pgsql.Identifier(_pg_name(spec))))


def cached(spec: Spec, root: Path = CACHE) -> Built | None:
    """The store built earlier for ``spec``, if complete."""
    marker = root / spec.key / "built.json"
    if not marker.exists():
        return None
    data = json.loads(marker.read_text())
    data["data_dir"] = Path(data["data_dir"])
    return Built(**{**data, "reused": True})


def build(spec: Spec, root: Path = CACHE, *, say: Any = print) -> Built:
    """Build the store of ``spec`` from nothing (replacing any earlier one)."""
    from office.ledger import rollups
    from office.store import init_office, open_office

    drop(spec, root)
    data_dir = root / spec.key / "office"
    data_dir.mkdir(parents=True)
    database = ""
    if spec.backend == "postgresql":
        name = _pg_name(spec)
        with _admin() as admin:
            admin.execute(pgsql.SQL("CREATE DATABASE {} LOCALE 'C.UTF-8' TEMPLATE template0")
                          .format(pgsql.Identifier(name)))
        database = _pg_url(name)
    config = OfficeConfig(data_dir=data_dir, database=database)
    started = time.perf_counter()
    init_office(config)
    conn = open_office(config)
    conn.close()
    _release_django()
    loader = _Loader(spec, data_dir, database, say)
    try:
        loader.load()
    finally:
        loader.close()
    build_s = time.perf_counter() - started
    conn = open_office(config)
    started = time.perf_counter()
    rollups.rebuild(conn, spec.tz)
    rollups_s = time.perf_counter() - started
    counts = {t: int(conn.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in (
        "stations", "customers", "cards", "vehicles", "group_members", "sales",
        "wallet_debits", "points_entries", "points_lots", "voucher_redemptions",
        "account_entries", "sales_daily", "card_monthly")}
    conn.close()
    if spec.backend == "postgresql":
        with psycopg.connect(database, autocommit=True) as raw:
            raw.execute("VACUUM ANALYZE")
    built = Built(data_dir, database, round(build_s, 1), round(rollups_s, 1),
                  size(data_dir, database), counts)
    (root / spec.key / "built.json").write_text(json.dumps(
        {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(built).items()
         if k != "reused"}, indent=1))
    return built


def size(data_dir: Path, database: str) -> int:
    """Bytes on disk of the store."""
    if database:
        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
    return sum(p.stat().st_size for p in data_dir.glob("office.db*"))


def _release_django() -> None:
    """Close Django's connection so the raw one may change the journal mode."""
    from django.db import connections

    connections.close_all()


class _Loader:
    """The raw connection that writes the generated rows."""

    def __init__(self, spec: Spec, data_dir: Path, database: str, say: Any) -> None:
        self.spec = spec
        self.say = say
        self.d = Dialect(spec.backend)
        self.rng = random.Random(spec.seed)
        self.stamp = f"{spec.end.isoformat()}T12:00:00.000000Z"
        if spec.backend == "postgresql":
            self.pg: psycopg.Connection[Any] | None = psycopg.connect(database)
            self.pg.execute("SET synchronous_commit = off")
            self.pg.execute("SET maintenance_work_mem = '1GB'")
            self.pg.execute("SET work_mem = '256MB'")
            self.lite: sqlite3.Connection | None = None
        else:
            self.pg = None
            self.lite = sqlite3.connect(data_dir / "office.db", isolation_level=None)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1000000",
                           "temp_store = FILE", "foreign_keys = OFF"):
                self.lite.execute(f"PRAGMA {pragma}")

    # -- plumbing ------------------------------------------------------------------------

    def run(self, statement: str) -> None:
        if self.pg is not None:
            self.pg.execute(statement.encode())
        else:
            assert self.lite is not None
            self.lite.execute(statement)

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        if self.pg is not None:
            with self.pg.cursor().copy(pgsql.SQL("COPY {} ({}) FROM STDIN").format(
                    pgsql.Identifier(table),
                    pgsql.SQL(", ").join(map(pgsql.Identifier, columns)))) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            assert self.lite is not None
            marks = ", ".join("?" * len(columns))
            self.lite.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                  f"VALUES ({marks})", rows)

    def begin(self) -> None:
        if self.lite is not None:
            self.lite.execute("BEGIN")

    def commit(self) -> None:
        if self.pg is not None:
            self.pg.commit()
        else:
            assert self.lite is not None
            self.lite.execute("COMMIT")

    def indexes(self) -> dict[str, str]:
        """The secondary (droppable) indexes of the bulk tables: name -> SQL."""
        tables = ", ".join(f"'{t}'" for t in BULK_TABLES)
        if self.pg is not None:
            return {str(r[0]): str(r[1]) for r in self.pg.execute(
                f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({tables}) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()}
        assert self.lite is not None
        return {str(r[0]): str(r[1]) for r in self.lite.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
            f"({tables}) AND sql IS NOT NULL").fetchall()}

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if self.lite is not None:
            self.lite.execute("PRAGMA journal_mode = WAL")
            self.lite.close()

    # -- the load ------------------------------------------------------------------------

    def load(self) -> None:
        started = time.perf_counter()
        self.begin()
        self.people()
        self.commit()
        self.say(f"  people and cards: {time.perf_counter() - started:.1f} s")
        wanted = self.indexes()
        self.begin()
        for name in wanted:
            self.run(f"DROP INDEX {name}")
        self.commit()
        self.sales()
        for what, statement in derived(self.d, self.stamp, self.spec.end.isoformat()):
            t0 = time.perf_counter()
            self.begin()
            self.run(statement)
            self.commit()
            self.say(f"  {what}: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        self.begin()
        for statement in wanted.values():
            self.run(statement)
        self.commit()
        self.say(f"  indexes: {time.perf_counter() - t0:.1f} s")
        if self.indexes() != wanted:
            raise RuntimeError("the recreated indexes differ from the migrations'")

    def sales(self) -> None:
        spec = self.spec
        weights = [0.3 + self.rng.random() ** 2 * 3 for _ in range(STATIONS)]
        total = sum(weights)
        counts = [int(spec.sales * w / total) for w in weights]
        counts[0] += spec.sales - sum(counts)
        n0 = 0
        started = time.perf_counter()
        for number, count in enumerate(counts, start=1):
            self.begin()
            self.run(station_sales(self.d, station_no=number, count=count, n0=n0,
                                   seed=spec.seed, base_epoch=spec.base_epoch,
                                   personal=spec.people.personal, fleet=spec.people.fleet))
            self.commit()
            n0 += count
            if number % 50 == 0:
                self.say(f"  sales: {n0:,} ({time.perf_counter() - started:.0f} s)")

    def people(self) -> None:
        """Stations, customers, vehicles, cards, groups, wallets and voucher batches."""
        rng, spec, stamp = self.rng, self.spec, self.stamp
        people = spec.people
        self.rows("stations", ("station_id", "public_key", "enrolled_at"),
                  [(f"S-{i:03d}", "ed25519:" + "A" * 43 + "=", "2020-01-01T00:00:00.000000Z")
                   for i in range(1, STATIONS + 1)])
        self.rows("customers", _CUSTOMER_COLUMNS, _customers(rng, spec))
        self.rows("vehicles", ("created_at", "created_by", "modified_at", "modified_by",
                               "vehicle_id", "plate", "plate_key", "vehicle_type", "fuel",
                               "tank_capacity_ml", "notes", "customer_id"),
                  [(stamp, "bench", stamp, "bench", f"V{j:06d}", f"FL {j:05d}",
                    f"FL{j:05d}", ("truck", "van", "car", "car")[j % 4],
                    "DT" if j % 4 < 2 else "AI95", tank_ml(j), "", people.owner(j))
                   for j in range(people.fleet)])
        self.rows("cards", ("card_id", "kind", "status", "driver", "rules", "imported_usage",
                            "replaces", "issued_at", "issued_by", "modified_at", "modified_by",
                            "customer_id", "vehicle_id"), _cards(stamp, people))
        groups = [(f"G{g:03d}", kind) for g, kind in enumerate(
            ["fleet"] * 10 + ["regional"] * len(REGIONS) + ["vip"] * 8)]
        self.rows("customer_groups", ("created_at", "created_by", "modified_at", "modified_by",
                                      "group_id", "name", "kind", "rules"),
                  [(stamp, "bench", stamp, "bench", g, f"{kind} {g}", kind, "{}")
                   for g, kind in groups])
        members: set[tuple[str, str]] = set()
        for c in range(people.companies):
            members.add((_customer_id(c), f"G{c % 10:03d}"))
        for _ in range(people.customers * 12 // 100):
            c = rng.randrange(people.companies, people.customers)
            g = rng.randrange(10, len(groups))
            members.add((_customer_id(c), f"G{g:03d}"))
        self.rows("group_members", ("added_at", "added_by", "customer_id", "group_id"),
                  [(stamp, "bench", c, g) for c, g in sorted(members)])
        wallets = [f"W{i:07d}" for i in range(0, people.personal, 5)]
        self.rows("wallets", ("wallet_id", "unit", "created_at", "created_by", "card_id"),
                  [(w, "money", stamp, "bench", "K" + w[1:]) for w in wallets])
        self.rows("wallet_entries", ("kind", "value", "at", "actor", "via", "reason",
                                     "wallet_id"),
                  [("opening", rng.randrange(0, 200_000), stamp, "bench", "cli", "", w)
                   for w in wallets])
        start = f"{spec.start.isoformat()}T00:00:00.000000Z"
        self.rows("voucher_batches", ("batch_id", "number", "product", "volume_ml", "amount",
                                      "count", "valid_from", "valid_until", "key",
                                      "created_by", "created_at", "note"),
                  [(f"VB{b:06d}", b, None, None, VOUCHER_VALUE, 5000, start,
                    f"{(spec.end + timedelta(days=30 * (b % 4) - 45)).isoformat()}"
                    "T23:59:59.999999Z", "k" * 43, "bench", start, "")
                   for b in range(1, VOUCHER_BATCHES + 1)])


_CUSTOMER_COLUMNS = ("created_at", "created_by", "modified_at", "modified_by", "customer_id",
                     "kind", "name", "search_key", "phones", "emails", "addresses", "birthday",
                     "payment_terms", "credit_limit", "preferred_channel", "notes", "region",
                     "occupation", "closed_at", "category")


def _customer_id(c: int) -> str:
    return f"C{c:07d}"


def _customers(rng: random.Random, spec: Spec) -> list[tuple[Any, ...]]:
    from office.customers.search import search_key

    out = []
    first_day = datetime(2016, 1, 1, tzinfo=UTC).timestamp()
    span = datetime(spec.end.year, spec.end.month, spec.end.day, tzinfo=UTC).timestamp() \
        - first_day
    people = spec.people
    for c in range(people.customers):
        market = rng.choice(("tr", "vi", "ru"))
        cid = _customer_id(c)
        if c < people.companies:
            name = f"{rng.choice(LAST[market])} Logistics {c}"
            kind, category = "company", "business"
            birthday = None
        else:
            name = f"{rng.choice(FIRST[market])} {rng.choice(LAST[market])}"
            kind = "person"
            category = rng.choice(("regular", "regular", "regular", "vip", "new"))
            birthday = None if rng.random() < 0.1 else \
                f"{rng.randrange(1945, 2007)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        phone = f"{PREFIX[market]}{rng.randrange(10**6, 10**7)}"
        # Older customers first: created_at grows with the number, a sixth in the year.
        at = datetime.fromtimestamp(first_day + span * (c / people.customers) ** 0.8
                                    + rng.randrange(86400), UTC)
        created = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        credit = c < people.companies or rng.random() < 0.04
        closed = created if rng.random() < 0.02 else None
        out.append((created, "bench", created, "bench", cid, kind, name,
                    search_key(name, customer_id=cid, phones=[phone]), json.dumps([phone]),
                    "[]", "[]", birthday, "credit" if credit else "prepaid",
                    rng.randrange(1, 100) * 1_000_000 if credit else None,
                    rng.choice(("none", "sms", "email", "phone")), "",
                    rng.choice(REGIONS), rng.choice(OCCUPATIONS), closed, category))
    return out


def _cards(stamp: str, people: People) -> Iterable[tuple[Any, ...]]:
    persons = people.customers - people.companies
    for i in range(people.personal):
        kind = "digital" if i % 3 == 0 else "magstripe"
        yield (f"K{i:07d}", kind, "active", "", "{}", "[]", "[]", stamp, "bench", stamp,
               "bench", _customer_id(people.companies + i % persons), None)
    for j in range(people.fleet):
        yield (f"K{people.personal + j:07d}", "rfid", "active", f"driver {j}", "{}", "[]", "[]",
               stamp, "bench", stamp, "bench", people.owner(j),
               f"V{j:06d}" if j < people.bound else None)
