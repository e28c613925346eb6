"""Hostile messages over a real mosquitto: another station's id, bad shapes, replays.

Issue 10 #0 and #10. Two enrolled stations (S-001 from the ``network`` fixture and a
second, S-002, whose key the test holds), the real office process (``forecourt office
serve``) and the real station daemon; the test publishes what a hostile but enrolled
peer would. Every such message must be refused whole, counted and logged with a
reason, never a traceback, and nothing of it stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.envelope import OFFICE, seal
from cloud_sync.mqtt import MqttLink
from core.config import load_config_file
from core.formats.journal import GENESIS, chain_hash
from core.keys import OFFICE_KEY, load_private_key, public_text
from edge.control import call
from office.store import open_office
from tests.cloud_sync.test_uplink import sell
from tests.network_fixtures import Broker, office_sales
from tests.support import daemon_log, fc, fc_json, start_daemon, stop_daemon, wait_for

PREFIX = "forecourt/v1"
OTHER = "S-002"
NESTED = b"[" * 100_000


class Peer:
    """An MQTT client the test drives: publishes, and records what it receives."""

    def __init__(self, broker: Broker, subscriptions: list[str]) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.link = MqttLink(config=broker.mqtt_config(), client_id=f"peer-{time.time_ns()}",
                             subscriptions=[(t, 1) for t in subscriptions],
                             on_message=lambda t, p: self.received.append((t, p)))
        self.link.start()
        assert self.link.wait_connected(10)

    def publish(self, topic: str, payload: bytes) -> None:
        assert self.link.publish(topic, payload, qos=1, timeout=10)


@pytest.fixture
def peer(broker: Broker) -> Iterator[Callable[[list[str]], Peer]]:
    made: list[Peer] = []

    def make(subscriptions: list[str]) -> Peer:
        made.append(Peer(broker, subscriptions))
        return made[-1]

    yield make
    for p in made:
        p.link.stop()


@pytest.fixture
def second_key(network: Path) -> Ed25519PrivateKey:
    """S-002 enrolled at the office with a key the test holds."""
    key = Ed25519PrivateKey.generate()
    fc(network, "office", "station", "add", OTHER, "--public-key", public_text(key))
    return key


def refused_counts(config: Path) -> dict[str, int]:
    conn = open_office(load_config_file(config))
    try:
        return dict(conn.execute("SELECT reason, count FROM refused_messages").fetchall())
    finally:
        conn.close()


def wait_refused(config: Path, reason: str, count: int) -> None:
    wait_for(lambda: refused_counts(config).get(reason, 0) >= count,
             f"{count} message(s) refused as {reason}", timeout=20)


def office_listening(config: Path, peer: Peer) -> None:
    """Until the office is subscribed, what is published is lost: probe with a message
    from an unknown sender until it is refused (counted as ``unknown_sender``)."""
    probe = seal("status", "PROBE", OFFICE, {}, Ed25519PrivateKey.generate())

    def refused_probe() -> bool:
        peer.publish(f"{PREFIX}/station/PROBE/status", probe)
        time.sleep(0.2)
        return refused_counts(config).get("unknown_sender", 0) > 0

    wait_for(refused_probe, "the office to listen", timeout=20)


def forged_rows(station_id: str, first: int, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(first, first + n):
        row: dict[str, Any] = {"seq": seq, "sale_id": f"FORGED-{seq}", "station_id": station_id,
               "card_id": "FLEET-UNLIMITED", "pump": 3, "product": "AI92",
               "volume_ml": 1000, "unit_price": 5000, "amount": 5000,
               "authorized_at": "2026-11-20T10:00:00.000000Z",
               "completed_at": "2026-11-20T10:01:00.000000Z", "wallet_debits": {},
               "prev_hash": prev}
        prev = row["hash"] = chain_hash(prev, row)
        rows.append(row)
    return rows


def status_body(station_id: str, **fields: Any) -> dict[str, Any]:
    return {"station_id": station_id, "online": True, "outbox_depth": 0,
            "oldest_undelivered_at": None, "card_store_version": 17, **fields}


def batch(station_id: str, rows: list[dict[str, Any]], status_station: str | None = None
          ) -> dict[str, Any]:
    return {"station_id": station_id, "first_seq": rows[0]["seq"], "last_seq": rows[-1]["seq"],
            "sales": rows, "status": status_body(status_station or station_id)}


def no_traceback(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text and "callback_error" not in text, text[-3000:]


def test_a_station_cannot_write_into_another_station_s_ledger(
        network: Path, broker: Broker, office: subprocess.Popen[str],
        second_key: Ed25519PrivateKey, peer: Callable[[list[str]], Peer]) -> None:
    """S-002, signing with its own key on its own topics, names S-001 anywhere inside."""
    spy = peer([f"{PREFIX}/station/+/receipt", f"{PREFIX}/station/+/cards"])
    office_listening(network, spy)
    own = f"{PREFIX}/station/{OTHER}"
    forged = [
        ("sales", batch("S-001", forged_rows("S-001", 900, 2))),          # the batch body
        ("sales", batch(OTHER, forged_rows("S-001", 1, 2))),              # each sale line
        ("sales", batch(OTHER, forged_rows(OTHER, 1, 2), "S-001")),       # its status
        ("status", status_body("S-001")),                                 # a status message
        ("sync-request", {"station_id": "S-001", "version": 3}),          # a sync request
    ]
    for kind, body in forged:
        leaf = {"sync-request": "sync"}.get(kind, kind)
        spy.publish(f"{own}/{leaf}", seal(kind, OTHER, OFFICE, body, second_key))
    wait_refused(network, "wrong_station", len(forged))
    time.sleep(0.5)
    assert office_sales(network) == []
    assert fc_json(network, "office", "sales", "--station", OTHER) == []
    assert spy.received == []  # no receipt, no card data for any of them
    overview = {r["station_id"]: r for r in fc_json(network, "office", "stations")}
    assert overview["S-001"]["contiguous_seq"] == 0 and overview["S-001"]["gaps"] == []
    assert overview["S-001"]["card_store_version"] is None
    assert overview["S-001"]["online"] is None and overview[OTHER]["online"] is None
    assert "wrong_station" in fc(network, "office", "stations").stdout
    # S-001's real sales then arrive whole: nothing of S-002's was taken as S-001's.
    sell(network, 3)
    station = start_daemon(network)
    try:
        wait_for(lambda: len(office_sales(network)) == 3 and
                 fc_json(network, "status")["outbox_depth"] == 0, "S-001's own sales")
        assert fc_json(network, "office", "stations")[0]["quarantined"] == 0
    finally:
        stop_daemon(station)
    no_traceback(network.parent / "office.log")


def test_office_refuses_malformed_messages_counted_without_a_traceback(
        network: Path, broker: Broker, office: subprocess.Popen[str],
        second_key: Ed25519PrivateKey, peer: Callable[[list[str]], Peer]) -> None:
    spy = peer([f"{PREFIX}/station/+/receipt", f"{PREFIX}/station/+/cards"])
    office_listening(network, spy)
    own = f"{PREFIX}/station/{OTHER}"
    spy.publish(f"{own}/sales", NESTED)
    spy.publish(f"{own}/sales", b'{"v": 1, "body": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    bad_status = [
        status_body(OTHER, outbox_depth=[1]),
        status_body(OTHER, card_store_version={"v": 17}),
        status_body(OTHER, online="yes"),
        status_body(OTHER, oldest_undelivered_at=[]),
        {**status_body(OTHER), "extra": 1},
    ]
    for body in bad_status:
        spy.publish(f"{own}/status", seal("status", OTHER, OFFICE, body, second_key))
    for version in (True, [3], -1):
        spy.publish(f"{own}/sync", seal("sync-request", OTHER, OFFICE,
                                        {"station_id": OTHER, "version": version}, second_key))
    wait_refused(network, "malformed", 2 + len(bad_status) + 3)
    time.sleep(0.5)
    assert spy.received == []
    overview = {r["station_id"]: r for r in fc_json(network, "office", "stations")}
    assert overview[OTHER]["online"] is None and overview[OTHER]["outbox_depth"] is None
    no_traceback(network.parent / "office.log")


def test_office_logs_and_counts_a_replayed_status_and_sync_request(
        network: Path, broker: Broker, office: subprocess.Popen[str],
        second_key: Ed25519PrivateKey, peer: Callable[[list[str]], Peer]) -> None:
    """An old status sent again must not roll the office's view back."""
    spy = peer([])
    office_listening(network, spy)
    topic = f"{PREFIX}/station/{OTHER}/status"
    old = seal("status", OTHER, OFFICE, status_body(OTHER, outbox_depth=9), second_key)
    time.sleep(0.01)
    new = seal("status", OTHER, OFFICE, status_body(OTHER, outbox_depth=0), second_key)
    spy.publish(topic, old)
    spy.publish(topic, new)
    spy.publish(topic, old)
    wait_refused(network, "replayed", 1)
    overview = {r["station_id"]: r for r in fc_json(network, "office", "stations")}
    assert overview[OTHER]["outbox_depth"] == 0
    # The same sync request twice: answered once, the replay counted.
    cards = peer([f"{PREFIX}/station/{OTHER}/cards"])
    request = seal("sync-request", OTHER, OFFICE, {"station_id": OTHER, "version": None},
                   second_key)
    cards.publish(f"{PREFIX}/station/{OTHER}/sync", request)
    wait_for(lambda: len(cards.received) == 1, "the answer to the sync request")
    cards.publish(f"{PREFIX}/station/{OTHER}/sync", request)
    wait_refused(network, "replayed", 2)
    time.sleep(0.5)
    assert len(cards.received) == 1
    assert "office.message_refused" in (network.parent / "office.log").read_text()


