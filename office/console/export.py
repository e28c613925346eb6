"""CSV and XLSX exports of tables, safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
a formula to Excel and LibreOffice when it comes from a CSV file ("CSV injection": a
card id ``=HYPERLINK(...)`` would run). In CSV such a text gets a leading ``'`` (OWASP's
advice; the spreadsheet shows the text). In XLSX every text is written as a string
cell, never a formula, so the text stays exactly as stored. Numbers stay numbers:
amounts as exact decimals in the currency's unit, volumes in litres.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | Decimal | None


def csv_text(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet will not run: ``'=1+2`` for ``=1+2``."""
    return "'" + value if value.startswith(FORMULA_START) else value


class _Echo:
    """A file-like object that hands back what is written (for streaming CSV)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterable[str]:
    """The CSV text line by line (UTF-8 with a BOM first, so Excel reads the letters)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([csv_text(h) for h in header])
    for row in rows:
        yield writer.writerow(["" if v is None else csv_text(v) if isinstance(v, str)
                               else str(v) for v in row])


def xlsx_bytes(title: str, header: Sequence[str], rows: Iterable[Sequence[Cell]],
               number_formats: dict[int, str] | None = None) -> bytes:
    """One worksheet: a bold header and the rows; texts as string cells (no formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    bold = Font(bold=True)

    def cell(value: Any, fmt: str | None = None) -> Any:
        made = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            made.data_type = "s"  # openpyxl makes "=..." a formula otherwise
        elif fmt is not None:
            made.number_format = fmt
        return made

    heading = []
    for h in header:
        c = cell(h)
        c.font = bold
        heading.append(c)
    sheet.append(heading)
    formats = number_formats or {}
    for row in rows:
        sheet.append([cell(v, formats.get(i)) for i, v in enumerate(row)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def stamp(now: datetime | date) -> str:
    """A file-name stamp: ``20261128-2215``."""
    return now.strftime("%Y%m%d-%H%M") if isinstance(now, datetime) else now.strftime("%Y%m%d")
