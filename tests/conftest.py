"""Shared fixtures: a station configuration in a temporary folder, the sample card store."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from core.config import Config, load_config_file
from edge.lifecycle import Station
from offline_db.store import StationStore

#: The office's database fixtures (Django configured once per session, a fresh database
#: per test on SQLite and PostgreSQL) and the station-and-office bench (mosquitto, the
#: network config, ``forecourt office serve``, the flash desk), for every test folder.
pytest_plugins = ["tests.office_fixtures", "tests.network_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "card-store.json"


@pytest.fixture
def sample_store_file() -> Path:
    return SAMPLE


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The repository's config.toml with the data directory inside ``tmp_path``."""
    text = (ROOT / "config.toml").read_text()
    text = text.replace('data_dir = "var/station"', 'data_dir = "station"')
    # A 1 MB free-space reserve per test station, not 8 (offline_db.space).
    text = text.replace("disk_reserve_mb = 8", "disk_reserve_mb = 1")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config_file(config_file)


@pytest.fixture
def station(config: Config) -> Iterator[Station]:
    """A writable station with the sample card store imported."""
    store, _ = StationStore.create(config.station.data_dir)
    st = Station(store, config)
    st.import_cards(SAMPLE, actor="test")
    try:
        yield st
    finally:
        store.close()


@pytest.fixture
def env_config(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$FORECOURT_CONFIG`` pointing at ``config_file``; cwd in its folder."""
    monkeypatch.setenv("FORECOURT_CONFIG", str(config_file))
    monkeypatch.chdir(config_file.parent)
    return config_file


def forecourt_exe() -> str:
    """The installed ``forecourt`` console script next to this Python."""
    exe = shutil.which("forecourt", path=os.path.dirname(sys.executable))
    assert exe, "the forecourt console script is not installed in this environment"
    return exe


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts and ends with structlog's defaults (no leaked streams)."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
