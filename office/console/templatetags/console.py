"""Template filters of the console."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def when(value: object) -> str:
    """A stored UTC timestamp (``2026-11-28T22:16:46.123456Z``) as ``2026-11-28 22:16:46``;
    nothing as a dash."""
    if not value:
        return "—"
    return str(value)[:19].replace("T", " ")
