"""A report's chart as PNG or SVG (matplotlib, no screen needed).

Lines for reports by day or week, bars for months and categories; one line or bar
set per series (the largest few, the rest as "other"). The figure is drawn on its own
``Figure`` (not pyplot's global state), so a web worker can draw charts concurrently.
"""

from __future__ import annotations

import io

from core.display import Currency
from office.reports.base import Report
from office.reports.pivot import pivot

FORMATS = ("png", "svg")


def _plain(text: str) -> str:
    """``text`` as matplotlib shows it literally: a ``$`` pair would start mathtext (and
    an odd formula, say a product called ``$\\frac{$``, would fail the whole chart)."""
    return text.replace("$", r"\$")


def draw(report: Report, fmt: str, currency: Currency) -> bytes:
    """The chart of ``report`` as ``fmt`` (png or svg) bytes."""
    from matplotlib.figure import Figure

    if fmt not in FORMATS:
        raise ValueError(f"a chart is png or svg, not {fmt!r}")
    table = pivot(report, currency)
    chart = report.chart
    assert chart is not None
    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(table.x)))
    count = max(len(table.series), 1)
    width = 0.8 / count
    for i, name in enumerate(table.series):
        ys = [row[i] for row in table.values]
        if chart.kind == "line":
            axes.plot(positions, ys, marker="o", markersize=3, label=_plain(name))
        else:
            axes.bar([x - 0.4 + width * (i + 0.5) for x in positions], ys, width,
                     label=_plain(name))
    step = max(1, len(table.x) // 12)
    axes.set_xticks(positions[::step], [_plain(x) for x in table.x[::step]], rotation=30,
                    ha="right", fontsize=8)
    axes.set_ylabel(_plain(table.axis))
    axes.set_title(_plain(f"{report.title}\n{report.subtitle}"), fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    if len(table.series) > 1:
        axes.legend(fontsize=8)
    out = io.BytesIO()
    figure.savefig(out, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()
