"""Roles for real Unix users: the daemon and the CLI run by processes of other uids.

We run as root; each client is a ``forecourt`` subprocess started with another uid,
gid and supplementary groups (``setpriv --reuid --regid --groups``), and
with ``USER=root`` in its environment, so its own word (``cli:root``) lies about who it
is. The groups are numbers in ``[roles]``: no /etc/group entries needed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE, forecourt_exe
from tests.support import daemon_log, fc, initialize, start_daemon, stop_daemon

CARD = "7800001234567893"  # magstripe card, day money limit 300000
PIN_CARD = "7800001234567892"
SOCKET_GROUP, OPERATORS, TECHNICIANS, ADMINS, STATION_FILES = 47100, 47101, 47102, 47103, 47110
PRIMARY = 47299  # every test user's primary group: no role
OPERATOR, TECHNICIAN, ADMIN, ROLELESS, STRANGER = 47201, 47202, 47203, 47204, 47205

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run other uids")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder other users can reach (pytest's own temporary folders are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="roles-peers-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _config(folder: Path, socket_group: str) -> Path:
    text = (ROOT / "config.toml").read_text().replace('data_dir = "var/station"',
                                                      'data_dir = "station"')
    head, sep, _ = text.partition("\n[roles]\n")
    assert sep, "config.toml has a [roles] section"
    path = folder / "config.toml"
    path.write_text(f'{head}\n[roles]\noperator_groups = ["{OPERATORS}"]\n'
                    f'technician_groups = ["{TECHNICIANS}"]\nadmin_groups = ["{ADMINS}"]\n'
                    f'socket_group = "{socket_group}"\n')
    path.chmod(0o644)
    return path


def as_user(config: Path, uid: int, groups: list[int], *args: str
            ) -> subprocess.CompletedProcess[str]:
    """``forecourt ARGS`` as ``uid`` in ``groups`` (umask 002: shared station files).

    ``setpriv`` execs the command as that user with no capabilities left.
    """
    return subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(PRIMARY),
                           "--groups", ",".join(map(str, groups)), forecourt_exe(),
                           "--config", str(config), *args], umask=0o002,
                          env={**os.environ, "USER": "root", "LOGNAME": "root"},  # a lie
                          capture_output=True, text=True, timeout=60, check=False)


def _rows(config: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(config.parent / "station" / "station.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _refusals(config: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(r["actor"], json.loads(r["details"])) for r in _rows(
        config, "SELECT actor, details FROM audit_log WHERE action = 'access.refused' "
                "ORDER BY id")]


def _refused(result: subprocess.CompletedProcess[str], uid: int, op: str, needs: str,
             has: str) -> None:
    assert result.returncode == 1
    # The last line (flash import first warns that it could not save its status).
    assert result.stderr.splitlines()[-1] == (
        f"Error: the Unix user uid {uid} may not run {op}: it needs the {needs} role, and "
        f"this user {has} (docs/operations.md, Roles)")
    assert "Traceback" not in result.stderr


@pytest.fixture
def station(open_dir: Path) -> Iterator[Path]:
    """An initialized station with its daemon running as root, socket group 47100."""
    config = initialize(_config(open_dir, str(SOCKET_GROUP)), SAMPLE)
    proc = start_daemon(config)
    yield config
    stop_daemon(proc)


def test_each_user_may_do_what_its_role_allows_through_the_daemon(station: Path) -> None:
    sock = station.parent / "station" / "control.sock"
    mode = sock.stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_gid) == (0o660, SOCKET_GROUP)

    operator = [SOCKET_GROUP, OPERATORS]
    auth = as_user(station, OPERATOR, operator, "sale", "authorize", "--card", CARD,
                   "--pump", "2", "--product", "AI95", "--json")
    assert auth.returncode == 0, auth.stderr
    sale_id = json.loads(auth.stdout)["sale_id"]
    done = as_user(station, OPERATOR, operator, "sale", "complete", sale_id, "--volume",
                   "20000", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["seq"] == 1
    _refused(as_user(station, OPERATOR, operator, "cards", "import", str(SAMPLE)),
             OPERATOR, "cards.import", "technician", "has the operator role")
    _refused(as_user(station, OPERATOR, operator, "flash", "import",
                     str(station.parent / "reply.fcb")),
             OPERATOR, "flash.import", "technician", "has the operator role")
    _refused(as_user(station, OPERATOR, operator, "cards", "pin-reset", PIN_CARD),
             OPERATOR, "cards.pin_reset", "admin", "has the operator role")

    technician = [SOCKET_GROUP, TECHNICIANS]
    imported = as_user(station, TECHNICIAN, technician, "cards", "import", str(SAMPLE))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported card store version 17 (was 17)")
    _refused(as_user(station, TECHNICIAN, technician, "cards", "pin-reset", PIN_CARD),
             TECHNICIAN, "cards.pin_reset", "admin", "has the technician role")
    reset = as_user(station, ADMIN, [SOCKET_GROUP, ADMINS], "cards", "pin-reset", PIN_CARD)
    assert reset.returncode == 0, reset.stderr

    # In the socket's group but in no role group: connects, and may do nothing.
    _refused(as_user(station, ROLELESS, [SOCKET_GROUP], "sale", "authorize", "--card", CARD,
                     "--pump", "3"), ROLELESS, "sale.authorize", "operator",
             "has no role at this station")
    # In no group at all: the socket's mode keeps it out; one sentence, no traceback.
    stranger = as_user(station, STRANGER, [OPERATORS], "sale", "authorize", "--card", CARD,
                       "--pump", "3")
    assert stranger.returncode == 1
    assert stranger.stderr == (
        f"Error: you may not connect to the station daemon's control socket {sock}: only "
        "members of its group may ([roles] socket_group; docs/operations.md, Roles)\n")

    # Who did it: the kernel's uid, never the client's claim (its environment says root).
    assert [(r["actor"], r["reason"]) for r in _rows(
        station, "SELECT actor, reason FROM authorizations ORDER BY created_at")] == [
        (f"unix:{OPERATOR}", "approved")]
    changes = [(r["actor"], r["action"]) for r in _rows(
        station, "SELECT actor, action FROM audit_log WHERE action IN ('sale.complete', "
                 "'cards.import', 'cards.pin_reset') ORDER BY id")]
    assert changes[-3:] == [(f"unix:{OPERATOR}", "sale.complete"),
                            (f"unix:{TECHNICIAN}", "cards.import"),
                            (f"unix:{ADMIN}", "cards.pin_reset")]
    refusals = _refusals(station)
    assert [(a, d["op"], d["needs"], d["role"], d["uid"], d["via"]) for a, d in refusals] == [
        (f"unix:{OPERATOR}", "cards.import", "technician", "operator", OPERATOR, "cli:root"),
        (f"unix:{OPERATOR}", "flash.import", "technician", "operator", OPERATOR, "cli:root"),
        (f"unix:{OPERATOR}", "cards.pin_reset", "admin", "operator", OPERATOR, "cli:root"),
        (f"unix:{TECHNICIAN}", "cards.pin_reset", "admin", "technician", TECHNICIAN,
         "cli:root"),
        (f"unix:{ROLELESS}", "sale.authorize", "operator", "none", ROLELESS, "cli:root")]
    first = refusals[0][1]
    assert first["groups"] == sorted([PRIMARY, SOCKET_GROUP, OPERATORS])
    assert first["gid"] == PRIMARY and first["pid"] > 1
    log = daemon_log(station).read_text()
    assert log.count("access.refused") == 5


def test_without_its_group_the_socket_is_the_owners_alone(open_dir: Path) -> None:
    config = initialize(_config(open_dir, "no-such-forecourt-group"), SAMPLE)
    proc = start_daemon(config)
    try:
        sock = config.parent / "station" / "control.sock"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        lines = [ln for ln in daemon_log(config).read_text().splitlines()
                 if "control.socket_owner_only" in ln]
        assert len(lines) == 1 and "group no-such-forecourt-group does not exist" in lines[0]
        refused = as_user(config, OPERATOR, [OPERATORS], "sale", "authorize", "--card", CARD,
                          "--pump", "1")
        assert refused.returncode == 1 and "may not connect" in refused.stderr
        assert fc(config, "sale", "authorize", "--card", CARD, "--pump", "1").returncode == 0
    finally:
        stop_daemon(proc)


def test_without_the_daemon_the_lock_holder_has_the_same_roles(open_dir: Path) -> None:
    config = initialize(_config(open_dir, str(SOCKET_GROUP)), SAMPLE)
    # The station's files shared with the group STATION_FILES (what the lock holder
    # needs to write the store); the roles still come from [roles].
    data_dir = config.parent / "station"
    os.chown(data_dir, 0, STATION_FILES)
    data_dir.chmod(0o2775)
    for path in data_dir.iterdir():
        if path.name != "station_key.pem":
            os.chown(path, 0, STATION_FILES)
            path.chmod(0o664)

    operator = [STATION_FILES, OPERATORS]
    auth = as_user(config, OPERATOR, operator, "sale", "authorize", "--card", CARD, "--pump",
                   "1", "--product", "DT", "--json")
    assert auth.returncode == 0, auth.stderr
    assert json.loads(auth.stdout)["approved"] is True
    _refused(as_user(config, OPERATOR, operator, "cards", "import", str(SAMPLE)),
             OPERATOR, "cards.import", "technician", "has the operator role")
    _refused(as_user(config, ROLELESS, [STATION_FILES], "sale", "cancel",
                     json.loads(auth.stdout)["sale_id"]),
             ROLELESS, "sale.cancel", "operator", "has no role at this station")
    imported = as_user(config, TECHNICIAN, [STATION_FILES, TECHNICIANS], "cards", "import",
                       str(SAMPLE))
    assert imported.returncode == 0, imported.stderr

    assert [r["actor"] for r in _rows(config, "SELECT actor FROM authorizations")] == [
        f"unix:{OPERATOR}"]
    assert _rows(config, "SELECT actor FROM audit_log WHERE action = 'cards.import' "
                         "ORDER BY id")[-1]["actor"] == f"unix:{TECHNICIAN}"
    assert [(a, d["op"], d["via"], d["uid"]) for a, d in _refusals(config)] == [
        (f"unix:{OPERATOR}", "cards.import", "cli", OPERATOR),
        (f"unix:{ROLELESS}", "sale.cancel", "cli", ROLELESS)]
    assert _rows(config, "SELECT state FROM authorizations")[0]["state"] == "open"
