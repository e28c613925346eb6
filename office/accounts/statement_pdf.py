"""The printable statement: an A4 landscape PDF drawn with matplotlib (PdfPages, no
pyplot, so no global state), as the voucher sheets are (office.vouchers.sheets).

Page one has the office's name and address (``[office_reports] statement_header``),
the customer's name, address, id and terms, the period and the opening balance; then
the lines, as many pages as they need, each page numbered "page i of n" with the
customer and period repeated; the last page ends with the totals and the closing
balance. Amounts are in the currency (core.display), volumes in litres.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.display import Currency, litres
from office.accounts.statement import Statement

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PAGE_W, PAGE_H = 11.69, 8.27  # A4 landscape, inches
MARGIN = 0.5
ROW_H = 0.19
FIRST_PAGE_ROWS = 27
PAGE_ROWS = 34
FONT = "DejaVu Sans"


@dataclass(frozen=True)
class _Col:
    key: str
    title: str
    width: float  # inches
    show: Callable[[dict[str, Any]], str]
    right: bool = True


def amount(money: Currency, minor: int) -> str:
    """An amount without the currency code (the headings carry it): ``1,250.50``."""
    return money.money(minor).removesuffix(f" {money.code}")


def _columns(s: Statement, money: Currency) -> list[_Col]:
    def m(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda line: amount(money, line[key]) if line.get(key) else ""

    def describe(line: dict[str, Any]) -> str:
        text = f"{line['kind']}: {line['reference']}" if line["reference"] else line["kind"]
        return text if len(text) <= 46 else text[:45] + "…"

    code = f" ({money.code})"
    cols = [_Col("at", "Date", 1.3, lambda line: str(line["at"]), right=False),
            _Col("reference", "Description", 2.9, describe, right=False),
            _Col("product", "Product", 0.6, lambda line: str(line["product"]), right=False),
            _Col("volume_ml", "Volume", 1.0,
                 lambda line: "" if line["volume_ml"] is None else litres(line["volume_ml"])),
            _Col("amount", "Amount" + code, 1.05, m("amount")),
            _Col("discount", "Discount", 0.8, m("discount"))]
    if s.has_wallets:
        cols.append(_Col("wallet", "Wallet +/-", 0.95, m("wallet")))
    if s.has_account:
        cols += [_Col("charge", "Charge", 1.0, m("charge")),
                 _Col("credit", "Credit", 1.0, m("credit")),
                 _Col("balance", "Balance" + code, 1.15,
                      lambda line: amount(money, line["balance"]))]
    else:
        cols.append(_Col("wallet_balance", "Wallet balance" + code, 1.2,
                         lambda line: amount(money, line["wallet_balance"])))
    total = sum(c.width for c in cols)
    scale = (PAGE_W - 2 * MARGIN) / total
    return [_Col(c.key, c.title, c.width * scale, c.show, c.right) for c in cols]


def pages(lines: int) -> int:
    """How many pages a statement of ``lines`` lines has (the totals and the closing
    balance take four rows)."""
    rows = lines + 4
    if rows <= FIRST_PAGE_ROWS:
        return 1
    return 1 + math.ceil((rows - FIRST_PAGE_ROWS) / PAGE_ROWS)


def _new_page() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PAGE_W, PAGE_H))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, PAGE_W)
    ax.set_ylim(0, PAGE_H)
    ax.set_axis_off()
    return fig, ax


def _text(ax: Axes, x: float, y: float, text: str, **style: Any) -> None:
    ax.text(x, y, text, family=FONT, va="top", **{"fontsize": 8, **style})


def _header(ax: Axes, s: Statement, money: Currency, office: Sequence[str]) -> float:
    """Draw page one's header; the y below it."""
    y = PAGE_H - MARGIN
    for i, line in enumerate(office):
        _text(ax, MARGIN, y - i * 0.2, line, fontsize=11 if i == 0 else 9,
              weight="bold" if i == 0 else "normal")
    _text(ax, PAGE_W - MARGIN, y, "Statement of account", fontsize=16, weight="bold",
          ha="right")
    _text(ax, PAGE_W - MARGIN, y - 0.32,
          f"{s.start.isoformat()} to {s.end.isoformat()}", fontsize=10, ha="right")
    top = y - max(len(office), 1) * 0.2 - 0.35
    c = s.customer
    _text(ax, MARGIN, top, str(c["name"]), fontsize=11, weight="bold")
    row = top - 0.22
    for address in c["addresses"][:3]:
        _text(ax, MARGIN, row, str(address), fontsize=9)
        row -= 0.18
    terms = "on credit" if c["payment_terms"] == "credit" else "prepaid"
    if c["payment_terms"] == "credit" and c["credit_limit"] is not None:
        terms += f", credit limit {money.money(int(c['credit_limit']))}"
    _text(ax, MARGIN, row, f"Customer {c['customer_id']}, {terms}", fontsize=9)
    facts = []
    if s.has_account:
        facts.append(("Opening balance (owed)", money.money(s.opening)))
    if s.has_wallets:
        facts.append(("Wallets at the start", money.money(s.wallet_opening)))
    for i, (label, value) in enumerate(facts):
        _text(ax, PAGE_W - MARGIN - 1.9, top - i * 0.22, label, fontsize=9, ha="right")
        _text(ax, PAGE_W - MARGIN, top - i * 0.22, value, fontsize=9, weight="bold",
              ha="right")
    return min(row, top - len(facts) * 0.22) - 0.3


