"""The card store: atomic snapshot import and the reads authorization needs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import identifiers
from core.formats.snapshot import CardSpec, PointsEarned, PointsLot, Snapshot, UsageSpec
from core.freshness import check_snapshot_times, fresh_as_of
from core.timefmt import iso
from offline_db.connection import atomic
from offline_db.state import get_state, set_state

CARD_TABLES = ("products", "customer_groups", "customers", "vehicles", "cards", "card_limits",
               "wallets", "card_usage", "card_usage_as_of", "stop_list", "card_points",
               "card_points_earned", "vouchers_used")
#: The ``sync_state`` key holding the pricing document (JSON text; absent: none).
PRICING_KEY = "pricing"


@dataclass(frozen=True)
class ImportSummary:
    version: int
    previous_version: int | None
    products: int
    cards: int
    stop_list: int


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def usage_rows(card_id: str, usage: Iterable[UsageSpec]) -> list[tuple[Any, ...]]:
    return [(card_id, u.period, u.period_start, u.product, u.volume_ml, u.amount, u.visits)
            for u in usage]


def put_points(conn: sqlite3.Connection, card_id: str, lots: Iterable[PointsLot]) -> None:
    """Replace the card's point lots (inside the caller's transaction)."""
    conn.execute("DELETE FROM card_points WHERE card_id = ?", (card_id,))
    conn.executemany("INSERT INTO card_points VALUES (?, ?, ?)",
                     [(card_id, lot.expires, lot.points) for lot in lots])


def put_points_earned(conn: sqlite3.Connection, card_id: str,
                      earned: Iterable[PointsEarned]) -> None:
    """Replace the card's network-wide points earned per period."""
    conn.execute("DELETE FROM card_points_earned WHERE card_id = ?", (card_id,))
    conn.executemany("INSERT INTO card_points_earned VALUES (?, ?, ?, ?)",
                     [(card_id, e.period, e.period_start, e.points) for e in earned])


def set_pricing(conn: sqlite3.Connection, document: Any) -> None:
    """Keep the pricing document as JSON text (None: the station has none).

    The document it replaces stays (``pricing@<revision>``) while an open authorization
    was priced with it: a sale completes with the rules its preset was made with, so
    the price told at the pump does not change while the fuel runs. Redeemed serials
    of a batch the new document no longer carries are dropped: such a voucher is refused
    as ``voucher_unknown`` anyway, and the list stays small.
    """
    old = get_state(conn, PRICING_KEY)
    if old is not None:
        revision = json.loads(old).get("revision")
        if isinstance(revision, int):
            set_state(conn, f"{PRICING_KEY}@{revision}", old)
    if document is None:
        conn.execute("DELETE FROM sync_state WHERE key = ?", (PRICING_KEY,))
    else:
        set_state(conn, PRICING_KEY, json.dumps(document, sort_keys=True,
                                                separators=(",", ":")))
    prune_pricing(conn)
    batches = [] if document is None else document.get("vouchers") or []
    kept = json.dumps([f"{b['number']:06d}" for b in batches])
    conn.execute("DELETE FROM vouchers_used WHERE substr(serial, 1, 6) NOT IN "
                 "(SELECT value FROM json_each(?))", (kept,))


def add_vouchers_used(conn: sqlite3.Connection, serials: Iterable[str]) -> None:
    """Remember voucher serials redeemed somewhere in the network (12 digits each)."""
    conn.executemany("INSERT OR IGNORE INTO vouchers_used VALUES (?)",
                     [(s,) for s in serials])


def prune_pricing(conn: sqlite3.Connection) -> None:
    """Forget kept documents that no open authorization was priced with."""
    wanted = {str(r[0]) for r in conn.execute(
        "SELECT DISTINCT json_extract(pricing, '$.revision') FROM authorizations "
        "WHERE state = 'open' AND pricing IS NOT NULL")}
    for (key,) in conn.execute("SELECT key FROM sync_state WHERE key LIKE ?",
                               (f"{PRICING_KEY}@%",)).fetchall():
        if key.split("@", 1)[1] not in wanted:
            conn.execute("DELETE FROM sync_state WHERE key = ?", (key,))


def kept_pricing(conn: sqlite3.Connection, revision: int) -> str | None:
    """The document of ``revision`` kept for open authorizations (JSON text), if any."""
    return get_state(conn, f"{PRICING_KEY}@{revision}")