def sync_status(config: Path) -> dict[str, Any]:
    socket_path = load_config_file(config).station.socket_path
    answer: dict[str, Any] = call(socket_path, "sync.status", {}, actor="test")
    return answer


def test_station_refuses_malformed_and_foreign_receipts_and_counts_replays(
        network: Path, broker: Broker, peer: Callable[[list[str]], Peer]) -> None:
    """The test plays the office (its key) against the real station daemon."""
    office_key = load_private_key(load_config_file(network).office.data_dir, OFFICE_KEY)
    sell(network, 3)
    journal = {r["seq"]: r["hash"] for r in fc_json(network, "journal", "list")}
    station = start_daemon(network)
    try:
        spy = peer([])
        wait_for(lambda: sync_status(network)["connected"], "the station to connect")
        topic, cards = f"{PREFIX}/station/S-001/receipt", f"{PREFIX}/station/S-001/cards"

        def receipt(**fields: Any) -> bytes:
            body = {"station_id": "S-001", "up_to_seq": 3, "hash": journal[3], "stored": 3,
                    "duplicates": 0, "quarantined": [], **fields}
            return seal("receipt", OFFICE, "S-001", body, office_key)

        def probe() -> bool:  # what is published before the station subscribed is lost
            spy.publish(topic, NESTED)
            time.sleep(0.2)
            return bool(sync_status(network)["refused"])

        wait_for(probe, "the station to refuse 100,000 nested [")
        time.sleep(0.5)
        base = sync_status(network)["refused"]
        hostile = [receipt(station_id=OTHER), receipt(quarantined=5),
                   receipt(quarantined=[{"deep": [[[[1]]]]}]), receipt(stored="3"),
                   receipt(up_to_seq=[3]), receipt(hash={"h": 1}), receipt(extra=1)]
        for payload in hostile:
            spy.publish(topic, payload)
        spy.publish(cards, NESTED)
        wait_for(lambda: sync_status(network)["refused"] >= base + len(hostile) + 1,
                 "every hostile receipt refused")
        assert fc_json(network, "status")["outbox_depth"] == 3  # nothing moved
        genuine = receipt()
        spy.publish(topic, genuine)
        wait_for(lambda: fc_json(network, "status")["outbox_depth"] == 0, "the receipt")
        spy.publish(topic, genuine)  # a replay: harmless, but logged and counted
        wait_for(lambda: sync_status(network).get("replays", 0) >= 1, "the replay counted")
        assert sync_status(network)["receipts"] == 1
        assert sync_status(network)["refused"] == base + len(hostile) + 1
        # What an operator sees (found verifying issue 10 #10: the counts were only on
        # the control socket, which no command showed).
        shown = fc_json(network, "status")
        counted = sync_status(network)
        assert (shown["sync_receipts"], shown["sync_refused"], shown["sync_replays"]) == \
            (counted["receipts"], counted["refused"], counted["replays"])
        assert "sync replays" in fc(network, "status").stdout
    finally:
        stop_daemon(station)
    log = daemon_log(network).read_text()
    assert "sync.receipt_replayed" in log
    assert "wrong_station" in log
    no_traceback(daemon_log(network))


