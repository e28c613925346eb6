"""Several ``forecourt office serve`` workers on PostgreSQL, one SIGKILLed mid-stream.

Real parts: a mosquitto the test starts, the test's own PostgreSQL database, the office
workers as ``forecourt office serve --worker N`` subprocesses sharing the stations'
topics (MQTT 5 shared subscriptions), and stations running the station's real uplink
(:class:`cloud_sync.station_sync.StationSync` on a real station store, its sales
appended by ``offline_db.journal.append_sale`` under the writer lock, as the daemon
does) while one worker is killed. Afterwards every sale is stored exactly once (ids and
hashes against the stations' journals), every receipt a station applied was true (the
office holds 1..up_to_seq and its hash there is the receipt's), and every outbox is
empty. The killed worker's share: mosquitto 2.0.11 keeps routing to its persistent
session until ``[office] worker_session_expiry`` ends it; the stations re-send what no
receipt covered (docs/office.md, Several workers).

Also here: two workers' schedulers catching up the same due jobs book them once
(``office.db.job_lock``), and what a worker refuses to start with.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync import station_sync, topics
from cloud_sync.envelope import OFFICE, seal
from cloud_sync.station_sync import StationSync
from core.config import Config, load_config_file
from core.errors import ConfigError
from core.keys import OFFICE_KEY, create_keypair, load_private_key, public_text
from core.timefmt import iso, utc_now
from office.jobs.schedule import OfficeJobs
from office.pricing.models import CardTier, PointsEntry
from office.settings import use_database
from office.store import init_office, open_office
from office.sync.mqtt import OfficeSync
from office.sync.workers import worker_link
from offline_db.connection import atomic
from offline_db.journal import append_sale
from offline_db.outbox import ReceiptResult, apply_receipt
from offline_db.store import StationStore
from tests.conftest import forecourt_exe
from tests.network_fixtures import Broker
from tests.office.test_office_jobs import programme_with_points_due
from tests.office_fixtures import OfficeDb, set_office_database
from tests.support import fc, stop_daemon, wait_for

STATIONS = ("S-001", "S-002", "S-003")
SALES_EACH = 240
BURST = 4


class SimStation:
    """A station store and the station's real uplink; sales appended as the daemon does."""

    def __init__(self, station_id: str, base: Config, root: Path,
                 office_key: Ed25519PublicKey) -> None:
        self.id = station_id
        self.dir = root / station_id
        self.store, _ = StationStore.create(self.dir, holder="test_workers")
        create_keypair(self.dir)
        self.public_key = (self.dir / "station_key.pub").read_text().strip()
        self.lock = threading.Lock()
        self.config = dataclasses.replace(
            base, station=dataclasses.replace(base.station, id=station_id, data_dir=self.dir))
        self.sync = StationSync(self.config, self.store.conn, self.lock,
                                load_private_key(self.dir), office_key)

    def sell(self, count: int, first: int) -> None:
        """``count`` completed sales, one transaction each (journal + outbox together)."""
        for n in range(first, first + count):
            now = iso(utc_now())
            sale = {"sale_id": f"{self.id}-{n:05d}", "station_id": self.id,
                    "card_id": "FLEET-UNLIMITED", "pump": 1 + n % 4, "product": "DT",
                    "volume_ml": 1000 + n, "unit_price": 6350,
                    "amount": ((1000 + n) * 6350 + 500) // 1000, "authorized_at": now,
                    "completed_at": now, "wallet_debits": {}}
            with self.lock, atomic(self.store.conn):
                append_sale(self.store.conn, sale, queued_at=now)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [tuple(r) for r in self.store.conn.execute(sql).fetchall()]

    def delivered(self) -> bool:
        rows = self.query("SELECT value FROM sync_state WHERE key = 'last_receipt_seq'")
        depth = self.query("SELECT COUNT(*) FROM outbox")[0][0]
        return bool(rows) and int(rows[0][0]) == SALES_EACH and depth == 0


