"""An office restored from an older backup gets back every sale it had receipted, from
the station's journal, without doubling (issue 16, point 6).

Real processes over a real broker: the station daemon, ``forecourt office serve`` on
SQLite or PostgreSQL, mosquitto. The backup is taken the way docs/scaling.md says
(SQLite's online backup; ``pg_dump``), and restored over the live database while the
office is stopped.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from core.config import OfficeConfig, load_config_file
from edge.cli.flash import _import_line
from office.ledger.queries import station_overview
from office.store import open_office
from tests.cloud_sync.flash_desk import Desk
from tests.cloud_sync.test_uplink import delivered, sell
from tests.conftest import forecourt_exe
from tests.network_fixtures import Broker, office_sales
from tests.support import daemon_log, fc, fc_json, start_daemon, stop_daemon, wait_for


def backup(office: OfficeConfig, to: Path) -> None:
    """Back the office's database up as docs/scaling.md says."""
    if office.database:
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={to}",
                        office.database], check=True)
        return
    src = sqlite3.connect(office.data_dir / "office.db")
    dst = sqlite3.connect(to)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def restore(office: OfficeConfig, backup_file: Path) -> None:
    """Restore the office's database over the live one (the office stopped)."""
    if office.database:
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner",
                        f"--dbname={office.database}", str(backup_file)], check=True)
        return
    db = office.data_dir / "office.db"
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    shutil.copyfile(backup_file, db)


def serve(config: Path) -> subprocess.Popen[str]:
    with (config.parent / "office.log").open("a") as log:
        return subprocess.Popen([forecourt_exe(), "--config", str(config), "office", "serve"],
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def test_a_restored_office_gets_back_what_it_had_receipted(
        network: Path, broker: Broker, office: subprocess.Popen[str], tmp_path: Path) -> None:
    station = start_daemon(network)
    restarted: subprocess.Popen[str] | None = None
    try:
        sell(network, 30)
        wait_for(lambda: delivered(network, 30), "the first 30 sales at the office")
        backup(load_config_file(network).office, tmp_path / "office.backup")
        sell(network, 40)
        wait_for(lambda: delivered(network, 70), "70 sales receipted")
        stop_daemon(office)
        restore(load_config_file(network).office, tmp_path / "office.backup")
        assert [r["seq"] for r in office_sales(network)] == list(range(1, 31))
        restarted = serve(network)
        sell(network, 1)  # its batch carries the station's status: receipted up to 70
        wait_for(lambda: delivered(network, 71), "every sale back at the office", timeout=90)
        rows = office_sales(network)
        assert [r["seq"] for r in rows] == list(range(1, 72))  # each once, none missing
        journal = {r["seq"]: r["hash"] for r in fc_json(network, "journal", "list")}
        assert all(journal[r["seq"]] == r["hash"] for r in rows)
        overview = fc_json(network, "office", "stations")[0]
        assert (overview["contiguous_seq"], overview["gaps"], overview["forks"]) == (71, [], [])
        assert fc(network, "journal", "verify").returncode == 0
        status = fc_json(network, "status")
        assert status["outbox_depth"] == 0
        assert "sync.resend_queued" in daemon_log(network).read_text()
    finally:
        stop_daemon(station)
        if restarted is not None:
            stop_daemon(restarted)


def test_a_restored_office_gets_them_back_by_flash_drive_too(desk: Desk, tmp_path: Path
                                                             ) -> None:
    """The same by flash drive: the reply of the restored office asks for the lost sales,
    the station queues them again, the next export brings them."""
    def round_trip() -> dict[str, Any]:
        desk.office_import(desk.export())
        return desk.station_import(desk.office_export())

    desk.sell(10)
    round_trip()
    office = desk.config.office
    backup(office, tmp_path / "office.backup")
    desk.sell(10)
    assert round_trip()["last_receipt_seq"] == 20
    desk.office.close()
    restore(office, tmp_path / "office.backup")
    desk.office = open_office(desk.config)
    assert [r["seq"] for r in desk.office_sales()] == list(range(1, 11))
    desk.sell(1)
    desk.office_import(desk.export())
    (overview,) = station_overview(desk.office)
    assert overview["lost_receipted"] == [11, 20]  # what `office stations` shows
    asked = round_trip()  # sale 21, and the office's request for 11..20
    assert (asked["resent"], asked["last_receipt_seq"]) == (10, 10)
    assert "the office lost 10 receipted sales" in _import_line(asked)
    final = round_trip()
    assert (final["resent"], final["last_receipt_seq"]) == (0, 21)
    assert station_overview(desk.office)[0]["lost_receipted"] is None
    assert [r["seq"] for r in desk.office_sales()] == list(range(1, 22))  # each once
    journal = {r["seq"]: r["hash"] for r in desk.journal()}
    assert all(journal[r["seq"]] == r["hash"] for r in desk.office_sales())
    assert desk.station.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
