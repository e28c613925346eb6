"""``forecourt office station add`` / ``broker-entries``: the station's broker account,
proven on a real mosquitto that allows nobody else: the station connects with the
printed password, uses its own topics, and cannot touch another station's."""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli import main
from cloud_sync.broker_entries import mosquitto_password_line, office_acl
from cloud_sync.mqtt import MqttLink
from core.keys import public_text
from office.access.models import AuditEntry
from tests.network_fixtures import Broker, Inbox, make_pki, tls_lines

PREFIX = "forecourt/v1"
WAIT = 20.0


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, ["office", *args], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def add(station_id: str, *options: str, key: str = "") -> Result:
    key = key or public_text(Ed25519PrivateKey.generate())
    return run("station", "add", station_id, "--public-key", key, *options)


def password_of(result: Result) -> str:
    found = re.search(r"password \(shown this once\): (\S+)", result.output)
    assert found, result.output
    return found.group(1)


@pytest.fixture
def office(office_env: Path) -> Path:
    run("init")
    return office_env


@pytest.fixture
def links() -> Iterator[list[MqttLink]]:
    made: list[MqttLink] = []
    yield made
    for link in made:
        link.stop()


def link_as(broker: Broker, links: list[MqttLink], tmp_path: Path, user: str, password: str,
            subscriptions: list[tuple[str, int]], inbox: Inbox) -> MqttLink:
    secret = tmp_path / f"{user}.password"
    secret.write_text(password + "\n")
    link = MqttLink(config=broker.mqtt_config(username=user, password_file=str(secret)),
                    client_id=f"{user}-{len(links)}", subscriptions=subscriptions,
                    on_message=inbox)
    links.append(link)
    link.start()
    return link


SUBSCRIPTIONS = {"office": [(f"{PREFIX}/station/+/sales", 1)],
                 "station": [(f"{PREFIX}/station/S-001/receipt", 1),
                             (f"{PREFIX}/station/S-002/receipt", 1)]}


def own_topics_only(hq: MqttLink, office_in: Inbox, station: MqttLink, station_in: Inbox,
                    broker: Broker) -> None:
    """S-001 (``station``) and the office (``hq``) talk on S-001's topics; what either
    sends on S-002's never reaches the other."""
    assert hq.wait_connected(WAIT) and station.wait_connected(WAIT), broker.log_text()
    # The SUBSCRIBE goes out right after CONNACK: send until the first one lands.
    for _ in range(int(WAIT / 0.2)):
        assert hq.publish(f"{PREFIX}/station/S-001/receipt", b"r-warm")
        if station_in.has(b"r-warm", 0.2):
            break
    station_in.wait_for_payload(b"r-warm")
    assert station.publish(f"{PREFIX}/station/S-001/sales", b"mine")
    office_in.wait_for_payload(b"mine")
    # Another station's topics: the broker drops what the ACL forbids (in order: a
    # forbidden message would arrive before the next allowed one).
    station.publish(f"{PREFIX}/station/S-002/sales", b"as S-002")
    assert station.publish(f"{PREFIX}/station/S-001/sales", b"mine again")
    assert hq.publish(f"{PREFIX}/station/S-002/receipt", b"for S-002")
    assert hq.publish(f"{PREFIX}/station/S-001/receipt", b"for S-001")
    assert b"as S-002" not in [p for _t, p in office_in.wait_for_payload(b"mine again")]
    assert b"for S-002" not in [p for _t, p in station_in.wait_for_payload(b"for S-001")]


def test_without_mqtt_station_add_prints_no_broker_account(office: Path) -> None:
    out = add("S-001").output
    assert out == "station S-001 enrolled\n"
    assert not AuditEntry.objects.filter(action="station.broker_entries").exists()


