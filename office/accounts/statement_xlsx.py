"""The statement as an XLSX workbook: the same header, lines, totals and closing balance
as the PDF, on one sheet "Statement".

Money cells are exact decimals in the currency's unit with a number format, volumes
decimals in litres; every text is a string cell, never a formula (a reference like
``=HYPERLINK(...)`` stays text: office.console.export explains why).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.display import Currency
from office.accounts.statement import Statement
from office.reports.accounts import statement_columns
from office.reports.base import Column
from office.reports.render import heading

LITRES = "#,##0.000"


def _value(column: Column, value: Any, currency: Currency) -> Any:
    if value is None:
        return None
    if column.kind == "money":
        return Decimal(int(value)).scaleb(-currency.decimals)
    if column.kind == "ml":
        return Decimal(int(value)).scaleb(-3)
    return value


def workbook(s: Statement, currency: Currency, office: Sequence[str] = ()) -> bytes:
    """The XLSX bytes of the statement."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    money_format = "#,##0" + ("." + "0" * currency.decimals if currency.decimals else "")
    book = Workbook()
    sheet = book.active
    sheet.title = "Statement"
    bold = Font(bold=True)

    def put(row: list[Any], *, font: Font | None = None,
            formats: dict[int, str] | None = None) -> int:
        sheet.append(row)
        at = int(sheet.max_row)
        for i, cell in enumerate(sheet[at]):
            if isinstance(cell.value, str):
                cell.data_type = "s"
            elif formats and i in formats and cell.value is not None:
                cell.number_format = formats[i]
            if font is not None:
                cell.font = font
        return at

    for line in office:
        put([line])
    put(["Statement of account"], font=Font(bold=True, size=13))
    c = s.customer
    put(["Customer", c["name"]])
    for address in c["addresses"]:
        put(["Address", address])
    put(["Customer id", c["customer_id"]])
    put(["Terms", c["payment_terms"]])
    if c["credit_limit"] is not None:
        put(["Credit limit", _value(Column("", "", "money"), c["credit_limit"], currency)],
            formats={1: money_format})
    put(["Period", f"{s.start.isoformat()} to {s.end.isoformat()}"])
    put(["Currency", currency.code])
    if s.has_account:
        put(["Opening balance (owed)", _value(Column("", "", "money"), s.opening, currency)],
            font=bold, formats={1: money_format})
    if s.has_wallets:
        put(["Wallets at the start", _value(Column("", "", "money"), s.wallet_opening,
                                            currency)], formats={1: money_format})
    sheet.append([])
    columns = statement_columns(s)
    formats = {i: money_format if col.kind == "money" else LITRES
               for i, col in enumerate(columns) if col.kind in ("money", "ml")}
    put([heading(col, currency) for col in columns], font=bold)
    for entry in s.lines:
        put([_value(col, entry.get(col.key), currency) for col in columns], formats=formats)
    totals: dict[str, Any] = {**s.totals, "balance": s.closing,
                              "wallet_balance": s.wallet_closing}
    put(["Totals" if i == 0 else _value(col, totals.get(col.key), currency)
         for i, col in enumerate(columns)], font=bold, formats=formats)
    sheet.append([])
    if s.has_account:
        put(["Closing balance (owed)", _value(Column("", "", "money"), s.closing, currency)],
            font=bold, formats={1: money_format})
    if s.has_wallets:
        put(["Wallets at the end", _value(Column("", "", "money"), s.wallet_closing,
                                          currency)], formats={1: money_format})
    for i, col in enumerate(columns, start=1):
        letter = sheet.cell(1, i).column_letter
        sheet.column_dimensions[letter].width = 34 if col.key == "reference" else max(
            12, len(heading(col, currency)) + 2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
