"""A station whose card-data request went out before the office listened asks again, on
the daemon's schedule, until the office answers: a real daemon (its real scheduler), a
real mosquitto, the office started late as a real ``forecourt office serve``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.config import load_config_file
from edge.control import call
from tests.conftest import forecourt_exe
from tests.network_fixtures import Broker
from tests.support import daemon_log, start_daemon, stop_daemon, wait_for


def sync_status(config: Path) -> dict[str, object]:
    loaded = load_config_file(config)
    status: dict[str, object] = call(loaded.station.socket_path, "sync.status", {},
                                     actor="test")
    return status


def test_an_unanswered_sync_request_is_sent_again_until_the_office_answers(
        network: Path, broker: Broker) -> None:
    text = network.read_text().replace('sync_retry_every = "5s"', 'sync_retry_every = "1s"')
    network.write_text(text)
    station = start_daemon(network)
    office: subprocess.Popen[str] | None = None
    try:
        # No office yet: the first request and the re-sends reach nobody.
        wait_for(lambda: sync_status(network).get("connected") is True, "the station online")
        wait_for(lambda: daemon_log(network).read_text().count("sync.request_resent") >= 2,
                 "two re-sent sync requests")
        assert sync_status(network)["sync_unanswered"] is True
        with (network.parent / "office.log").open("a") as log:
            office = subprocess.Popen([forecourt_exe(), "--config", str(network), "office",
                                       "serve"], stdout=log, stderr=subprocess.STDOUT,
                                      text=True)
        wait_for(lambda: sync_status(network)["sync_unanswered"] is False,
                 "the office's answer to a re-sent request")
        status = sync_status(network)
        assert isinstance(status["sync_requests"], int) and status["sync_requests"] >= 3
        assert "office.cards_sent" in (network.parent / "office.log").read_text()
        assert "sync.cards" in daemon_log(network).read_text()
    finally:
        if office is not None:
            stop_daemon(office)
        stop_daemon(station)
