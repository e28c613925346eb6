"""MqttLink against a real broker (tests/network_fixtures.py): mosquitto over MQTT 5, and
nats-server over MQTT 3.1.1 (``@pytest.mark.brokers``). No timing asserts: every wait is
"until this happens, or fail after a generous deadline"."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud_sync.mqtt import MqttLink, reconnect_delay
from core.config import MqttConfig
from core.errors import ConfigError
from tests.network_fixtures import Broker, Inbox, free_port, make_pki, tls_lines

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0
pytestmark = pytest.mark.brokers


def wait_until(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture
def make_link(broker: Broker) -> Iterator[Callable[..., MqttLink]]:
    """Build and start links on ``broker``; all are stopped at teardown."""
    made: list[MqttLink] = []

    def make(client_id: str, subscriptions: list[tuple[str, int]] | None = None,
             on_message: Callable[[str, bytes], None] | None = None,
             start: bool = True, **kwargs: Any) -> MqttLink:
        config = kwargs.pop("config", None) or broker.mqtt_config()
        link = MqttLink(config=config, client_id=client_id,
                        subscriptions=subscriptions or [],
                        on_message=on_message or (lambda t, p: None), **kwargs)
        made.append(link)
        if start:
            link.start()
            assert link.wait_connected(WAIT), broker.log_text()
        return link

    yield make
    for link in made:
        link.stop()


def test_round_trip_qos1(make_link: Callable[..., MqttLink]) -> None:
    inbox = Inbox()
    sub = make_link("sub", [("fc/t/#", 1)], inbox)
    pub = make_link("pub")
    # The SUBSCRIBE goes out right after CONNACK: retry until the first one lands.
    wait_until(lambda: pub.publish("fc/t/a", b"ping") and bool(inbox.payloads()))
    for i in range(20):
        assert pub.publish("fc/t/a", f"m{i}".encode(), qos=1)
    got = inbox.wait_for(lambda g: b"m19" in g, topic="fc/t/a")
    assert [p for p in got if p != b"ping"] == [f"m{i}".encode() for i in range(20)]
    assert pub.publish_nowait("fc/t/b", b"fire-and-forget", qos=0)
    inbox.wait_for(lambda g: g == [b"fire-and-forget"], topic="fc/t/b")
    assert pub.counters.messages_out >= 22
    assert sub.counters.messages_in >= 21
    assert sub.counters.callback_errors == 0


WILL_CLIENT = """
import sys, time
from core.config import MqttConfig
from cloud_sync.mqtt import MqttLink
port, topic, protocol = int(sys.argv[1]), sys.argv[2], sys.argv[3]
link = MqttLink(config=MqttConfig(enabled=True, port=port, keepalive_s=5, protocol=protocol,
                                  reconnect_min_s=1, reconnect_max_s=2),
                client_id="doomed", subscriptions=[], on_message=lambda t, p: None,
                will=(topic, b"offline", 1, True))
