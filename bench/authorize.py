"""Benchmark: card authorization against its floor (DESIGN.md section 7, first target).

What: builds a station store the size of a large network station (by default
1,000,000 cards and 10,000,000 journal rows, written straight into SQLite with
``executemany`` in big transactions), then times the real code path
``Station(store, config).authorize(...)`` and, interleaved with it in the same run,
the *floor*: one indexed SELECT of a card row by primary key plus one durable
single-row commit (``BEGIN IMMEDIATE``; INSERT; ``COMMIT`` with WAL and
``synchronous=FULL``, exactly how :func:`offline_db.connection.connect` opens the
database).

Why: an authorization must be durable before the pump is released, so it can never
be cheaper than one fsync'd commit, and on another machine or disk that commit costs
something else entirely. Absolute milliseconds therefore say little; the target is a
ratio to the floor measured on the same machine, file and moment:
authorize p99 <= 2 x floor p99.

Run::

    .venv/bin/python bench/authorize.py                 # full size (several minutes)
    .venv/bin/python bench/authorize.py --scale 0.01    # 10,000 cards, 100,000 rows
    .venv/bin/python bench/authorize.py --dir D         # keep the store in D ...
    .venv/bin/python bench/authorize.py --dir D --reuse # ... and measure it again
    .venv/bin/python bench/authorize.py --pricing       # with pricing rules in force

With ``--pricing`` (bench/authorize_pricing.py) the store also holds a pricing document
and per-card loyalty data, every authorization builds the card's pricing facts and preset
prices, and each approved sale is completed (priced, journal line written) and that
completion timed too; ``--complete`` does the completions without pricing.

The script always exits 0 (a benchmark reports, it does not fail the build); the
PASS/FAIL line says whether the target is met. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import hashlib
import json
import math
import os
import platform
import pstats
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import authorize_pricing as pricing  # bench/authorize_pricing.py: the --pricing data
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import tokens
from core.config import Config
from core.formats.journal import GENESIS, chain_hash
from core.keys import public_text
from core.logs import configure as configure_logging
from core.money import amount_for
from core.periods import period_start_date
from core.timefmt import iso, utc_now
from edge.card_admin import pin_matches
from edge.lifecycle import Station
from edge.pricing_sale import ALL_POINTS
from offline_db.connection import connect
from offline_db.journal import verify
from offline_db.journal_checks import record_head_of_journal
from offline_db.pricing import pricing_document
from offline_db.store import DB_NAME, StationStore

TARGET_P99_RATIO = 2.0
STATION_ID = "S-001"
CHUNK = 100_000
PRODUCTS: tuple[tuple[str, str, int], ...] = (
    ("AI92", "AI-92", 5090), ("AI95", "AI-95", 5299), ("DT", "Diesel", 6350))
PRICE = {code: price for code, _, price in PRODUCTS}
#: Product sets a card may allow (None = every product) and how often each occurs.
PRODUCT_SETS: tuple[tuple[str, ...] | None, ...] = (None, ("DT",), ("AI92", "AI95"),
                                                    ("AI95", "DT"))
PRODUCT_SET_WEIGHTS = (50, 20, 20, 10)
KINDS = ("magstripe", "rfid", "smart", "digital")
KIND_WEIGHTS = (40, 30, 20, 10)
BENCH_PIN = "1234"
PIN_SALT = "5f3c9a1e7b2d4c68"
PIN_ITERATIONS = 100_000
MAX_FILL_ML = 200_000  # [authorization] max_fill_ml default: the preset of history rows
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every 15-bit number as three Crockford base32 characters (sale ids without a loop).
_B32_3 = tuple(_B32[i >> 10] + _B32[(i >> 5) & 31] + _B32[i & 31] for i in range(1 << 15))
_DAY_US = 86_400_000_000


# -- small helpers --------------------------------------------------------------------------
def say(message: str) -> None:
    print(message, flush=True)


def sale_id_for(seq: int) -> str:
    """A unique ``A`` + 9-char id per seq, scattered like :func:`new_sale_id`'s."""
    x = (seq * 0x1D5A4F9B3C7) & ((1 << 45) - 1)  # odd multiplier: a bijection mod 2**45
    return "A" + _B32_3[x >> 30] + _B32_3[(x >> 15) & 0x7FFF] + _B32_3[x & 0x7FFF]


def card_id_for(index: int) -> str:
    return f"78{index:014d}"


def _mix48(index: int) -> int:
    return (index * 0x5DEECE66D + 0xB) & ((1 << 48) - 1)  # odd multiplier: a bijection


def rfid_uid_for(index: int) -> str:
    return f"04{_mix48(index):012X}"


def token_id_for(index: int) -> str:
    return f"T-{_mix48(index):012X}"


