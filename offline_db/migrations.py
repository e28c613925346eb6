"""Versioned schema of the station database, recorded in ``_sqlite_migrations``.

Each migration runs in one transaction together with its record (sqlite-utils'
``Migrations``). Never edit a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from core.cards import CARD_KINDS, CARD_STATUSES
from core.errors import StoreError
from core.identifiers import canonical

station_migrations = Migrations("forecourt-station")


SCHEMA_V1 = f"""
CREATE TABLE products (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0)
);
CREATE TABLE customer_groups (
    group_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    group_id TEXT
);
CREATE TABLE vehicles (
    vehicle_id TEXT PRIMARY KEY,
    plate TEXT,
    customer_id TEXT
);
CREATE TABLE cards (
    card_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN {CARD_KINDS!r}),
    status TEXT NOT NULL CHECK (status IN {CARD_STATUSES!r}),
    pan TEXT,
    rfid_uid TEXT,
    token_id TEXT,
    expires TEXT,
    customer_id TEXT,
    vehicle_id TEXT,
    products TEXT,
    rules TEXT NOT NULL DEFAULT '{{}}'
);
CREATE UNIQUE INDEX cards_pan ON cards (pan) WHERE pan IS NOT NULL;
CREATE UNIQUE INDEX cards_rfid_uid ON cards (rfid_uid) WHERE rfid_uid IS NOT NULL;
CREATE UNIQUE INDEX cards_token_id ON cards (token_id) WHERE token_id IS NOT NULL;
CREATE TABLE card_limits (
    card_id TEXT NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('fill', 'day', 'week', 'month', 'year')),
    unit TEXT NOT NULL CHECK (unit IN ('volume', 'money')),
    value INTEGER NOT NULL CHECK (value >= 0),
    products TEXT
);
CREATE INDEX card_limits_card ON card_limits (card_id);
CREATE TABLE wallets (
    wallet_id TEXT PRIMARY KEY,
    card_id TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('volume', 'money')),
    balance INTEGER NOT NULL,
    products TEXT,
    expires TEXT
);
CREATE INDEX wallets_card ON wallets (card_id);
CREATE TABLE card_usage (
    card_id TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start TEXT NOT NULL,
    product TEXT NOT NULL,
    volume_ml INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    visits INTEGER NOT NULL
);
CREATE INDEX card_usage_card ON card_usage (card_id);
CREATE TABLE stop_list (
    identifier TEXT PRIMARY KEY
);
CREATE TABLE authorizations (
    sale_id TEXT PRIMARY KEY,
    card_id TEXT NOT NULL,
    pump INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'completed', 'cancelled', 'denied')),
    reason TEXT NOT NULL,
    products TEXT NOT NULL,
    prices TEXT NOT NULL,
    max_volume_ml INTEGER NOT NULL CHECK (max_volume_ml >= 0),
    max_amount INTEGER NOT NULL CHECK (max_amount >= 0),
    hold_amount INTEGER NOT NULL CHECK (hold_amount >= 0),
    request TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    seq INTEGER
);
CREATE INDEX authorizations_open ON authorizations (card_id) WHERE state = 'open';
CREATE INDEX authorizations_created ON authorizations (created_at);
CREATE TABLE wallet_holds (
    sale_id TEXT NOT NULL REFERENCES authorizations (sale_id),
    wallet_id TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value >= 0),
    PRIMARY KEY (sale_id, wallet_id)
);
CREATE INDEX wallet_holds_wallet ON wallet_holds (wallet_id);
CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    sale_id TEXT NOT NULL UNIQUE,
    station_id TEXT NOT NULL,
    card_id TEXT NOT NULL,
    pump INTEGER NOT NULL,
    product TEXT NOT NULL,
    volume_ml INTEGER NOT NULL CHECK (volume_ml >= 0),
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    authorized_at TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    wallet_debits TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX journal_card ON journal (card_id, completed_at);
CREATE TABLE wallet_debits (
    seq INTEGER NOT NULL REFERENCES journal (seq),
    wallet_id TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (wallet_id, seq)
);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY REFERENCES journal (seq),
    queued_at TEXT NOT NULL
);
CREATE TABLE sync_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE pin_tries (
    card_id TEXT PRIMARY KEY,
    failures INTEGER NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL
)
"""


@station_migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; return the names applied."""
    db = Database(conn)
    known = {m.name for m in station_migrations._migrations}
    applied = {m.name for m in station_migrations.applied(db)}
    if applied - known:
        raise StoreError("the station database was made by a newer forecourt "
                         f"(unknown migrations: {', '.join(sorted(applied - known))})")
    pending = [m.name for m in station_migrations.pending(db)]
    station_migrations.apply(db)
    return pending


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    return [m.name for m in station_migrations.applied(Database(conn))]


