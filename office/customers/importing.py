"""All-or-nothing imports of spreadsheet rows, with a dry run that is the same import.

Every row is applied through the same services as the console and the CLI
(office.customers.service, office.cards.service), each in its own savepoint inside one
transaction, so the checks, the stored values and the audit entries are exactly
theirs, and a later row sees what an earlier one made (a company, then its people).
A row that is refused is rolled back to its savepoint and reported with its line and
the reason; the import goes on, so one run lists every problem. At the end, if any
row was refused or it is a dry run, the whole transaction is rolled back: nothing is
stored, not even the audit entries. Otherwise it commits once.

Warnings (the same phone on two customers, a plate twice) are reported and do not stop
the import: families share phones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config import Config
from core.errors import ForecourtError
from office import db
from office.access import audit
from office.customers.service import Who
from office.customers.sheets import Row, Sheet
from office.store import OfficeConnection


@dataclass(frozen=True)
class Problem:
    """An error or a warning about a line of the file (None: the file as a whole)."""

    line: int | None
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def text(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class Report:
    """What an import did (or, in a dry run, would do)."""

    what: str
    file: str
    dry_run: bool
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    rows: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    stored: bool = False
    #: Card-master versions the import made (stations get them), and whether the
    #: stations were told at once (None: [mqtt] is off, or no version).
    versions: list[int] = field(default_factory=list)
    published: bool | None = None

    def error(self, line: int | None, message: str, field: str | None = None) -> None:
        self.errors.append(Problem(line, message, field))

    def warn(self, line: int | None, message: str, field: str | None = None) -> None:
        self.warnings.append(Problem(line, message, field))

    def count(self, outcome: str, record_id: str) -> None:
        {"added": self.added, "changed": self.changed,
         "unchanged": self.unchanged}[outcome].append(record_id)

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "file": self.file, "dry_run": self.dry_run,
                "stored": self.stored, "rows": self.rows, "columns": self.columns,
                "ignored_columns": self.ignored_columns, "added": self.added,
                "changed": self.changed, "unchanged": self.unchanged,
                "errors": [p.as_dict() for p in self.errors],
                "warnings": [p.as_dict() for p in self.warnings],
                "versions": self.versions, "published": self.published}


class _Undo(Exception):
    """Leaves the import's transaction so that nothing of it is stored."""


def run_rows(conn: OfficeConnection, sheet: Sheet, report: Report,
             apply: Callable[[Row], tuple[str, str]], *, who: Who,
             lock_cards: bool = False, finish: Callable[[], None] | None = None) -> Report:
    """Apply every row of ``sheet`` (``apply`` returns the outcome, ``added``,
    ``changed`` or ``unchanged``, and the record's id, or raises a ForecourtError such as
    RecordRefused), then ``finish`` (once, when no row was refused), and commit unless a
    row was refused or it is a dry run. ``lock_cards``: hold the card master's lock
    throughout (imports that issue cards)."""
    report.columns, report.ignored_columns = dict(sheet.columns), list(sheet.ignored)
    try:
        with conn.atomic():
            if lock_cards:
                db.lock_card_master()
            for row in sheet.rows:
                report.rows += 1
                if row.problems:
                    for name, message in row.problems:
                        report.error(row.line, message, name)
                    continue
                try:
                    with conn.atomic():
                        outcome, record_id = apply(row)
                except ForecourtError as exc:
                    report.error(row.line, str(exc), getattr(exc, "field", None))
                    continue
                report.count(outcome, record_id)
            if not report.errors:
                if finish is not None:
                    finish()
                audit.record(actor=who.actor, via=who.via, action=f"{report.what}.import",
                             object_kind="import", object_id=sheet.path.name,
                             new={"rows": report.rows, "added": len(report.added),
                                  "changed": len(report.changed),
                                  "unchanged": len(report.unchanged),
                                  "versions": report.versions},
                             detail=str(sheet.path))
            if report.errors or report.dry_run:
                raise _Undo
    except _Undo:
        report.versions = []  # rolled back with the rest
        return report
    report.stored = True
    return report


class SeenValues:
    """Values that should name one record (a phone, an e-mail, a plate): where each was
    seen in the file and which stored records have it, for duplicate warnings."""

    def __init__(self, label: str, what: str, stored: dict[str, set[str]]) -> None:
        self.label, self.what, self.stored = label, what, stored
        self.first: dict[str, tuple[int, str]] = {}

    def check(self, report: Report, line: int, owner: str, values: Iterable[str],
              name: str) -> None:
        """Warn about each of ``values`` another record has, in the file or stored."""
        for value in values:
            first = self.first.setdefault(value, (line, owner))
            # A stored record the file itself names on an earlier line is that line.
            others = sorted(self.stored.get(value, set()) - {owner, first[1]})
            if others:
                report.warn(line, f"{self.label} {value} is also {self.what} "
                            f"{', '.join(others[:5])}'s" + (" (and more)" if others[5:] else ""),
                            name)
            if first[1] != owner:
                report.warn(line, f"{self.label} {value} is also on line {first[0]}", name)


def told(conn: OfficeConnection, config: Config, report: Report) -> None:
    """Send the versions a stored import made to every station now (when [mqtt] is on)."""
    from office.cards import actions

    if not report.stored:
        return
    for version in report.versions:
        report.published = actions.publish(config, conn, version)
