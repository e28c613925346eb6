"""A statement's month as its first and last day (no Django: the CLI checks it before
it opens the store)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from office.reports.base import ReportError

_MONTH = re.compile(r"\d{4}-\d{2}")


def month_range(text: str) -> tuple[date, date]:
    """``2026-11`` -> (2026-11-01, 2026-11-30); ReportError otherwise."""
    clean = text.strip()
    try:
        first = date.fromisoformat(clean + "-01") if _MONTH.fullmatch(clean) else None
    except ValueError:
        first = None
    if first is None:
        raise ReportError(f"--month must be a month like 2026-11, not {text!r}")
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first, last
