"""How fast a card blocked at the head office is refused by an online station.

DESIGN.md section 7: "A card blocked at the office is refused by an online station
within 1 s". Through a private mosquitto, the real office side seals a one-card
delta (the ``forecourt office cards block`` message) and publishes it to
``{prefix}/network/cards``; the real ``StationSync`` of a station (with its store and
the sample card store) applies it; the time measured runs from just before the
publish until ``Station.authorize`` of that card answers ``card_blocked``. The floor
in the same run: a bare MQTT message of the same size, publish to delivery.

Run: ``.venv/bin/python bench/block.py [--samples N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.envelope import EVERYONE, OFFICE, seal
from cloud_sync.mqtt import MqttLink
from cloud_sync.station_sync import StationSync
from core import logs
from core.config import Config, MqttConfig
from core.timefmt import iso, utc_now
from edge.lifecycle import Station
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore

ROOT = Path(__file__).resolve().parent.parent
# The private broker of bench/sync.py (the bench folder is not a package).
sys.path.insert(0, str(ROOT / "bench"))
Broker = importlib.import_module("sync").Broker
CARD = "7800001234567893"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run(samples: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="forecourt-bench-block-"))
    broker = Broker(work / "broker")
    broker.start()
    try:
        mqtt = MqttConfig(enabled=True, port=broker.port, reconnect_min_s=1, reconnect_max_s=2)
        config = dataclasses.replace(Config(), mqtt=mqtt, station=dataclasses.replace(
            Config().station, data_dir=work / "station"))
        store, _ = StationStore.create(config.station.data_dir)
        station = Station(store, config)
        station.import_cards(ROOT / "tests" / "data" / "card-store.json", actor="bench")
        lock = threading.Lock()
        office_key = Ed25519PrivateKey.generate()

        def apply(body: dict[str, Any], made: datetime | None = None) -> Any:
            with lock:
                return apply_cards_message(station, body, vouched_at=made)

        sync = StationSync(config, store.conn, lock, Ed25519PrivateKey.generate(),
                           office_key.public_key(), apply_cards=apply)
        sync.start()
        got = threading.Event()
        probe = MqttLink(config=mqtt, client_id="bench-probe",
                         subscriptions=[("bench/probe", 1)],
                         on_message=lambda _t, _p: got.set())
        office = MqttLink(config=mqtt, client_id="bench-office", subscriptions=[],
                          on_message=lambda _t, _p: None)
        probe.start()
        office.start()
        for link in (sync.link, probe, office):
            if not link.wait_connected(10):
                raise SystemExit("a client did not connect to the broker")
        time.sleep(0.5)  # subscriptions settle
        version = 17
        block_ms: list[float] = []
        floor_ms: list[float] = []
        for i in range(samples):
            status = "blocked" if i % 2 == 0 else "active"
            card = {"card_id": CARD, "kind": "magstripe", "status": status,
                    "pan": CARD, "customer_id": "C-2"}
            body = {"mode": "delta", "from_version": version, "to_version": version + 1,
                    "ops": [{"op": "card", "card": card}],
                    "expires_at": iso(utc_now().replace(year=utc_now().year + 1))}
            payload = seal("cards", OFFICE, EVERYONE, body, office_key)
            want = "card_blocked" if status == "blocked" else "approved"
            start = time.perf_counter()
            office.publish_nowait(f"{mqtt.prefix}/network/cards", payload)
            while True:
                with lock:
                    result = station.authorize(card=CARD, pump=1, actor="bench")
                    if result["approved"]:
                        station.cancel(result["sale_id"], actor="bench")
                if result["reason"] == want:
                    break
                if time.perf_counter() - start > 10:
                    raise SystemExit(f"sample {i}: still {result['reason']} after 10 s")
            block_ms.append((time.perf_counter() - start) * 1000)
            version += 1
            got.clear()
            start = time.perf_counter()
            office.publish_nowait("bench/probe", payload)
            if not got.wait(10):
                raise SystemExit("the probe message never arrived")
            floor_ms.append((time.perf_counter() - start) * 1000)
        probe.stop()
        office.stop()
        sync.stop()
        store.close()
    finally:
        broker.stop()
    p50, p99 = statistics.median(block_ms), percentile(block_ms, 0.99)
    print(f"samples: {samples} status changes (block, unblock, ...) through mosquitto")
    print(f"floor (bare MQTT message, publish to delivery): p50 {statistics.median(floor_ms):.2f}"
          f" ms, p99 {percentile(floor_ms, 0.99):.2f} ms")
    print(f"office publish -> station refuses: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(block_ms):.2f} ms")
    print(f"ratio to the floor at p50: {p50 / statistics.median(floor_ms):.1f}x")
    print(f"{'PASS' if p99 < 1000 else 'FAIL'}: p99 {p99:.0f} ms (target < 1000 ms)")
    print(json.dumps({"block_p50_ms": round(p50, 2), "block_p99_ms": round(p99, 2)}))


def main() -> None:
    logs.configure("error")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    run(max(2, args.samples))


if __name__ == "__main__":
    main()