@station_migrations(name="0002_pump_fills")
def m0002_pump_fills(db: Database) -> None:
    """Per sale on a pump line: the totals read before the pump was authorized.

    They let a restarted station prove from the pump's totalizers what was delivered
    (docs/pump-line.md, recovery); ``attention`` says why a person must decide.
    """
    db.execute("""
        CREATE TABLE pump_fills (
            sale_id TEXT PRIMARY KEY REFERENCES authorizations (sale_id),
            pump INTEGER NOT NULL,
            nozzles TEXT NOT NULL,
            totals_before TEXT,
            state TEXT NOT NULL,
            attention TEXT,
            updated_at TEXT NOT NULL
        )""")


@station_migrations(name="0003_seen_tokens")
def m0003_seen_tokens(db: Database) -> None:
    """Nonces of digital-card tokens already presented (replay refusal)."""
    db.execute("""
        CREATE TABLE seen_tokens (
            nonce TEXT PRIMARY KEY,
            card_id TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        )""")


@station_migrations(name="0004_authorization_actor")
def m0004_authorization_actor(db: Database) -> None:
    """Who asked for each decision (``cli:alice``, ``reader:pump3-qr``, ``pump-line``).

    The authorizations table is the station's record of every decision, so it carries
    its own who/when/what instead of an audit-log row per authorization.
    """
    db.execute("ALTER TABLE authorizations ADD COLUMN actor TEXT NOT NULL DEFAULT ''")


@station_migrations(name="0005_card_usage_as_of")
def m0005_card_usage_as_of(db: Database) -> None:
    """Per card: which of this station's sales the office's usage figures include.

    The office sends usage for the cards that just sold anywhere, each with the last
    seq of this station it counted; this station adds only its own later sales.
    ``rev`` orders usage updates so an older one arriving late changes nothing.
    """
    db.execute("""
        CREATE TABLE card_usage_as_of (
            card_id TEXT PRIMARY KEY,
            as_of_seq INTEGER NOT NULL,
            rev INTEGER NOT NULL
        )""")


@station_migrations(name="0006_journal_vehicle_odometer")
def m0006_journal_vehicle_odometer(db: Database) -> None:
    """The vehicle, odometer reading and odometer flag of each sale (docs/journal.md).

    NULL in rows written before: such rows hash exactly as they did (the canonical
    form holds these fields only when present).
    """
    db.execute("ALTER TABLE journal ADD COLUMN vehicle_id TEXT")
    db.execute("ALTER TABLE journal ADD COLUMN odometer_km INTEGER "
               "CHECK (odometer_km >= 0)")
    db.execute("ALTER TABLE journal ADD COLUMN odometer_flag TEXT")
    db.execute("CREATE INDEX journal_vehicle ON journal (vehicle_id, seq) "
               "WHERE vehicle_id IS NOT NULL")


@station_migrations(name="0007_canonical_stop_list")
def m0007_canonical_stop_list(db: Database) -> None:
    """Stop-list entries in their one form (core.identifiers; issue 10 #3).

    Entries were kept as written, so ``04a1b2c3`` never matched the tag read as
    ``04A1B2C3``; lookups now use the canonical form, and so do the entries.
    """
    for (entry,) in db.execute("SELECT identifier FROM stop_list").fetchall():
        form = canonical(entry)
        if form != entry:
            db.execute("DELETE FROM stop_list WHERE identifier = ?", [entry])
            db.execute("INSERT OR IGNORE INTO stop_list VALUES (?)", [form])


