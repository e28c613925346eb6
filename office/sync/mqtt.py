"""The head office's side of sync (``forecourt office serve``): ingest and receipts.

Subscribes to every station's ``sales``, ``status`` and ``sync`` topics (one process),
or shares them with the other workers (office.sync.workers). A sales batch is
verified (envelope signed by the enrolled station's key, sent on that station's own
topic), ingested exactly once in one transaction (``office.ledger.ingest``), and only
then answered with a receipt signed by the office key: the highest contiguous seq
durably stored and its hash. A refused message is counted and logged; it is never
answered with a receipt that would move a station's outbox.
"""

from __future__ import annotations

import collections
import threading
from datetime import timedelta
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync import topics
from cloud_sync.envelope import EVERYONE, OFFICE, Envelope, EnvelopeError, open_envelope, seal
from cloud_sync.mqtt import MqttLink
from core.config import Config
from core.timefmt import iso, utc_now
from office import db
from office.cards import master as card_master
from office.cards.usage import usage_ops
from office.ledger.ingest import ingest_batch
from office.ledger.stations import claim_sync_request, count_refusal, enrolled_key
from office.store import OfficeConnection
from office.sync.resend import LostSales
from office.sync.workers import WorkerLink, worker_link

log = structlog.get_logger(__name__)
#: How often every station is told that its card data is current.
HEARTBEAT_S = 60.0