@dataclasses.dataclass
class Office:
    """The workers' configuration file and database, and the workers running."""

    config_file: Path
    db: OfficeDb
    procs: dict[str, subprocess.Popen[str]]

    def log(self, name: str) -> Path:
        return self.config_file.parent / f"worker-{name}.log"

    def start(self, name: str) -> None:
        with self.log(name).open("a") as log:
            self.procs[name] = subprocess.Popen(
                [forecourt_exe(), "--config", str(self.config_file), "office", "serve",
                 "--worker", name], stdout=log, stderr=subprocess.STDOUT, text=True)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def batches(self, name: str) -> int:
        """Batches worker ``name`` ingested (its ``office.batch`` log lines)."""
        return self.log(name).read_text().count('"office.batch"')

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_daemon(proc)


def worker_config(config_file: Path, db: OfficeDb, broker: Broker, workers: int,
                  session_expiry: str) -> Path:
    """The repository's config.toml for this bench: the office on the test's PostgreSQL
    database, ``workers`` of them, small batches and quick re-sends."""
    set_office_database(config_file, db.database)
    text = config_file.read_text()
    for old, new in (('data_dir = "var/office"', f'data_dir = "{db.data_dir}"'),
                     ("enabled = false", "enabled = true"),
                     ("port = 1883", f"port = {broker.port}"),
                     ("reconnect_max_s = 60", "reconnect_max_s = 2"),
                     ("batch_max_sales = 500", "batch_max_sales = 15"),
                     ("receipt_timeout_s = 15", "receipt_timeout_s = 2"),
                     ('format = "auto"', 'format = "json"'),
                     ("workers = 1", f"workers = {workers}"),
                     ('worker_session_expiry = "60s"',
                      f'worker_session_expiry = "{session_expiry}"')):
        assert old in text, old
        text = text.replace(old, new)
    config_file.write_text(text)
    return config_file


@pytest.fixture
def pg_office(make_office_db: Callable[[str], OfficeDb]) -> OfficeDb:
    """A fresh migrated PostgreSQL office with its key, in use in this process."""
    db = make_office_db("postgresql")
    use_database(db.database, db.data_dir)
    init_office(db.config)
    return db


