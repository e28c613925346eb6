"""A station's broker entries as text: mosquitto's own ``$7$`` password lines, ACL blocks
limited to the station's topics, re-issues that replace and never duplicate."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from cloud_sync.broker_entries import (
    BrokerEntriesError,
    install,
    mosquitto_password_line,
    office_acl,
    station_acl,
    station_entries,
)

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def test_the_password_line_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    """mosquitto_passwd's own line, made again here from its salt, is the same line."""
    path = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(path), "station-S-001", "s3cret"],
                   check=True, capture_output=True)
    theirs = path.read_text().strip()
    user, _, seven, iterations, salt, _digest = theirs.replace(":", "$", 1).split("$")
    assert (user, seven) == ("station-S-001", "7")
    ours = mosquitto_password_line("station-S-001", "s3cret", salt=base64.b64decode(salt),
                                   iterations=int(iterations))
    assert ours == theirs
    assert mosquitto_password_line("station-S-001", "other", salt=base64.b64decode(salt)) \
        != theirs
    with pytest.raises(ValueError, match="':'"):
        mosquitto_password_line("a:b", "x")


def test_a_station_s_acl_names_only_its_own_topics() -> None:
    acl = station_acl("fc/v1", "S-001")
    assert acl[1] == "user station-S-001"
    topics = [line.split()[2] for line in acl if line.startswith("topic ")]
    assert all(t.startswith("fc/v1/station/S-001/") or t == "fc/v1/network/cards"
               for t in topics)
    assert not any("+" in t or "#" in t for t in topics)
    writes = {line.split()[2].rsplit("/", 1)[1] for line in acl if line.startswith("topic write")}
    assert writes == {"sales", "status", "sync"}
    office = office_acl("fc/v1", "office")
    assert "topic read fc/v1/station/+/sales" in office
    assert "topic write fc/v1/network/cards" in office


def test_a_reissue_replaces_the_station_s_entries_and_keeps_the_rest(tmp_path: Path) -> None:
    pw, acl = tmp_path / "passwd", tmp_path / "acl"
    pw.write_text("office:$7$101$x$y\n")
    acl.write_text("# the office\nuser office\ntopic read fc/v1/station/+/sales\n\n"
                   "pattern read fc/v1/%u/x\n")
    pw.chmod(0o600)
    for _ in range(3):
        entries = station_entries("fc/v1", "S-001")
        install(pw, "password", password_line=entries.password_line)
        install(acl, "acl", acl=entries.acl)
        install(acl, "acl", acl=station_acl("fc/v1", "S-002"))
    lines = pw.read_text().splitlines()
    assert lines == ["office:$7$101$x$y", entries.password_line]
    assert pw.stat().st_mode & 0o777 == 0o600
    text = acl.read_text()
    assert text.count("user station-S-001") == 1 and text.count("user station-S-002") == 1
    assert text.count("topic write fc/v1/station/S-001/sales") == 1
    assert text.startswith("# the office\nuser office\ntopic read fc/v1/station/+/sales\n")
    assert "pattern read fc/v1/%u/x" in text          # another rule, kept
    assert entries.password not in pw.read_text() + text


def test_an_unwritable_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(BrokerEntriesError, match=r"^the broker password file .* cannot be "):
        install(tmp_path / "no-such-dir" / "passwd", "password", password_line="u:x")