def _row(ax: Axes, cols: list[_Col], y: float, cells: list[str], **style: Any) -> None:
    x = MARGIN
    for col, cell in zip(cols, cells, strict=True):
        if col.right:
            _text(ax, x + col.width - 0.04, y, cell, ha="right", **style)
        else:
            _text(ax, x + 0.02, y, cell, **style)
        x += col.width


def _rule(ax: Axes, y: float, width: float = 0.5) -> None:
    ax.plot([MARGIN, PAGE_W - MARGIN], [y, y], color="0.3", linewidth=width)


def _totals(s: Statement, cols: list[_Col], money: Currency) -> list[str]:
    out = []
    for col in cols:
        if col.key == "at":
            out.append("Totals")
        elif col.key == "volume_ml":
            out.append(litres(s.totals["volume_ml"]))
        elif col.key in s.totals:
            out.append(amount(money, s.totals[col.key]))
        elif col.key == "balance":
            out.append(amount(money, s.closing))
        elif col.key == "wallet_balance":
            out.append(amount(money, s.wallet_closing))
        else:
            out.append("")
    return out


def draw(s: Statement, money: Currency, office: Sequence[str] = ()) -> list[Figure]:
    """The statement's pages."""
    cols = _columns(s, money)
    count = pages(len(s.lines))
    figures: list[Figure] = []
    lines = list(s.lines)
    index = 0
    for page in range(1, count + 1):
        fig, ax = _new_page()
        if page == 1:
            y = _header(ax, s, money, office)
            room = FIRST_PAGE_ROWS
        else:
            y = PAGE_H - MARGIN
            _text(ax, MARGIN, y, f"{s.customer['name']} ({s.customer['customer_id']}), "
                  f"statement {s.start.isoformat()} to {s.end.isoformat()}", fontsize=9)
            y -= 0.35
            room = PAGE_ROWS
        _row(ax, cols, y, [c.title for c in cols], weight="bold")
        y -= ROW_H
        _rule(ax, y + 0.02)
        y -= 0.04
        chunk = lines[index:index + room] if page < count else lines[index:]
        index += len(chunk)
        for line in chunk:
            _row(ax, cols, y, [c.show(line) for c in cols])
            y -= ROW_H
        if page == count:
            _rule(ax, y + 0.02)
            y -= 0.04
            _row(ax, cols, y, _totals(s, cols, money), weight="bold")
            y -= ROW_H + 0.15
            closing = []
            if s.has_account:
                closing.append(("Closing balance (owed)", money.money(s.closing)))
            if s.has_wallets:
                closing.append(("Wallets at the end", money.money(s.wallet_closing)))
            for i, (label, value) in enumerate(closing):
                _text(ax, PAGE_W - MARGIN - 1.9, y - i * 0.22, label, fontsize=10,
                      ha="right")
                _text(ax, PAGE_W - MARGIN, y - i * 0.22, value, fontsize=10,
                      weight="bold", ha="right")
        _text(ax, PAGE_W / 2, MARGIN * 0.6, f"page {page} of {count}", fontsize=8,
              ha="center", color="0.3")
        figures.append(fig)
    return figures


def pdf_bytes(s: Statement, money: Currency, office: Sequence[str] = ()) -> bytes:
    """The statement as PDF bytes."""
    from matplotlib.backends.backend_pdf import PdfPages

    out = io.BytesIO()
    with PdfPages(out, metadata={"Creator": "forecourt", "Title": f"Statement "
                                 f"{s.customer['customer_id']} {s.start}..{s.end}"}) as pdf:
        for fig in draw(s, money, office):
            pdf.savefig(fig)
    return out.getvalue()
