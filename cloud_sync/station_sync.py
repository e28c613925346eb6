"""The station's side of sync: sales batches up, signed receipts back.

A sender thread publishes the oldest undelivered sales (``offline_db.outbox``) as
signed batches to ``{prefix}/station/{id}/sales``, up to ``WINDOW`` consecutive batches
at a time without a receipt, and takes the office's signed receipts on
``{prefix}/station/{id}/receipt``; only a receipt that matches this station's own
journal removes sales from the outbox. Receipts are cumulative (the office's
contiguous head), so one receipt covers every batch up to it; the window only lets
the office ingest one batch while the station builds and sends the next. When the
oldest batch in flight has no receipt after ``[mqtt] receipt_timeout_s``, everything in
flight is sent again (the office is idempotent), so a lost message, a broker restart or an office
restart only delays delivery. After a quarantine the sender goes back to one batch at
a time until ``QUARANTINE_RETRY_S`` has passed. The retained
``{prefix}/station/{id}/status`` says online / offline (MQTT last will), the outbox
depth and the oldest undelivered sale. Topics and payloads: docs/mqtt.md.

On every connection the station asks the office for the card-store changes after its
version (a ``sync-request``). An office that was not yet subscribed never sees it, so
until an answer arrives on the station's own ``cards`` topic the daemon's scheduled
job sends the request again (:meth:`StationSync.resend_sync_request`, every ``[jobs]
sync_retry_every``) instead of waiting for the office's next heartbeat.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync import topics
from cloud_sync.envelope import OFFICE, EnvelopeError, open_envelope, seal
from cloud_sync.mqtt import MqttLink
from core.config import Config
from core.errors import CardStoreTimeError
from core.freshness import parse_time
from core.timefmt import iso, utc_now
from offline_db.outbox import apply_receipt, note_office_problem, outbox_status, pending_batch
from offline_db.resend import requeue_receipted
from offline_db.state import get_state

log = structlog.get_logger(__name__)
STATUS_EVERY_S = 30.0
#: After the office quarantined a batch, later sales go first; the quarantined ones
#: are offered again this often (they stay in the outbox: nothing is dropped).
QUARANTINE_RETRY_S = 600.0
#: Batches sent and not yet covered by a receipt, at most (1 = stop-and-wait).
WINDOW = 4
#: The status carried in every sales batch (outbox depth, oldest undelivered sale) counts
#: the outbox: a scan that grows with the backlog. A batch carries a copy at
#: most STATUS_REFRESH_S old, or STATUS_COST_FACTOR times what computing it cost, so
#: that the scan never takes more than about 1/STATUS_COST_FACTOR of the drain.
#: (The retained status topic is always computed afresh.)
STATUS_REFRESH_S = 1.0
STATUS_COST_FACTOR = 20.0


@dataclass
class _InFlight:
    first: int
    last: int
    sent_at: float


class StationSync:
    """Uplink of the station daemon (runs beside the control socket)."""

    def __init__(self, config: Config, conn: Any, lock: Any, key: Ed25519PrivateKey,
                 office_key: Ed25519PublicKey, *,
                 apply_cards: Callable[[dict[str, Any], datetime | None], Any] | None = None
                 ) -> None:
        self.config = config
        self.conn = conn
        self.lock = lock  # the daemon's one-writer lock
        self.key = key
        self.office_key = office_key
        self.station_id = config.station.id
        self.prefix = config.mqtt.prefix
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Batches in flight, oldest first; _epoch changes whenever they are forgotten
        # (reconnect, resend, quarantine), so a batch built meanwhile is not recorded.
        self._window: collections.deque[_InFlight] = collections.deque()
        self._window_lock = threading.Lock()
        self._epoch = 0
        self._batch_status: dict[str, Any] | None = None
        self._batch_status_at = 0.0
        self._batch_status_cost = 0.0
        self._skip_through = 0  # sales up to here were quarantined: send later ones first
        self._skip_since = 0.0
        self._thread: threading.Thread | None = None
        self.refused = 0
        self.receipts = 0
        self.replays = 0  # receipts and card data already applied: harmless, counted
        self.card_updates = 0
        self.resends = 0  # the office's requests for lost receipted sales
        self.apply_cards = apply_cards
        #: A sync request is out and no answer has come on our own cards topic yet.
        self._unanswered = False
        self.sync_requests = 0
        self.link = MqttLink(
            config=config.mqtt, client_id=f"forecourt-station-{self.station_id}",
            subscriptions=[(self._topic("receipt"), 1), (self._topic("cards"), 1),
                           (topics.network_cards(self.prefix), 1)],
            on_message=self._on_message,
            will=(self._topic("status"), self._status_payload(online=False), 1, True),
            on_connect=self._on_connect)

    def _topic(self, leaf: str) -> str:
        return topics.station(self.prefix, self.station_id, leaf)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="sync-uplink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.link.connected:
            self.link.publish(self._topic("status"), self._status_payload(online=False),
                              qos=1, retain=True, timeout=2)
        self.link.stop()

    def status(self) -> dict[str, Any]:
        with self._window_lock:
            in_flight = [self._window[0].first, self._window[-1].last] if self._window \
                else None
        return {"connected": self.link.connected, "receipts": self.receipts,
                "refused": self.refused, "replays": self.replays, "in_flight": in_flight,
                "sync_requests": self.sync_requests, "resends": self.resends,
                "sync_unanswered": self._unanswered}

    # -- sending --------------------------------------------------------------------------
    def _on_connect(self) -> None:
        self._forget_window()  # whatever was in flight is sent again
        self._request_cards()
        self._wake.set()

    def _request_cards(self) -> None:
        """Ask the office for every card-store change after our version."""
        with self.lock:
            version = get_state(self.conn, "card_store_version")
        body = {"station_id": self.station_id,
                "version": int(version) if version is not None else None}
        self._unanswered = True
        self.sync_requests += 1
        self.link.publish_nowait(self._topic("sync"),
                                 seal("sync-request", self.station_id, OFFICE, body, self.key))

    def resend_sync_request(self) -> bool:
        """Ask again if the last request has no answer yet (the daemon's job calls this
        every ``[jobs] sync_retry_every``); True when a request was sent. Each request is
        a new envelope, so the office does not take it for a replay."""
        if not (self._unanswered and self.link.connected):
            return False
        log.info("sync.request_resent", requests=self.sync_requests)
        self._request_cards()
        return True

    def _run(self) -> None:
        last_status = 0.0
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if not self.link.connected:
                continue
            try:
                if time.monotonic() - last_status > STATUS_EVERY_S:
                    self.link.publish_nowait(self._topic("status"),
                                             self._status_payload(online=True), qos=1,
                                             retain=True)
                    last_status = time.monotonic()
                while not self._stop.is_set() and self._send_next():
                    pass  # fill the window
            except Exception:  # never let the uplink thread die
                log.exception("sync.uplink_failed")
                self._stop.wait(1.0)

    def _forget_window(self) -> None:
        with self._window_lock:
            self._window.clear()
            self._epoch += 1

    def _send_next(self) -> bool:
        """Send the next batch if the window has room; True when one was sent."""
        now = time.monotonic()
        if self._skip_through and now - self._skip_since > QUARANTINE_RETRY_S:
            self._skip_through = 0
        resent: _InFlight | None = None
        with self._window_lock:
            timeout = self.config.mqtt.receipt_timeout_s
            if self._window and now - self._window[0].sent_at >= timeout:
                resent = self._window[0]  # no receipt in time: send everything again
                self._window.clear()
                self._epoch += 1
            if len(self._window) >= (1 if self._skip_through else WINDOW):
                return False
            after = self._window[-1].last if self._window else 0
            epoch = self._epoch
        mqtt = self.config.mqtt
        with self.lock:
            sales = pending_batch(self.conn, max_sales=mqtt.batch_max_sales,
                                  max_bytes=mqtt.batch_max_bytes,
                                  after_seq=max(after, self._skip_through))
            status = self._status_for_batch() if sales else None
        if not sales:
            if self._skip_through:
                self._stop.wait(1.0)
            return False
        body = {"station_id": self.station_id, "first_seq": sales[0]["seq"],
                "last_seq": sales[-1]["seq"], "sales": sales, "status": status}
        payload = seal("sales", self.station_id, OFFICE, body, self.key)
        if resent is not None:
            log.info("sync.batch_resent", first_seq=resent.first, last_seq=resent.last)
        entry = _InFlight(body["first_seq"], body["last_seq"], time.monotonic())
        with self._window_lock:
            if self._epoch != epoch:
                return True  # forgotten meanwhile (reconnect, quarantine): build anew
            self._window.append(entry)
        if not self.link.publish(self._topic("sales"), payload, qos=1, timeout=10):
            # Not even PUBACKed: forget it and whatever was sent after it; try again on
            # the next wake.
            with self._window_lock:
                while self._window and self._window[-1].first >= entry.first:
                    self._window.pop()
            return False
        log.info("sync.batch_sent", first_seq=body["first_seq"], last_seq=body["last_seq"],
                 sales=len(sales))
        return True

    # -- receiving ------------------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/cards"):
            self._on_cards(payload)
            return
        if topic != self._topic("receipt"):
            return
        try:
            env = open_envelope(payload, recipient=self.station_id,
                                key_for=lambda s: self.office_key if s == OFFICE else None)
            if env.kind not in ("receipt", "resend"):
                raise EnvelopeError("wrong_topic", f"a {env.kind!r} message on {topic}")
        except EnvelopeError as exc:
            self.refused += 1
            log.warning("sync.receipt_refused", reason=exc.reason, error=str(exc))
            return
        if env.kind == "resend":
            self._on_resend(env.body)
            return
        body = env.body  # shape checked: cloud_sync.wire.check_receipt
        up_to, hash_ = body["up_to_seq"], body["hash"]
        with self.lock:
            result = apply_receipt(self.conn, up_to_seq=up_to, hash_=hash_)
        if not result.accepted:
            self.refused += 1
            log.error("sync.receipt_mismatch", up_to_seq=up_to, reason=result.reason)
            return
        if result.reason == "already receipted" and not body.get("quarantined"):
            # Harmless (a resent batch's receipt, or a replay), but counted and logged
            # (DESIGN invariant 8).
            self.replays += 1
            log.info("sync.receipt_replayed", up_to_seq=up_to,
                     last_receipt_seq=result.last_receipt_seq, envelope_id=env.id)
        else:
            self.receipts += 1
        if result.removed:
            log.info("sync.delivered", up_to_seq=up_to, removed=result.removed)
        for problem in body.get("quarantined", []):
            log.error("sync.batch_quarantined_by_office", detail=problem)
        if body.get("quarantined"):
            self._note_quarantine(body["quarantined"], up_to)
        with self._window_lock:
            while self._window and self._window[0].last <= up_to:
                self._window.popleft()  # covered by this receipt
            if self._window and body.get("quarantined"):
                # The refused batch is taken to be the oldest still in flight: right
                # when one office process answers in order. Several office workers may
                # answer out of order, so this may skip a good batch first; it is then
                # receipted or sent again, the refused one is refused again and skipped
                # then (a delay, nothing lost).
                self._skip_through = max(self._skip_through, self._window[0].last)
                self._skip_since = time.monotonic()
                self._window.clear()  # later batches go again, one at a time
                self._epoch += 1
        self._wake.set()

    def _on_resend(self, body: dict[str, Any]) -> None:
        """The office lost receipted sales (restored from a backup): queue them again
        from the journal (offline_db.resend) and send them as any undelivered sale."""
        with self.lock:
            done = requeue_receipted(self.conn, body["from_seq"], body["to_seq"],
                                     at=iso(utc_now()))
        self.resends += 1
        log.info("sync.resend_requested", from_seq=body["from_seq"], to_seq=body["to_seq"],
                 **done.as_json())
        if done.count:
            self._forget_window()
            self._wake.set()

    def _note_quarantine(self, problems: list[str], up_to: int) -> None:
        """Keep the office's word that it refused our sales (``forecourt status`` alarm).

        The refused batch is the oldest still in flight after this receipt (the window's
        order); without one in flight, every sale recorded so far must reach the office
        before the problem counts as settled (``offline_db.outbox.apply_receipt``).
        """
        with self._window_lock:
            ahead = [b for b in self._window if b.last > up_to]
            through = ahead[0].last if ahead else None
        with self.lock:
            note_office_problem(self.conn, problems, through_seq=through, at=iso(utc_now()))

    def _on_cards(self, payload: bytes) -> None:
        try:
            env = open_envelope(payload, recipient=self.station_id, allow_broadcast=True,
                                key_for=lambda s: self.office_key if s == OFFICE else None)
            if env.kind != "cards":
                raise EnvelopeError("malformed", "not a card-store message")
        except EnvelopeError as exc:
            self.refused += 1
            log.warning("sync.cards_refused", reason=exc.reason, error=str(exc))
            return
        if env.recipient == self.station_id:
            self._unanswered = False  # the office's answer, on our own topic
        if self.apply_cards is None:
            return
        # The office vouches for the data as of when it signed the message, not when it
        # arrives: a replayed heartbeat does not make the data fresh again.
        try:
            made = parse_time(env.at, "the message's 'at'")
        except CardStoreTimeError as exc:
            self.refused += 1
            log.warning("sync.cards_refused", reason="malformed", error=str(exc))
            return
        result = self.apply_cards(env.body, made)
        self.card_updates += 1
        if result.outcome == "ignored":  # an older version again: harmless, counted
            self.replays += 1
            log.info("sync.cards_replayed", version=result.version, detail=result.detail,
                     envelope_id=env.id)
        elif result.outcome == "refused":
            self.refused += 1
            log.warning("sync.cards_refused", reason="refused", error=result.detail)
        log.info("sync.cards", outcome=result.outcome, version=result.version,
                 detail=result.detail or None)
        if result.outcome == "need_sync":
            self._request_cards()

    # -- status -------------------------------------------------------------------------
    def _status_body(self, *, online: bool) -> dict[str, Any]:
        out = outbox_status(self.conn)
        version = get_state(self.conn, "card_store_version")
        receipted = get_state(self.conn, "last_receipt_seq")
        return {"station_id": self.station_id, "online": online, **out,
                "card_store_version": int(version) if version else None,
                "last_receipt_seq": int(receipted) if receipted else 0}

    def _status_for_batch(self) -> dict[str, Any]:
        """The status a sales batch carries: recent, not necessarily this instant's.

        Called under ``self.lock``. See :data:`STATUS_REFRESH_S`.
        """
        now = time.monotonic()
        if self._batch_status is None or now - self._batch_status_at >= max(
                STATUS_REFRESH_S, STATUS_COST_FACTOR * self._batch_status_cost):
            self._batch_status = self._status_body(online=True)
            self._batch_status_at = time.monotonic()
            self._batch_status_cost = self._batch_status_at - now
        return self._batch_status

    def _status_payload(self, *, online: bool) -> bytes:
        with self.lock:
            body = self._status_body(online=online)
        return seal("status", self.station_id, OFFICE, body, self.key)
