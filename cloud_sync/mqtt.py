"""A small, robust MQTT link over paho-mqtt 2.x, shared by the station and the office.

What it does on top of paho:

* **Persistent session** (``persistent=True``, the default), so the broker keeps
  subscriptions and queues QoS 1 messages while the link is down. ``[mqtt] protocol``
  says how: ``"5"`` connects with ``clean_start=False`` and an explicit
  ``SessionExpiryInterval`` (``[mqtt] session_expiry_s``) in the CONNECT properties;
  ``"3.1.1"`` (brokers that speak nothing newer: NATS, RabbitMQ 3.x) with
  ``clean_session=False``, which has no expiry: the broker keeps the session until a
  clean connect with the same client id. A one-shot publisher passes
  ``persistent=False`` and leaves no session behind. Subscriptions are made again after
  every connection anyway; a refused one (SUBACK failure) is logged and counted. Nothing
  else here uses an MQTT 5 feature (no properties on PUBLISH, no user properties, no
  topic aliases), so both protocols carry the same messages. MQTT 5 shared
  subscriptions (``$share/<group>/<filter>``) are plain filters to this link; with
  ``"3.1.1"`` they are a :class:`~core.errors.ConfigError`.
* **Jittered, capped reconnect backoff**: paho's own ``reconnect_delay_set`` doubles a
  fixed delay, so a fleet of stations all reconnect in lock-step when the broker comes
  back. The client is built with ``reconnect_on_failure=False`` and each connection
  attempt runs in a fresh paho network thread (``connect_async`` + ``loop_start``: all
  socket I/O stays on paho's thread, the supported threaded mode). When that attempt
  fails (``on_connect_fail``: the thread is told to end at once) or the connection is
  lost (``on_disconnect``), a supervisor thread joins the paho thread, sleeps
  :func:`reconnect_delay` — a uniform random delay between ``reconnect_min_s`` and an
  exponentially growing ceiling capped at ``reconnect_max_s`` ("full jitter" with a
  floor) — and starts the next attempt. The attempt counter resets on a successful
  CONNACK.
* **No user code on paho's thread**: paho runs callbacks under its own locks. Incoming
  messages and "(re)connected" events are put on a :class:`queue.Queue` and a worker
  thread calls ``on_message`` / ``on_connect`` from there, so user code may call
  :meth:`MqttLink.publish` (and wait for its PUBACK) or take its own locks freely.
  A callback that raises is logged and counted; delivery goes on.
* :meth:`MqttLink.publish` waits for the PUBACK (QoS 1) with a timeout and returns a
  bool; it never raises. A PUBACK is **not** durability (the broker may lose it on a
  crash): callers keep their own durable copy until an application-level receipt.
  When the link is down, ``publish`` returns False at once and the message is *not*
  handed to paho (paho would keep it in memory only, unbounded); after a timeout the
  message stays in paho's in-flight window and may still be sent (with DUP) later.
* Incoming QoS 1 messages are acknowledged by paho when they are queued for the worker,
  not when ``on_message`` has finished: a process crash in between loses them for this
  process. The protocols above this link recover by re-sending (outbox until receipt;
  the station asks for downlink changes after its version on every connect).
* TLS (``tls_set(ca_certs, certfile, keyfile)``) when ``[mqtt] tls``, username and
  password (read from ``password_file``) when set. The last will is sent by the broker
  only when the connection dies without a clean DISCONNECT; :meth:`MqttLink.stop`
  disconnects cleanly, so publish the offline status yourself before stopping.
"""

from __future__ import annotations

import dataclasses
import queue
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.config import MqttConfig
from core.errors import ConfigError

log = structlog.get_logger(__name__)

MessageCallback = Callable[[str, bytes], None]
ConnectCallback = Callable[[], None]
Will = tuple[str, bytes, int, bool]

_JOIN_TIMEOUT_S = 10.0


