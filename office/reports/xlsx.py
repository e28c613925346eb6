"""A report as an XLSX workbook: the table on one sheet, its chart as a native Excel
chart (it stays live: a clerk can restyle it or change its data) on another.

Texts are string cells, never formulas (office.console.export explains why); litres
and money are exact decimals with number formats, so sums in the sheet are right.
"""

from __future__ import annotations

import io

from core.display import Currency
from office.reports.base import Report
from office.reports.pivot import pivot
from office.reports.render import decimal, heading

_FORMATS = {"ml": "#,##0.000", "count": "#,##0", "points": "#,##0", "km": "#,##0",
            "ratio": "0.00"}


def workbook(report: Report, currency: Currency) -> bytes:
    """The XLSX bytes of ``report``: sheet "Report" and, with a chart, sheet "Chart"."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet.append([_text(report.title)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([_text(report.subtitle)])
    sheet.append([])
    sheet.append([_text(heading(c, currency)) for c in report.columns])
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    money = "#,##0" + ("." + "0" * currency.decimals if currency.decimals else "")
    for row in report.rows:
        sheet.append([_text(v) if isinstance(v, str) else v for v in
                      (decimal(c, row.get(c.key), currency) for c in report.columns)])
    for i, column in enumerate(report.columns, start=1):
        fmt = money if column.kind == "money" else _FORMATS.get(column.kind)
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=5, min_col=i, max_col=i):
                cell.number_format = fmt
        sheet.column_dimensions[sheet.cell(4, i).column_letter].width = max(
            12, len(heading(column, currency)) + 2)
    for row_cells in sheet.iter_rows(min_row=1):
        for cell in row_cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    if report.chart is not None and report.rows:
        table = pivot(report, currency)
        data = book.create_sheet("Chart")
        data.append([report.chart.x, *table.series])
        for x, values in zip(table.x, table.values, strict=True):
            data.append([x, *values])
        for row_cells in data.iter_rows(min_row=1):
            for cell in row_cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        chart = LineChart() if report.chart.kind == "line" else BarChart()
        chart.title = report.title
        chart.y_axis.title = table.axis
        chart.height, chart.width = 9, 20
        chart.add_data(Reference(data, min_col=2, max_col=1 + len(table.series), min_row=1,
                                 max_row=1 + len(table.x)), titles_from_data=True)
        chart.set_categories(Reference(data, min_col=1, min_row=2, max_row=1 + len(table.x)))
        data.add_chart(chart, f"{chr(ord('A') + min(len(table.series) + 2, 20))}2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(value: str) -> str:
    return value