@station_migrations(name="0008_pin_tries_generation")
def m0008_pin_tries_generation(db: Database) -> None:
    """Per PIN try count: the card's PIN reset generation and PIN hash it was counted under.

    A count made under an older generation (the head office reset the PIN) or under
    another PIN hash (the card got a new PIN) no longer counts: the card starts over.
    Rows from before this migration were counted under generation 0 and any hash.
    """
    db.execute("ALTER TABLE pin_tries ADD COLUMN reset INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE pin_tries ADD COLUMN pin_hash TEXT NOT NULL DEFAULT ''")


@station_migrations(name="0009_journal_head")
def m0009_journal_head(db: Database) -> None:
    """The station's recorded journal head and the hash its last receipt named.

    From now on every append updates ``journal_head`` and every receipt records
    ``last_receipt_hash``; an existing database starts from its current journal
    (docs/journal.md, anchors). Data only: both live in ``sync_state``.
    """
    db.execute("INSERT OR IGNORE INTO sync_state (key, value) SELECT 'journal_head', "
               "COALESCE((SELECT seq || ' ' || hash FROM journal ORDER BY seq DESC LIMIT 1), "
               "'0 ' || ?)", ["0" * 64])
    db.execute("INSERT OR IGNORE INTO sync_state (key, value) SELECT 'last_receipt_hash', "
               "j.hash FROM sync_state s JOIN journal j ON j.seq = CAST(s.value AS INTEGER) "
               "WHERE s.key = 'last_receipt_seq'")


@station_migrations(name="0010_wallets_as_of")
def m0010_wallets_as_of(db: Database) -> None:
    """Per card: which of this station's sales the office's wallet balances include.

    NULL: the balances came with the card store's own mark (``usage_as_of_seq``);
    set when a ``usage`` update brought the card's balances with its marks
    (docs/card-store.md, "Wallets"): each station subtracts only its own later debits,
    so a wallet spent at two stations is netted across the network.
    """
    db.execute("ALTER TABLE card_usage_as_of ADD COLUMN wallets_as_of_seq INTEGER")


@station_migrations(name="0011_pricing")
def m0011_pricing(db: Database) -> None:
    """Pricing at the station (docs/pricing.md, docs/card-store.md "Loyalty").

    - ``journal.pricing``: the optional hashed ``pricing`` field of a sale line (JSON
      text); NULL in rows written before, which hash exactly as they did;
    - ``authorizations.pricing``: what the authorization priced from (list prices,
      facts, rule-set revision, voucher, points asked), used as is at completion;
      ``voucher_serial`` with a unique index over open and completed authorizations,
      so a voucher fills once at this station; ``points_hold``, the points an open
      authorization may still burn;
    - ``card_points``: a card's unexpired point lots (office balance as of a mark) and
      ``card_points_earned``: points earned network-wide per day, week and month;
      ``card_usage_as_of.points_as_of_seq``: the mark of the lots when a usage update
      brought them (NULL: the card store's own mark).
    The pricing document itself is the ``pricing`` key of ``sync_state``.
    """
    db.execute("ALTER TABLE journal ADD COLUMN pricing TEXT")
    db.execute("ALTER TABLE authorizations ADD COLUMN pricing TEXT")
    db.execute("ALTER TABLE authorizations ADD COLUMN voucher_serial TEXT")
    db.execute("ALTER TABLE authorizations ADD COLUMN points_hold INTEGER NOT NULL DEFAULT 0 "
               "CHECK (points_hold >= 0)")
    db.execute("CREATE UNIQUE INDEX authorizations_voucher ON authorizations (voucher_serial) "
               "WHERE voucher_serial IS NOT NULL AND state IN ('open', 'completed')")
    db.execute("""
        CREATE TABLE card_points (
            card_id TEXT NOT NULL,
            expires TEXT NOT NULL,
            points INTEGER NOT NULL CHECK (points >= 0),
            PRIMARY KEY (card_id, expires)
        )""")
    db.execute("""
        CREATE TABLE card_points_earned (
            card_id TEXT NOT NULL,
            period TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
            period_start TEXT NOT NULL,
            points INTEGER NOT NULL CHECK (points >= 0),
            PRIMARY KEY (card_id, period, period_start)
        )""")
    db.execute("ALTER TABLE card_usage_as_of ADD COLUMN points_as_of_seq INTEGER")