@pytest.mark.brokers
def test_the_last_will_still_marks_a_station_offline(network: Path, broker: Broker,
                                                     office: subprocess.Popen[str]) -> None:
    """The will was made at connect, before the statuses since: it is not a replay."""
    def online() -> bool | None:
        value: bool | None = fc_json(network, "office", "stations")[0]["online"]
        return value

    station = start_daemon(network)
    try:
        wait_for(lambda: online() is True, "the station online")
        os.kill(station.pid, signal.SIGKILL)
        station.wait()
        wait_for(lambda: online() is False, "the will to mark it offline")
        station = start_daemon(network)
        wait_for(lambda: online() is True, "the station online again")
    finally:
        stop_daemon(station)
    assert refused_counts(network).get("replayed", 0) == 0
    no_traceback(network.parent / "office.log")


def sealed_at(at: str, kind: str, sender: str, body: dict[str, Any],
              key: Ed25519PrivateKey) -> bytes:
    """:func:`seal` with the envelope's ``at`` chosen by the test (a clock gone wrong)."""
    import base64
    import secrets

    from cloud_sync.envelope import canonical

    head = {"v": 1, "kind": kind, "from": sender, "to": OFFICE, "id": secrets.token_hex(16),
            "at": at, "body": body}
    return canonical({**head, "sig": base64.b64encode(key.sign(canonical(head))).decode()})