class Timestamps:
    """``iso()``-identical text for integer epoch microseconds, fast (one cache per day)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self, us: int) -> str:
        day, rem = divmod(us, _DAY_US)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (self._epoch + timedelta(days=day)).strftime("%Y-%m-%d")
            self._days[day] = prefix
        sec, micro = divmod(rem, 1_000_000)
        hours, rem_s = divmod(sec, 3600)
        minutes, seconds = divmod(rem_s, 60)
        return f"{prefix}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}Z"


def epoch_us(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(ns: float) -> str:
    return f"{ns / 1e6:.3f}"


def schema_of(conn: sqlite3.Connection) -> set[tuple[str, str, str, str | None]]:
    return {(r[0], r[1], r[2], r[3]) for r in conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master")}


# -- generation -------------------------------------------------------------------------
@dataclass(frozen=True)
class Generated:
    """What the benchmark needs to know about the generated store."""

    card_ids: list[str]
    reader_ids: list[str]  # what a reader presents: PAN, RFID UID or token id
    seconds: float


@dataclass
class _Cards:
    ids: list[str]
    reader_ids: list[str]
    product_set: bytearray  # index into PRODUCT_SETS, per card


def _insert(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(sql, rows)
        rows.clear()


def _generate_cards(conn: sqlite3.Connection, n_cards: int, rng: random.Random,
                    now: datetime, prng: random.Random | None = None) -> _Cards:
    """The cards; with ``prng`` (``--pricing``) also their loyalty facts, points lots,
    points earned and last month's usage, drawn from ``prng`` alone so that everything
    else is what the default run generates."""
    today = now.date()
    month_start = period_start_date("month", today).isoformat()
    week_start = period_start_date("week", today).isoformat()
    pin_rule = {"salt": PIN_SALT, "iterations": PIN_ITERATIONS,
                "hash": hashlib.pbkdf2_hmac("sha256", BENCH_PIN.encode(),
                                            bytes.fromhex(PIN_SALT), PIN_ITERATIONS).hex()}
    set_json = [None if s is None else json.dumps(list(s), separators=(",", ":"))
                for s in PRODUCT_SETS]
    rnd, randrange, choices = rng.random, rng.randrange, rng.choices
    ids: list[str] = []
    reader_ids: list[str] = []
    product_set = bytearray(n_cards)
    cards: list[tuple[Any, ...]] = []
    limits: list[tuple[Any, ...]] = []
    wallets: list[tuple[Any, ...]] = []
    usage: list[tuple[Any, ...]] = []
    vehicles: list[tuple[Any, ...]] = []
    stop: list[tuple[Any, ...]] = []
    lots: list[tuple[Any, ...]] = []
    earned: list[tuple[Any, ...]] = []
    kinds = choices(range(len(KINDS)), weights=KIND_WEIGHTS, k=n_cards)
    psets = choices(range(len(PRODUCT_SETS)), weights=PRODUCT_SET_WEIGHTS, k=n_cards)

    def flush() -> None:
        _insert(conn, "INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cards)
        _insert(conn, "INSERT INTO card_limits VALUES (?, ?, ?, ?, ?)", limits)
        _insert(conn, "INSERT INTO wallets VALUES (?, ?, ?, ?, ?, ?)", wallets)
        _insert(conn, "INSERT INTO card_usage VALUES (?, ?, ?, ?, ?, ?, ?)", usage)
        _insert(conn, "INSERT INTO vehicles VALUES (?, ?, ?)", vehicles)
        _insert(conn, "INSERT INTO stop_list VALUES (?)", stop)
        _insert(conn, "INSERT INTO card_points VALUES (?, ?, ?)", lots)
        _insert(conn, "INSERT INTO card_points_earned VALUES (?, ?, ?, ?)", earned)

    for i in range(n_cards):
        card_id = card_id_for(i)
        kind = KINDS[kinds[i]]
        pset = psets[i]
        product_set[i] = pset
        allowed = PRODUCT_SETS[pset] or tuple(PRICE)
        pan = card_id if kind in ("magstripe", "smart") else None
        uid = rfid_uid_for(i) if kind == "rfid" else None
        token = token_id_for(i) if kind == "digital" else None
        ids.append(card_id)
        reader_ids.append(pan or uid or token or card_id)
        r = rnd()
        status = ("active" if r < 0.975 else "blocked" if r < 0.985 else
                  "lost" if r < 0.99 else "stolen" if r < 0.995 else "expired")
        if status == "expired":
            expires: str | None = "2025-06-30"
        else:
            expires = None if rnd() < 0.3 else f"{2027 + i % 4}-12-31"
        vehicle = f"V-{i}" if kind == "rfid" else None
        if vehicle:
            vehicles.append((vehicle, f"P{i:07d}", f"C-{i // 10}"))
        rules: dict[str, Any] = {}
        if rnd() < 0.05:
            rules["visits"] = [{"period": "day", "count": 5}]
        if rnd() < 0.05:
            rules["time_windows"] = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                      "from": "05:00", "to": "24:00"}]
        if rnd() < 0.05:
            rules["stations"] = [STATION_ID, "S-002"]
        if kind == "smart" and rnd() < 0.1:
            rules["pin"] = pin_rule
        group = "G-FLEET" if (i // 10) % 4 else "G-RETAIL"  # the customer's (below)
        if prng is not None:
            loyalty = pricing.loyalty_rules(prng, group)
            if loyalty is not None:
                rules["loyalty"] = loyalty
        cards.append((card_id, kind, status, pan, uid, token, expires, f"C-{i // 10}", vehicle,
                      set_json[pset], json.dumps(rules)))
        if status in ("lost", "stolen"):
            stop.append((card_id,))
        # Limits: a day volume limit and a month money limit are the common pair.
        if rnd() < 0.7:
            scope = None if rnd() < 0.8 else set_json[pset]
            limits.append((card_id, "day", "volume", randrange(80_000, 150_001, 1000), scope))
        if rnd() < 0.6:
            limits.append((card_id, "month", "money", randrange(2_000_000, 6_000_001, 10_000),
                           None))
        if rnd() < 0.15:
            limits.append((card_id, "fill", "volume", randrange(60_000, 100_001, 1000), None))
        if rnd() < 0.1:
            limits.append((card_id, "week", "volume", randrange(300_000, 600_001, 1000), None))
        # Wallets: some money wallets, a few litre wallets.
        if rnd() < 0.2:
            wallets.append((f"W-{i}M", card_id, "money", randrange(50_000, 500_001, 100),
                            None, None if rnd() < 0.5 else "2027-12-31"))
        if rnd() < 0.05:
            wallets.append((f"W-{i}L", card_id, "volume", randrange(100_000, 400_001, 1000),
                            json.dumps([allowed[0]], separators=(",", ":")), "2027-12-31"))
        # Network usage counted by the office (other stations) for the current periods.
        with_usage = rnd() < 0.2
        if with_usage:
            product = allowed[0]
            for period, start in (("month", month_start), ("week", week_start)):
                volume = randrange(20_000, 120_001, 100)
                usage.append((card_id, period, start, product, volume,
                              amount_for(volume, PRICE[product]), randrange(1, 5)))
        if prng is not None:
            card_lots, card_earned, last_month = pricing.card_rows(
                prng, card_id, today, allowed[0], PRICE[allowed[0]], with_usage)
            lots += card_lots
            earned += card_earned
            usage += last_month
        if len(cards) >= CHUNK:
            flush()
            if (i + 1) % 200_000 == 0:
                say(f"  cards: {i + 1:,}")
    flush()
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                     [(f"C-{c}", f"Customer {c}", "G-FLEET" if c % 4 else "G-RETAIL")
                      for c in range((n_cards + 9) // 10)])
    return _Cards(ids, reader_ids, product_set)


def _generate_journal(conn: sqlite3.Connection, cards: _Cards, n_rows: int,
                      rng: random.Random, now: datetime,
                      pricer: pricing.HistoryPricer | None = None,
                      prng: random.Random | None = None) -> None:
    """Journal rows over the last year with a valid chain, their completed authorizations,
    and the newest 1% still queued in the outbox. With ``pricer`` (``--pricing``) the
    rows of the last ``pricing.HISTORY_DAYS`` days are priced (amount and ``pricing``
    field), some of them paid partly with points (drawn from ``prng``)."""
    n_cards = len(cards.ids)
    n_heavy = (n_cards + 9) // 10  # every 10th card is a heavy user: half of all sales
    end_us = epoch_us(now) - 3_600_000_000
    start_us = end_us - 365 * _DAY_US
    step = max(1, (end_us - start_us) // max(n_rows, 1))
    outbox_from = n_rows - n_rows // 100 + 1
    priced_from_us = end_us - pricing.HISTORY_DAYS * _DAY_US if pricer else end_us + 1
    stamp = Timestamps()
    if stamp(epoch_us(now)) != iso(now):
        raise AssertionError(f"timestamp text {stamp(epoch_us(now))} != {iso(now)}")
    rnd, randrange = rng.random, rng.randrange
    request_json = [json.dumps({"pump": p, "product": None, "volume_ml": None, "amount": None,
                                "vehicle_id": None, "odometer_km": None}) for p in range(9)]
    # What authorize() recorded for each product set with no preset asked (see _record).
    auth_consts = []
    for pset in PRODUCT_SETS:
        allowed = pset or tuple(PRICE)
        amounts = [amount_for(MAX_FILL_ML, PRICE[p]) for p in allowed]
        auth_consts.append((json.dumps(list(allowed)),
                            json.dumps({p: PRICE[p] for p in allowed}), min(amounts),
                            max(amounts), allowed))
    prev = GENESIS
    started = time.perf_counter()
    journal_sql = ("INSERT INTO journal (seq, sale_id, station_id, card_id, pump, product, "
                   "volume_ml, unit_price, amount, authorized_at, completed_at, wallet_debits, "
                   "pricing, prev_hash, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    auth_sql = ("INSERT INTO authorizations (sale_id, card_id, pump, state, reason, products, "
                "prices, max_volume_ml, max_amount, hold_amount, request, created_at, "
                "closed_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    jrows: list[tuple[Any, ...]] = []
    arows: list[tuple[Any, ...]] = []
    orows: list[tuple[Any, ...]] = []
    ids, psets = cards.ids, cards.product_set
    for seq in range(1, n_rows + 1):
        index = randrange(n_heavy) * 10 if rnd() < 0.5 else randrange(n_cards)
        card_id = ids[index]
        products_json, prices_json, max_amount, hold_amount, allowed = auth_consts[psets[index]]
        product = allowed[randrange(len(allowed))]
        price = PRICE[product]
        volume = randrange(15_000, 70_001, 10)
        pump = randrange(1, 9)
        done_us = start_us + (seq - 1) * step + randrange(step)
        completed = stamp(done_us)
        authorized = stamp(done_us - randrange(60_000_000, 300_000_000))
        sale_id = sale_id_for(seq)
        line: dict[str, Any] = {
            "seq": seq, "sale_id": sale_id, "station_id": STATION_ID, "card_id": card_id,
            "pump": pump, "product": product, "volume_ml": volume, "unit_price": price,
            "amount": amount_for(volume, price), "authorized_at": authorized,
            "completed_at": completed, "wallet_debits": {}}
        priced = None
        if done_us >= priced_from_us and pricer is not None and prng is not None:
            asked = 100 if prng.random() < pricing.HISTORY_POINTS_SHARE else 0
            line["amount"], priced = pricer(product, volume, price, asked)
            line["pricing"] = priced
        amount = line["amount"]
        digest = chain_hash(prev, line)
        jrows.append((seq, sale_id, STATION_ID, card_id, pump, product, volume, price, amount,
                      authorized, completed, "{}", priced, prev, digest))
        arows.append((sale_id, card_id, pump, "completed", "approved", products_json,
                      prices_json, MAX_FILL_ML, max_amount, hold_amount, request_json[pump],
                      authorized, completed, seq))
        if seq >= outbox_from:
            orows.append((seq, completed))
        prev = digest
        if len(jrows) >= CHUNK:
            _insert(conn, journal_sql, jrows)
            _insert(conn, auth_sql, arows)
            _insert(conn, "INSERT INTO outbox VALUES (?, ?)", orows)
            if seq % 1_000_000 == 0:
                elapsed = time.perf_counter() - started
                say(f"  journal: {seq:,} rows, {elapsed:.0f} s ({seq / elapsed:,.0f} rows/s)")
    _insert(conn, journal_sql, jrows)
    _insert(conn, auth_sql, arows)
    _insert(conn, "INSERT INTO outbox VALUES (?, ?)", orows)


def generate(data_dir: Path, n_cards: int, n_rows: int, seed: int, *,
             with_pricing: bool = False) -> Generated:
    """Create the store with the real migrations, then bulk-load it directly (with the
    pricing document and loyalty data too when ``with_pricing``)."""
    started = time.perf_counter()
    now = utc_now()
    store, _ = StationStore.create(data_dir, holder="bench/authorize.py")
    reference = schema_of(store.conn)
    store.close()
    db = data_dir / DB_NAME
    conn = sqlite3.connect(str(db), isolation_level=None)
    # Bulk-load settings: no journal, no fsync, a big page cache. Crash = regenerate.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -2000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                           "sql IS NOT NULL ORDER BY rowid").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    rng = random.Random(seed)
    prng = random.Random(seed + 1000) if with_pricing else None
    doc = pricing.document(now) if with_pricing else None
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO products VALUES (?, ?, ?)", PRODUCTS)
    conn.executemany("INSERT INTO customer_groups VALUES (?, ?)",
                     [("G-FLEET", "Fleet customers"), ("G-RETAIL", "Retail loyalty")])
    say(f"generating {n_cards:,} cards ...")
    cards = _generate_cards(conn, n_cards, rng, now, prng)
    if doc is not None:
        pricing.install_document(conn, doc)
    conn.execute("COMMIT")
    say(f"  cards done: {time.perf_counter() - started:.1f} s")
    say(f"generating {n_rows:,} journal rows (+ their authorizations, 1% in the outbox) ...")
    conn.execute("BEGIN")
    _generate_journal(conn, cards, n_rows, rng, now,
                      None if doc is None else pricing.HistoryPricer(doc, STATION_ID), prng)
    conn.execute("COMMIT")
    say(f"  journal done: {time.perf_counter() - started:.1f} s")
    say(f"recreating {len(indexes)} indexes ...")
    for _, sql in indexes:
        conn.execute(sql)
    # The keys and values offline_db.cards.import_snapshot sets (station_seqs empty -> 0).
    confirmed = iso(utc_now())
    conn.executemany(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("card_store_version", "1"), ("card_store_generated_at", confirmed),
         ("card_store_expires_at", ""), ("card_store_confirmed_at", confirmed),
         ("usage_as_of_seq", "0")])
    # What the station's appends and receipts record (journal verify's anchors): the
    # head, and a receipt for every sale before the 1% still in the outbox.
    record_head_of_journal(conn)
    conn.execute("INSERT INTO sync_state (key, value) SELECT 'last_receipt_seq', seq FROM "
                 "journal WHERE seq = (SELECT MIN(seq) - 1 FROM outbox)")
    conn.execute("INSERT INTO sync_state (key, value) SELECT 'last_receipt_hash', hash FROM "
                 "journal WHERE seq = (SELECT MIN(seq) - 1 FROM outbox)")
    conn.execute("PRAGMA journal_mode = WAL")
    if schema_of(conn) != reference:
        raise SystemExit("generated schema differs from the migration's schema")
    conn.close()
    seconds = time.perf_counter() - started
    say(f"generated in {seconds:.1f} s; database {db.stat().st_size / 1e9:.2f} GB")
    return Generated(cards.ids, cards.reader_ids, seconds)


def refresh_confirmation(data_dir: Path) -> tuple[Generated, int]:
    """Reuse a store made earlier (``--reuse``): re-read the ids, re-confirm freshness.

    Returns the store's ids and its number of journal rows.
    """
    conn = connect(data_dir / DB_NAME)
    n_rows = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0])
    ids: list[str] = []
    reader: list[str] = []
    for row in conn.execute("SELECT card_id, pan, rfid_uid, token_id FROM cards ORDER BY rowid"):
        ids.append(row["card_id"])
        reader.append(row["pan"] or row["rfid_uid"] or row["token_id"] or row["card_id"])
    conn.execute("UPDATE sync_state SET value = ? WHERE key = 'card_store_confirmed_at'",
                 (iso(utc_now()),))
    conn.close()
    return Generated(ids, reader, 0.0), n_rows


# -- measurement ------------------------------------------------------------------------
@dataclass
class Results:
    floor_ns: list[int]
    authorize_ns: list[int]
    reasons: Counter[str]
    #: ``Station.complete`` of the approved sales (``--pricing``/``--complete`` only).
    complete_ns: list[int] = dataclasses.field(default_factory=list)


FLOOR_TABLE = "bench_floor"


def make_floor(conn: sqlite3.Connection) -> Callable[[str], int]:
    """The floor: one indexed SELECT of a card by primary key + one durable 1-row commit."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
                 "(id INTEGER PRIMARY KEY, card_id TEXT NOT NULL, at TEXT NOT NULL)")

    def floor(card_id: str) -> int:
        t0 = time.perf_counter_ns()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT * FROM cards WHERE card_id = ?", (card_id,)).fetchone()
        conn.execute(f"INSERT INTO {FLOOR_TABLE} (card_id, at) VALUES (?, ?)",
                     (card_id, iso(utc_now())))
        conn.execute("COMMIT")
        return time.perf_counter_ns() - t0

    return floor


