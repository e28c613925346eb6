"""A batch's vouchers as files: the CSV list of codes and the printable A4 PDF sheet.

The CSV (UTF-8 with a BOM, as the office's other exports) has one row per voucher:
code, printed, qr, serial, batch_id, product, volume_ml, amount, valid_from, valid_until.
A spreadsheet would read the 20-digit ``code`` as a number and lose its leading zeros
and its last digits (15 significant digits), so that cell starts with a tab character:
Excel and LibreOffice keep it as text, and programs strip it (core.vouchers.read_code
does). Other text cells are escaped as every office export's (office.console.export).

The PDF has 15 vouchers on each A4 page (3 columns, 5 rows): the QR code (``FCV1:`` and
the 20 digits, drawn as vector squares: sharp at any printer's resolution), the printed
digits, what the voucher buys and its validity. matplotlib draws it (PdfPages; no
pyplot, so no global state).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from core.formats.vouchers import VoucherBatch, time_text
from core.vouchers import code_for, printed, qr_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSV_HEADER = ("code", "printed", "qr", "serial", "batch_id", "product", "volume_ml", "amount",
              "valid_from", "valid_until")
#: A4 in inches, and the grid of vouchers on a page.
PAGE_W, PAGE_H = 8.27, 11.69
COLUMNS, ROWS = 3, 5
PER_PAGE = COLUMNS * ROWS
MARGIN = 0.4
QR_SIZE = 1.45  # inches, quiet zone included
QUIET = 4  # modules of white around the code (the QR standard's minimum)


def pages(count: int) -> int:
    """How many A4 pages the sheet of ``count`` vouchers has."""
    return max(1, math.ceil(count / PER_PAGE))


def _codes(batch: VoucherBatch) -> Iterator[str]:
    for seq in range(1, batch.count + 1):
        yield code_for(batch, seq)


# -- CSV -------------------------------------------------------------------------------------

def csv_rows(batch: VoucherBatch) -> Iterator[list[str]]:
    """One row per voucher, as written to the CSV file."""
    from office.console.export import csv_text

    fixed = [batch.batch_id, batch.product or "",
             "" if batch.volume_ml is None else str(batch.volume_ml),
             "" if batch.amount is None else str(batch.amount),
             time_text(batch.valid_from), time_text(batch.valid_until)]
    safe = [csv_text(v) for v in fixed]
    for code in _codes(batch):
        yield ["\t" + code, printed(code), qr_text(code), code[:12], *safe]


def csv_lines(batch: VoucherBatch) -> Iterator[str]:
    """The CSV text, line by line (a BOM first, so Excel reads UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + out.getvalue()
    for row in csv_rows(batch):
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        yield out.getvalue()


def write_csv(path: Path, batch: VoucherBatch) -> None:
    """The CSV file at ``path``, written whole or not at all (a temporary file renamed)."""
    _atomic(path, lambda f: f.writelines(line.encode() for line in csv_lines(batch)))


# -- PDF -------------------------------------------------------------------------------------

def _qr_path(text: str, x: float, y: float, size: float) -> tuple[list[tuple[float, float]],
                                                                  list[int]]:
    """Vertices and codes of the QR code of ``text`` as filled squares, in a ``size``
    inch square whose lower left corner is (x, y) (runs of dark modules merged)."""
    import segno
    from matplotlib.path import Path as MplPath

    matrix = segno.make_qr(text, error="m").matrix
    modules = len(matrix) + 2 * QUIET
    unit = size / modules
    pad = unit * 0.02  # squares overlap a hair: no seams between them in any viewer
    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    square = [int(MplPath.MOVETO), *[int(MplPath.LINETO)] * 3, int(MplPath.CLOSEPOLY)]
    for r, row in enumerate(matrix):
        top = y + size - (r + QUIET) * unit
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            left = x + (start + QUIET) * unit - pad
            right = x + (c + QUIET) * unit + pad
            bottom = top - unit - pad
            vertices += [(left, bottom), (right, bottom), (right, top + pad), (left, top + pad),
                         (left, bottom)]
            codes += square
    return vertices, codes


def _page(codes: list[str], batch: VoucherBatch, value_text: str) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    fig = Figure(figsize=(PAGE_W, PAGE_H))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, PAGE_W)
    ax.set_ylim(0, PAGE_H)
    ax.set_axis_off()
    cell_w = (PAGE_W - 2 * MARGIN) / COLUMNS
    cell_h = (PAGE_H - 2 * MARGIN) / ROWS
    valid = (f"valid {time_text(batch.valid_from)[:16].replace('T', ' ')} to "
             f"{time_text(batch.valid_until)[:16].replace('T', ' ')} UTC")
    vertices: list[tuple[float, float]] = []
    path_codes: list[int] = []
    for i, code in enumerate(codes):
        col, row = i % COLUMNS, i // COLUMNS
        left = MARGIN + col * cell_w
        top = PAGE_H - MARGIN - row * cell_h
        # A thin cutting frame around each voucher.
        # add_artist, not add_patch: the limits are fixed, and working out a patch's
        # data limits (every square of every QR code) took most of a page's time.
        ax.add_artist(Rectangle((left, top - cell_h), cell_w, cell_h, fill=False,
                                linewidth=0.3, edgecolor="0.6", linestyle=(0, (2, 2))))
        centre = left + cell_w / 2
        v, c = _qr_path(qr_text(code), centre - QR_SIZE / 2, top - 0.08 - QR_SIZE, QR_SIZE)
        vertices += v
        path_codes += c
        below = top - 0.08 - QR_SIZE
        ax.text(centre, below - 0.02, printed(code), ha="center", va="top", fontsize=10.5,
                family="DejaVu Sans Mono", weight="bold")
        ax.text(centre, below - 0.22, value_text, ha="center", va="top", fontsize=8,
                family="DejaVu Sans")
        ax.text(centre, below - 0.38, valid, ha="center", va="top", fontsize=6,
                family="DejaVu Sans")
        ax.text(centre, below - 0.50, f"{batch.batch_id} #{int(code[6:12])}", ha="center",
                va="top", fontsize=5.5, family="DejaVu Sans", color="0.4")
    if vertices:
        ax.add_artist(PathPatch(MplPath(vertices, path_codes), facecolor="black",
                                edgecolor="none", linewidth=0))
    return fig


def write_pdf_to(target: BinaryIO, batch: VoucherBatch,
                 value_text: str) -> int:
    """The sheet of every voucher of ``batch`` into ``target``; returns its page count.
    ``value_text``: what one voucher buys, as people read it (``AI95 20.000 l``)."""
    from matplotlib.backends.backend_pdf import PdfPages

    count = 0
    with PdfPages(target, metadata={"Creator": "forecourt", "Title":
                                    f"Vouchers {batch.batch_id}"}) as pdf:
        for chunk in _chunked(_codes(batch), PER_PAGE):
            pdf.savefig(_page(chunk, batch, value_text))
            count += 1
    return count


def pdf_bytes(batch: VoucherBatch, value_text: str) -> bytes:
    out = io.BytesIO()
    write_pdf_to(out, batch, value_text)
    return out.getvalue()


def write_pdf(path: Path, batch: VoucherBatch, value_text: str) -> None:
    """The PDF sheet at ``path``, written whole or not at all."""
    _atomic(path, lambda f: write_pdf_to(f, batch, value_text))


def _chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