def test_a_status_stamped_in_the_future_does_not_freeze_the_office_s_view(
        network: Path, broker: Broker, office: subprocess.Popen[str],
        second_key: Ed25519PrivateKey, peer: Callable[[list[str]], Peer]) -> None:
    # Found verifying issue 10 (#2's kind of mistake, on the office's side): a status
    # whose envelope says 2099 (a station clock that jumped ahead once) made every
    # later status "older than the one held": refused as replayed until 2099, so a
    # station that came back stayed OFFLINE at the office. The office now refuses a
    # status made further ahead of its clock than [offline] max_clock_skew
    # (clock_ahead), and does not trust such a time held from before.
    spy = peer([])
    office_listening(network, spy)
    topic = f"{PREFIX}/station/{OTHER}/status"
    spy.publish(topic, sealed_at("2099-01-01T00:00:00.000000Z", "status", OTHER,
                                 status_body(OTHER, online=False, outbox_depth=7),
                                 second_key))
    time.sleep(0.01)
    spy.publish(topic, seal("status", OTHER, OFFICE, status_body(OTHER, outbox_depth=3),
                            second_key))

    def view() -> dict[str, Any]:
        rows = {r["station_id"]: r for r in fc_json(network, "office", "stations")}
        row: dict[str, Any] = rows.get(OTHER, {})
        return row

    wait_for(lambda: view().get("outbox_depth") == 3, "the station's real status applied",
             timeout=20)
    assert view()["online"] is True
    assert refused_counts(network).get("clock_ahead", 0) == 1
    # A time held from before the rule is not trusted either.
    conn = open_office(load_config_file(network))
    conn.execute("UPDATE station_online SET status_at = '2099-01-01T00:00:00.000000Z' "
                 "WHERE station_id = ?", (OTHER,))
    conn.close()
    spy.publish(topic, seal("status", OTHER, OFFICE, status_body(OTHER, outbox_depth=4),
                            second_key))
    wait_for(lambda: view().get("outbox_depth") == 4, "a status after a held future time",
             timeout=20)
    assert refused_counts(network).get("replayed", 0) == 0
    no_traceback(network.parent / "office.log")
