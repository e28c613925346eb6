"""``forecourt office serve``: the head office's long-running process.

A ``Type=notify`` unit (systemd/forecourt-office.service): READY=1 once it serves,
STOPPING=1 when a signal stops it.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import structlog

from core import logs
from core.config import Config
from core.errors import ConfigError
from core.systemd import sd_notify
from office.jobs.schedule import OfficeJobs
from office.store import load_office_key, open_office
from office.sync.mqtt import OfficeSync
from office.sync.workers import worker_link

log = structlog.get_logger(__name__)


def serve(config: Config, worker: str | None = None) -> None:
    """Ingest station batches and send receipts until SIGTERM or SIGINT.

    ``worker``: this process's name among several (``--worker``; default ``[office]
    worker``), office.sync.workers.
    """
    logs.configure(config.logging.level, config.logging.format, sys.stdout)
    if not config.mqtt.enabled:
        raise ConfigError("[mqtt] enabled is false: the head office has nothing to serve")
    link = worker_link(config, worker)  # a worker SQLite cannot have: one sentence, here
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("office.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    key = load_office_key(config)
    conn = open_office(config)
    sync = OfficeSync(config, conn, key, worker=link)
    # Reports, monthly tiers, points expiry; an unknown report name stops the office here.
    jobs = OfficeJobs(config, conn, publish=sync.publish_usage)
    jobs.start()
    sync.start()
    log.info("office.ready", broker=f"{config.mqtt.host}:{config.mqtt.port}",
             prefix=config.mqtt.prefix, worker=link.name, client_id=link.client_id,
             shared=link.shared)
    sd_notify("READY=1")
    try:
        while not stop.wait(0.25):
            pass
        sd_notify("STOPPING=1")
    finally:
        sync.stop()
        jobs.stop()
        conn.close()
        log.info("office.stopped")
