"""The station's side of flash-drive transfer: sales out, the office's reply in.

Export (``forecourt flash export DIR``) reads, in one read transaction of a read-only
connection (the daemon keeps running), every journal row from the oldest sale still
in the outbox to the last, and writes them as the exact bytes the journal hashes
(``offline_db.journal.canonical``), produced by SQLite and checked against each row's
stored hash on the way out. Import (``forecourt flash import FILE``) applies a reply
with exactly the checks of the MQTT path: the office's signature, this station as the
recipient, the receipt's hash against our own journal (``offline_db.outbox``), and the
card-store message's expiry, version order and no-rollback rule
(``offline_db.replication.apply_cards_message``), all in one transaction. docs/bundles.md.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync import wire
from cloud_sync.bundle import MAX_LINE, BundleError, BundleWriter, open_bundle
from cloud_sync.envelope import OFFICE
from cloud_sync.envelope import canonical as envelope_canonical
from core.config import Config
from core.errors import CardStoreTimeError, JournalError
from core.formats.journal import GENESIS, canonical, canonical_sql, malformed
from core.freshness import parse_time
from core.keys import configured_office_key
from core.timefmt import iso, utc_now
from offline_db.connection import atomic
from offline_db.journal_checks import tail_problems
from offline_db.outbox import apply_receipt
from offline_db.replication import Replica, apply_cards_message
from offline_db.resend import requeue_receipted
from offline_db.state import audit, get_state

log = structlog.get_logger(__name__)
PROGRESS_EVERY = 10_000
REPLY_FIELDS = frozenset({"station_id", "receipt", "cards", "usage"})
#: Only in a reply of an office that lost receipted sales (offline_db.resend).
REPLY_EXTRA = frozenset({"resend"})

#: The canonical JSON of a journal row (sorted keys, no spaces), made by SQLite. A row
#: whose text differs from Python's ``canonical`` (non-ASCII text, which Python
#: escapes) is caught by its hash and made by ``canonical`` instead.
CANONICAL_SQL = (f"SELECT {canonical_sql(str)}, hash, seq "
                 "FROM journal WHERE seq >= ? ORDER BY seq")


def file_stem(station_id: str) -> str:
    return "forecourt-" + re.sub(r"[^A-Za-z0-9._-]", "_", station_id)


def sales_name(station_id: str) -> str:
    return f"{file_stem(station_id)}-sales.fcb"


def reply_name(station_id: str) -> str:
    return f"{file_stem(station_id)}-reply.fcb"


def office_key_of(config: Config) -> Ed25519PublicKey:
    key = configured_office_key(config)
    if key is None:
        raise BundleError("no_office_key", "[station] office_public_key is not set, so "
                          "bundles can be neither encrypted to nor checked against the "
                          "head office")
    return key


def alarms(conn: sqlite3.Connection, data: dict[str, Any]) -> list[str]:
    """What a person at the head office should know about this station."""
    out: list[str] = []
    if data.get("card_data_stale"):
        out.append("card data is stale: offline policy in force")
    attention = conn.execute("SELECT COUNT(*) FROM pump_fills WHERE attention IS NOT NULL "
                             "AND attention != ''").fetchone()[0]
    if attention:
        out.append(f"{attention} pump fill(s) need attention")
    # The journal's end against its anchors (recorded head, last receipt, outbox,
    # authorizations): a cut or rehashed tail is sent on, but never without saying so.
    for problem in tail_problems(conn):
        where = f" at seq {problem.seq}" if problem.seq is not None else ""
        alarm = (f"journal broken{where}: {problem.message} [{problem.reason}]; run "
                 "'forecourt journal verify'")
        out.append(alarm[:500])  # the office takes alarms of at most 500 characters
    return out


@dataclass(frozen=True)
class ExportSummary:
    path: str
    sales: int
    first_seq: int | None
    last_seq: int | None
    volume_ml: int
    amount: int
    size: int
    status: dict[str, Any]


def export_sales(config: Config, conn: sqlite3.Connection, directory: Path, *,
                 now: datetime, key: Ed25519PrivateKey,
                 status_of: Callable[[sqlite3.Connection], dict[str, Any]],
                 progress: Callable[[int, int], None] | None = None) -> ExportSummary:
    """Write every sale not yet receipted (and the station's status) to ``directory``.

    ``key`` is the station's signing key; ``status_of(conn)`` gives the station's
    status, read in the same snapshot as the sales. ``progress(done, total)`` is
    called as sales are written.
    """
    station_id = config.station.id
    office_key = office_key_of(config)
    conn.execute("BEGIN")  # one snapshot of the journal, the outbox and the status
    try:
        first = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
        totals = conn.execute(
            "SELECT COUNT(*), MAX(seq), COALESCE(SUM(volume_ml), 0), "
            "COALESCE(SUM(amount), 0) FROM journal WHERE seq >= ?",
            (first if first is not None else 2**62,)).fetchone()
        count, last, volume, amount = (int(totals[0]), totals[1], int(totals[2]),
                                       int(totals[3]))
        prev = GENESIS
        if first is not None:
            prev = conn.execute("SELECT prev_hash FROM journal WHERE seq = ?",
                                (first,)).fetchone()[0]
        last_hash = conn.execute("SELECT hash FROM journal WHERE seq = ?",
                                 (last,)).fetchone()[0] if last is not None else prev
        status = status_of(conn)
        status["alarms"] = alarms(conn, status)
        meta = {"station_id": station_id, "first_seq": first, "last_seq": last,
                "sales": count, "first_prev_hash": prev, "last_hash": last_hash,
                "volume_ml": volume, "amount": amount, "status": status}
        header = {"kind": "sales", "from": station_id, "to": OFFICE,
                  "station_id": station_id, "created_at": iso(now),
                  "range": {"first_seq": first, "last_seq": last, "sales": count}}
        with BundleWriter(directory, sales_name(station_id), header, signer=key,
                          recipient=office_key) as writer:
            writer.write(envelope_canonical(meta) + b"\n")
            if first is not None:
                _write_sales(conn, writer, first, prev,
                             None if progress is None else lambda n: progress(n, count))
            written = writer.commit()
    finally:
        conn.execute("COMMIT")
    log.info("flash.exported", path=str(written.path), sales=count, first_seq=first,
             last_seq=last, bytes=written.size)
    return ExportSummary(str(written.path), count, first, last, volume, amount,
                         written.size, status)


def _write_sales(conn: sqlite3.Connection, writer: BundleWriter, first: int, prev: str,
                 progress: Callable[[int], None] | None) -> None:
    cur = conn.cursor()
    cur.row_factory = None
    cur.execute(CANONICAL_SQL, (first,))
    sha256 = hashlib.sha256
    prev_b = prev.encode()
    block: list[bytes] = []
    done = 0
    expected = first
    while rows := _fetch(conn, cur, expected):
        for text, stored, seq in rows:
            if seq != expected:
                raise JournalError(f"the journal has no seq {expected}: run "
                                   "'forecourt journal verify'")
            line = text.encode()
            digest = sha256(prev_b + b"\n" + line).hexdigest()
            if digest != stored:
                line = canonical(dict(conn.execute("SELECT * FROM journal WHERE seq = ?",
                                                   (seq,)).fetchone()))
                digest = sha256(prev_b + b"\n" + line).hexdigest()
                if digest != stored:
                    raise JournalError(f"journal broken at seq {seq}: its content does not "
                                       "match its hash; run 'forecourt journal verify'")
            block.append(line)
            prev_b = stored.encode()
            expected += 1
        writer.write(b"\n".join(block) + b"\n")
        done += len(block)
        block.clear()
        if progress is not None:
            progress(done)


def _fetch(conn: sqlite3.Connection, cur: sqlite3.Cursor, expected: int) -> list[Any]:
    """The next rows of CANONICAL_SQL; a row SQLite cannot put in JSON is named by seq."""
    try:
        return cur.fetchmany(2000)
    except sqlite3.OperationalError as exc:  # malformed JSON, a blob: find which row
        for raw in conn.execute("SELECT * FROM journal WHERE seq >= ? ORDER BY seq",
                                (expected,)):
            what = malformed(dict(raw))
            if what is not None:
                raise JournalError(f"journal broken at seq {raw['seq']}: {what}; run "
                                   "'forecourt journal verify'") from None
        raise JournalError(f"the journal cannot be read after seq {expected - 1} ({exc}); "
                           "run 'forecourt journal verify'") from None


# -- import of the office's reply ----------------------------------------------------------

@dataclass(frozen=True)
class ImportSummary:
    path: str
    created_at: str
    receipt_seq: int | None
    delivered: int
    last_receipt_seq: int
    cards: str
    card_store_version: int | None
    usage_cards: int
    detail: str
    #: Receipted sales queued again at the office's request (it lost them: a restore).
    resent: int = 0


def read_reply(config: Config, path: Path, key: Ed25519PrivateKey) -> tuple[dict[str, Any],
                                                                             dict[str, Any]]:
    """The verified header and body of a reply bundle addressed to this station."""
    office_key = office_key_of(config)
    station_id = config.station.id
    try:
        with open_bundle(path, me=station_id, my_key=key, kind="reply",
                         key_for=lambda s: office_key if s == OFFICE else None) as bundle:
            text = b"".join(bundle.blocks())
            header = bundle.header
    except OSError as exc:
        raise BundleError("unreadable", f"cannot read {path}: {exc.strerror}") from None
    def refuse(reason: str, sentence: str) -> BundleError:
        return BundleError(reason, f"{path.name}: {sentence}")

    body = wire.decode(text, what="the reply", max_bytes=MAX_LINE, error=refuse)
    try:  # the one shape check of each part, as on the MQTT path (cloud_sync.wire)
        wire.same_station("its header", header.get("station_id"), station_id)
        if not isinstance(body, dict) or not REPLY_FIELDS <= set(body) <= \
                REPLY_FIELDS | REPLY_EXTRA:
            raise wire.WireError("malformed", "the reply is not an object of "
                                 f"{', '.join(sorted(REPLY_FIELDS))} (and resend)")
        wire.same_station("the reply", body["station_id"], station_id)
        if body["receipt"] is not None:
            wire.check_receipt(body["receipt"], station_id)
        if body["cards"] is not None:
            wire.check_cards(body["cards"], station_id)
        if body.get("resend") is not None:
            wire.check_resend(body["resend"], station_id)
        if body["usage"] is not None:
            wire.check_cards(body["usage"], station_id)
            if body["usage"]["mode"] != "usage":
                raise wire.WireError("malformed", "the usage part is not a usage message")
    except wire.WireError as exc:
        raise refuse(exc.reason, str(exc)) from None
    return header, body


def import_reply(station: Replica, path: Path, *, actor: str,
                 key: Ed25519PrivateKey) -> dict[str, Any]:
    """Apply a reply bundle: receipt and card-store changes, all or nothing.

    Runs under the writer lock (the daemon's operation ``flash.import``); ``key`` is
    the station's own key (the reply is encrypted to it).
    """
    config = station.config
    header, body = read_reply(config, path, key)
    conn = station.conn
    try:
        made = parse_time(header.get("created_at"), "created_at")
    except CardStoreTimeError:
        raise BundleError("malformed", f"{path.name}: created_at is malformed") from None
    receipt = body.get("receipt")
    cards = body.get("cards")
    last_before = int(get_state(conn, "last_receipt_seq", "0") or 0)
    delivered = 0
    outcome, version, detail = "none", None, ""
    with atomic(conn):
        if receipt is not None:
            result = apply_receipt(conn, up_to_seq=receipt["up_to_seq"], hash_=receipt["hash"])
            if not result.accepted:
                raise BundleError("receipt_mismatch", f"{path.name}: {result.reason}; "
                                  "nothing was applied")
            delivered = result.removed
        resent = 0
        if body.get("resend") is not None:  # the office lost receipted sales: again
            ask = body["resend"]
            resent = requeue_receipted(conn, ask["from_seq"], ask["to_seq"],
                                       at=iso(utc_now())).count
        if cards is not None:
            update = apply_cards_message(station, cards, vouched_at=made)
            outcome, version, detail = update.outcome, update.version, update.detail
            if outcome == "refused":
                raise BundleError("cards_refused", f"{path.name}: the card-store changes "
                                  f"were refused ({detail}); nothing was applied")
            if outcome == "need_sync":
                raise BundleError("version_gap", f"{path.name}: its card-store changes "
                                  f"{detail}; export again and bring a newer reply; "
                                  "nothing was applied")
        usage_cards = 0
        rev_before = _usage_rev(conn)
        if body.get("usage") is not None:  # older revisions of a card's use are ignored
            used = apply_cards_message(station, body["usage"], vouched_at=made)
            if used.outcome == "refused":
                raise BundleError("cards_refused", f"{path.name}: the network card use was "
                                  f"refused ({used.detail}); nothing was applied")
            usage_cards = len(body["usage"].get("ops") or [])
        last_after = int(get_state(conn, "last_receipt_seq", "0") or 0)
        if last_after == last_before and outcome in ("none", "ignored") and \
                _usage_rev(conn) == rev_before and not resent:
            current = get_state(conn, "card_store_version")
            raise BundleError("stale", f"{path.name} is older than what this station has "
                              f"applied (receipts up to seq {last_before}, card store "
                              f"version {current}); nothing changed")
        audit(conn, actor, "flash.import", file=path.name, receipt_seq=last_after,
              delivered=delivered, cards=outcome, card_store_version=version,
              usage_cards=usage_cards, resent=resent)
    log.info("flash.imported", path=str(path), delivered=delivered, last_receipt_seq=last_after,
             cards=outcome, card_store_version=version)
    summary = ImportSummary(str(path), str(header["created_at"]),
                            receipt["up_to_seq"] if receipt else None, delivered, last_after,
                            outcome, version if version is not None else _version(conn),
                            usage_cards, detail, resent)
    return asdict(summary)


def _usage_rev(conn: sqlite3.Connection) -> int:
    """The newest network-usage revision this station holds (0: none)."""
    return int(conn.execute("SELECT COALESCE(MAX(rev), 0) FROM card_usage_as_of").fetchone()[0])


def _version(conn: sqlite3.Connection) -> int | None:
    value = get_state(conn, "card_store_version")
    return int(value) if value is not None else None
