"""Card reads become authorizations: a QR scanner on a real pty bound to a pump.

The daemon is a real process with a ``qr-serial`` reader on the slave side of a pty;
the test plays the scanner on the master side. Tokens come from the real
``forecourt office cards token`` command.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync import tokens
from core.timefmt import utc_now
from drivers.ptyline import PtyLine
from tests.support import fc, fc_json, initialize, start_daemon, stop_daemon

CARD = "7800001234567897"  # the sample's digital card


@pytest.fixture
def scanner(tmp_path: Path) -> Iterator[PtyLine]:
    line = PtyLine(tmp_path / "qr.tty")
    yield line
    line.close()


@pytest.fixture
def station(config_file: Path, sample_store_file: Path, scanner: PtyLine) -> Path:
    fc(config_file, "office", "init")
    fc(config_file, "office", "cards", "import", str(sample_store_file))  # tokens need the card
    office_key = fc(config_file, "office", "keys", "show").stdout.strip()
    text = config_file.read_text().replace('office_public_key = ""',
                                           f'office_public_key = "{office_key}"')
    text += f"""
[[readers]]
id = "pump3-qr"
driver = "qr-serial"
device = "{scanner.link}"
pump = 3
debounce_ms = 0

[[readers]]
id = "desk-qr"
driver = "qr-serial"
device = "{config_file.parent / 'absent.tty'}"
pump = 0
"""
    config_file.write_text(text)
    return initialize(config_file, sample_store_file)


@pytest.fixture
def daemon(station: Path) -> Iterator[subprocess.Popen[str]]:
    proc = start_daemon(station)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the reader thread opens the pty
        rows = {r["reader"]: r for r in fc_json(station, "readers", "list")}
        if rows["pump3-qr"]["state"] == "ready":
            break
        time.sleep(0.1)
    yield proc
    stop_daemon(proc)


def decisions(config: Path, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = fc_json(config, "sale", "list")
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} decisions, got {rows}")


def scan(scanner: PtyLine, text: str) -> None:
    scanner.write(text.encode() + b"\r\n")


def test_qr_token_authorizes_the_bound_pump(station: Path, scanner: PtyLine,
                                            daemon: subprocess.Popen[str]) -> None:
    token = fc(station, "office", "cards", "token", CARD, "--valid", "10m").stdout.strip()
    scan(scanner, token)
    (decision,) = decisions(station, 1)
    assert (decision["card_id"], decision["pump"], decision["state"]) == (CARD, 3, "open")
    # The same token again is a replay.
    scan(scanner, token)
    rows = decisions(station, 2)
    assert (rows[1]["state"], rows[1]["reason"]) == ("denied", "token_replayed")


def test_forged_expired_and_garbage_tokens_are_refused(station: Path, scanner: PtyLine,
                                                       daemon: subprocess.Popen[str]) -> None:
    forged = tokens.issue(Ed25519PrivateKey.generate(), CARD, utc_now() + timedelta(minutes=5))
    scan(scanner, forged)
    from core.keys import OFFICE_KEY, load_private_key

    office = load_private_key(station.parent / "var" / "office", OFFICE_KEY)
    expired = tokens.issue(office, CARD, utc_now() - timedelta(seconds=1))
    scan(scanner, expired)
    scan(scanner, "hello, I am not a token")
    rows = decisions(station, 3)
    assert [(r["state"], r["reason"]) for r in rows] == [
        ("denied", "token_invalid"), ("denied", "token_expired"), ("denied", "token_invalid")]
    assert daemon.poll() is None


def test_readers_list_and_watch(station: Path, scanner: PtyLine,
                                daemon: subprocess.Popen[str]) -> None:
    rows = {r["reader"]: r for r in fc_json(station, "readers", "list")}
    assert rows["pump3-qr"]["state"] == "ready" and rows["pump3-qr"]["pump"] == 3
    assert rows["desk-qr"]["state"] == "failed" and rows["desk-qr"]["error"]
    watch = subprocess.Popen([*fc_args(station), "readers", "watch", "--count", "1",
                              "--json"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    token = fc(station, "office", "cards", "token", CARD).stdout.strip()
    scan(scanner, token)
    out, _ = watch.communicate(timeout=20)
    event = json.loads(out.splitlines()[0])
    assert (event["reader"], event["card"], event["result"]) == ("pump3-qr", CARD, "approved")


def test_decode_qr_from_the_cli(station: Path) -> None:
    token = fc(station, "office", "cards", "token", CARD, "--valid", "1h").stdout.strip()
    data = json.loads(fc(station, "readers", "decode", "--kind", "qr", token, "--json").stdout)
    assert data["card_id"] == CARD
    bad = fc(station, "readers", "decode", "--kind", "qr", token[:-4] + "AAAA", check=False)
    assert bad.returncode == 1 and "token_invalid" in bad.stderr


def fc_args(config: Path) -> list[str]:
    from tests.conftest import forecourt_exe

    return [forecourt_exe(), "--config", str(config)]


@pytest.fixture
def swipe_station(config_file: Path, sample_store_file: Path, scanner: PtyLine) -> Path:
    text = config_file.read_text() + f"""
