"""A Hypothesis state machine of the outbox/receipt protocol over real stores.

One real station (``StationStore`` + ``Station``: every sale is a real authorize and
complete, journal and outbox in one commit) and one real head office (``init_office``,
``ingest_batch``) talk through an in-memory network that loses, duplicates, delays and
reorders messages in both directions. Every message is a real signed envelope
(Ed25519, ``seal`` / ``open_envelope``). The glue mirrors ``StationSync`` (batches from
``pending_batch``, receipts through ``apply_receipt``) and ``OfficeSync`` (verify,
ingest in one transaction, then a signed receipt of the contiguous head).

An attacker forges receipts (wrong key), replays old ones, names seqs the station never
recorded or hashes of another history, misroutes receipts of another station and
forges sales batches: all refused or harmless. Either side "crashes" (its store is
closed and reopened): nothing committed is lost.

After every step: no completed sale is in neither the outbox nor the office; the
office holds each sale once, as the journal has it; nothing left the outbox that the
office does not hold; the station's receipt mark only rises and never passes the
office's contiguous head; that head is exactly the longest stored prefix.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cloud_sync.envelope import OFFICE, EnvelopeError, open_envelope, seal
from core.config import Config, OfficeConfig, StationConfig
from core.formats import journal as jformat
from core.formats.journal import chain_hash
from core.keys import OFFICE_KEY, load_private_key, parse_public_text, public_text
from edge.lifecycle import Station
from office.ledger.ingest import IngestResult, ingest_batch
from office.ledger.queries import list_sales as office_list_sales
from office.store import OFFICE_DB, init_office, open_office
from offline_db import journal
from offline_db.outbox import ReceiptResult, apply_receipt, outbox_status, pending_batch
from offline_db.state import get_state
from offline_db.store import StationStore

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "card-store.json"
STATION_ID = "S-001"
OTHER_ID = "S-002"  # enrolled too: its receipts must not move S-001's outbox
CARD = "FLEET-UNLIMITED"  # added to the sample card store: no limits, no wallets
PREFIX = "forecourt/v1"
SALES_TOPIC = f"{PREFIX}/station/{STATION_ID}/sales"
RECEIPT_TOPIC = f"{PREFIX}/station/{STATION_ID}/receipt"
HASH_FIELDS = (*jformat.HASHED_FIELDS, "prev_hash", "hash")


class Clock:
    """A second per reading from a fixed start: deterministic, distinct timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass(frozen=True)
class Message:
    """One MQTT message in flight. ``genuine``: sent by the real station or office."""

    topic: str
    payload: bytes
    genuine: bool