class OfficeSync:
    """Ingest of station batches and the receipts that answer them."""

    def __init__(self, config: Config, conn: OfficeConnection, key: Ed25519PrivateKey, *,
                 worker: WorkerLink | None = None) -> None:
        self.config = config
        #: Which worker this is: its client id and (shared) subscriptions.
        self.worker = worker or worker_link(config)
        self.conn = conn
        self.key = key
        self.prefix = config.mqtt.prefix
        self.refused: collections.Counter[str] = collections.Counter()
        self.batches = 0
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.lost = LostSales()
        self.link = MqttLink(
            config=self.worker.mqtt, client_id=self.worker.client_id,
            subscriptions=self.worker.subscriptions, on_message=self.on_message)

    def start(self) -> None:
        self.link.start()
        self._heartbeat = threading.Thread(target=self._beat, name="office-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def stop(self) -> None:
        self._stopping.set()
        self.link.stop()

    def _beat(self) -> None:
        """Tell every online station its data is current (freshness, DESIGN inv. 6).

        Every worker beats (no leader to elect or lose): a station hears one heartbeat
        per worker a minute, each the database's latest version, so they never disagree.
        """
        while not self._stopping.wait(HEARTBEAT_S):
            if self.link.connected:
                with self._lock:
                    latest = card_master.latest_version(self.conn)
                body = {"mode": "delta", "from_version": latest, "to_version": latest,
                        "ops": [], "expires_at": iso(utc_now() + card_master.MESSAGE_VALID)}
                self.link.publish_nowait(topics.network_cards(self.prefix),
                                         seal("cards", OFFICE, EVERYONE, body, self.key))

    def _key_for(self, sender: str) -> Ed25519PublicKey | None:
        if sender not in self._keys:
            key = enrolled_key(self.conn, sender)
            if key is None:
                return None
            self._keys[sender] = key
        return self._keys[sender]

    def on_message(self, topic: str, payload: bytes) -> None:
        """One station message: verified and shape-checked whole before any of it is used.

        The station id is the topic's, which must be the signing sender's; every station
        id inside the body must be the same (``cloud_sync.wire``). A refused message is
        counted (``refused_messages``) and logged, and never answered.
        """
        parsed = topics.parse_station(topic)
        if parsed is None:
            return
        station_id, leaf = parsed
        with self._lock:
            try:
                env = open_envelope(payload, recipient=OFFICE, key_for=self._key_for)
                if env.sender != station_id or env.kind != {"sync": "sync-request"}.get(leaf, leaf):
                    raise EnvelopeError("wrong_topic", f"{env.sender!r} sent a {env.kind!r} "
                                        f"message on {topic}")
                if env.kind == "status":
                    self._status(station_id, env)
                    self._ask_for_lost(station_id, env.body)
                    return
            except EnvelopeError as exc:
                self._refuse(topic, exc)
                return
            if env.kind == "sync-request":
                # The last request answered per station is kept in the store, so a
                # replay is refused whichever worker the broker hands it to.
                if not claim_sync_request(self.conn, station_id, env.id, iso(utc_now())):
                    self._refuse(topic, EnvelopeError(
                        "replayed", f"the sync request {env.id} from {station_id!r} was "
                        "already answered"))
                    return
                version = env.body["version"]
                answer = card_master.message_for(self.conn, version, config=self.config)
                self.link.publish(topics.station(self.prefix, station_id, "cards"),
                                  seal("cards", OFFICE, station_id, answer, self.key),
                                  qos=1, timeout=10)
                log.info("office.cards_sent", station_id=station_id, mode=answer["mode"],
                         version=version)
                return
            result = ingest_batch(self.conn, env.body, via="mqtt", envelope_id=env.id,
                                  now=utc_now(), sender=station_id)
            self.batches += 1
            lost = self.lost.request_for(self.conn, station_id, env.body.get("status"))
            receipt: dict[str, Any] = {"station_id": station_id,
                                       "up_to_seq": result.contiguous_seq,
                                       "hash": result.contiguous_hash,
                                       "stored": result.stored,
                                       "duplicates": result.duplicates,
                                       "quarantined": [result.quarantined]
                                       if result.quarantined else []}
        if result.card_version is not None:
            self._announce_version(result.card_version)
        if result.stored:
            self._announce_usage(env.body)
        if result.duplicates:
            log.info("office.batch_replayed", station_id=station_id,
                     duplicates=result.duplicates, envelope_id=env.id)
        log.info("office.batch", station_id=station_id, stored=result.stored,
                 duplicates=result.duplicates, up_to_seq=result.contiguous_seq,
                 quarantined=result.quarantined)
        # Durable first (ingest committed), then the receipt.
        self.link.publish(topics.station(self.prefix, station_id, "receipt"),
                          seal("receipt", OFFICE, station_id, receipt, self.key), qos=1,
                          timeout=10)
        if lost is not None:
            self._send_resend(station_id, lost)

    def _ask_for_lost(self, station_id: str, status: dict[str, Any]) -> None:
        """Ask the station again for receipted sales this office lost (office.sync.resend)."""
        lost = self.lost.request_for(self.conn, station_id, status)
        if lost is not None:
            self._send_resend(station_id, lost)

    def _send_resend(self, station_id: str, body: dict[str, Any]) -> None:
        self.link.publish_nowait(topics.station(self.prefix, station_id, "receipt"),
                                 seal("resend", OFFICE, station_id, body, self.key))

    def _refuse(self, topic: str, exc: EnvelopeError) -> None:
        """Count (``refused_messages``) and log a refused message; it is never answered."""
        self.refused[exc.reason] += 1
        log.warning("office.message_refused", topic=topic, reason=exc.reason, error=str(exc))
        count_refusal(self.conn, exc.reason, f"{topic}: {exc}", iso(utc_now()))

    def _announce_usage(self, body: dict[str, Any]) -> None:
        """Tell every station the network-wide use of the cards that just sold."""
        card_ids = [s["card_id"] for s in body.get("sales", []) if isinstance(s, dict)
                    and isinstance(s.get("card_id"), str)]
        with self._lock:
            ops = usage_ops(self.conn, card_ids, self.config, utc_now())
        if ops:
            self.publish_usage(ops)

    def publish_usage(self, ops: list[dict[str, Any]]) -> None:
        """Send every station these ``usage`` operations (after a batch; the monthly
        tier job's, office.pricing.tiers)."""
        message = {"mode": "usage", "ops": ops,
                   "expires_at": iso(utc_now() + card_master.MESSAGE_VALID)}
        self.link.publish_nowait(topics.network_cards(self.prefix),
                                 seal("cards", OFFICE, EVERYONE, message, self.key))

    def _announce_version(self, version: int) -> None:
        """Send every station the card-master version the batch made (the vouchers its
        sales redeemed): a station one version behind applies it at once, one further
        behind asks for the rest (sync-request)."""
        with self._lock:
            body = card_master.delta_of(self.conn, version)
        self.link.publish_nowait(topics.network_cards(self.prefix),
                                 seal("cards", OFFICE, EVERYONE, body, self.key))
        log.info("office.version_published", version=version)

    def _status(self, station_id: str, env: Envelope) -> None:
        """Keep a station's status; a repeated or older one is a replay (EnvelopeError).

        The MQTT last will was made when the station connected, so it is older than the
        statuses sent since: an older ``online: false`` only marks the station offline.
        """
        body = env.body
        row = self.conn.execute("SELECT status_at, envelope_id FROM station_online "
                                "WHERE station_id = ?", (station_id,)).fetchone()
        last_at, last_id = (row[0], row[1]) if row is not None else (None, None)
        if env.id == last_id:
            raise EnvelopeError("replayed", f"the status {env.id} from {station_id!r} was "
                                "already applied")
        # A station's clock may be wrong. A status made further ahead of the office's
        # clock than [offline] max_clock_skew is refused (as the station refuses such
        # card data), and one held from before that rule is not trusted: otherwise a
        # status stamped years ahead makes every later one look older, and the station
        # stays offline at the office for good.
        clock = utc_now()
        latest = iso(clock + timedelta(seconds=self.config.offline.max_clock_skew_s))
        if env.at > latest:
            raise EnvelopeError("clock_ahead", f"a status from {station_id!r} made at "
                                f"{env.at}, ahead of the office's clock ({iso(clock)}) by "
                                "more than [offline] max_clock_skew: check the station's "
                                "clock")
        if last_at is not None and last_at > latest:
            last_at = None
        older = last_at is not None and env.at < last_at
        if older and body["online"]:
            raise EnvelopeError("replayed", f"a status from {station_id!r} made at {env.at}, "
                                f"older than the one held ({last_at})")
        now = iso(clock)
        with self.conn.atomic():
            db.lock_station(station_id)
            if not older:
                self.conn.execute(
                    "INSERT INTO station_chain (station_id, last_seen_at, outbox_depth, "
                    "oldest_undelivered_at, card_store_version, receipted_seq) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                    "last_seen_at = excluded.last_seen_at, "
                    "outbox_depth = excluded.outbox_depth, "
                    "oldest_undelivered_at = excluded.oldest_undelivered_at, "
                    "card_store_version = excluded.card_store_version, "
                    "receipted_seq = excluded.receipted_seq",
                    (station_id, now, body["outbox_depth"], body["oldest_undelivered_at"],
                     body["card_store_version"], body.get("last_receipt_seq")))
            self.conn.execute(
                "INSERT INTO station_online (station_id, online, at, status_at, envelope_id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                "online = excluded.online, at = excluded.at, "
                "status_at = excluded.status_at, envelope_id = excluded.envelope_id",
                (station_id, 1 if body["online"] else 0, now, max(env.at, last_at or env.at),
                 env.id))
