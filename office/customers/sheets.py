"""Reading and writing spreadsheets of records: CSV and Excel ``.xlsx`` (format by the
file's extension), for the imports and exports of customers, vehicles, cards and blank
card stock.

Reading
    The first non-empty row is the header. Each column is mapped to one of our fields
    by an explicit mapping (``--map "Контрагент=name,Тел=phones"``, ``--map-file``: one
    ``column=field`` a line; ``column=`` or ``column=-`` ignores a column) or else by the
    built-in aliases of the layout (English, Russian, Turkish and Vietnamese headers as
    accounting systems such as 1C write them); headers are compared case-, space- and
    punctuation-insensitively. Columns mapped to nothing are ignored (and named in the
    report). Several columns may fill a list field (two phone columns); any other field
    taken by two columns is refused.

    CSV is decoded as UTF-8 (with or without a BOM), UTF-16 when it starts with its
    BOM (Excel's "Unicode text"), else Windows-1251 (1C's Russian exports); the
    delimiter is the one of ``,`` ``;`` tab that the header line has most of.
    ``.xlsx``: the first worksheet, read in openpyxl's read-only mode with formulas
    visible (``data_only=False``): a formula cell must be seen to be refused (a formula
    openpyxl or a script wrote has no cached value, so ``data_only=True`` would read it
    as an empty cell); dates come as Excel date cells.

    A row whose mapped cells are all empty is skipped silently (blank lines, a total
    line of an accounting export in unmapped columns). Each cell is checked before any
    record is: a spreadsheet formula is refused (``=...``; ``+``, ``-`` or ``@`` followed
    by a function call, a cell reference or a DDE ``cmd|...``; a ``'`` our own exports put
    before a leading ``+ - = @`` is taken off first, so ``'+90 532 ...`` is a phone),
    dates are read as below, numbers become text (``79161234567``, ``60000``).

Dates
    ``YYYY-MM-DD`` (ISO), ``DD.MM.YYYY`` (the dotted form is always day first: Russian,
    Turkish, German), ``DD/MM/YYYY`` and ``MM/DD/YYYY`` when only one reading is a date
    (``25/04/1980``, ``04/25/1980``; ``03/04/1980`` is ambiguous and refused), each
    optionally followed by a time that is dropped (1C writes ``01.05.1980 0:00:00``), and
    Excel date cells. Years have four digits.

Writing
    ``.csv``: UTF-8 with a BOM, texts that start like a formula get a leading ``'``;
    ``.xlsx``: every text a string cell, never a formula (office.console.export, the
    console's own escaping). Our field names are the header.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from core import bounds as B
from office.console.export import FORMULA_START, Cell, csv_lines, xlsx_bytes
from office.customers.errors import RecordRefused

FORMATS = (".csv", ".xlsx")

# A formula after a leading + - @: a function call (SUM( ), a DDE link (cmd|), a sheet
# or cell reference (Sheet1!A1, A1, $B$2), or another operator (+=1, -+2).
_CALL = re.compile(r"[+\-@]\s*[A-Za-z_][A-Za-z0-9_.]*\s*[(|!]")
_REF = re.compile(r"[+\-@]\s*\$?[A-Za-z]{1,3}\$?[0-9]+(?![0-9A-Za-z])")
_DDE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\s*\|")
_OPERATOR = re.compile(r"[+\-@]\s*[=+\-@]")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


@dataclass(frozen=True)
class Layout:
    """What the import of one kind of record reads: its fields, the headers that mean
    each field, the list and date fields, and the fields a file must have a column for
    (at least one field of each tuple)."""

    what: str
    fields: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]]
    lists: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    required: tuple[tuple[str, ...], ...] = ()

    def alias_map(self) -> dict[str, str]:
        """Normalised header -> field (each field's own name included)."""
        out: dict[str, str] = {}
        for name in self.fields:
            out[header_key(name)] = name
            for alias in self.aliases.get(name, ()):
                out.setdefault(header_key(alias), name)
        return out


@dataclass
class Row:
    """One data row: its line (CSV line, or spreadsheet row number; the header is line
    1 when it is the first line), its mapped values as text (``""`` for an empty cell;
    list fields joined with ``, ``, addresses with new lines), and the problems of its
    cells ((field, sentence); a row with problems is not imported)."""

    line: int
    values: dict[str, str]
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Sheet:
    """A file opened for import: its header, which column went to which field, the
    columns ignored, and its data rows (read lazily, once)."""

    path: Path
    header_line: int
    columns: dict[str, str]
    ignored: list[str]
    rows: Iterator[Row]


def header_key(text: str) -> str:
    """A header compared loosely: case folded, ``ё`` as ``е``, punctuation as spaces,
    spaces collapsed ("Дата рождения:" = "дата  рождения", "E-mail" = "e mail")."""
    folded = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    cleaned = "".join(c if c.isalnum() else " " for c in folded)
    return " ".join(cleaned.split())


def file_format(path: Path) -> str:
    """``.csv`` or ``.xlsx`` (by the name), else refused."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RecordRefused(f"{path.name}: the file must be .csv or .xlsx (by its name), "
                            f"not {suffix or 'without an extension'}", field="file")
    return suffix


# -- the column mapping ------------------------------------------------------------------

def parse_mapping(texts: Iterable[str], map_file: Path | None, fields: Sequence[str]
                  ) -> dict[str, str]:
    """``--map`` texts (``column=field`` pairs separated by commas) and a ``--map-file``
    (one pair a line, ``#`` comments) as normalised column -> field (``""``: ignore)."""
    pairs: list[tuple[str, str]] = []
    for text in texts:
        pairs += [(p, "--map") for p in text.split(",") if p.strip()]
    if map_file is not None:
        try:
            lines = map_file.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordRefused(f"cannot read the mapping file {map_file}: {exc}",
                                field="map") from None
        pairs += [(line, f"{map_file.name} line {n}") for n, line in enumerate(lines, 1)
                  if line.strip() and not line.lstrip().startswith("#")]
    out: dict[str, str] = {}
    for pair, where in pairs:
        column, equals, target = pair.rpartition("=")
        target = target.strip()
        if not equals or not column.strip():
            raise RecordRefused(f"{where}: {B.escaped(pair.strip())!r} is not column=field",
                                field="map")
        if target in ("", "-"):
            target = ""
        elif target not in fields:
            raise RecordRefused(f"{where}: {B.escaped(target)!r} is not a field (use "
                                f"{', '.join(fields)}, or - to ignore the column)",
                                field="map")
        out[header_key(column)] = target
    return out


def _map_columns(header: list[str], layout: Layout, explicit: dict[str, str]
                 ) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """Column index -> field, header text -> field, and the ignored headers."""
    aliases = layout.alias_map()
    by_index: dict[int, str] = {}
    named: dict[str, str] = {}
    ignored: list[str] = []
    taken: dict[str, str] = {}
    keys = [header_key(h) for h in header]
    missing = sorted(set(explicit) - set(keys))
    if missing:
        shown = ", ".join(repr(h) for h in header if h)
        raise RecordRefused(f"the mapping names a column {missing[0]!r} the file does not "
                            f"have (its columns: {shown})", field="map")
    for index, (text, key) in enumerate(zip(header, keys, strict=True)):
        if not key:
            continue
        target = explicit[key] if key in explicit else aliases.get(key, "")
        if not target:
            ignored.append(text)
            continue
        if target in taken and target not in layout.lists:
            raise RecordRefused(f"columns {taken[target]!r} and {text!r} both map to "
                                f"{target}; map one of them to - (--map \"{text}=-\")",
                                field="map")
        taken[target] = text
        by_index[index] = target
        named[text] = target
    for need in layout.required:
        if not set(need) & set(by_index.values()):
            raise RecordRefused(
                f"no column of the file maps to {' or '.join(need)} (its columns: "
                f"{', '.join(repr(h) for h in header if h)}); name it with --map "
                f"\"COLUMN={need[0]}\"", field="map")
    return by_index, named, ignored


# -- cells -------------------------------------------------------------------------------

def is_formula(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` (after our export's ``'`` is taken off)."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return False
    if stripped[0] == "=":
        return True
    if stripped[0] in "+-@":
        return bool(_CALL.match(stripped) or _REF.match(stripped)
                    or _OPERATOR.match(stripped) or _DDE.search(stripped))
    return False


def unescape(text: str) -> str:
    """``text`` without the ``'`` a CSV export puts before a leading ``= + - @``."""
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_START:
        return text[1:]
    return text


def parse_date(text: str) -> str:
    """A date cell's text as ``YYYY-MM-DD``; ValueError with the reason."""
    text = text.strip()
    for pattern, order in ((_ISO, "ymd"), (_DOTTED, "dmy"), (_SLASHED, "?")):
        match = pattern.match(text)
        if match is None or not _TIME.fullmatch(text[match.end():]):
            continue
        a, b, c = (int(g) for g in match.groups())
        if order == "ymd":
            candidates = [(a, b, c)]
        elif order == "dmy":
            candidates = [(c, b, a)]
        else:
            candidates = list(dict.fromkeys([(c, b, a), (c, a, b)]))
        valid = []
        for y, m, d in candidates:
            try:
                valid.append(date(y, m, d))
            except ValueError:
                continue
        if not valid:
            raise ValueError(f"{text} is not a date")
        if len(valid) > 1:
            raise ValueError(f"{text} is ambiguous ({valid[0]} or {valid[1]}?); "
                             "write it YYYY-MM-DD or DD.MM.YYYY")
        return valid[0].isoformat()
    raise ValueError(f"{text} is not a date (YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY)")


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_text(value: Any, name: str, *, is_date: bool = False, formula: bool = False
              ) -> str:
    """One cell as text for field ``name``; RecordRefused for a formula or a bad date."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        return day.isoformat()
    if isinstance(value, time):
        text = value.isoformat()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = _number_text(value)
    else:
        text = str(value)
    if formula or is_formula(unescape(text)):
        shown = B.escaped(text.strip(), 200)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise RecordRefused(f"{name} is a spreadsheet formula ({shown}); formulas are "
                            "refused (paste the values instead)", field=name)
    text = unescape(text).strip()
    if is_date and text:
        try:
            return parse_date(text)
        except ValueError as exc:
            raise RecordRefused(f"{name} {B.escaped(str(exc), 160)}", field=name) from None
    return text


# -- reading -----------------------------------------------------------------------------

def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251", errors="replace")


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any], set[int]]]:
    """(line, cells, formula cell indexes) of each CSV record, empty ones included."""
    try:
        text = _decode(path.read_bytes())
    except OSError as exc:
        raise RecordRefused(f"cannot read {path}: {exc.strerror}", field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RecordRefused(f"{path.name} line {reader.line_num}: not readable as CSV "
                                f"({exc})", field="file") from None
        yield line, cells, set()
        line = reader.line_num + 1


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any], set[int]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises zipfile, XML and key errors alike
        raise RecordRefused(f"{path.name} is not readable as an .xlsx workbook "
                            f"({type(exc).__name__}: {B.escaped(str(exc), 120)})",
                            field="file") from None
    try:
        sheet = workbook.worksheets[0]
        for line, cells in enumerate(sheet.iter_rows(min_row=1), 1):
            formulas = {i for i, c in enumerate(cells) if getattr(c, "data_type", "") == "f"}
            yield line, [c.value for c in cells], formulas
    finally:
        workbook.close()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_sheet(path: Path, layout: Layout, mapping: dict[str, str] | None = None) -> Sheet:
    """Open ``path`` for import as ``layout`` says (the header read and mapped now, the
    rows as they are iterated)."""
    source = (_csv_rows if file_format(path) == ".csv" else _xlsx_rows)(path)
    first = next(((line, cells) for line, cells, _formulas in source
                  if not all(_blank(c) for c in cells)), None)
    if first is None:
        raise RecordRefused(f"{path.name} is empty (no header row)", field="file")
    header = ["" if c is None else str(c).strip() for c in first[1]]
    by_index, named, ignored = _map_columns(header, layout, mapping or {})
    return Sheet(path, first[0], named, ignored, _rows(source, by_index, layout))


def _rows(source: Iterator[tuple[int, list[Any], set[int]]], by_index: dict[int, str],
          layout: Layout) -> Iterator[Row]:
    for line, cells, formulas in source:
        texts: dict[str, list[str]] = {}
        problems: list[tuple[str, str]] = []
        for index, name in by_index.items():
            value = cells[index] if index < len(cells) else None
            if _blank(value) and index not in formulas:
                texts.setdefault(name, [])
                continue
            try:
                text = cell_text(value, name, is_date=name in layout.dates,
                                 formula=index in formulas)
            except RecordRefused as exc:
                problems.append((name, str(exc)))
                continue
            texts.setdefault(name, []).append(text)
        if not problems and not any(t for parts in texts.values() for t in parts):
            continue  # nothing in the mapped columns: an empty row
        joiner = {"addresses": "\n"}
        values = {name: joiner.get(name, ", ").join(t for t in parts if t)
                  for name, parts in texts.items()}
        yield Row(line, values, problems)


# -- writing -----------------------------------------------------------------------------

def write_sheet(path: Path, title: str, header: Sequence[str],
                rows: Iterable[Sequence[Cell]]) -> int:
    """Write a table to ``path`` (.csv or .xlsx by its name), atomically; rows written."""
    suffix = file_format(path)
    count = 0

    def counted() -> Iterator[Sequence[Cell]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            with tmp.open("w", encoding="utf-8", newline="") as out:
                for line in csv_lines(header, counted()):
                    out.write(line)
        else:
            tmp.write_bytes(xlsx_bytes(title, header, counted()))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RecordRefused(f"cannot write {path}: {exc.strerror}", field="file") from None
    return count


def joined(values: Iterable[Any], sep: str = ", ") -> str:
    """A list field as one cell (phones, e-mails, groups: ``", "``; addresses: lines)."""
    return sep.join(str(v) for v in values)
