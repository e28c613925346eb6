"""What the station's command modules share: the read-only store, and changes that go
through the running daemon or, without one, under the writer lock with the roles of
this process's Unix user (edge.roles)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from core.clikit import actor, cfg
from core.config import Config
from edge.control import DaemonNotRunning, call
from edge.identity import check_station_id
from edge.lifecycle import Station
from edge.operations import perform
from edge.roles import NotAllowed, Roles, process_caller, record_refusal
from offline_db.store import StationStore


@contextmanager
def reader(ctx: click.Context) -> Iterator[sqlite3.Connection]:
    store = StationStore.open_reader(cfg(ctx).station.data_dir)
    try:
        yield store.conn
    finally:
        store.close()


def change(ctx: click.Context, op: str, args: dict[str, Any]) -> Any:
    """Run a state-changing operation through the daemon, or locally if none runs."""
    config = cfg(ctx)
    try:
        return call(config.station.socket_path, op, args, actor=actor())
    except DaemonNotRunning:
        pass
    return locally(config, op, args, holder="forecourt cli")


def locally(config: Config, op: str, args: dict[str, Any], *, holder: str) -> Any:
    """Run ``op`` under the writer lock, as this process's Unix user and its role.

    The roles the daemon checks for its callers apply to the lock's holder too
    (edge.roles): a refusal is one sentence and an audit-log entry.
    """
    with StationStore.open_writer(config.station.data_dir, holder=holder) as store:
        check_station_id(store.conn, config.station.id)  # as the daemon checks at its start
        caller = process_caller()
        try:
            Roles.for_station(config.roles, config.station.data_dir).check(caller, op)
        except NotAllowed as exc:
            record_refusal(store.conn, exc, via="cli")
            raise
        return perform(Station(store, config), op, args, caller.actor)