link.start()
assert link.wait_connected(20)
assert link.publish(topic, b"online", qos=1, retain=True)
print("ready", flush=True)
time.sleep(600)
"""


def test_will_is_published_retained_when_client_dies(broker: Broker,
                                                     make_link: Callable[..., MqttLink]
                                                     ) -> None:
    topic = "fc/station/S-9/status"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WILL_CLIENT, str(broker.port), topic,
                             broker.protocol],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:          # structlog's default logger prints here too
            if line.strip() == "ready":
                break
        else:
            raise AssertionError("the doomed client never got ready")
        inbox = Inbox()
        make_link("observer", [(topic, 1)], inbox)
        inbox.wait_for(lambda g: g[-1:] == [b"online"])
        # SIGKILL: no DISCONNECT; the kernel closes the socket, the broker fires the
        # will at once (keepalive only matters when the peer vanishes silently).
        proc.kill()
        inbox.wait_for(lambda g: g[-1:] == [b"offline"])
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    late = Inbox()
    make_link("late-observer", [(topic, 1)], late)
    late.wait_for(lambda g: g == [b"offline"])      # retained


def test_clean_stop_does_not_send_the_will(make_link: Callable[..., MqttLink]) -> None:
    topic = "fc/station/S-8/status"
    inbox = Inbox()
    make_link("observer", [(topic, 1)], inbox)
    other = make_link("other")
    leaving = make_link("leaving", will=(topic, b"offline", 1, True))
    wait_until(lambda: leaving.publish(topic, b"online") and bool(inbox.payloads()))
    leaving.stop()
    assert not leaving.connected
    assert other.publish(topic, b"marker")
    got = inbox.wait_for(lambda g: b"marker" in g)
    assert b"offline" not in got


def test_persistent_session_gets_messages_published_while_away(
        make_link: Callable[..., MqttLink]) -> None:
    first = Inbox()
    sub = make_link("durable-sub", [("fc/down/#", 1)], first)
    pub = make_link("pub")
    wait_until(lambda: pub.publish("fc/down/x", b"hello") and bool(first.payloads()))
    sub.stop()                                     # clean disconnect, no unsubscribe
    for i in range(5):
        assert pub.publish("fc/down/x", f"away-{i}".encode(), qos=1)
    second = Inbox()
    make_link("durable-sub", [("fc/down/#", 1)], second)
    got = second.wait_for(lambda g: b"away-4" in g)
    assert [p for p in got if p.startswith(b"away-")] == [f"away-{i}".encode()
                                                          for i in range(5)]


def test_a_one_shot_link_leaves_no_session_behind(make_link: Callable[..., MqttLink]
                                                  ) -> None:
    """``persistent=False`` (the office's one-shot card publisher): a clean session, so
    nothing is queued for it while it is away (MQTT 3.1.1 sessions never expire)."""
    first = Inbox()
    once = make_link("one-shot", [("fc/once/#", 1)], first, persistent=False)
    pub = make_link("pub")
    wait_until(lambda: pub.publish("fc/once/x", b"hello") and bool(first.payloads()))
    once.stop()
    assert pub.publish("fc/once/x", b"while away", qos=1)
    second = Inbox()
    make_link("one-shot", [("fc/once/#", 1)], second, persistent=False)
    # Published again until the new subscription takes it (its SUBACK is not awaited).
    wait_until(lambda: pub.publish("fc/once/x", b"after") and b"after" in second.payloads())
    assert b"while away" not in second.payloads()


def test_a_refused_subscription_is_logged_and_counted(
        broker: Broker, make_link: Callable[..., MqttLink]) -> None:
    """NATS refuses a '.' in a filter (its subject separator); mosquitto takes it. Either
    way the link says so instead of waiting for messages that never come."""
    inbox = Inbox()
    link = make_link("picky", [("fc/a.b/#", 1), ("fc/ok/#", 1)], inbox)
    pub = make_link("pub")
    wait_until(lambda: pub.publish("fc/ok/x", b"flows") and bool(inbox.payloads()))
    assert link.counters.subscribe_refusals == (1 if broker.name == "nats" else 0)


def test_links_reconnect_after_broker_is_killed_and_restarted(
        broker: Broker, make_link: Callable[..., MqttLink]) -> None:
    inbox = Inbox()
    announced: list[int] = []
    sub = make_link("sub", [("fc/up/#", 1)], inbox, on_connect=lambda: announced.append(1))
    pub = make_link("pub")
    wait_until(lambda: pub.publish("fc/up/a", b"before") and bool(inbox.payloads()))

    broker.kill()
    wait_until(lambda: not sub.connected and not pub.connected)
    assert not pub.publish("fc/up/a", b"while-down", timeout=1)
    broker.start()

    assert sub.wait_connected(WAIT) and pub.wait_connected(WAIT), broker.log_text()
    # The broker lost everything since its last autosave; the link re-subscribes on
    # every connect, so retry until traffic flows again.
    wait_until(lambda: pub.publish("fc/up/a", b"after") and b"after" in inbox.payloads())
    assert sub.counters.reconnects >= 1 and pub.counters.reconnects >= 1
    assert sub.counters.disconnects >= 1
    wait_until(lambda: len(announced) >= 2)        # on_connect ran again


def test_publish_without_connection_returns_false(broker: Broker,
                                                  make_link: Callable[..., MqttLink]
                                                  ) -> None:
    nowhere = broker.mqtt_config(port=free_port())
    link = make_link("lonely", config=nowhere, start=False)
    assert not link.publish("fc/x", b"never started", timeout=0.5)
    link.start()
    assert not link.wait_connected(0.5)
    assert not link.publish("fc/x", b"no broker", timeout=0.5)
    assert not link.publish_nowait("fc/x", b"no broker")
    wait_until(lambda: link.counters.connect_failures >= 1)
    assert link.counters.publish_failures == 3

    ok = make_link("ok")
    assert not ok.publish("fc/+/bad", b"wildcard topic", timeout=0.5)
    assert not ok.publish("", b"empty topic", timeout=0.5)
    assert not ok.publish_nowait("fc/#", b"wildcard")
    assert ok.publish("fc/fine", b"still works")


def test_raising_on_message_does_not_stop_delivery(make_link: Callable[..., MqttLink]
                                                   ) -> None:
    inbox = Inbox()

    def fragile(topic: str, payload: bytes) -> None:
        if payload.startswith(b"bad"):
            raise ValueError("cannot parse")
        inbox(topic, payload)

    sub = make_link("fragile", [("fc/in/#", 1)], fragile)
    pub = make_link("pub")
    wait_until(lambda: pub.publish("fc/in/x", b"warm-up") and bool(inbox.payloads()))
    for payload in (b"bad-1", b"good-1", b"bad-2", b"\xff\x00 good-2", b"good-3"):
        assert pub.publish("fc/in/x", payload)
    inbox.wait_for(lambda g: b"good-3" in g)
    assert b"good-1" in inbox.payloads() and b"\xff\x00 good-2" in inbox.payloads()
    assert sub.counters.callback_errors == 2


def test_reconnect_delay_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    delays = [reconnect_delay(n, 1, 60, rng) for n in range(40)]
    assert all(1 <= d <= 60 for d in delays)
    assert all(d <= 2 ** n for n, d in enumerate(delays))
    assert len({round(d, 6) for d in delays}) == len(delays)      # spread, not lock-step
    assert all(1 <= reconnect_delay(n, 1, 2, rng) <= 2 for n in range(100))
    assert reconnect_delay(10_000, 5, 5, rng) == 5


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", ["client"])
    tls_broker = Broker(tmp_path / "mosquitto", extra=tls_lines(pki))
    tls_broker.start()
    links: list[MqttLink] = []
    try:
        config = tls_broker.mqtt_config(tls=True, ca_file=str(pki / "ca.crt"),
                                        cert_file=str(pki / "client.crt"),
                                        key_file=str(pki / "client.key"))
        inbox = Inbox()
        for client_id, subs in (("tls-sub", [("fc/tls", 1)]), ("tls-pub", [])):
            link = MqttLink(config=config, client_id=client_id, subscriptions=subs,
                            on_message=inbox)
            links.append(link)
            link.start()
            assert link.wait_connected(WAIT), tls_broker.log_text()
        wait_until(lambda: links[1].publish("fc/tls", b"secret") and bool(inbox.payloads()))
        assert inbox.payloads() == [b"secret"] * len(inbox.payloads())
    finally:
        for link in links:
            link.stop()
        tls_broker.kill()


def test_shared_subscriptions_need_mqtt_5() -> None:
    with pytest.raises(ConfigError, match=r'protocol "3.1.1" has no shared subscriptions'):
        MqttLink(config=MqttConfig(enabled=True, protocol="3.1.1"), client_id="worker-1",
                 subscriptions=[("$share/office/forecourt/v1/station/+/sales", 1)],
                 on_message=lambda t, p: None)
    MqttLink(config=MqttConfig(enabled=True), client_id="worker-1",
             subscriptions=[("$share/office/forecourt/v1/station/+/sales", 1)],
             on_message=lambda t, p: None)


def test_unusable_tls_or_password_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TLS"):
        MqttLink(config=MqttConfig(enabled=True, tls=True, ca_file=str(tmp_path / "no-ca")),
                 client_id="x", subscriptions=[], on_message=lambda t, p: None)
    with pytest.raises(ConfigError, match="password_file"):
        MqttLink(config=MqttConfig(enabled=True, username="u",
                                   password_file=str(tmp_path / "no-pw")),
                 client_id="x", subscriptions=[], on_message=lambda t, p: None)