def insert_cards(conn: sqlite3.Connection, cards: Sequence[CardSpec]) -> None:
    """Insert cards with their limits, wallets and usage (bulk; rows must not exist)."""
    conn.executemany(
        "INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(c.card_id, c.kind, c.status, c.pan, c.rfid_uid, c.token_id, c.expires,
          c.customer_id, c.vehicle_id, _json(c.products), json.dumps(c.rules))
         for c in cards])
    conn.executemany(
        "INSERT INTO card_limits VALUES (?, ?, ?, ?, ?)",
        [(c.card_id, lim.period, lim.unit, lim.value, _json(lim.products))
         for c in cards for lim in c.limits])
    conn.executemany(
        "INSERT INTO wallets VALUES (?, ?, ?, ?, ?, ?)",
        [(w.wallet_id, c.card_id, w.unit, w.balance, _json(w.products), w.expires)
         for c in cards for w in c.wallets])
    conn.executemany("INSERT INTO card_usage VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [row for c in cards for row in usage_rows(c.card_id, c.usage)])
    conn.executemany("INSERT INTO card_points VALUES (?, ?, ?)",
                     [(c.card_id, lot.expires, lot.points) for c in cards for lot in c.points])
    conn.executemany("INSERT INTO card_points_earned VALUES (?, ?, ?, ?)",
                     [(c.card_id, e.period, e.period_start, e.points)
                      for c in cards for e in c.points_earned])


def import_snapshot(conn: sqlite3.Connection, snap: Snapshot, *, station_id: str,
                    now: datetime, skew_s: int) -> ImportSummary:
    """Replace the whole card store with ``snap`` in one transaction.

    The caller checks the version order. Every source of a snapshot (file, MQTT,
    flash reply) comes through here, so its times are checked here against the
    station's clock ``now`` (core.freshness): made further ahead than ``skew_s``
    or already expired is a :class:`~core.errors.CardStoreTimeError` and nothing
    changes. The snapshot's usage figures include this station's sales up to
    ``station_seqs[station_id]``.
    """
    check_snapshot_times(snap.generated_at, snap.expires_at, now=now, skew_s=skew_s)
    previous = get_state(conn, "card_store_version")
    with atomic(conn):
        for table in CARD_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.executemany("INSERT INTO products VALUES (?, ?, ?)",
                         [(p.code, p.name, p.unit_price) for p in snap.products])
        conn.executemany("INSERT INTO customer_groups VALUES (?, ?)",
                         [(g["group_id"], g["name"] or "") for g in snap.customer_groups])
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                         [(c["customer_id"], c["name"] or "", c["group_id"])
                          for c in snap.customers])
        conn.executemany("INSERT INTO vehicles VALUES (?, ?, ?)",
                         [(v["vehicle_id"], v["plate"], v["customer_id"]) for v in snap.vehicles])
        insert_cards(conn, snap.cards)
        conn.executemany("INSERT INTO stop_list VALUES (?)", [(s,) for s in snap.stop_list])
        add_vouchers_used(conn, snap.vouchers_used)
        set_pricing(conn, snap.pricing)  # a snapshot without one clears it (and the serials)
        set_state(conn, "card_store_version", str(snap.version))
        set_state(conn, "card_store_generated_at",
                  iso(snap.generated_at) if snap.generated_at else "")
        set_state(conn, "card_store_expires_at", iso(snap.expires_at) if snap.expires_at else "")
        # Freshness: the moment the data was produced (never later than the station's
        # clock), or the import if it does not say.
        set_state(conn, "card_store_confirmed_at", iso(fresh_as_of(snap.generated_at, now)))
        set_state(conn, "usage_as_of_seq", str(snap.station_seqs.get(station_id, 0)))
    return ImportSummary(snap.version, int(previous) if previous else None, len(snap.products),
                         len(snap.cards), len(snap.stop_list))


def find_card(conn: sqlite3.Connection, identifier: str) -> sqlite3.Row | None:
    """The card whose card id, PAN, RFID UID or token id is ``identifier``.

    A PAN or UID matches however it is written (core.identifiers); card ids and
    token ids match exactly.
    """
    for column, value in identifiers.lookups(identifier):
        row: sqlite3.Row | None = conn.execute(
            f"SELECT * FROM cards WHERE {column} = ?", (value,)).fetchone()
        if row is not None:
            return row
    return None


def is_stop_listed(conn: sqlite3.Connection, *idents: str | None) -> bool:
    """Whether any of ``idents`` is on the stop list (each in its canonical form)."""
    values = sorted({identifiers.canonical(i) for i in idents if i})
    if not values:
        return False
    marks = ",".join("?" * len(values))
    return conn.execute(f"SELECT 1 FROM stop_list WHERE identifier IN ({marks})",
                        values).fetchone() is not None


def card_limits(conn: sqlite3.Connection, card_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM card_limits WHERE card_id = ? ORDER BY rowid",
                        (card_id,)).fetchall()