def station_seal(kind: str, body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    return seal(kind, STATION_ID, OFFICE, body, key)


class ReceiptProtocol(RuleBasedStateMachine):
    #: A fresh ``[office] database`` for each example ("": SQLite in its own folder).
    new_database: Callable[[], str] = staticmethod(lambda: "")
    #: A migrated SQLite office.db to start each SQLite office from (migrating anew per
    #: example took most of this test's time).
    sqlite_template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="forecourt-receipts-"))
        self.station_dir = self.tmp / "station"
        self.office_dir = self.tmp / "office"
        self.clock = Clock()
        self.config = Config(station=StationConfig(id=STATION_ID, data_dir=self.station_dir))
        cards = json.loads(SAMPLE.read_text())
        cards["cards"].append({"card_id": CARD, "kind": "rfid", "status": "active"})
        card_file = self.tmp / "card-store.json"
        card_file.write_text(json.dumps(cards))

        self.station_key = Ed25519PrivateKey.generate()
        self.attacker_key = Ed25519PrivateKey.generate()
        self.store, _ = StationStore.create(self.station_dir)
        self.station = Station(self.store, self.config, clock=self.clock)
        self.station.import_cards(card_file, actor="test")

        self.office_config = OfficeConfig(data_dir=self.office_dir,
                                          database=self.new_database())
        if not self.office_config.database and self.sqlite_template is not None:
            self.office_dir.mkdir(parents=True)
            shutil.copyfile(self.sqlite_template, self.office_dir / OFFICE_DB)
        init_office(self.office_config)
        self.office_key = load_private_key(self.office_dir, OFFICE_KEY)
        self.office_pub: Ed25519PublicKey = self.office_key.public_key()
        self.office = open_office(self.office_config)
        self.office.execute("INSERT INTO stations VALUES (?, ?, ?)",
                            (STATION_ID, public_text(self.station_key), "2026-11-01"))
        self.office.execute("INSERT INTO stations VALUES (?, ?, ?)",
                            (OTHER_ID, public_text(Ed25519PrivateKey.generate()), "2026-11-01"))

        self.network: list[Message] = []
        self.sold: dict[int, tuple[str, str]] = {}  # seq -> (sale_id, hash), per complete()
        self.sent_batches: list[bytes] = []  # every genuine sales envelope, for replays
        self.sent_receipts: list[bytes] = []  # every genuine receipt envelope, for replays
        self.last_receipt_seen = 0
        self.office_refused = 0
        self.station_refused = 0

    # -- helpers: reading both sides ------------------------------------------------------
    def last_receipt_seq(self) -> int:
        return int(get_state(self.store.conn, "last_receipt_seq", "0") or 0)

    def outbox(self) -> set[int]:
        return {int(r[0]) for r in self.store.conn.execute("SELECT seq FROM outbox")}

    def journal_rows(self) -> list[dict[str, Any]]:
        return journal.list_sales(self.store.conn)

    def office_rows(self) -> list[dict[str, Any]]:
        return office_list_sales(self.office, station_id=STATION_ID)

    def office_head(self) -> tuple[int, str | None]:
        row = self.office.execute("SELECT contiguous_seq, contiguous_hash FROM station_chain "
                                  "WHERE station_id = ?", (STATION_ID,)).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, None)

    def office_problems(self, kind: str) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in self.office.execute(
            "SELECT first_seq, last_seq FROM chain_problems WHERE station_id = ? AND kind = ? "
            "AND resolved_at IS NULL ORDER BY first_seq", (STATION_ID, kind))]

    def office_key_for(self, sender: str) -> Ed25519PublicKey | None:
        row = self.office.execute("SELECT public_key FROM stations WHERE station_id = ?",
                                  (sender,)).fetchone()
        return None if row is None else parse_public_text(row["public_key"])

    # -- the two endpoints (mirroring StationSync / OfficeSync) ----------------------------
    def send_batch(self, *, max_sales: int, max_bytes: int, after_seq: int = 0) -> None:
        sales = pending_batch(self.store.conn, max_sales=max_sales, max_bytes=max_bytes,
                              after_seq=after_seq)
        if not sales:
            return
        status = outbox_status(self.store.conn)
        body = {"station_id": STATION_ID, "first_seq": sales[0]["seq"],
                "last_seq": sales[-1]["seq"], "sales": sales,
                "status": {**status, "card_store_version": 17}}
        payload = station_seal("sales", body, self.station_key)
        self.sent_batches.append(payload)
        self.network.append(Message(SALES_TOPIC, payload, genuine=True))

    def office_receive(self, msg: Message) -> IngestResult | None:
        """OfficeSync.on_message: verify, ingest (one commit), then a signed receipt."""
        parts = msg.topic.split("/")
        station_id = parts[-2]
        try:
            env = open_envelope(msg.payload, recipient=OFFICE, key_for=self.office_key_for)
            if env.sender != station_id or env.kind != parts[-1]:
                raise EnvelopeError("wrong_topic", "not this topic's sender or kind")
        except EnvelopeError:
            self.office_refused += 1
            return None
        result = ingest_batch(self.office, env.body, via="mqtt", envelope_id=env.id,
                              now=self.clock())
        receipt = {"station_id": station_id, "up_to_seq": result.contiguous_seq,
                   "hash": result.contiguous_hash, "stored": result.stored,
                   "duplicates": result.duplicates,
                   "quarantined": [result.quarantined] if result.quarantined else []}
        payload = seal("receipt", OFFICE, station_id, receipt, self.office_key)
        self.sent_receipts.append(payload)
        self.network.append(Message(f"{PREFIX}/station/{station_id}/receipt", payload,
                                    genuine=True))
        return result

    def station_receive(self, msg: Message) -> ReceiptResult | None:
        """StationSync._on_message: verify the office's signature, then apply_receipt."""
        try:
            env = open_envelope(msg.payload, recipient=STATION_ID,
                                key_for=lambda s: self.office_pub if s == OFFICE else None)
            body = env.body
            if env.kind != "receipt" or body.get("station_id") != STATION_ID:
                raise EnvelopeError("wrong_recipient", "the receipt is not for this station")
            up_to, hash_ = body.get("up_to_seq"), body.get("hash")
            if not isinstance(up_to, int) or isinstance(up_to, bool) or \
                    not isinstance(hash_, str):
                raise EnvelopeError("malformed", "the receipt has no up_to_seq and hash")
        except EnvelopeError:
            self.station_refused += 1
            return None
        result = apply_receipt(self.store.conn, up_to_seq=up_to, hash_=hash_)
        if not result.accepted:
            self.station_refused += 1
        return result

    def deliver(self, msg: Message) -> None:
        if msg.topic.endswith("/sales"):
            ingested = self.office_receive(msg)
            if msg.genuine:  # the real station's batch: verified, never quarantined
                assert ingested is not None, "the office refused a genuine batch"
                assert ingested.quarantined is None, (ingested.quarantined, ingested.detail)
            return
        before = (self.outbox(), self.last_receipt_seq())
        applied = self.station_receive(msg)
        if msg.genuine:  # the real office only receipts what it holds: ours
            assert applied is not None and applied.accepted, applied
        else:
            assert applied is None or applied.removed == 0, applied
            assert (self.outbox(), self.last_receipt_seq()) == before

    # -- rules: the station ----------------------------------------------------------------
    @initialize(n=st.integers(1, 8))
    def opening_sales(self, n: int) -> None:
        assert self.outbox() == set()
        self.sell(n, 500)

    @rule(n=st.integers(1, 4), volume=st.integers(1, 990))
    def sell(self, n: int, volume: int) -> None:
        for i in range(n):
            auth = self.station.authorize(card=CARD, pump=1 + i % 4, product="AI92",
                                          volume_ml=1000)
            assert auth["approved"], auth
            sale = self.station.complete(auth["sale_id"], volume_ml=volume + i)
            assert sale["seq"] not in self.sold
            self.sold[sale["seq"]] = (sale["sale_id"], sale["hash"])

    @precondition(lambda self: bool(self.outbox()))
    @rule(max_sales=st.integers(1, 6), max_bytes=st.sampled_from([1, 1500, 1_000_000]),
          skip=st.sampled_from([0, 0, 0, 1, 2, 4]))
    def station_sends(self, max_sales: int, max_bytes: int, skip: int) -> None:
        """The oldest undelivered sales, or (``skip``: StationSync's ``after_seq`` path
        after a quarantine) later ones first, so the office sees gaps."""
        self.send_batch(max_sales=max_sales, max_bytes=max_bytes,
                        after_seq=self.last_receipt_seq() + skip if skip else 0)

    @rule(office=st.booleans())
    def crash(self, office: bool) -> None:
        """Close and reopen one side's store: nothing committed is lost."""
        if office:
            rows_before, head_before = self.office_rows(), self.office_head()
            self.office.close()
            self.office = open_office(self.office_config)
            assert self.office_rows() == rows_before
            assert self.office_head() == head_before
            return
        journal_before, outbox_before = self.journal_rows(), self.outbox()
        last_before = self.last_receipt_seq()
        self.store.close()
        self.store = StationStore.open_writer(self.station_dir)
        self.station = Station(self.store, self.config, clock=self.clock)
        assert self.journal_rows() == journal_before
        assert self.outbox() == outbox_before
        assert self.last_receipt_seq() == last_before
        assert journal.verify(self.store.conn).ok

    # -- rules: the network ----------------------------------------------------------------
    @precondition(lambda self: bool(self.network))
    @rule(picks=st.lists(st.integers(0, 1000), min_size=1, max_size=6))
    def network_delivers(self, picks: list[int]) -> None:
        """Pending messages picked anywhere, either direction: delays and reorders."""
        for i in picks:
            if self.network:
                self.deliver(self.network.pop(i % len(self.network)))

    @precondition(lambda self: bool(self.network))
    @rule(fault=st.sampled_from(["drop", "duplicate", "reorder", "replay"]),
          i=st.integers(0, 1000), j=st.integers(0, 1000))
    def network_misbehaves(self, fault: str, i: int, j: int) -> None:
        """Loses, duplicates or swaps a pending message, or redelivers a long-gone one
        (a broker after a restart): all harmless."""
        n = len(self.network)
        if fault == "drop":
            self.network.pop(i % n)
        elif fault == "duplicate":
            self.network.append(self.network[i % n])
        elif fault == "reorder":
            self.network[i % n], self.network[j % n] = self.network[j % n], self.network[i % n]
        elif j % 2 and self.sent_batches:
            old = self.sent_batches[i % len(self.sent_batches)]
            self.network.append(Message(SALES_TOPIC, old, genuine=True))
        elif self.sent_receipts:
            old = self.sent_receipts[i % len(self.sent_receipts)]
            self.network.append(Message(RECEIPT_TOPIC, old, genuine=True))

    # -- rules: the attacker ---------------------------------------------------------------
    def attack_station(self, body: dict[str, Any], *, key: Ed25519PrivateKey,
                       to: str = STATION_ID) -> None:
        """Deliver a receipt now and later (queued in the network too); it moves nothing."""
        payload = seal("receipt", OFFICE, to, body, key)
        refused = self.station_refused
        self.deliver(Message(RECEIPT_TOPIC, payload, genuine=False))
        assert self.station_refused == refused + 1 or \
            int(body.get("up_to_seq", 0)) <= self.last_receipt_seq()
        self.network.append(Message(RECEIPT_TOPIC, payload, genuine=False))

    @rule(kind=st.sampled_from(["forged_receipt", "unrecorded_seq", "wrong_hash",
                                "other_station", "forged_batch"]),
          i=st.integers(0, 1000), flag=st.booleans())
    def attacker(self, kind: str, i: int, flag: bool) -> None:
        """One attack per step (one rule, so honest traffic is not crowded out)."""
        if kind == "unrecorded_seq":
            self.receipt_for_an_unrecorded_seq(1 + i % 5)
        elif not self.sold:
            return
        elif kind == "forged_receipt":
            self.forged_receipt()
        elif kind == "wrong_hash":
            self.receipt_with_a_wrong_hash(i)
        elif kind == "other_station":
            self.receipt_for_another_station(to_other=flag)
        else:
            self.forged_sales_batch(1 + i % 3, as_other=flag)

    def receipt_body(self, seq: int, hash_: str, station_id: str = STATION_ID
                     ) -> dict[str, Any]:
        return {"station_id": station_id, "up_to_seq": seq, "hash": hash_, "stored": 1,
                "duplicates": 0, "quarantined": []}

    def forged_receipt(self) -> None:
        """Everything right (seq and hash sniffed from the wire) but the key."""
        seq = max(self.sold)
        self.attack_station(self.receipt_body(seq, self.sold[seq][1]), key=self.attacker_key)

    def receipt_for_an_unrecorded_seq(self, beyond: int) -> None:
        """Signed by the office key (a confused office): a seq the station never recorded."""
        seq = max(self.sold, default=0) + beyond
        self.attack_station(self.receipt_body(seq, "a" * 64), key=self.office_key)

    def receipt_with_a_wrong_hash(self, i: int) -> None:
        """Signed by the office key, a real seq, another history's hash: removes nothing."""
        seq = sorted(self.sold)[i % len(self.sold)]
        wrong = hashlib.sha256(b"another history" + self.sold[seq][1].encode()).hexdigest()
        self.attack_station(self.receipt_body(seq, wrong), key=self.office_key)

    def receipt_for_another_station(self, *, to_other: bool) -> None:
        """Signed by the office, but S-002's (addressed to it, or naming it in the body)."""
        seq = max(self.sold)
        self.attack_station(self.receipt_body(seq, self.sold[seq][1], OTHER_ID),
                            key=self.office_key, to=OTHER_ID if to_other else STATION_ID)

    def forged_sales_batch(self, extra: int, *, as_other: bool) -> None:
        """Sales chained correctly after the station's real head, signed with a wrong key
        (under S-001's name, or honestly as an unenrolled sender): nothing stored."""
        rows = self.journal_rows()
        last = rows[-1]
        fake, prev = [], last["hash"]
        for k in range(1, extra + 1):
            row = {f: copy.deepcopy(last[f]) for f in HASH_FIELDS}
            row.update(seq=last["seq"] + k, sale_id=f"FORGED-{last['seq'] + k}",
                       volume_ml=99_000, amount=1, prev_hash=prev)
            row["hash"] = prev = chain_hash(prev, row)
            fake.append(row)
        body = {"station_id": STATION_ID, "first_seq": fake[0]["seq"],
                "last_seq": fake[-1]["seq"], "sales": fake,
                "status": {"outbox_depth": 0, "oldest_undelivered_at": None,
                           "card_store_version": 17}}
        sender = "S-666" if as_other else STATION_ID
        payload = seal("sales", sender, OFFICE, body, self.attacker_key)
        topic = f"{PREFIX}/station/{sender}/sales"
        before = (self.office_rows(), self.office_head(), self.office_refused)
        assert self.office_receive(Message(topic, payload, genuine=False)) is None
        assert (self.office_rows(), self.office_head()) == before[:2]
        assert self.office_refused == before[2] + 1
        self.network.append(Message(topic, payload, genuine=False))

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def protocol_holds(self) -> None:
        rows = self.journal_rows()
        jhash = {r["seq"]: r["hash"] for r in rows}
        # the journal is exactly what was sold, in order (nothing lost, nothing invented)
        assert {s: h for s, (_, h) in self.sold.items()} == jhash
        outbox = self.outbox()
        office = self.office_rows()
        held = {r["seq"]: r for r in office}
        # the office holds each sale once, exactly as the station's journal has it
        assert len(held) == len(office)
        assert len({r["sale_id"] for r in office}) == len(office)
        for seq, r in held.items():
            assert seq in jhash and r["hash"] == jhash[seq], seq
            assert r["sale_id"] == self.sold[seq][0]
            assert {k: r[k] for k in HASH_FIELDS} == \
                {k: rows[seq - 1][k] for k in HASH_FIELDS}
        # every completed sale is in the outbox or at the office (never neither), and
        # what left the outbox is at the office
        for seq in jhash:
            assert seq in outbox or seq in held, f"sale {seq} is nowhere"
            if seq not in outbox:
                assert seq in held, f"sale {seq} left the outbox unreceipted"
        # the receipt mark only rises, covers exactly what left the outbox, and never
        # passes the office's contiguous head
        last = self.last_receipt_seq()
        assert last >= self.last_receipt_seen
        self.last_receipt_seen = last
        assert outbox == {s for s in jhash if s > last}
        head, head_hash = self.office_head()
        assert last <= head
        # the contiguous head is the longest stored prefix, with its sale's hash
        prefix = 0
        while prefix + 1 in held:
            prefix += 1
        assert head == prefix
        if head:
            assert head_hash == jhash[head]
        if set(held) == set(range(1, len(held) + 1)):
            assert head == len(held)
        # honest traffic raises no alarm: no fork, no broken chain, nothing quarantined
        # (forged batches are refused at the envelope); the open gaps are exactly the
        # missing ranges above the head
        assert self.office_problems("fork") == [] and self.office_problems("bad_chain") == []
        assert self.office.one("SELECT COUNT(*) FROM quarantine")[0] == 0
        missing, expected = [], head + 1
        for seq in sorted(s for s in held if s > head):
            if seq > expected:
                missing.append((expected, seq - 1))
            expected = seq + 1
        assert self.office_problems("gap") == missing

    # -- teardown: everything eventually arrives -------------------------------------------
    def teardown(self) -> None:
        try:
            self.drive_to_completion()
        finally:
            try:
                self.store.close()
                self.office.close()
            finally:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def drive_to_completion(self) -> None:
        for _ in range(10_000):
            if self.network:
                self.deliver(self.network.pop(0))
            elif self.outbox():
                self.send_batch(max_sales=500, max_bytes=256 * 1024)
            else:
                break
            self.protocol_holds()
        assert not self.network and self.outbox() == set()
        assert self.last_receipt_seq() == len(self.sold)
        keep = ("sale_id", *HASH_FIELDS)
        assert [{k: r[k] for k in keep} for r in self.office_rows()] == \
            [{k: r[k] for k in keep} for r in self.journal_rows()]


def test_receipt_protocol(office_databases: Callable[[], str], office_backend: str,
                          request: pytest.FixtureRequest) -> None:
    """The machine on the office's SQLite and PostgreSQL: a fresh office per example."""
    ReceiptProtocol.new_database = staticmethod(office_databases)
    ReceiptProtocol.sqlite_template = request.getfixturevalue("sqlite_template") \
        if office_backend == "sqlite" else None
    run_state_machine_as_test(ReceiptProtocol, settings=settings(
        max_examples=60, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))