def run_stream(tmp_path: Path, config_file: Path, broker: Broker, db: OfficeDb,
               monkeypatch: pytest.MonkeyPatch, *, workers: int, session_expiry: str,
               restart_killed: bool) -> None:
    """Stations sell and send while ``workers`` workers share them; worker 1 is killed
    once the office holds a quarter of the sales (the stations have sold half and sell
    the other half after the kill). Then everything is checked."""
    config = load_config_file(worker_config(config_file, db, broker, workers,
                                            session_expiry))
    office_key = load_private_key(db.data_dir, OFFICE_KEY).public_key()
    stations = [SimStation(sid, config, tmp_path / "stations", office_key) for sid in STATIONS]
    conn = open_office(db.config)
    with conn.atomic():
        for st in stations:  # what `forecourt office station add` stores
            conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) "
                         "VALUES (?, ?, ?)", (st.id, st.public_key, iso(utc_now())))
    by_conn = {id(st.store.conn): st.id for st in stations}
    applied: list[tuple[str, int, str, ReceiptResult]] = []

    def spy(sconn: Any, *, up_to_seq: int, hash_: str) -> ReceiptResult:
        """The real apply_receipt; what each station applied is kept for the checks."""
        result = apply_receipt(sconn, up_to_seq=up_to_seq, hash_=hash_)
        applied.append((by_conn[id(sconn)], up_to_seq, hash_, result))
        return result

    monkeypatch.setattr(station_sync, "apply_receipt", spy)
    office = Office(config_file, db, {})
    names = [str(n) for n in range(1, workers + 1)]
    total = SALES_EACH * len(stations)
    sellers: list[threading.Thread] = []
    try:
        for name in names:
            office.start(name)
        wait_for(lambda: all('"office.ready"' in office.log(n).read_text() for n in names),
                 "every worker ready", timeout=30)
        for st in stations:
            st.sync.start()

        resume = threading.Event()

        def sell(st: SimStation) -> None:
            """Half the sales, then (once a worker was killed) the other half."""
            for first in range(1, SALES_EACH + 1, BURST):
                if first > SALES_EACH // 2:
                    resume.wait(60)
                st.sell(BURST, first)
                time.sleep(0.02)

        sellers = [threading.Thread(target=sell, args=(st,)) for st in stations]
        for t in sellers:
            t.start()

        def stored() -> int:
            return int(conn.one("SELECT COUNT(*) FROM sales")[0])

        wait_for(lambda: stored() >= total // 4, "a quarter of the sales at the office",
                 timeout=30)
        office.kill("1")  # mid-stream: batches in flight, half the sales still to come
        assert stored() < total // 2
        resume.set()
        if restart_killed:
            office.start("1")
        for t in sellers:
            t.join(60)
        try:
            wait_for(lambda: all(st.delivered() for st in stations),
                     "every station's outbox receipted and empty", timeout=45)
        except AssertionError:
            raise AssertionError(
                f"office holds {stored()} of {total}; stations: "
                f"{[(st.id, st.query('SELECT COUNT(*) FROM outbox')) for st in stations]}"
            ) from None
        if restart_killed:  # back within its session: the broker had kept it (asked while
            # it runs: on a slow machine its start may outlast the stream)
            wait_for(lambda: office.log("1").read_text().count('"session_present": true') >= 1,
                     "worker 1 to find its session again")
    finally:
        for st in stations:
            st.sync.stop()
        office.stop()
    # Every sale stored exactly once, as the stations' journals have it.
    rows = conn.execute("SELECT station_id, seq, sale_id, hash FROM sales").fetchall()
    journals = {(st.id, seq, sale_id, digest) for st in stations
                for seq, sale_id, digest in st.query("SELECT seq, sale_id, hash FROM journal")}
    assert len(journals) == total
    assert len(rows) == total
    assert {tuple(r) for r in rows} == journals
    heads = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT station_id, contiguous_seq, contiguous_hash FROM station_chain")}
    assert heads == {st.id: (SALES_EACH, st.query(
        f"SELECT hash FROM journal WHERE seq = {SALES_EACH}")[0][0]) for st in stations}
    assert conn.one("SELECT COUNT(*) FROM quarantine")[0] == 0
    assert conn.one("SELECT COUNT(*) FROM chain_problems WHERE resolved_at IS NULL")[0] == 0
    # Every receipt a station applied was true: the office holds 1..up_to_seq of that
    # station (and nothing else was ever receipted), with the receipt's hash at up_to_seq.
    office_hash = {(r[0], r[1]): r[3] for r in rows}
    assert applied, "no receipt was applied"
    assert all(result.accepted for *_, result in applied), [
        a for a in applied if not a[3].accepted]
    for sid, up_to, digest, _ in applied:
        if up_to:
            assert office_hash[(sid, up_to)] == digest
    assert sum(st.sync.refused for st in stations) == 0
    assert all(st.query("SELECT COUNT(*) FROM outbox") == [(0,)] for st in stations)
    # The kill was mid-stream: the killed worker had ingested batches, and the others
    # took over.
    assert office.batches("1") > 0
    assert sum(office.batches(n) for n in names[1:]) > 0
    if not restart_killed:  # never back: the broker drops its session (and its share)
        # after the expiry
        wait_for(lambda: "Expiring client forecourt-office-1" in broker.log.read_text(),
                 "the broker to expire the killed worker's session", timeout=30)
    conn.close()
    for st in stations:
        st.store.close()


