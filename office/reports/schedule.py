"""Scheduled office reports: daily and monthly, written to a folder and mailed.

``forecourt office serve`` runs them as one of its scheduled jobs (office.jobs) at
``[office_reports] run_at`` (local time in the report time zone): every day the
``daily`` reports of the day before; on the 1st also the ``monthly`` reports of the
month before. Each report is
written as XLSX (with its native chart) and CSV, plus a PNG of its chart, under
``folder/daily/`` or ``folder/monthly/`` (written whole: a temporary file renamed), and
recorded in ``report_runs``. A batch whose files exist is not written again, so a
catch-up at start (a run missed while the office was down, core.jobs) is harmless, and
``forecourt office report-schedule run`` may run it by hand.

When ``mail_to`` and ``smtp_host`` are set, one message per batch carries the XLSX
files (STARTTLS unless ``smtp_starttls`` is false; the password from a file).
A failing report or mail is logged and does not stop the others or the office.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import structlog

from core.config import Config
from core.errors import ConfigError, ForecourtError
from office.reports import charts, registry, render, xlsx
from office.reports.runs import record
from office.store import OfficeConnection

log = structlog.get_logger("office.reports.schedule")
KINDS = ("daily", "monthly")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Batch:
    """What one scheduled run wrote, skipped and failed."""

    kind: str
    label: str
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    mailed_to: list[str] = field(default_factory=list)


def period(kind: str, today: date) -> tuple[date, date, str]:
    """The range a ``kind`` run on ``today`` covers, and its file label."""
    if kind == "daily":
        day = today - timedelta(days=1)
        return day, day, day.isoformat()
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last, f"{last:%Y-%m}"


def _options(spec: registry.Spec, start: date, end: date) -> dict[str, str | None]:
    options: dict[str, str | None] = {}
    if "from" in spec.options:
        options["from"] = start.isoformat()
    if "to" in spec.options:
        options["to"] = end.isoformat()
    if "by" in spec.options:
        options["by"] = "day"
    return options


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_batch(config: Config, conn: OfficeConnection, kind: str, today: date, *,
              actor: str = "schedule") -> Batch:
    """Write (and mail) the ``kind`` reports due on local day ``today``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be daily or monthly, not {kind!r}")
    settings = config.office_reports
    names = settings.daily if kind == "daily" else settings.monthly
    start, end, label = period(kind, today)
    batch = Batch(kind, label)
    folder = Path(settings.folder) / kind
    folder.mkdir(parents=True, exist_ok=True)
    currency = config.station.money
    for name in names:
        target = folder / f"{name}-{label}.xlsx"
        if target.exists():
            batch.skipped.append(name)
            continue
        try:
            spec = registry.spec(name)
            report = spec.runner(conn, registry.params_for(name, _options(spec, start, end),
                                                           settings))
            files = [(target.with_suffix(".csv"), render.csv_text(report, currency).encode())]
            if report.chart is not None and report.rows:
                files.append((target.with_suffix(".png"), charts.draw(report, "png", currency)))
            files.append((target, xlsx.workbook(report, currency)))  # last: marks it done
            for path, data in files:
                _write(path, data)
                batch.written.append(path)
            record(name=name, params={"from": start.isoformat(), "to": end.isoformat()},
                   fmt="xlsx", rows=len(report.rows), actor=actor, via="schedule",
                   file=", ".join(str(p) for p, _ in files), detail=kind)
        except (ForecourtError, OSError, ValueError) as exc:
            batch.failed[name] = str(exc)
            log.error("report.scheduled_failed", report=name, kind=kind, error=str(exc))
    attachments = [p for p in batch.written if p.suffix == ".xlsx"]
    if attachments and settings.mail_to and settings.smtp_host:
        try:
            mail(config, f"forecourt {kind} reports {label}", attachments)
            batch.mailed_to = list(settings.mail_to)
        except (OSError, smtplib.SMTPException, ForecourtError) as exc:
            batch.failed["mail"] = str(exc)
            log.error("report.mail_failed", kind=kind, error=str(exc))
    log.info("report.batch", kind=kind, label=label, written=len(batch.written),
             skipped=batch.skipped, failed=sorted(batch.failed), mailed=batch.mailed_to)
    return batch


def mail(config: Config, subject: str, files: list[Path]) -> None:
    """Send ``files`` as attachments of one message to ``mail_to``."""
    s = config.office_reports
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = s.mail_from
    message["To"] = ", ".join(s.mail_to)
    message.set_content("The reports are attached:\n\n"
                        + "\n".join(f"  {p.name}" for p in files) + "\n")
    for path in files:
        message.add_attachment(path.read_bytes(), maintype=_XLSX.split("/", maxsplit=1)[0],
                               subtype=_XLSX.split("/")[1], filename=path.name)
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
        if s.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            password = Path(s.smtp_password_file).read_text(encoding="utf-8").strip() \
                if s.smtp_password_file else ""
            smtp.login(s.smtp_user, password)
        smtp.send_message(message)


def check_names(config: Config) -> None:
    """Refuse, in one sentence, a schedule naming a report that does not exist."""
    s = config.office_reports
    unknown = sorted(set(s.daily + s.monthly) - set(registry.specs()))
    if unknown:
        raise ConfigError(f"[office_reports] names no report {', '.join(unknown)}; the "
                          f"reports are {', '.join(sorted(registry.specs()))}")


def due_batches(config: Config, conn: OfficeConnection, due: datetime) -> list[Batch]:
    """The batches the run at ``due`` owes: daily always, monthly on the 1st (local)."""
    today = due.astimezone(config.office_reports.tz).date()
    kinds = ["daily"] + (["monthly"] if today.day == 1 else [])
    return [run_batch(config, conn, kind, today) for kind in kinds
            if getattr(config.office_reports, kind)]
