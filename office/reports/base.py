"""What a report is: typed columns, rows of plain values, and the chart that shows them.

Every report, whatever it asks, comes back as a :class:`Report`; the renderers (table,
CSV, JSON, XLSX, charts) and the console know nothing else. Cells keep the store's
units: volumes in ml, money in minor units, points as whole points; only the
renderers turn them into litres and currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import ForecourtError

#: How a column's values are shown: ``ml`` as litres, ``money`` in the currency,
#: ``ratio`` as a decimal with two places (given as a float), ``date``/``datetime``
#: as ISO text (local time), the rest as they are.
Kind = Literal["text", "count", "ml", "money", "points", "km", "ratio", "date", "datetime"]
NUMERIC: frozenset[str] = frozenset({"count", "ml", "money", "points", "km", "ratio"})


class ReportError(ForecourtError, ValueError):
    """A report asked wrongly: an unknown name, a bad option value, a range backwards."""


@dataclass(frozen=True)
class Column:
    """One column: its key in each row, its heading, and what its values are."""

    key: str
    title: str
    kind: Kind = "text"


@dataclass(frozen=True)
class Chart:
    """How a report is drawn: ``y`` against ``x``, one line or bar set per ``series``
    value (at most :data:`MAX_SERIES`; the rest are summed as "other")."""

    kind: Literal["line", "bar"]
    x: str
    y: str
    series: str | None = None


#: The most lines or bar sets a chart draws before the rest become "other".
MAX_SERIES = 8


@dataclass
class Report:
    """A report's answer: what was asked (``subtitle``), the columns and the rows."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    chart: Chart | None = None
    subtitle: str = ""
    totals: dict[str, Any] = field(default_factory=dict)

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)