def test_two_workers_one_killed_every_sale_once_every_receipt_true(
        tmp_path: Path, config_file: Path, broker: Broker, pg_office: OfficeDb,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker 1 killed and never back: after its session expired (3 s) the broker
    hands everything to worker 2, which stores what the stations re-send."""
    run_stream(tmp_path, config_file, broker, pg_office, monkeypatch, workers=2,
               session_expiry="3s", restart_killed=False)


def test_three_workers_one_killed_and_restarted_every_sale_once(
        tmp_path: Path, config_file: Path, broker: Broker, pg_office: OfficeDb,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker 1 killed and started again within its session: the broker gives it what
    it held for it (duplicates of what the stations re-sent meanwhile: stored once)."""
    run_stream(tmp_path, config_file, broker, pg_office, monkeypatch, workers=3,
               session_expiry="60s", restart_killed=True)


@pytest.mark.parametrize("office_backend", ["postgresql"])
def test_two_workers_catching_up_the_same_due_jobs_book_them_once(office_env: Path) -> None:
    """Both workers' schedulers start after the office was down over the 1st: each owes
    the tiers and the points expiry at once, and each job is booked by one of them."""
    conn = programme_with_points_due(office_env)
    config = load_config_file(office_env)
    clock = [datetime(2026, 11, 25, 12, tzinfo=UTC)]
    sent: list[Any] = []

    def worker() -> OfficeJobs:
        return OfficeJobs(config, conn, publish=sent.append, clock=lambda: clock[0])

    first = worker()
    first.start()  # the office's first start: marks made, nothing owed
    first.stop()
    clock[0] = datetime(2026, 12, 2, 12, tzinfo=UTC)
    workers = [worker(), worker()]
    for w in workers:
        w.start()
    try:
        for job in ("tiers", "points-expiry"):  # both have looked (and one of them ran it)
            wait_for(lambda job=job: sum(w.jobs.runs[job] for w in workers) >= 1  # type: ignore[misc]
                     and all(w.jobs.due(job, clock[0]) is None for w in workers),
                     f"{job} run", timeout=60)
        time.sleep(1.0)  # a second run would have been booked by now
    finally:
        for w in workers:
            w.stop()
    assert [sum(w.jobs.runs[j] for w in workers) for j in ("tiers", "points-expiry")] == [1, 1]
    assert CardTier.objects.filter(month="2026-12-01").count() == 3 and len(sent) == 1
    assert PointsEntry.objects.filter(kind="expire").count() == 1


def test_worker_links_share_only_with_several_workers(config: Config) -> None:
    """One process keeps its client id and plain subscriptions; several share them, each
    with its own client id and the short worker session."""
    one = worker_link(config)
    assert (one.client_id, one.shared) == ("forecourt-office", False)
    assert one.subscriptions == [(f"forecourt/v1/station/+/{leaf}", 1)
                                 for leaf in ("sales", "status", "sync")]
    many = dataclasses.replace(config, office=dataclasses.replace(
        config.office, workers=3, database="postgresql:///x", worker_session_expiry="90s"))
    two = worker_link(many, "2")
    assert (two.client_id, two.shared, two.mqtt.session_expiry_s) == (
        "forecourt-office-2", True, 90)
    assert two.subscriptions == [
        (f"$share/forecourt-office/forecourt/v1/station/+/{leaf}", 1)
        for leaf in ("sales", "status", "sync")]
    with pytest.raises(ConfigError, match=r"MQTT 3\.1\.1 has not: run one worker"):
        worker_link(many, "2", protocol="3.1.1")
    on_311 = dataclasses.replace(many, mqtt=dataclasses.replace(many.mqtt, protocol="3.1.1"))
    with pytest.raises(ConfigError, match=r"MQTT 3\.1\.1 has not: run one worker"):
        worker_link(on_311, "2")  # [mqtt] protocol decides
    with pytest.raises(ConfigError, match="workers = 1"):
        worker_link(dataclasses.replace(config, office=dataclasses.replace(
            config.office, database="postgresql:///x")), "2")
    with pytest.raises(ConfigError, match="1-32 letters"):
        worker_link(many, "two words")


def test_several_workers_on_sqlite_are_refused_in_one_sentence(config_file: Path) -> None:
    text = config_file.read_text().replace("enabled = false", "enabled = true")
    config_file.write_text(text)
    result = fc(config_file, "office", "serve", "--worker", "2", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: several office workers need PostgreSQL ([office] database): a SQLite "
        "office store is one process's, run one office serve"]
    config_file.write_text(text.replace("workers = 1", "workers = 2"))
    result = fc(config_file, "office", "serve", check=False)
    assert result.returncode != 0 and "need PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


def test_receipts_of_two_workers_out_of_order_are_fine(tmp_path: Path, config: Config) -> None:
    """Worker B's receipt up to 20 arrives before worker A's up to 10 (each issued after
    its own commit): the later one delivers 1..20, the earlier one then changes nothing
    and is counted as a replay, not refused; the batch after 20 stays in flight."""
    office = Ed25519PrivateKey.generate()
    st = SimStation("S-001", config, tmp_path, office.public_key())
    st.sell(30, 1)
    hashes = dict(st.query("SELECT seq, hash FROM journal"))
    topic = topics.station(config.mqtt.prefix, "S-001", "receipt")
    sync = st.sync
    sync._window.extend(station_sync._InFlight(a, b, time.monotonic())
                        for a, b in ((1, 10), (11, 20), (21, 30)))

    def receipt(up_to: int) -> bytes:
        return seal("receipt", OFFICE, "S-001", {"station_id": "S-001", "up_to_seq": up_to,
                                                  "hash": hashes[up_to], "stored": 10,
                                                  "duplicates": 0, "quarantined": []}, office)

    sync._on_message(topic, receipt(20))  # worker B's
    assert st.query("SELECT MIN(seq), COUNT(*) FROM outbox") == [(21, 10)]
    sync._on_message(topic, receipt(10))  # worker A's, issued earlier, arriving later
    assert st.query("SELECT MIN(seq), COUNT(*) FROM outbox") == [(21, 10)]
    assert st.query("SELECT value FROM sync_state WHERE key = 'last_receipt_seq'") == [("20",)]
    assert (sync.receipts, sync.replays, sync.refused) == (1, 1, 0)
    assert [(b.first, b.last) for b in sync._window] == [(21, 30)]
    st.store.close()


def test_a_sync_request_replayed_to_another_worker_is_answered_once(
        config: Config, pg_office: OfficeDb) -> None:
    """The same sync-request envelope handed to worker 1 and then to worker 2 (a replay
    the broker shared out): one answer; the other worker refuses it as replayed."""
    office_db = pg_office
    office_conn = open_office(office_db.config)
    key = Ed25519PrivateKey.generate()
    office_conn.execute("INSERT INTO stations (station_id, public_key, enrolled_at) "
                        "VALUES (?, ?, ?)", ("S-009", public_text(key), iso(utc_now())))
    many = dataclasses.replace(config, office=dataclasses.replace(
        config.office, workers=2, database=office_db.database, data_dir=office_db.data_dir))
    office_key = Ed25519PrivateKey.generate()
    answers: list[tuple[str, str]] = []
    workers = [OfficeSync(many, office_conn, office_key, worker=worker_link(many, name))
               for name in ("1", "2")]
    def recorder(name: str) -> Callable[..., bool]:
        def publish(topic: str, payload: bytes, **_: Any) -> bool:
            answers.append((name, topic))
            return True
        return publish

    for w in workers:  # what the link would publish (it is not connected here)
        w.link.publish = recorder(w.worker.name)  # type: ignore[method-assign]
    topic = topics.station(many.mqtt.prefix, "S-009", "sync")
    request = seal("sync-request", "S-009", OFFICE, {"station_id": "S-009", "version": None},
                   key)
    workers[0].on_message(topic, request)
    workers[1].on_message(topic, request)
    assert answers == [("1", topics.station(many.mqtt.prefix, "S-009", "cards"))]
    assert (workers[0].refused["replayed"], workers[1].refused["replayed"]) == (0, 1)
    again = seal("sync-request", "S-009", OFFICE, {"station_id": "S-009", "version": None},
                 key)
    workers[1].on_message(topic, again)  # a new request is answered by whoever gets it
    assert [name for name, _ in answers] == ["1", "2"]