def test_the_station_uses_its_own_topics_and_no_other_s(office: Path, tmp_path: Path,
                                                         links: list[MqttLink]) -> None:
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    # The office's own account, as docs/mqtt.md says to make it once.
    pw.write_text(mosquitto_password_line("office", "office-secret") + "\n")
    acl.write_text("\n".join(office_acl(PREFIX, "office")) + "\n")
    out = add("S-001", "--broker-password-file", str(pw), "--broker-acl-file", str(acl))
    assert f"written to the password file {pw}" in out.output
    password = password_of(out)
    add("S-002", "--broker-password-file", str(pw), "--broker-acl-file", str(acl))
    broker = Broker(tmp_path / "mosquitto", extra=[
        "allow_anonymous false", f"password_file {pw}", f"acl_file {acl}"])
    broker.start()
    try:
        office_in, station_in = Inbox(), Inbox()
        own_topics_only(
            link_as(broker, links, tmp_path, "office", "office-secret", SUBSCRIPTIONS["office"],
                    office_in), office_in,
            link_as(broker, links, tmp_path, "station-S-001", password,
                    SUBSCRIPTIONS["station"], station_in), station_in, broker)

        # A re-issue: a new password; the old one stops working once mosquitto reloads.
        again = run("station", "broker-entries", "S-001", "--broker-password-file", str(pw))
        assert "ACL lines:" in again.output          # the ACL was not written this time
        assert pw.read_text().count("station-S-001:") == 1
        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGHUP)
        old = link_as(broker, links, tmp_path, "station-S-001", password, [], Inbox())
        new = link_as(broker, links, tmp_path, "station-S-001", password_of(again), [],
                      Inbox())
        assert new.wait_connected(WAIT), broker.log_text()
        with station_in.cond:   # any condition will do: wait for the refused CONNACK
            assert station_in.cond.wait_for(lambda: old.counters.connect_failures >= 1, WAIT)
        assert not old.connected and old.counters.connects == 0
    finally:
        broker.kill()
    entries = AuditEntry.objects.filter(action="station.broker_entries").order_by("id")
    assert [e.object_id for e in entries] == ["S-001", "S-002", "S-001"]
    assert all(e.actor == getpass.getuser() and e.via == "cli" for e in entries)
    first = json.loads(entries[0].new or "")
    assert first["username"] == "station-S-001" and first["password_file"] == str(pw)
    assert "user station-S-001" in first["acl"]
    everything = " ".join(f"{e.old} {e.new} {e.detail}" for e in AuditEntry.objects.all())
    assert password not in everything and password_of(again) not in everything
    assert "$7$" not in everything


def test_with_mqtt_and_tls_the_account_is_printed_with_the_certificate(office: Path
                                                                      ) -> None:
    text = office.read_text()
    office.write_text(text.replace("enabled = false", "enabled = true", 1)
                      .replace("tls = false", "tls = true", 1))
    key = public_text(Ed25519PrivateKey.generate())
    out = add("S-7", key=key).output
    assert "station S-7 enrolled" in out
    assert re.search(r"^    station-S-7:\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$",
                     out, re.M), out
    assert f"    topic write {PREFIX}/station/S-7/sales" in out
    assert "TLS client certificate: subject /CN=station-S-7" in out
    assert '-subj "/CN=station-S-7"' in out
    # The same key again changes nothing and issues no new password.
    assert "already enrolled" in add("S-7", key=key).output
    assert AuditEntry.objects.filter(action="station.broker_entries").count() == 1


def test_the_tls_client_certificate_entry_on_a_real_mosquitto(office: Path, tmp_path: Path,
                                                              links: list[MqttLink]) -> None:
    """A certificate with the printed subject is the station's broker identity
    (``use_identity_as_username``): its own topics only, no password."""
    office.write_text(office.read_text().replace("enabled = false", "enabled = true", 1)
                      .replace("tls = false", "tls = true", 1))
    acl = tmp_path / "acl"
    acl.write_text("\n".join(office_acl(PREFIX, "office")) + "\n")
    out = add("S-001", "--broker-acl-file", str(acl)).output
    add("S-002", "--broker-acl-file", str(acl))
    subject = re.search(r"TLS client certificate: subject /CN=(\S+),", out)
    assert subject, out
    pki = make_pki(tmp_path / "pki", [subject.group(1), "office"])
    broker = Broker(tmp_path / "mosquitto", extra=[
        *tls_lines(pki), "use_identity_as_username true", f"acl_file {acl}"])
    broker.start()
    try:
        def link(name: str, subscriptions: list[tuple[str, int]], inbox: Inbox) -> MqttLink:
            config = broker.mqtt_config(tls=True, ca_file=str(pki / "ca.crt"),
                                        cert_file=str(pki / f"{name}.crt"),
                                        key_file=str(pki / f"{name}.key"))
            made = MqttLink(config=config, client_id=name, subscriptions=subscriptions,
                            on_message=inbox)
            links.append(made)
            made.start()
            return made

        office_in, station_in = Inbox(), Inbox()
        own_topics_only(link("office", SUBSCRIPTIONS["office"], office_in), office_in,
                        link(subject.group(1), SUBSCRIPTIONS["station"], station_in),
                        station_in, broker)
    finally:
        broker.kill()


def test_an_unknown_station_or_unwritable_file_is_one_sentence(office: Path,
                                                              tmp_path: Path) -> None:
    refused = run("station", "broker-entries", "S-404", ok=False)
    assert refused.output == ("Error: station S-404 is not enrolled: 'forecourt office "
                              "station add' it first\n")
    add("S-1")
    refused = run("station", "broker-entries", "S-1", "--broker-acl-file",
                  str(tmp_path / "missing" / "acl"), ok=False)
    assert refused.output.startswith("Error: the broker acl file ")
    assert refused.output.count("\n") == 1
    assert not AuditEntry.objects.filter(action="station.broker_entries").exists()
