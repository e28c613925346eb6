"""Which MQTT identity and subscriptions one ``forecourt office serve`` process takes.

One office process (``[office] workers = 1``, the default) is client
``forecourt-office`` and subscribes to every station's uplink topics itself, as before.
Several workers (``workers`` > 1, PostgreSQL only) share the traffic through MQTT 5
shared subscriptions ``$share/forecourt-office/{prefix}/station/+/sales`` (and
``status``, ``sync``): the broker hands each message to one of them. Each worker has
its own client id (``forecourt-office-NAME``) and its own persistent session, which
the broker keeps ``[office] worker_session_expiry`` after the worker vanished: the
messages routed to it meanwhile wait there for its restart, and after that the others
get its share (docs/office.md, Several workers).

What must happen once across workers is settled in the database, never in a
process's memory: a station's ingest (``office.db.lock_station``), card-master
versions (``office.db.lock_card_master``), a due office job (``office.db.job_lock``).
The subscriptions are built here and nowhere else, so a protocol without shared
subscriptions (MQTT 3.1.1) has one place to say "one worker".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cloud_sync import topics
from core.config import Config, MqttConfig, check_worker_name
from core.errors import ConfigError

#: The shared-subscription group of the office's workers.
SHARE_GROUP = "forecourt-office"
#: The one office process's client id (``workers = 1``), as before workers existed.
SINGLE_CLIENT_ID = "forecourt-office"
#: The MQTT protocols that have shared subscriptions.
SHARED_PROTOCOLS = ("5",)


@dataclass(frozen=True)
class WorkerLink:
    """One office process's MQTT identity: client id, subscriptions, session settings."""

    name: str
    client_id: str
    subscriptions: list[tuple[str, int]]
    mqtt: MqttConfig
    shared: bool


def uplink_subscriptions(prefix: str, *, share_group: str | None) -> list[tuple[str, int]]:
    """Every station's uplink topics (QoS 1), shared in ``share_group`` when given."""
    filters = [topics.every_station(prefix, leaf) for leaf in topics.UPLINK]
    if share_group is not None:
        filters = [topics.shared(share_group, f) for f in filters]
    return [(f, 1) for f in filters]


def worker_link(config: Config, worker: str | None = None, *,
                protocol: str | None = None) -> WorkerLink:
    """The link of office worker ``worker`` (default ``[office] worker``).

    ConfigError, one sentence, for what cannot work: several workers (or a worker named
    other than ``1``) on SQLite, a worker name with ``workers = 1``, several workers on
    a protocol without shared subscriptions.
    """
    office = config.office
    protocol = config.mqtt.protocol if protocol is None else protocol
    name = office.worker if worker is None else worker
    try:
        check_worker_name(name, "--worker")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not office.database.strip() and (office.workers > 1 or name != "1"):
        raise ConfigError("several office workers need PostgreSQL ([office] database): a "
                          "SQLite office store is one process's, run one office serve")
    if office.workers == 1:
        if name != "1":
            raise ConfigError(f"worker {name!r} with [office] workers = 1: set [office] "
                              "workers to how many office serve processes run")
        return WorkerLink(name=name, client_id=SINGLE_CLIENT_ID,
                          subscriptions=uplink_subscriptions(config.mqtt.prefix,
                                                             share_group=None),
                          mqtt=config.mqtt, shared=False)
    if protocol not in SHARED_PROTOCOLS:
        raise ConfigError(f"[office] workers = {office.workers} needs MQTT 5 shared "
                          f"subscriptions, which MQTT {protocol} has not: run one worker")
    return WorkerLink(
        name=name, client_id=f"{SINGLE_CLIENT_ID}-{name}",
        subscriptions=uplink_subscriptions(config.mqtt.prefix, share_group=SHARE_GROUP),
        mqtt=dataclasses.replace(config.mqtt,
                                 session_expiry_s=office.worker_session_expiry_s),
        shared=True)