class Presenter:
    """What a customer presents for a card: the identifier, or for a digital card a fresh
    QR token (a digital card is authorized only by its token; issue 10 #1). Tokens are
    signed with a bench office key pinned in the station's configuration."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.digital = {ident: card_id for card_id, token_id in conn.execute(
            "SELECT card_id, token_id FROM cards WHERE kind = 'digital'")
            for ident in (card_id, token_id) if ident}

    def pinned(self, config: Config) -> Config:
        return dataclasses.replace(config, station=dataclasses.replace(
            config.station, office_public_key=public_text(self.key)))

    def args(self, identifier: str) -> tuple[str | None, str | None]:
        """(card, token) for :meth:`Station.authorize`: one of them is None."""
        card_id = self.digital.get(identifier)
        if card_id is None:
            return identifier, None
        return None, tokens.issue(self.key, card_id, utc_now() + timedelta(minutes=10))


class Fills:
    """How measured sales go on with ``--pricing`` or ``--complete``: what the customer
    asks besides the card (with pricing: some pay with all their points, a few present a
    voucher) and the fill itself, completed with ``Station.complete`` (timed on its own)
    instead of being cancelled."""

    def __init__(self, rng: random.Random, vouchers: pricing.Vouchers | None) -> None:
        self.rng = rng
        self.vouchers = vouchers

    def extras(self) -> dict[str, Any]:
        """Keyword arguments of ``Station.authorize`` besides the card."""
        if self.vouchers is None:
            return {}
        out: dict[str, Any] = {}
        if self.rng.random() < pricing.ASK_POINTS_SHARE:
            out["points"] = ALL_POINTS
        if self.rng.random() < pricing.VOUCHER_SHARE:
            out["voucher"] = self.vouchers.take()
        return out

    def fill(self, result: dict[str, Any]) -> tuple[str, int]:
        """(product, ml) delivered on an approved sale: 15-70 l, within the preset."""
        products = result["products"]
        product = products[self.rng.randrange(len(products))]
        return product, min(result["max_volume_ml"], self.rng.randrange(15_000, 70_001, 10))

    def complete(self, station: Station, result: dict[str, Any]) -> int | None:
        """Complete the approved sale, timed (None: nothing to deliver, cancelled)."""
        product, volume = self.fill(result)
        if volume <= 0:
            station.cancel(result["sale_id"], actor="bench")
            return None
        t0 = time.perf_counter_ns()
        station.complete(result["sale_id"], volume_ml=volume, product=product, actor="bench")
        return time.perf_counter_ns() - t0


def timed_authorize(station: Station, identifier: str, reasons: Counter[str] | None,
                    present: Presenter, fills: Fills | None = None,
                    completions: list[int] | None = None) -> int:
    """One authorization, timed; its hold is released afterwards, outside the timing
    (cancelled, or with ``fills`` completed and that timed into ``completions``)."""
    card, token = present.args(identifier)
    extras = {} if fills is None else fills.extras()
    t0 = time.perf_counter_ns()
    result = station.authorize(card=card, token=token, pump=1, actor="bench", **extras)
    elapsed = time.perf_counter_ns() - t0
    if reasons is not None:
        reasons[result["reason"]] += 1
    if result["sale_id"] is not None:
        if fills is None:
            station.cancel(result["sale_id"], actor="bench")
        else:
            done = fills.complete(station, result)
            if done is not None and completions is not None:
                completions.append(done)
    return elapsed


def measure(station: Station, floor: Callable[[str], int], card_ids: list[str],
            identifiers: list[str], samples: int, warmup: int, rng: random.Random,
            present: Presenter, fills: Fills | None = None) -> Results:
    res = Results([], [], Counter())
    n = len(card_ids)
    for i in range(warmup + samples):
        keep = i >= warmup
        pick_floor, pick_auth = rng.randrange(n), rng.randrange(n)
        reasons, completions = (res.reasons, res.complete_ns) if keep else (None, None)
        # Alternate the order so that drift and noise land on both measurements.
        if i % 2 == 0:
            f = floor(card_ids[pick_floor])
            a = timed_authorize(station, identifiers[pick_auth], reasons, present, fills,
                                completions)
        else:
            a = timed_authorize(station, identifiers[pick_auth], reasons, present, fills,
                                completions)
            f = floor(card_ids[pick_floor])
        if keep:
            res.floor_ns.append(f)
            res.authorize_ns.append(a)
        if keep and (i - warmup + 1) % 500 == 0:
            say(f"  {i - warmup + 1:,}/{samples:,} samples")
    return res


def profile(station: Station, identifiers: list[str], count: int, rng: random.Random,
            present: Presenter, fills: Fills | None = None) -> None:
    """cProfile over ``count`` more authorizations (holds released outside the profile);
    with ``fills``, a second profile of their completions."""
    prof, done = cProfile.Profile(), cProfile.Profile()
    for _ in range(count):
        card, token = present.args(identifiers[rng.randrange(len(identifiers))])
        extras = {} if fills is None else fills.extras()
        prof.enable()
        result = station.authorize(card=card, token=token, pump=1, actor="bench", **extras)
        prof.disable()
        if result["sale_id"] is None:
            continue
        if fills is None:
            station.cancel(result["sale_id"], actor="bench")
            continue
        product, volume = fills.fill(result)
        if volume <= 0:
            station.cancel(result["sale_id"], actor="bench")
            continue
        done.enable()
        station.complete(result["sale_id"], volume_ml=volume, product=product, actor="bench")
        done.disable()
    for what, p in (("authorizations", prof), ("completions", done)):
        if what == "completions" and fills is None:
            break
        say(f"\ncProfile of {count} {what} (top 25 by own time):")
        stats = pstats.Stats(p, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)


def prewarm(path: Path) -> str:
    """Read the database file once so the OS page cache holds it (if it fits in RAM)."""
    available = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass  # not Linux: just try
    size = path.stat().st_size
    if available and size > available * 0.8:
        return f"not done: the {size / 1e9:.1f} GB file does not fit in free memory"
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass
    return f"read {size / 1e9:.2f} GB in {time.perf_counter() - t0:.1f} s"


def bootstrap_ratio(floor_ns: list[int], auth_ns: list[int], q: float,
                    rng: random.Random, rounds: int = 1000) -> tuple[float, float]:
    """95% bootstrap interval of percentile(auth, q) / percentile(floor, q) (paired rounds)."""
    n = len(floor_ns)
    population = range(n)
    ratios = []
    for _ in range(rounds):
        picks = rng.choices(population, k=n)
        f = sorted([floor_ns[i] for i in picks])
        a = sorted([auth_ns[i] for i in picks])
        ratios.append(percentile(a, q) / percentile(f, q))
    ratios.sort()
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def pin_check_ms() -> float:
    rule = {"salt": PIN_SALT, "iterations": PIN_ITERATIONS, "hash": "0" * 64}
    times = []
    for _ in range(3):
        t0 = time.perf_counter_ns()
        pin_matches(BENCH_PIN, rule)
        times.append(time.perf_counter_ns() - t0)
    return sorted(times)[1] / 1e6


def report(res: Results, *, n_cards: int, n_rows: int, generated_s: float) -> None:
    floor_sorted, auth_sorted = sorted(res.floor_ns), sorted(res.authorize_ns)
    say("")
    say(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}")
    say(f"data: {n_cards:,} cards, {n_rows:,} journal rows"
        + (f", generated in {generated_s:.0f} s" if generated_s else " (reused)"))
    say(f"samples: {len(auth_sorted):,} of each, interleaved")
    say("")
    say(f"{'':10} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    complete_sorted = sorted(res.complete_ns)
    for name, values in (("floor", floor_sorted), ("authorize", auth_sorted),
                         ("complete", complete_sorted)):
        if values:
            say(f"{name:10} {ms(percentile(values, 0.5)):>9} {ms(percentile(values, 0.9)):>9} "
                f"{ms(percentile(values, 0.99)):>9} {ms(values[-1]):>9}")
    r50 = percentile(auth_sorted, 0.5) / percentile(floor_sorted, 0.5)
    r99 = percentile(auth_sorted, 0.99) / percentile(floor_sorted, 0.99)
    say("")
    rng = random.Random(0)
    lo50, hi50 = bootstrap_ratio(res.floor_ns, res.authorize_ns, 0.5, rng)
    lo99, hi99 = bootstrap_ratio(res.floor_ns, res.authorize_ns, 0.99, rng)
    say(f"ratio authorize/floor: p50 {r50:.2f}x (95% bootstrap {lo50:.2f}-{hi50:.2f}), "
        f"p99 {r99:.2f}x (95% bootstrap {lo99:.2f}-{hi99:.2f})")
    if complete_sorted:
        c50 = percentile(complete_sorted, 0.5) / percentile(floor_sorted, 0.5)
        c99 = percentile(complete_sorted, 0.99) / percentile(floor_sorted, 0.99)
        say(f"ratio complete/floor: p50 {c50:.2f}x, p99 {c99:.2f}x "
            f"({len(complete_sorted):,} completions; not part of the target)")
    say("decisions: " + ", ".join(f"{k} {v}" for k, v in res.reasons.most_common()))
    say(f"note: a PIN check (PBKDF2-SHA256, {PIN_ITERATIONS:,} iterations) adds "
        f"{pin_check_ms():.1f} ms when a PIN is entered; the samples enter none")
    verdict = "PASS" if r99 <= TARGET_P99_RATIO else "FAIL"
    say(f"{verdict}: authorize p99 is {r99:.2f}x the floor p99 "
        f"(target <= {TARGET_P99_RATIO:g}x)")


# -- entry point --------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--cards", type=int, default=1_000_000, help="cards (default 1,000,000)")
    p.add_argument("--journal-rows", type=int, default=10_000_000,
                   help="journal rows (default 10,000,000)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply --cards and --journal-rows (e.g. 0.01)")
    p.add_argument("--samples", type=int, default=2000,
                   help="timed samples of each of floor and authorize (default 2000)")
    p.add_argument("--warmup", type=int, default=200, help="untimed rounds first (200)")
    p.add_argument("--dir", type=Path, default=None,
                   help="data directory (default: a temporary one, deleted afterwards)")
    p.add_argument("--reuse", action="store_true",
                   help="use the store already in --dir instead of generating one")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--identifier", choices=("card_id", "reader"), default="card_id",
                   help="authorize by card id, or by what the reader presents (PAN, RFID "
                        "UID, token id)")
    p.add_argument("--floor-connection", choices=("shared", "separate"), default="shared",
                   help="run the floor on the station's own connection (default) or on a "
                        "second connection to the same file")
    p.add_argument("--usage-as-of", choices=("zero", "synced"), default="zero",
                   help="usage_as_of_seq: 0 as a snapshot without station_seqs sets it "
                        "(every local sale of the year is read), or the last seq before the "
                        "outbox, as an office snapshot that counted every received sale sets it")
    p.add_argument("--cold", action="store_true",
                   help="do not read the database file into the OS page cache first")
    p.add_argument("--verify", action="store_true",
                   help="verify the generated journal chain (slow at full size)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="afterwards, cProfile N more authorizations")
    p.add_argument("--pricing", action="store_true",
                   help="the store also holds a pricing document and loyalty data (issue 13); "
                        "approved sales are completed, and the completion timed too")
    p.add_argument("--complete", action="store_true",
                   help="complete approved sales (timed on their own) instead of cancelling "
                        "them; implied by --pricing")
    args = p.parse_args(argv)
    if args.reuse and args.dir is None:
        p.error("--reuse needs --dir")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n_cards = max(10, round(args.cards * args.scale))
    n_rows = max(0, round(args.journal_rows * args.scale))
    # Decisions are logged like in the daemon (JSON lines), to nowhere.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    configure_logging("info", "json", devnull)
    temporary = args.dir is None
    data_dir: Path = Path(tempfile.mkdtemp(prefix="forecourt-bench-")) if temporary \
        else args.dir
    say(f"data directory: {data_dir}")
    try:
        if args.reuse:
            gen, n_rows = refresh_confirmation(data_dir)
            n_cards = len(gen.card_ids)
        else:
            if (data_dir / DB_NAME).exists():
                raise SystemExit(f"{data_dir / DB_NAME} exists; use --reuse or another --dir")
            gen = generate(data_dir, n_cards, n_rows, args.seed, with_pricing=args.pricing)
        # The bulk load left gigabytes of dirty pages in the OS cache; without this their
        # write-back would land on the measured fsyncs (ext4 data=ordered commits).
        t0 = time.perf_counter()
        os.sync()
        say(f"sync: {time.perf_counter() - t0:.1f} s")
        if not args.cold:
            say(f"warming the OS page cache: {prewarm(data_dir / DB_NAME)}")
        with StationStore.open_writer(data_dir, holder="bench/authorize.py") as store:
            as_of = 0
            if args.usage_as_of == "synced":
                as_of = int(store.conn.execute(
                    "SELECT COALESCE(MIN(seq) - 1, 0) FROM outbox").fetchone()[0])
            store.conn.execute("UPDATE sync_state SET value = ? WHERE key = 'usage_as_of_seq'",
                               (str(as_of),))
            say(f"usage_as_of_seq = {as_of:,}")
            if args.verify:
                t0 = time.perf_counter()
                check = verify(store.conn)
                say(f"journal verify: ok={check.ok} rows={check.rows:,} "
                    f"({time.perf_counter() - t0:.1f} s) {check.problem}")
            base = Config()
            config = dataclasses.replace(
                base, station=dataclasses.replace(base.station, id=STATION_ID,
                                                  data_dir=data_dir))
            present = Presenter(store.conn)
            station = Station(store, present.pinned(config))
            document = pricing_document(store.conn)
            if args.pricing != (document is not None):
                raise SystemExit("the store in --dir was generated "
                                 + ("without" if args.pricing else "with")
                                 + " --pricing; measure it the same way")
            fills = None
            if args.pricing or args.complete:
                fills = Fills(random.Random(args.seed + 2), None if document is None
                              else pricing.Vouchers(json.loads(document), store.conn))
            if document is not None:
                say("pricing: {:,} cards with loyalty facts, {:,} points lots, {:,} points-"
                    "earned rows, {:,} journal lines priced".format(
                        *pricing.points_of(store.conn)))
            floor_conn = store.conn if args.floor_connection == "shared" \
                else connect(data_dir / DB_NAME)
            floor = make_floor(floor_conn)
            identifiers = gen.card_ids if args.identifier == "card_id" else gen.reader_ids
            say(f"measuring: {args.warmup} warm-up + {args.samples} samples each, interleaved")
            gc.collect()
            # Completed sales stay in the store: a reused store measured again with the
            # same cards would find their day limits and wallets used up by the last run,
            # so with completions every run (told apart by its journal length) draws others.
            rng = random.Random(args.seed + 1) if fills is None \
                else random.Random(f"{args.seed + 1}-{n_rows}")
            res = measure(station, floor, gen.card_ids, identifiers, args.samples,
                          args.warmup, rng, present, fills)
            report(res, n_cards=n_cards, n_rows=n_rows, generated_s=gen.seconds)
            if args.profile:
                profile(station, identifiers, args.profile, rng, present, fills)
            if floor_conn is not store.conn:
                floor_conn.close()
            store.conn.execute(f"DROP TABLE {FLOOR_TABLE}")  # leave the migration's schema
    finally:
        devnull.close()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
