"""One list of alarms: what ``forecourt status`` computes from a real store and disk,
joined with what the scheduled checks raised and kept (offline_db.alarms); and the
disk alarms from the same look at the disk the sale refusal takes (offline_db.space)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.config import Config, StationConfig
from core.config_jobs import JobsConfig
from core.errors import DiskFullError
from edge.jobs.staleness import check_staleness
from edge.lifecycle import Station
from edge.station_status import gather
from offline_db.space import MB, DiskGuard, disk_space
from offline_db.store import StationStore
from tests.offline_db.test_journal import SAMPLE, Clock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StationStore]:
    store, _ = StationStore.create(tmp_path / "data")
    yield store
    store.close()


def config_for(tmp_path: Path, *, min_free_mb: int = 64, disk_reserve_mb: int = 8) -> Config:
    return Config(station=StationConfig(id="S-001", data_dir=tmp_path / "data",
                                        min_free_mb=min_free_mb,
                                        disk_reserve_mb=disk_reserve_mb),
                  jobs=JobsConfig(stale_alarm_after="2h"))


def alarms(store: StationStore, config: Config, now: datetime) -> dict[str, dict[str, str]]:
    listed = gather(store.conn, config, now, None)["alarms"]
    by_code = {a["code"]: a for a in listed}
    assert len(by_code) == len(listed), listed  # one per code
    return by_code


def test_a_checks_early_warning_is_listed_by_status(tmp_path: Path,
                                                    store: StationStore) -> None:
    config = config_for(tmp_path)
    clock = Clock()
    Station(store, config, clock=clock).import_cards(SAMPLE, actor="test")
    later = clock.now + timedelta(hours=3)  # past stale_alarm_after, before max_data_age
    assert "card_data_stale" not in alarms(store, config, later)
    message = check_staleness(config, store.conn, threading.Lock(), later)
    listed = alarms(store, config, later + timedelta(minutes=5))
    assert listed["card_data_stale"]["message"] == message
    assert listed["card_data_stale"]["since"].startswith(later.isoformat()[:16])
    assert set(listed) == {"card_data_stale", "daemon_not_running"}


def test_the_same_alarm_from_both_sources_is_listed_once_since_the_check_saw_it(
        tmp_path: Path, store: StationStore) -> None:
    config = config_for(tmp_path)
    seen = Clock().now
    check_staleness(config, store.conn, threading.Lock(), seen)  # never loaded
    listed = alarms(store, config, seen + timedelta(hours=1))
    stale = listed["card_data_stale"]
    assert stale["message"].startswith("card data is stale (never loaded)")  # status's words
    assert stale["since"] is not None and stale["since"].startswith(seen.isoformat()[:16])


def free_mb(tmp_path: Path) -> int:
    return disk_space(tmp_path / "data", min_free_mb=0, reserve_mb=0).free // MB


def test_disk_full_is_the_refusals_own_look(tmp_path: Path, store: StationStore) -> None:
    config = config_for(tmp_path, min_free_mb=free_mb(tmp_path) + 1000, disk_reserve_mb=0)
    listed = alarms(store, config, Clock().now)
    assert "disk_nearly_full" not in listed
    sentence = listed["disk_full"]["message"]
    guard = DiskGuard(config.station.data_dir, min_free_mb=config.station.min_free_mb,
                      reserve_mb=0)
    with pytest.raises(DiskFullError) as refused:
        guard.check_room()
    # The alarm and the refusal describe the disk in the same words.
    assert sentence.removeprefix("disk full, new sales refused: ") in str(refused.value)
    data = gather(store.conn, config, Clock().now, None)
    assert data["disk"]["refusing"] is True


def test_a_reserve_the_next_sale_cannot_put_back_alarms(tmp_path: Path,
                                                        store: StationStore) -> None:
    free = free_mb(tmp_path)
    # No space.reserve yet, but room to make it: the next sale would, so no alarm.
    room = config_for(tmp_path, min_free_mb=1, disk_reserve_mb=1)
    assert not {"disk_full", "disk_nearly_full"} & set(alarms(store, room, Clock().now))
    # min_free fits, min_free and the reserve do not: the next sale is refused.
    tight = config_for(tmp_path, min_free_mb=free - 10, disk_reserve_mb=100)
    listed = alarms(store, tight, Clock().now)
    assert "now given up, to be put back" in listed["disk_full"]["message"]
    with pytest.raises(DiskFullError):
        DiskGuard(tight.station.data_dir, min_free_mb=free - 10, reserve_mb=100).check_room()


def test_nearly_full_warns_before_sales_are_refused(tmp_path: Path,
                                                   store: StationStore) -> None:
    free = free_mb(tmp_path)
    config = config_for(tmp_path, min_free_mb=max(1, free * 2 // 3), disk_reserve_mb=0)
    config = dataclasses.replace(config, alarms=dataclasses.replace(
        config.alarms, disk_min_free_percent=0))
    listed = alarms(store, config, Clock().now)
    assert "disk_full" not in listed
    assert listed["disk_nearly_full"]["message"].startswith("disk nearly full: ")
