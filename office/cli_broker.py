"""A station's broker account: ``forecourt office station add`` prints it (or writes it
with ``--broker-password-file`` / ``--broker-acl-file``), ``forecourt office station
broker-entries`` issues it again (a new password; a lost one is never shown twice).

The entries themselves are made in ``cloud_sync.broker_entries``; this module prints,
writes and audits them. The password is printed once and never stored or audited.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from cloud_sync.broker_entries import install, station_entries, tls_subject
from core.clikit import actor, cfg
from core.config import Config
from core.inputs import check_station_id
from office.access import audit
from office.access.audit import cli_actor
from office.ledger.stations import enrolled_key
from office.store import open_office

log = structlog.get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def broker_options(command: F) -> F:
    """``--broker-password-file`` and ``--broker-acl-file`` on a command."""
    command = click.option(
        "--broker-acl-file", "acl_file", type=click.Path(dir_okay=False, path_type=Path),
        help="Write the station's ACL block into this mosquitto acl_file (in place of "
             "its earlier one).")(command)
    return click.option(
        "--broker-password-file", "password_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the station's line into this mosquitto password_file (in place of "
             "its earlier one).")(command)


def wanted(config: Config, password_file: Path | None, acl_file: Path | None) -> bool:
    """Broker entries are made when the office uses MQTT or a file to write is named."""
    return config.mqtt.enabled or password_file is not None or acl_file is not None


def issue(config: Config, station_id: str, password_file: Path | None,
          acl_file: Path | None) -> None:
    """Make the station's broker entries, write the files asked for, audit (without the
    password), then print the password once and whatever was not written."""
    entries = station_entries(config.mqtt.prefix, station_id)
    if password_file is not None:
        install(password_file, "password", password_line=entries.password_line)
    if acl_file is not None:
        install(acl_file, "acl", acl=entries.acl)
    subject = tls_subject(station_id) if config.mqtt.tls else None
    conn = open_office(config)
    try:
        with conn.atomic():
            audit.record(actor=cli_actor(actor()), via="cli", action="station.broker_entries",
                         object_kind="station", object_id=station_id,
                         new={"username": entries.username, "acl": entries.acl,
                              "password_file": str(password_file) if password_file else None,
                              "acl_file": str(acl_file) if acl_file else None,
                              "tls_subject": subject},
                         detail="a new broker password (not kept)")
    finally:
        conn.close()
    log.info("office.broker_entries", station_id=station_id, username=entries.username,
             password_file=str(password_file or ""), acl_file=str(acl_file or ""),
             tls=subject is not None)
    echo = click.echo
    echo(f"broker account of station {station_id} (mosquitto; docs/mqtt.md):")
    echo(f"  user name: {entries.username}")
    echo(f"  password (shown this once): {entries.password}")
    echo(f"  the station's [mqtt]: username = \"{entries.username}\", password_file = a "
         "file (mode 0600) holding that password")
    if password_file is not None:
        echo(f"  written to the password file {password_file}")
    else:
        echo("  password file line:")
        echo(f"    {entries.password_line}")
    if acl_file is not None:
        echo(f"  written to the ACL file {acl_file}")
    else:
        echo("  ACL lines:")
        for line in entries.acl:
            echo(f"    {line}")
    if subject is not None:
        echo(f"  TLS client certificate: subject {subject}, signed by a CA the broker's "
             "cafile trusts (mosquitto: require_certificate true, use_identity_as_username "
             "true); on the station [mqtt] tls = true, cert_file and key_file; make its "
             "key and request there with:")
        echo(f"    openssl req -new -newkey rsa:2048 -nodes -subj \"{subject}\" "
             f"-keyout {entries.username}.key -out {entries.username}.csr")
    echo("  then make mosquitto reload its files (kill -HUP its pid)")


def register(station_group: click.Group) -> None:
    """Mount ``broker-entries`` on ``forecourt office station``."""

    @station_group.command("broker-entries")
    @click.argument("station_id")
    @broker_options
    @click.pass_context
    def office_station_broker_entries(ctx: click.Context, station_id: str,
                                      password_file: Path | None,
                                      acl_file: Path | None) -> None:
        """Issue STATION_ID's broker account again: a new password, its ACL block."""
        check_station_id(station_id, "office.station.broker_entries")
        conn = open_office(cfg(ctx))
        try:
            known = enrolled_key(conn, station_id) is not None
        finally:
            conn.close()
        if not known:
            raise click.ClickException(f"station {station_id} is not enrolled: 'forecourt "
                                       "office station add' it first")
        issue(cfg(ctx), station_id, password_file, acl_file)
