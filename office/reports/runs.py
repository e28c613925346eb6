"""The record of reports that left the office as files (exports, scheduled runs)."""

from __future__ import annotations

import json
from typing import Any

import structlog

from core.timefmt import iso, utc_now

log = structlog.get_logger("office.reports")


def record(*, name: str, params: dict[str, Any], fmt: str, rows: int, actor: str, via: str,
           file: str = "", detail: str = "") -> None:
    """Keep one run: report ``name`` for ``params`` written as ``fmt`` by ``actor``."""
    from office.reports.models import ReportRun

    ReportRun.objects.create(name=name, params=json.dumps(params, sort_keys=True),
                             format=fmt, rows=rows, at=iso(utc_now()), actor=actor, via=via,
                             file=file, detail=detail)
    log.info("report_written", report=name, format=fmt, rows=rows, actor=actor, via=via,
             file=file)