def reconnect_delay(attempt: int, min_s: float, max_s: float,
                    rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnect attempt number ``attempt`` (0 = first retry).

    Uniform in ``[min_s, min(max_s, min_s * 2**attempt)]``: exponential growth of the
    ceiling, capped, with full jitter above the floor so clients spread out.
    """
    ceiling = min(max_s, min_s * (2 ** min(attempt, 32)))
    return (rng or random).uniform(min_s, max(min_s, ceiling))


@dataclass
class MqttCounters:
    """Counters of one :class:`MqttLink` (a snapshot from :attr:`MqttLink.counters`)."""

    messages_in: int = 0
    subscribe_refusals: int = 0
    messages_out: int = 0
    publish_failures: int = 0
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    callback_errors: int = 0


#: The prefix of an MQTT 5 shared subscription's filter.
SHARED_PREFIX = "$share/"


class MqttLink:
    """One MQTT client connection (``[mqtt] protocol`` 5 or 3.1.1), with a persistent
    session unless ``persistent=False``; see the module docstring.

    ``on_message(topic, payload)`` and ``on_connect()`` run on the link's worker thread,
    one at a time, in arrival order.
    """

    def __init__(self, *, config: MqttConfig, client_id: str,
                 subscriptions: list[tuple[str, int]],
                 on_message: MessageCallback,
                 will: Will | None = None,
                 on_connect: ConnectCallback | None = None,
                 persistent: bool = True) -> None:
        if not client_id:
            raise ValueError("MqttLink needs a non-empty client_id for a persistent session")
        self.config = config
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.persistent = persistent
        self.v5 = config.protocol == "5"
        shared = [f for f, _qos in self.subscriptions if f.startswith(SHARED_PREFIX)]
        if shared and not self.v5:
            raise ConfigError(f"[mqtt] protocol \"{config.protocol}\" has no shared "
                              f"subscriptions ({shared[0]}): use protocol \"5\" or one "
                              "office worker per broker session")
        self._on_message_cb = on_message
        self._on_connect_cb = on_connect
        self._counters = MqttCounters()
        self._counters_lock = threading.Lock()   # only ever held for an increment
        self._connected = threading.Event()
        self._attempt_over = threading.Event()   # paho thread is ending (failed or lost)
        self._stopping = threading.Event()
        self._inbox: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue()
        self._supervisor: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._ever_connected = False
        self._just_connected = False
        self._rng = random.Random()

        if self.v5:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=MQTTProtocolVersion.MQTTv5,
                                 reconnect_on_failure=False)
        else:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=MQTTProtocolVersion.MQTTv311,
                                 clean_session=not persistent, reconnect_on_failure=False)
        if config.tls:
            try:
                client.tls_set(ca_certs=config.ca_file or None,
                               certfile=config.cert_file or None,
                               keyfile=config.key_file or None)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"[mqtt] TLS settings cannot be used: {exc}") from exc
        if config.username:
            client.username_pw_set(config.username, self._read_password())
        if will is not None:
            topic, payload, qos, retain = will
            client.will_set(topic, payload, qos=qos, retain=retain)
        client.on_connect = self._paho_on_connect
        client.on_connect_fail = self._paho_on_connect_fail
        client.on_disconnect = self._paho_on_disconnect
        client.on_message = self._paho_on_message
        client.on_subscribe = self._paho_on_subscribe
        self._client = client

    def _read_password(self) -> str | None:
        if not self.config.password_file:
            return None
        try:
            return Path(self.config.password_file).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"[mqtt] password_file {self.config.password_file!r} cannot "
                              f"be read: {exc.strerror or exc}") from exc

    # -- public API ---------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of that connection."""
        return self._connected.is_set()

    @property
    def counters(self) -> MqttCounters:
        """A snapshot of the counters."""
        with self._counters_lock:
            return dataclasses.replace(self._counters)

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or ``timeout`` seconds passed (False)."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Start connecting in the background (returns at once; idempotent)."""
        if self._supervisor is not None:
            return
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, daemon=True,
                                        name=f"mqtt-worker-{self.client_id}")
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name=f"mqtt-link-{self.client_id}")
        self._worker.start()
        self._supervisor.start()

    def stop(self) -> None:
        """Disconnect cleanly (no will), deliver what was already received, join threads.

        The session (subscriptions, queued QoS 1 messages) stays on the broker for
        ``session_expiry_s``. Not to be called from ``on_message``/``on_connect``.
        """
        if self._supervisor is None:
            return
        self._stopping.set()
        try:
            self._client.disconnect()
        except Exception:  # never let stop fail
            log.exception("mqtt.disconnect_failed", client_id=self.client_id)
        self._attempt_over.set()
        self._supervisor.join(_JOIN_TIMEOUT_S)
        self._inbox.put(None)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(_JOIN_TIMEOUT_S)
        self._supervisor = None
        self._worker = None
        self._connected.clear()
        log.info("mqtt.stopped", client_id=self.client_id)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                timeout: float = 10.0) -> bool:
        """Publish and wait up to ``timeout`` s for the PUBACK (QoS 1).

        True once the broker acknowledged (QoS 0: once written); False when not
        connected, on timeout or on a refused topic/payload. Never raises. Must not be
        called from a paho callback (this class never runs user code there).
        """
        info = self._send(topic, payload, qos, retain)
        if info is None:
            return False
        try:
            info.wait_for_publish(timeout)
            done = info.is_published()
        except (RuntimeError, ValueError) as exc:
            log.warning("mqtt.publish_failed", client_id=self.client_id, topic=topic,
                        error=str(exc))
            done = False
        if not done:
            self._count("publish_failures")
            log.warning("mqtt.publish_timeout", client_id=self.client_id, topic=topic,
                        timeout_s=timeout, connected=self.connected)
        return done

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 1,
                       retain: bool = False) -> bool:
        """Fire and forget: True when handed to paho while connected. Never raises."""
        return self._send(topic, payload, qos, retain) is not None

    # -- internals ----------------------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._counters_lock:
            setattr(self._counters, name, getattr(self._counters, name) + n)

    def _send(self, topic: str, payload: bytes, qos: int,
              retain: bool) -> paho.MQTTMessageInfo | None:
        if not self._connected.is_set():
            self._count("publish_failures")
            return None
        if not topic or "\0" in topic:
            # paho sends an empty topic as-is (MQTT 5 topic alias without an alias): the
            # broker drops the connection and paho would re-send it after every reconnect.
            self._count("publish_failures")
            log.warning("mqtt.publish_refused", client_id=self.client_id, topic=topic,
                        error="empty topic or NUL character")
            return None
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, TypeError) as exc:
            self._count("publish_failures")
            log.warning("mqtt.publish_refused", client_id=self.client_id, topic=topic,
                        error=str(exc))
            return None
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            self._count("publish_failures")
            log.warning("mqtt.publish_failed", client_id=self.client_id, topic=topic,
                        error=paho.error_string(info.rc))
            return None
        self._count("messages_out")
        return info

    def _connect_args(self) -> dict[str, Any]:
        """CONNECT's session arguments: MQTT 5 says them in ``clean_start`` and the
        session expiry property; 3.1.1 said ``clean_session`` when the client was made."""
        if not self.v5:
            return {}
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s if self.persistent else 0
        return {"clean_start": not self.persistent, "properties": props}

    def _supervise(self) -> None:
        """Connection attempts, each in a fresh paho thread, with jittered backoff."""
        cfg = self.config
        attempt = 0
        first = True
        connect_args = self._connect_args()
        while not self._stopping.is_set():
            if not first:
                if self._just_connected:     # the last attempt got a CONNACK
                    self._just_connected = False
                    attempt = 0
                delay = reconnect_delay(attempt, cfg.reconnect_min_s, cfg.reconnect_max_s,
                                        self._rng)
                attempt += 1
                log.info("mqtt.reconnect_in", client_id=self.client_id,
                         delay_s=round(delay, 2), attempt=attempt)
                if self._stopping.wait(delay):
                    break
            first = False
            self._attempt_over.clear()
            try:
                self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s,
                                           **connect_args)
                self._client.loop_start()
            except Exception as exc:  # keep retrying whatever happens
                self._count("connect_failures")
                log.warning("mqtt.connect_failed", client_id=self.client_id,
                            error=repr(exc))
                continue
            paho_thread: threading.Thread | None = getattr(self._client, "_thread", None)
            while not self._attempt_over.wait(1.0):
                if paho_thread is not None and not paho_thread.is_alive():
                    break   # paho's thread died without telling us (an exception in it)
            self._client.loop_stop()
            self._connected.clear()
        if self._client.socket() is not None:
            # stop() raced with the start of an attempt: say goodbye on this thread (no
            # paho thread runs any more), so the broker does not send the will.
            try:
                self._client.disconnect()
            except Exception:  # stopping anyway
                log.exception("mqtt.disconnect_failed", client_id=self.client_id)

    # paho callbacks: run on paho's network thread, under its locks. They only set
    # events, bump counters and enqueue; no user code, no locks shared with publishers.
    def _paho_on_connect(self, client: paho.Client, _userdata: Any,
                         flags: paho.ConnectFlags, reason_code: ReasonCode,
                         _properties: Properties | None) -> None:
        if reason_code.is_failure:
            self._count("connect_failures")
            log.warning("mqtt.connect_refused", client_id=self.client_id,
                        reason=str(reason_code))
            return
        self._count("connects")
        # Small request/answer messages (a batch, its PUBACK, a receipt): without
        # TCP_NODELAY each answer waits ~25 ms for Nagle and delayed ACKs.
        sock = client.socket()
        if sock is not None and hasattr(sock, "setsockopt"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                log.debug("mqtt.nodelay_failed", error=str(exc))
        if self._ever_connected:
            self._count("reconnects")
        self._ever_connected = True
        self._just_connected = True
        log.info("mqtt.connected", client_id=self.client_id, host=self.config.host,
                 port=self.config.port, session_present=flags.session_present)
        if self.subscriptions:
            try:
                result, _mid = client.subscribe(list(self.subscriptions))
                if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    log.warning("mqtt.subscribe_failed", client_id=self.client_id,
                                error=paho.error_string(result))
            except ValueError as exc:
                log.error("mqtt.subscribe_failed", client_id=self.client_id, error=str(exc))
        self._connected.set()
        if self._on_connect_cb is not None:
            self._inbox.put(("connect", "", b""))

    def _paho_on_subscribe(self, _client: paho.Client, _userdata: Any, mid: int,
                           reason_codes: list[ReasonCode],
                           _properties: Properties | None) -> None:
        """A broker may refuse a filter (NATS: a '.' or ' ' in it; an ACL): say which."""
        for (topic, _qos), code in zip(self.subscriptions, reason_codes, strict=False):
            if code.is_failure:
                self._count("subscribe_refusals")
                log.error("mqtt.subscribe_refused", client_id=self.client_id, topic=topic,
                          reason=str(code), mid=mid)

    def _paho_on_connect_fail(self, client: paho.Client, _userdata: Any) -> None:
        self._count("connect_failures")
        log.warning("mqtt.connect_failed", client_id=self.client_id,
                    host=self.config.host, port=self.config.port)
        client.loop_stop()          # from inside paho's thread: only flags it to end now
        self._attempt_over.set()

    def _paho_on_disconnect(self, _client: paho.Client, _userdata: Any,
                            _flags: paho.DisconnectFlags, reason_code: ReasonCode,
                            _properties: Properties | None) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            self._count("disconnects")
        log.info("mqtt.disconnected", client_id=self.client_id, reason=str(reason_code),
                 clean=self._stopping.is_set())
        self._attempt_over.set()

    def _paho_on_message(self, _client: paho.Client, _userdata: Any,
                         message: paho.MQTTMessage) -> None:
        try:
            self._count("messages_in")
            self._inbox.put(("message", message.topic, bytes(message.payload)))
        except Exception:  # bad input never kills the network thread
            self._count("callback_errors")
            log.exception("mqtt.message_dropped", client_id=self.client_id)

    def _work(self) -> None:
        """Worker thread: user callbacks, one at a time, never under paho's locks."""
        while True:
            item = self._inbox.get()
            if item is None:
                return
            kind, topic, payload = item
            try:
                if kind == "message":
                    self._on_message_cb(topic, payload)
                elif self._on_connect_cb is not None:
                    self._on_connect_cb()
            except Exception:  # a bad message never stops delivery
                self._count("callback_errors")
                log.exception("mqtt.callback_error", client_id=self.client_id,
                              callback=kind, topic=topic)
