"""The card-data staleness alarm on a real station store: raised once when the data is
older than allowed (or stale), kept across checks, cleared by fresh data."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path

from structlog.testing import capture_logs

from core.config import Config, StationConfig
from core.config_jobs import JobsConfig
from edge.jobs.staleness import ALARM, check_staleness
from edge.lifecycle import Station
from offline_db.alarms import active_alarms
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock


def test_the_alarm_is_raised_once_and_cleared_by_fresh_data(tmp_path: Path) -> None:
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data"))
    store, _ = StationStore.create(tmp_path / "data")
    clock = Clock()
    lock = threading.Lock()
    try:
        assert check_staleness(config, store.conn, lock, clock.now) == \
            "card data is stale: no card data was ever loaded"
        st = Station(store, config, clock=clock)
        st.import_cards(SAMPLE, actor="test")
        loaded = clock.now
        assert check_staleness(config, store.conn, lock, loaded + timedelta(hours=1)) is None
        assert active_alarms(store.conn) == []
        late = loaded + timedelta(hours=25)
        with capture_logs() as logs:
            message = check_staleness(config, store.conn, lock, late)
            check_staleness(config, store.conn, lock, late + timedelta(minutes=1))
        assert message == ("card data not confirmed by the head office for more than 1 d; "
                           "offline policy in force")
        assert [e["event"] for e in logs if e["event"].startswith("alarm.")] == [
            "alarm.raised"]
        (alarm,) = active_alarms(store.conn)
        assert (alarm["code"], alarm["message"]) == (ALARM, message)
        assert alarm["since"].startswith(late.date().isoformat())
        clock.now = late
        st.import_cards(SAMPLE, actor="test")  # fresh data (a newer import)
        with capture_logs() as logs:
            assert check_staleness(config, store.conn, lock, late + timedelta(minutes=2)) \
                is None
        assert active_alarms(store.conn) == []
        assert [e["event"] for e in logs] == ["alarm.cleared"]
    finally:
        store.close()


def test_an_earlier_alarm_warns_before_the_offline_policy(tmp_path: Path) -> None:
    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data"),
                    jobs=JobsConfig(stale_alarm_after="2h"))
    store, _ = StationStore.create(tmp_path / "data")
    clock = Clock()
    try:
        Station(store, config, clock=clock).import_cards(SAMPLE, actor="test")
        lock = threading.Lock()
        assert check_staleness(config, store.conn, lock, clock.now + timedelta(hours=1)) \
            is None
        assert check_staleness(config, store.conn, lock, clock.now + timedelta(hours=3)) == \
            "card data not confirmed by the head office for more than 2 h"
        assert dataclasses.asdict(config.jobs)["stale_alarm_after"] == "2h"
    finally:
        store.close()
