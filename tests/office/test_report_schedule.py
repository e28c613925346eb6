"""Scheduled office reports: the daily and monthly batches written whole to the folder,
recorded, not written twice, and mailed to a real SMTP server (aiosmtpd); the office's
reports job writes them once for its time; a report name that does not exist stops the
office at start with one sentence."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from core.config import load_config_file
from core.errors import ConfigError
from office.jobs.schedule import OfficeJobs
from tests.office.report_fixture import build, run


class Inbox:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Any:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def configure(config_file: Path, folder: Path, **keys: str) -> None:
    text = config_file.read_text()
    head, sep, tail = text.partition("[office_reports]")
    section, rest_sep, rest = tail.partition("\n[mqtt]")
    for key, value in {"folder": f'"{folder}"', **keys}.items():
        lines = [line for line in section.split("\n") if line.startswith(f"{key} = ")]
        assert len(lines) == 1, key
        section = section.replace(lines[0], f"{key} = {value}")
    config_file.write_text(head + sep + section + rest_sep + rest)


def test_the_monthly_batch_is_written_recorded_and_mailed_once(
        office_env: Path, tmp_path: Path, smtp: Any) -> None:
    conn = build(office_env)
    controller, inbox = smtp
    folder = tmp_path / "reports"
    configure(office_env, folder, monthly='["consumption", "top-customers", "birthdays"]',
              mail_to='["fleet@example.com"]', mail_from='"office@example.com"',
              smtp_host='"127.0.0.1"', smtp_port=str(controller.port),
              smtp_starttls="false")
    result = run("office", "report-schedule", "run", "monthly", "--date", "2026-12-01")
    assert "mailed to fleet@example.com" in result.output
    monthly = folder / "monthly"
    assert sorted(p.name for p in monthly.iterdir()) == [
        "birthdays-2026-11.csv", "birthdays-2026-11.xlsx",
        "consumption-2026-11.csv", "consumption-2026-11.png", "consumption-2026-11.xlsx",
        "top-customers-2026-11.csv", "top-customers-2026-11.png",
        "top-customers-2026-11.xlsx"]
    sheet = load_workbook(monthly / "consumption-2026-11.xlsx")["Report"]
    volumes = [row[2].value for row in sheet.iter_rows(min_row=5)]
    assert len(volumes) == 30 and sum(volumes) == 160  # litres in November, Moscow days
    assert (monthly / "consumption-2026-11.png").read_bytes()[:4] == b"\x89PNG"
    (rcpt, message), = inbox.messages
    assert rcpt == ["fleet@example.com"]
    assert message["Subject"] == "forecourt monthly reports 2026-11"
    names = sorted(part.get_filename() for part in message.walk() if part.get_filename())
    assert names == ["birthdays-2026-11.xlsx", "consumption-2026-11.xlsx",
                     "top-customers-2026-11.xlsx"]
    runs = conn.execute("SELECT name, via, format FROM report_runs ORDER BY id").fetchall()
    assert [tuple(r) for r in runs] == [("consumption", "schedule", "xlsx"),
                                        ("top-customers", "schedule", "xlsx"),
                                        ("birthdays", "schedule", "xlsx")]
    again = run("office", "report-schedule", "run", "monthly", "--date", "2026-12-01")
    assert "consumption: already written for 2026-11" in again.output
    assert len(inbox.messages) == 1  # nothing new, nothing mailed
    assert conn.one("SELECT COUNT(*) FROM report_runs")[0] == 3


def test_a_mail_server_that_is_down_fails_the_mail_not_the_files(
        office_env: Path, tmp_path: Path) -> None:
    build(office_env)
    folder = tmp_path / "reports"
    configure(office_env, folder, daily='["stations"]', mail_to='["a@example.com"]',
              mail_from='"o@example.com"', smtp_host='"127.0.0.1"',
              smtp_port=str(free_port()), smtp_starttls="false")
    result = run("office", "report-schedule", "run", "daily", "--date", "2026-11-03", ok=False)
    assert result.exit_code == 1 and "mail: FAILED" in result.output
    sheet = load_workbook(folder / "daily" / "stations-2026-11-02.xlsx")["Report"]
    assert [(r[0].value, r[1].value, r[2].value) for r in sheet.iter_rows(min_row=5)] == [
        ("S-001", "AI95", 1), ("S-002", "DT", 1)]


def test_the_reports_job_writes_them_and_an_unknown_report_stops_the_office(
        office_env: Path, tmp_path: Path) -> None:
    conn = build(office_env)
    folder = tmp_path / "reports"
    configure(office_env, folder, daily='["exceptions"]')
    config = load_config_file(office_env)
    tz = config.office_reports.tz
    run_at = datetime(2026, 11, 3, 6, 0, tzinfo=tz)
    jobs = OfficeJobs(config, conn, clock=lambda: run_at + timedelta(minutes=5))
    jobs.jobs.marks.put("reports", run_at - timedelta(days=1))
    assert jobs.jobs.run_due("reports") == run_at
    assert (folder / "daily" / "exceptions-2026-11-02.xlsx").exists()
    assert jobs.jobs.run_due("reports") is None  # once
    configure(office_env, folder, daily='["exceptions", "weather"]')
    with pytest.raises(ConfigError, match="names no report weather"):
        OfficeJobs(load_config_file(office_env), conn)
