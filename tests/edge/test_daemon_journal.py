"""Issue 10 #7 at the daemon's start: a journal whose end does not match the recorded
head is reported in the daemon's log (``journal.tail_broken``), and the next sale never
reuses a seq the station already gave out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support import daemon_log, fc, fc_json, initialize, start_daemon, stop_daemon

CARD = "7800001234567893"


def test_daemon_start_reports_a_cut_tail(config_file: Path, sample_store_file: Path) -> None:
    initialize(config_file, sample_store_file)
    for volume in ("1000", "2000", "3000"):
        auth = fc_json(config_file, "sale", "authorize", "--card", CARD, "--pump", "2",
                       "--product", "AI95")
        fc(config_file, "sale", "complete", auth["sale_id"], "--volume", volume)
    conn = sqlite3.connect(config_file.parent / "station" / "station.db")
    conn.execute("PRAGMA foreign_keys = OFF")
    for table in ("outbox", "wallet_debits", "journal"):
        conn.execute(f"DELETE FROM {table} WHERE seq = 3")
    conn.commit()
    conn.close()
    proc = start_daemon(config_file)
    try:
        auth = fc_json(config_file, "sale", "authorize", "--card", CARD, "--pump", "2",
                       "--product", "AI95")
        done = fc_json(config_file, "sale", "complete", auth["sale_id"], "--volume", "1000")
    finally:
        stop_daemon(proc)
    log = daemon_log(config_file).read_text()
    assert "journal.tail_broken" in log and "tail_missing" in log
    assert done["seq"] == 4  # seq 3 was given out once: never again
    result = fc(config_file, "journal", "verify", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("journal broken at seq 3: sequence gap")