[[readers]]
id = "pump4-swipe"
driver = "magstripe-serial"
device = "{scanner.link}"
pump = 4
debounce_ms = 0
"""
    config_file.write_text(text)
    return initialize(config_file, sample_store_file)


def test_swipe_authorizes_and_bad_swipe_is_journaled(swipe_station: Path,
                                                     scanner: PtyLine) -> None:
    proc = start_daemon(swipe_station)
    try:
        deadline = time.monotonic() + 20
        while fc_json(swipe_station, "readers", "list")[0]["state"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        scanner.write(b";7800001234567890=28121200000000000?\r\n")
        (decision,) = decisions(swipe_station, 1)
        assert (decision["card_id"], decision["pump"], decision["state"]) == (
            "7800001234567890", 4, "open")
        time.sleep(0.3)
        scanner.write(b";78000012345=2812?\r\n")  # a partial, malformed swipe
        rows = decisions(swipe_station, 2)
        assert (rows[1]["state"], rows[1]["reason"]) == ("denied", "swipe_malformed")
        # the journal records the PAN's last four digits, never the track data
        assert rows[1]["card_id"] == "****2345"
        time.sleep(0.3)
        scanner.write(b"%B7800001234567890^DOE/JOHN^2812120999?\r\n;7800001234567891=2812"
                      b"120999?\r\n")  # tracks that disagree, on two lines
        rows = decisions(swipe_station, 3)
        assert (rows[2]["state"], rows[2]["reason"], rows[2]["card_id"]) == (
            "denied", "swipe_malformed", "****7890")
        assert proc.poll() is None
    finally:
        stop_daemon(proc)


def test_swipe_without_expiry_is_decided_by_the_card_store(swipe_station: Path,
                                                           scanner: PtyLine) -> None:
    """Issue 10 #13: a track may leave its expiry absent (``==``) or say another one; it
    reads either way, and the card store's ``expires`` decides: the store's expired card
    is denied ``card_expired`` whatever its track says, a valid one is approved."""
    proc = start_daemon(swipe_station)
    try:
        deadline = time.monotonic() + 20
        while fc_json(swipe_station, "readers", "list")[0]["state"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        scanner.write(b";7800001234567896==120?\r\n")  # the store: expired 2024-12-31
        (first,) = decisions(swipe_station, 1)
        assert (first["card_id"], first["state"], first["reason"]) == (
            "7800001234567896", "denied", "card_expired")
        time.sleep(0.3)
        scanner.write(b";7800001234567896=9912120?\r\n")  # the track says 2099
        second = decisions(swipe_station, 2)[1]
        assert (second["card_id"], second["state"], second["reason"]) == (
            "7800001234567896", "denied", "card_expired")
        time.sleep(0.3)
        scanner.write(b";7800001234567890===?\r\n")  # no expiry, no service code
        third = decisions(swipe_station, 3)[2]
        assert (third["card_id"], third["pump"], third["state"]) == (
            "7800001234567890", 4, "open")
        assert proc.poll() is None
    finally:
        stop_daemon(proc)


def test_decode_magstripe_from_the_cli(config_file: Path) -> None:
    """Issue 10 #13: ``readers decode --kind magstripe`` shows the country code of a 59
    PAN and an absent expiry or service code as ``-`` (``null`` in JSON); a PAN too
    short is one sentence with the reason code, exit 1."""
    text = ";593456789012345=321==77?"
    shown = fc(config_file, "readers", "decode", "--kind", "magstripe", text).stdout
    fields = dict(line.split(maxsplit=1) for line in shown.splitlines())
    assert (fields["country_code"], fields["expiry"], fields["service_code"],
            fields["discretionary"], fields["tracks"]) == ("321", "-", "-", "77", "2")
    data = json.loads(fc(config_file, "readers", "decode", "--kind", "magstripe", text,
                         "--json").stdout)
    assert (data["country_code"], data["expiry"], data["service_code"]) == ("321", None, None)
    bad = fc(config_file, "readers", "decode", "--kind", "magstripe", ";1=2512123?",
             check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "Error: swipe_malformed: the PAN on track 2 has 1 digit; a PAN has 12 to 19")


def test_reader_garbage_with_control_characters_is_recorded_escaped(
        station: Path, scanner: PtyLine, daemon: subprocess.Popen[str]) -> None:
    """Issue 10 #10: what a reader sends is never recorded or shown raw."""
    scan(scanner, "\x1b[2J\x07hello\x00")
    (row,) = decisions(station, 1)
    assert (row["state"], row["reason"]) == ("denied", "card_unreadable")
    assert not any(ord(c) < 32 or ord(c) == 127 for c in row["card_id"]), row["card_id"]
    assert "hello" in row["card_id"]
    assert daemon.poll() is None
