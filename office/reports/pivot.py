"""A report's chart data: ``y`` per ``x`` per series, the small series folded into
"other", values in litres or the currency's unit (what a chart's axis shows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.display import Currency
from office.reports.base import MAX_SERIES, Report


@dataclass(frozen=True)
class Pivot:
    """x labels, series names and values[x][series] as floats; the axis label."""

    x: list[str]
    series: list[str]
    values: list[list[float]]
    axis: str


def _scale(kind: str, currency: Currency) -> tuple[float, str]:
    if kind == "ml":
        return 1000.0, "litres"
    if kind == "money":
        return float(10 ** currency.decimals), currency.code
    return 1.0, ""


def pivot(report: Report, currency: Currency) -> Pivot:
    """The chart's table of ``report`` (which must have a chart)."""
    chart = report.chart
    if chart is None:
        raise ValueError(f"report {report.name} has no chart")
    column = report.column(chart.y)
    scale, unit = _scale(column.kind, currency)
    sums: dict[str, float] = {}
    cells: dict[tuple[str, str], float] = {}
    xs: list[str] = []
    for row in report.rows:
        x = str(row.get(chart.x))
        if x not in xs:
            xs.append(x)
        name = str(row.get(chart.series) or "—") if chart.series else column.title
        value = float(row.get(chart.y) or 0) / scale
        sums[name] = sums.get(name, 0.0) + value
        cells[(x, name)] = cells.get((x, name), 0.0) + value
    ranked = sorted(sums, key=lambda n: (-sums[n], n))
    kept = ranked[:MAX_SERIES] if len(ranked) <= MAX_SERIES else ranked[:MAX_SERIES - 1]
    folded = [n for n in ranked if n not in kept]
    series = kept + (["other"] if folded else [])
    values: list[list[float]] = []
    for x in xs:
        line: list[Any] = [cells.get((x, n), 0.0) for n in kept]
        if folded:
            line.append(sum(cells.get((x, n), 0.0) for n in folded))
        values.append(line)
    axis = f"{column.title} ({unit})" if unit else column.title
    return Pivot(xs, series, values, axis)