@station_migrations(name="0012_vouchers_used")
def m0012_vouchers_used(db: Database) -> None:
    """Vouchers redeemed anywhere in the network (docs/pricing.md, "Vouchers").

    ``vouchers_used``: the 12-digit serials the office reported redeemed (a delta's
    ``vouchers_used`` operation adds to it, a snapshot replaces it); the station refuses
    them as ``voucher_used`` like the ones its own authorizations took.
    """
    db.execute("CREATE TABLE vouchers_used (serial TEXT PRIMARY KEY) WITHOUT ROWID")


@station_migrations(name="0013_journal_points_burned")
def m0013_journal_points_burned(db: Database) -> None:
    """An index of the sales that burned loyalty points, by card and seq.

    Every priced authorization subtracts from the card's lots the points this station
    burned after the lots' mark (offline_db.pricing.points_burned_after). Without it
    that read fetched every journal row of the card after the mark (with a snapshot
    that carries no station marks: all of them, each a scattered table page, to read a
    JSON field that is almost always 0); with it, only the few that burned points.
    """
    db.execute("CREATE INDEX journal_points_burned ON journal (card_id, seq) "
               "WHERE json_extract(pricing, '$.points_burned') > 0")


@station_migrations(name="0014_shifts_totalizers")
def m0014_shifts_totalizers(db: Database) -> None:
    """Shifts and the pumps' totalizer readings (docs/station-reports.md).

    - ``totalizer_snapshots``: one reading of every pump-line pump at ``taken_at``,
      taken when a shift closes or the scheduled day report runs; ``unavailable`` says
      why no pump was read at all (the daemon was not running);
    - ``totalizer_readings``: per pump and nozzle, the totals in ml and minor units
      (converted from the pump's decimals); nozzle 0 with ``unavailable`` when that
      pump could not be read (offline, did not answer);
    - ``shifts``: each closed shift, from ``opened_at`` (the previous close; NULL for
      the first shift: from the first decision ever) to ``closed_at``, who closed it
      and the readings at that moment, which are the next shift's start readings;
    - ``journal_completed``: the sales of a period are read by ``completed_at``
      (one range scan of the index instead of the whole journal).
    """
    db.execute("""
        CREATE TABLE totalizer_snapshots (
            snapshot_id INTEGER PRIMARY KEY,
            taken_at TEXT NOT NULL,
            cause TEXT NOT NULL CHECK (cause IN ('shift_close', 'day_report')),
            actor TEXT NOT NULL,
            unavailable TEXT
        )""")
    db.execute("CREATE INDEX totalizer_snapshots_taken ON totalizer_snapshots (taken_at)")
    db.execute("""
        CREATE TABLE totalizer_readings (
            snapshot_id INTEGER NOT NULL REFERENCES totalizer_snapshots (snapshot_id),
            pump INTEGER NOT NULL,
            nozzle INTEGER NOT NULL CHECK (nozzle >= 0),
            product TEXT,
            volume_ml INTEGER CHECK (volume_ml >= 0),
            amount INTEGER CHECK (amount >= 0),
            unavailable TEXT,
            PRIMARY KEY (snapshot_id, pump, nozzle),
            CHECK ((nozzle = 0) = (unavailable IS NOT NULL))
        )""")
    db.execute("""
        CREATE TABLE shifts (
            shift_no INTEGER PRIMARY KEY,
            opened_at TEXT,
            closed_at TEXT NOT NULL,
            closed_by TEXT NOT NULL,
            snapshot_id INTEGER NOT NULL UNIQUE REFERENCES totalizer_snapshots (snapshot_id)
        )""")
    db.execute("CREATE INDEX journal_completed ON journal (completed_at)")


@station_migrations(name="0015_wallet_debits_seq")
def m0015_wallet_debits_seq(db: Database) -> None:
    """``wallet_debits`` by ``seq``: retention deletes the oldest sales' debits, and the
    foreign key from ``wallet_debits.seq`` to the journal makes SQLite look for a deleted
    sale's debits; without this index each deleted sale scanned every debit."""
    db.execute("CREATE INDEX wallet_debits_seq ON wallet_debits (seq)")
