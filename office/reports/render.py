"""A report as text: a printable table, CSV or JSON.

JSON keeps the store's units (integer ml and minor units), as every ``--json`` of
forecourt does; the table shows litres and the currency; CSV gives exact decimals in
litres and in the currency's unit (what a spreadsheet sums), with the unit in the
heading, and guards texts against formula injection (office.console.export).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from core.display import Currency, litres
from office.console.export import csv_lines
from office.reports.base import NUMERIC, Column, Report

FORMATS = ("table", "csv", "json", "xlsx")


def heading(column: Column, currency: Currency) -> str:
    """A column's heading with its unit: ``Volume (l)``, ``Amount (RUB)``."""
    if column.kind == "ml":
        return f"{column.title} (l)"
    if column.kind == "money":
        return f"{column.title} ({currency.code})"
    return column.title


def decimal(column: Column, value: Any, currency: Currency) -> Any:
    """A cell as a spreadsheet takes it: litres and currency units as exact decimals."""
    if value is None:
        return None
    if column.kind == "ml":
        return Decimal(int(value)).scaleb(-3)
    if column.kind == "money":
        return Decimal(int(value)).scaleb(-currency.decimals)
    if column.kind == "ratio":
        return Decimal(str(value))
    return value


def text(column: Column, value: Any, currency: Currency) -> str:
    """A cell as people read it."""
    if value is None:
        return ""
    if column.kind == "ml":
        return litres(int(value))
    if column.kind == "money":
        return currency.money(int(value))
    if column.kind == "ratio":
        return f"{float(value):.2f}"
    if column.kind in ("count", "points", "km"):
        return f"{int(value):,}"
    return str(value)


def table(report: Report, currency: Currency) -> str:
    """The report as a fixed-width table with a title, its question and a totals line."""
    cols = report.columns
    body = [[text(c, r.get(c.key), currency) for c in cols] for r in report.rows]
    if report.totals and report.rows:
        body.append([text(c, report.totals.get(c.key), currency) if c.key in report.totals
                     else ("Total" if i == 0 else "") for i, c in enumerate(cols)])
    head = [c.title for c in cols]
    widths = [max([len(h)] + [len(line[i]) for line in body]) for i, h in enumerate(head)]

    def line(cells: Iterable[str]) -> str:
        return "  ".join(cell.rjust(w) if c.kind in NUMERIC else cell.ljust(w)
                         for cell, w, c in zip(cells, widths, cols, strict=True)).rstrip()

    out = [report.title, report.subtitle, "", line(head), line("-" * w for w in widths)]
    out += [line(cells) for cells in body[:len(report.rows)]]
    if len(body) > len(report.rows):
        out += [line("-" * w for w in widths), line(body[-1])]
    if not report.rows:
        out.append("(nothing in this range)")
    return "\n".join(out) + "\n"


def csv_text(report: Report, currency: Currency) -> str:
    """CSV with a heading line (UTF-8 BOM first, for Excel)."""
    cols = report.columns
    return "".join(csv_lines([heading(c, currency) for c in cols],
                             ([decimal(c, r.get(c.key), currency) for c in cols]
                              for r in report.rows)))


def json_text(report: Report) -> str:
    """A list of row objects, in the store's units."""
    return json.dumps(report.rows, ensure_ascii=False, indent=2) + "\n"
