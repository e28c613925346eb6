"""The scheduled day report: the daemon's day-report job writes text, JSON and CSV.

The job runs as the daemon's scheduler runs it (``run_due`` at a driven clock: the
closing time has passed); core.jobs' own tests show the real scheduler firing jobs.
The configuration of ``[reports]`` is checked like every other section.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import load_config_file
from core.errors import ConfigError
from core.timefmt import iso, utc_now
from edge.jobs import StationJobs
from edge.lifecycle import Station
from offline_db.shifts import PumpTotals, Readings
from offline_db.store import StationStore

CARD = "7800001234567893"


@pytest.fixture
def reports_config(config_file: Path) -> Path:
    text = config_file.read_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
    text = text.replace("day_report = false", "day_report = true")
    text = text.replace('formats = ["text", "json"]', 'formats = ["text", "json", "csv"]')
    config_file.write_text(text.replace('folder = "var/reports"', 'folder = "out"'))
    return config_file


def test_the_day_report_job_writes_the_report(reports_config: Path, sample_store_file: Path
                                              ) -> None:
    config = load_config_file(reports_config)
    assert config.reports.folder == reports_config.parent / "out"
    yesterday = (utc_now().astimezone(config.station.tz) - timedelta(days=1)).date()
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12,
                    tzinfo=config.station.tz).astimezone(UTC)
    store, _ = StationStore.create(config.station.data_dir)
    try:
        st = Station(store, config, clock=lambda: noon)
        st.import_cards(sample_store_file, actor="test")
        auth = st.authorize(card=CARD, pump=4, product="AI92", volume_ml=10000, actor="test")
        st.complete(auth["sale_id"], volume_ml=10000, actor="test")
        lock = threading.Lock()
        read = Readings(iso(utc_now()), "live", None,
                        {4: PumpTotals("pump offline (not answering on line test)")})
        today = utc_now().astimezone(config.station.tz).date()
        closing = datetime(today.year, today.month, today.day, 0, 5, tzinfo=config.station.tz)
        station_jobs = StationJobs(config, store.conn, lock, read_totals=lambda: read,
                                   clock=lambda: closing + timedelta(hours=1))
        station_jobs.jobs.marks.put("day-report", closing - timedelta(hours=1))
        assert station_jobs.jobs.run_due("day-report") == closing
        assert station_jobs.jobs.run_due("day-report") is None  # once
        reports = station_jobs.day_reports
        assert reports is not None
        causes = store.conn.execute("SELECT cause, actor FROM totalizer_snapshots").fetchall()
    finally:
        store.close()
    name = f"day-S-001-{yesterday.isoformat()}"
    folder = reports_config.parent / "out"
    assert sorted(p.name for p in reports.written) == [f"{name}.csv", f"{name}.json",
                                                    f"{name}.txt"]
    data = json.loads((folder / f"{name}.json").read_text())
    assert (data["report"], data["date"], data["complete"]) == ("day", yesterday.isoformat(),
                                                                 True)
    assert data["sales"]["total"] == {"count": 1, "volume_ml": 10000, "amount": 50900}
    assert data["totalizers"]["end"]["source"] == "day report"
    assert data["totalizers"]["pumps"][0]["unavailable"] == (
        "start: no totalizer reading was recorded before this period; "
        "end: pump offline (not answering on line test)")
    rows = list(csv.DictReader(io.StringIO((folder / f"{name}.csv").read_text())))
    assert [(r["name"], r["amount"]) for r in rows if r["section"] == "product"] == [
        ("AI92", "50900")]
    text = (folder / f"{name}.txt").read_text()
    assert f"DAY REPORT  {yesterday.isoformat()}" in text and "509.00 RUB" in text
    assert [tuple(c) for c in causes] == [("day_report", "scheduler")]
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.parametrize(("body", "message"), [
    ('closing_time = "24:00"', "[reports] closing_time must be a time of day HH:MM"),
    ('closing_time = "7:30"', "[reports] closing_time must be a time of day HH:MM"),
    ('day = "yesterday"', "[reports] day must be previous or current"),
    ('formats = ["pdf"]', "[reports] formats must list one or more of text, json, csv"),
    ('formats = []', "[reports] formats must list one or more"),
    ("day_report = 1", "[reports] day_report must be true or false"),
    ('when = "00:00"', "unknown key [reports] when"),
])
def test_reports_config_errors_are_one_sentence(tmp_path: Path, body: str, message: str
                                                ) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[reports]\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert message in str(err.value) and str(path) in str(err.value)
