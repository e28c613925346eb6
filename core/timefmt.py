"""Time formats station and office share: UTC now, and the fixed-width stored form."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamp (sorts as text): ``2026-11-22T10:15:00.000000Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso` (``fromisoformat`` reads the trailing Z since 3.11)."""
    return datetime.fromisoformat(text)