def card_usage(conn: sqlite3.Connection, card_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM card_usage WHERE card_id = ?", (card_id,)).fetchall()


def wallets_as_of(conn: sqlite3.Connection, card_id: str, store_mark: int) -> int:
    """The last seq of this station the card's wallet balances include: the mark of the
    usage update that brought them, else the card store's own (``store_mark``)."""
    row = conn.execute("SELECT wallets_as_of_seq FROM card_usage_as_of WHERE card_id = ?",
                       (card_id,)).fetchone()
    return store_mark if row is None or row[0] is None else int(row[0])


def wallets_available(conn: sqlite3.Connection, card_id: str, *, as_of_seq: int,
                      exclude_sale: str | None = None) -> list[dict[str, Any]]:
    """The card's wallets with ``available`` = balance - later debits - open holds."""
    rows = conn.execute(
        """
        SELECT w.*,
          w.balance
          - COALESCE((SELECT SUM(d.value) FROM wallet_debits d
                      WHERE d.wallet_id = w.wallet_id AND d.seq > ?), 0)
          - COALESCE((SELECT SUM(h.value) FROM wallet_holds h
                      JOIN authorizations a ON a.sale_id = h.sale_id
                      WHERE h.wallet_id = w.wallet_id AND a.state = 'open'
                        AND a.sale_id IS NOT ?), 0) AS available
        FROM wallets w WHERE w.card_id = ? ORDER BY w.wallet_id
        """, (as_of_seq, exclude_sale, card_id)).fetchall()
    return [dict(r) for r in rows]


def local_sales(conn: sqlite3.Connection, card_ids: list[str], *, since: str,
                as_of_seq: int) -> list[sqlite3.Row]:
    """This station's sales of the cards completed since ``since`` and after ``as_of_seq``
    (a card and the cards it replaced: their use so far counts towards it)."""
    marks = ",".join("?" * len(card_ids))
    return conn.execute(
        "SELECT product, completed_at, volume_ml, amount FROM journal "
        f"WHERE card_id IN ({marks}) AND completed_at >= ? AND seq > ?",
        (*card_ids, since, as_of_seq)).fetchall()


def last_odometer(conn: sqlite3.Connection, vehicle_id: str | None) -> int | None:
    """The vehicle's odometer reading (km) in its latest sale at this station, if any.

    A flagged reading is suspect (a typo of one digit too many would otherwise make
    every later true reading look like a step backwards), so it is passed over.
    """
    if vehicle_id is None:
        return None
    row = conn.execute("SELECT odometer_km FROM journal WHERE vehicle_id = ? AND "
                       "odometer_km IS NOT NULL AND odometer_flag IS NULL "
                       "ORDER BY seq DESC LIMIT 1",
                       (vehicle_id,)).fetchone()
    return None if row is None else int(row[0])


def wallets_held(conn: sqlite3.Connection, card_id: str) -> dict[str, int]:
    """Per wallet of the card: what open authorizations hold on it."""
    return {r[0]: int(r[1]) for r in conn.execute(
        "SELECT h.wallet_id, SUM(h.value) FROM wallet_holds h JOIN authorizations a "
        "ON a.sale_id = h.sale_id WHERE a.card_id = ? AND a.state = 'open' "
        "GROUP BY h.wallet_id", (card_id,))}


def open_holds(conn: sqlite3.Connection, card_id: str, *, exclude_sale: str | None = None
               ) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT sale_id, products, max_volume_ml, hold_amount FROM authorizations "
        "WHERE card_id = ? AND state = 'open' AND sale_id IS NOT ?",
        (card_id, exclude_sale)).fetchall()


def open_sale_on_pump(conn: sqlite3.Connection, pump: int) -> str | None:
    """The sale id of the pump's open authorization, if it has one (uses the open index)."""
    row = conn.execute("SELECT sale_id FROM authorizations WHERE state = 'open' AND pump = ? "
                       "LIMIT 1", (pump,)).fetchone()
    return None if row is None else str(row["sale_id"])


def prices(conn: sqlite3.Connection) -> dict[str, int]:
    return {r["code"]: r["unit_price"] for r in conn.execute("SELECT * FROM products")}


# A count is current when it was made under the card's PIN reset generation (or a later
# one) and under the card's PIN hash ('' = counted before hashes were recorded).
_CURRENT = "reset >= :reset AND pin_hash IN (:pin_hash, '')"


def pin_failures(conn: sqlite3.Connection, card_id: str, *, reset: int, pin_hash: str) -> int:
    """Wrong PINs counted for the card under its current PIN and reset generation.

    The head office unlocks a PIN by raising the card's ``pin.reset`` generation; a new
    PIN (another hash) starts over too. Older counts are kept but no longer count.
    """
    row = conn.execute(f"SELECT failures FROM pin_tries WHERE card_id = :card_id AND {_CURRENT}",
                       {"card_id": card_id, "reset": reset, "pin_hash": pin_hash}).fetchone()
    return int(row["failures"]) if row else 0


def count_pin_failure(conn: sqlite3.Connection, card_id: str, *, reset: int,
                      pin_hash: str) -> None:
    """One more wrong PIN, under the card's current generation and PIN (a stale count restarts)."""
    conn.execute(
        "INSERT INTO pin_tries (card_id, failures, reset, pin_hash) "
        "VALUES (:card_id, 1, :reset, :pin_hash) ON CONFLICT (card_id) DO UPDATE SET "
        f"failures = CASE WHEN {_CURRENT} THEN failures + 1 ELSE 1 END, "
        "reset = :reset, pin_hash = :pin_hash",
        {"card_id": card_id, "reset": reset, "pin_hash": pin_hash})


def clear_pin_failures(conn: sqlite3.Connection, card_id: str) -> int:
    """Forget the card's wrong PINs; how many were counted (0 if none)."""
    row = conn.execute("DELETE FROM pin_tries WHERE card_id = ? RETURNING failures",
                       (card_id,)).fetchone()
    return int(row["failures"]) if row else 0
