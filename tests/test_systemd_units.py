"""The unit files in systemd/ verify with systemd's own checker, and agree with each other.

``systemd-analyze verify`` loads a unit as systemd would and checks, among other
things, that its ``ExecStart`` binary exists and is executable. The units name the
installed path ``/opt/forecourt/.venv/bin/forecourt`` (docs/install.md), which does
not exist on a test machine, so each unit is copied to a temporary folder with that
path rewritten to this checkout's ``forecourt`` (the same console script) and verified
there; nothing else of the unit changes. A template (``forecourt-flash@.service``) is
verified as an instance (``forecourt-flash@sdb1.service``), as udev starts it. A unit
verifies only with no message at all: systemd merely warns (exit 0) about an unknown
key or a value it cannot parse, and ignores that line.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import forecourt_exe

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "systemd").glob("*.service"))
INSTALLED = "/opt/forecourt/.venv/bin/forecourt"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
#: What the station unit does to confine the daemon; the office's units do the same.
HARDENING = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "UMask",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
             "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictSUIDSGID",
             "RestrictRealtime", "RestrictNamespaces", "LockPersonality",
             "SystemCallArchitectures", "RestrictAddressFamilies")

needs_analyze = pytest.mark.skipif(not Path(ANALYZE).exists(),
                                   reason="systemd-analyze is not installed")


def verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    name = unit.name.replace("@.service", "@sdb1.service")
    copy = tmp_path / name
    copy.write_text(unit.read_text().replace(INSTALLED, forecourt_exe()))
    return subprocess.run([ANALYZE, "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, check=False)


def service(unit: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return dict(parser["Service"])


def test_every_unit_is_here() -> None:
    assert [u.name for u in UNITS] == ["forecourt-flash@.service",
                                       "forecourt-office-web.service",
                                       "forecourt-office.service",
                                       "forecourt-office@.service", "forecourt.service"]


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    assert INSTALLED in unit.read_text()
    result = verify(unit, tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_analyze
def test_verify_catches_what_systemd_would_ignore(tmp_path: Path) -> None:
    """The check above could fail: a mistyped key or value is reported (and a missing
    binary fails outright)."""
    unit = tmp_path / "systemd" / "forecourt.service"
    unit.parent.mkdir()
    text = (ROOT / "systemd" / "forecourt.service").read_text()
    unit.write_text(text.replace("WatchdogSec=60s", "WatchdogSecs=60s"))
    result = verify(unit, tmp_path)
    assert "Unknown key 'WatchdogSecs'" in result.stderr
    unit.write_text(text.replace(INSTALLED, "/nonexistent/forecourt"))
    assert verify(unit, tmp_path).returncode != 0


def test_station_unit_is_watched_and_the_office_units_as_hardened() -> None:
    station = service(ROOT / "systemd" / "forecourt.service")
    assert (station["Type"], station["NotifyAccess"], station["WatchdogSec"]) == (
        "notify", "main", "60s")
    assert station["ExecStart"] == f"{INSTALLED} run"
    for name, command in (("forecourt-office.service", "office serve"),
                          ("forecourt-office@.service", "office serve --worker %i"),
                          ("forecourt-office-web.service", "office web")):
        office = service(ROOT / "systemd" / name)
        assert office["ExecStart"] == f"{INSTALLED} {command}"
        assert (office["Type"], office["NotifyAccess"]) == ("notify", "main")
        assert office["User"] == office["Group"] == "forecourt-office"
        for key in HARDENING:
            assert key in station, key
            assert key in office, (name, key)
        assert office["StateDirectory"] == "forecourt-office"
        assert office["ReadWritePaths"] == "/var/lib/forecourt-office"
    # The workers' template is the office unit with a worker name, and excludes it.
    single = service(ROOT / "systemd" / "forecourt-office.service")
    worker = service(ROOT / "systemd" / "forecourt-office@.service")
    assert {k: v for k, v in worker.items() if k != "ExecStart"} == {
        k: v for k, v in single.items() if k != "ExecStart"}
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "systemd" / "forecourt-office@.service").read_text())
    assert unit["Unit"]["Conflicts"] == "forecourt-office.service"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemd-tmpfiles") is None,
                    reason="systemd-tmpfiles must run as root to give the directories "
                           "their owners")
def test_tmpfiles_create_the_directories_with_their_owners(tmp_path: Path) -> None:
    """Applied to an empty root with the two users, as on a fresh box."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\n"
        "forecourt:x:990:990::/var/lib/forecourt:/usr/sbin/nologin\n"
        "forecourt-office:x:991:991::/var/lib/forecourt-office:/usr/sbin/nologin\n")
    (root / "etc" / "group").write_text("root:x:0:\nforecourt:x:990:\nforecourt-office:x:991:\n")
    confs = sorted(str(p) for p in (ROOT / "systemd").glob("*.tmpfiles.conf"))
    assert len(confs) == 2
    result = subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}", *confs],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    made = {str(p.relative_to(root)): (p.stat().st_mode & 0o777, p.stat().st_uid)
            for p in (root / "var").rglob("*") if "forecourt" in str(p)}
    assert made == {"var/lib/forecourt": (0o750, 990), "var/lib/forecourt/reports": (0o750, 990),
                    "var/lib/forecourt-office": (0o750, 991),
                    "var/lib/forecourt-office/reports": (0o750, 991),
                    "var/cache/forecourt-office": (0o750, 991)}
