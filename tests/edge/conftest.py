"""Fixtures of the edge tests: ``forecourt run`` on the test module's station."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import start_daemon, stop_daemon


@pytest.fixture
def daemon(station: Path) -> Iterator[subprocess.Popen[str]]:
    """The daemon of the config file the module's ``station`` fixture prepares (a module
    that runs one overrides ``station``: the root one is an in-process Station)."""
    proc = start_daemon(station)
    yield proc
    stop_daemon(proc)
