"""Writing and reading the audit trail (``audit_entries``).

Every service that changes something calls :func:`record` inside its own transaction,
so the change and its audit entry commit together or not at all. ``actor`` is the
person (the console user's name, or the Unix user of a CLI command), ``via`` the door
(``console``, ``cli``, ``sync``); ``old``/``new`` are JSON-able values (None: nothing
before / nothing after).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog

from core.timefmt import iso, utc_now

if TYPE_CHECKING:
    from office.access.models import AuditEntry

log = structlog.get_logger(__name__)

#: The doors a change comes through. (This module imports no model at import time, so
#: the office's CLI can import it before Django is configured.)
VIAS = ("console", "cli", "sync")


def cli_actor(actor: str) -> str:
    """The person in ``core.clikit.actor()``'s ``cli:<user>``."""
    return actor.removeprefix("cli:")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def record(*, actor: str, via: str, action: str, object_kind: str, object_id: str,
           old: Any = None, new: Any = None, detail: str = "") -> AuditEntry:
    """Add one audit entry (now, UTC) and log it; returns the entry."""
    from office.access.models import AuditEntry

    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    entry: AuditEntry = AuditEntry.objects.create(
        at=iso(utc_now()), actor=actor, via=via, action=action, object_kind=object_kind,
        object_id=object_id, old=_json(old), new=_json(new), detail=detail)
    log.info("audit", action=action, actor=actor, via=via, object_kind=object_kind,
             object_id=object_id)
    return entry


def decoded(text: str | None) -> Any:
    """An ``old``/``new`` column back as a value (None stays None)."""
    return None if text is None else json.loads(text)
