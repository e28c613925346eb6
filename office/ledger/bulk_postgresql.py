"""PostgreSQL's bulk path of the flash ingest (``office.ledger.ingest_bulk``): COPY.

The new sales go with ``COPY`` (psycopg's ``cursor.copy()``, text format) straight into
``sales``, and their wallet debits into ``wallet_debits``: no staging table and no
``INSERT ... ON CONFLICT``, which cost about twice the COPY. What makes that safe:

* **Dedupe by what the office holds.** The bundle's seqs the office already holds are
  read once, as runs (``_HELD``), under the station's lock that every ingest path takes
  (``db.lock_station``): nobody else stores this station's sales until the transaction
  ends. A chunk's lines inside a held run are compared with the stored hashes (a
  different hash is a fork, refused) and not copied; the others are new and copied.
  So a re-import, an overlapping bundle or one after MQTT delivered part of it store
  each sale once, and a duplicate key cannot happen.
* **The same verdict as the MQTT path.** A line is stored only when it certainly
  passes ``sale_checks.check_row`` and is the journal's canonical form: ``_fast_pattern``
  matches the canonical line of a plain sale exactly (sorted keys, no spaces, printable
  ASCII text without escapes, canonical integers within the sale's bounds, the
  station's own id); any line it does not match (a priced sale, text with escapes, a
  bad line) is judged by the MQTT path's own row check (``ingest_bulk.judge``), which
  gives the verdict and the sentence.
* **Refused whole.** A refused line or fork raises ``Refused`` inside the bundle's
  savepoint: the COPY is abandoned (psycopg ends it with an error) and everything the
  bundle copied is rolled back. Within a chunk the refusals keep the order of the
  staged path: a line that is not ASCII at once; then a line beyond the range, then the
  first bad line, then the first fork, each at the end of its chunk.

Speed: the server must never wait for us. One thread hashes the lines and formats them
a slice at a time (``SLICE_ROWS``): a slice of plain sales is read by one ``findall``
and its COPY text joined from the groups as they are, in C (an absent optional field is
an empty group, which this COPY takes as null); only the roll-ups are summed per sale
in Python, as the MQTT path sums them (``rollups.Counts``), and merged once a bundle.
psycopg's sending thread (``QueuedLibpqWriter``) feeds the socket meanwhile, with a
short switch interval (``SWITCH_INTERVAL``) so it gets the GIL often enough, and the
server parses, inserts and indexes the rows on the other core. One COPY spans the
bundle: it is ended only to read the stored hashes of a chunk that reaches into a held
run. ``bench/flash_import.py`` measures it against a bare COPY of the same rows.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from operator import itemgetter
from time import sleep
from typing import Any

from psycopg.copy import QueuedLibpqWriter

from cloud_sync import wire
from core.formats.journal import HASHED_FIELDS, ODOMETER_FLAGS, OPTIONAL_FIELDS, pricing_text
from office.ledger import rollups
from office.ledger.ingest_bulk import Line, judge, stored_fork
from office.ledger.sale_checks import (
    MAX_ODOMETER_KM,
    MAX_TEXT,
    MAX_VEHICLE_LEN,
    MAX_WALLET_DEBIT,
    SALE_INTS,
    Refused,
)
from office.ledger.sale_rows import COPY_DEBITS
from office.store import OfficeConnection

#: The seqs of first..last the office holds, as runs (first, last) of consecutive seqs.
_HELD = ("SELECT MIN(seq), MAX(seq) FROM (SELECT seq, seq - ROW_NUMBER() OVER (ORDER BY "
         "seq) AS run FROM sales WHERE station_id = ? AND seq BETWEEN ? AND ?) s "
         "GROUP BY run ORDER BY 1")
_HASHES = "SELECT seq, hash FROM sales WHERE station_id = %s AND seq BETWEEN %s AND %s"
#: COPY's null in the sales COPY (``NULL ''``): a plain line's absent optional field is
#: an empty group, joined as it is. No column of ``sales`` holds an empty text: every
#: text a sale carries is non-empty (sale_checks), and ``_copy_value`` refuses one.
_NULL = ""

# -- the fast path: a regular expression for the canonical line of a plain sale -------------
_PRINTABLE = r"[ !#-\[\]-~]"  # printable ASCII but '"' and '\': text JSON keeps as it is
_TS = r'"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)"'  # bounds.TIMESTAMP
#: The integers whose bound needs a look when they have as many digits as it.
_BOUNDED = {**SALE_INTS, "odometer_km": (0, MAX_ODOMETER_KM)}
_WALLET_INT = f"(?:0|-?[1-9][0-9]{{0,{len(str(MAX_WALLET_DEBIT)) - 1}}})"
_WALLET_PAIR = f'"{_PRINTABLE}{{1,{MAX_TEXT}}}":{_WALLET_INT}'
#: Every field's group, in the canonical line's (sorted) key order; pricing has none.
GROUPS = ("amount", "authorized_at", "card_id", "completed_at", "odometer_flag",
          "odometer_km", "product", "pump", "sale_id", "seq", "unit_price", "vehicle_id",
          "volume_ml", "wallet_debits")


def at_most(high: int, *, low: int = 0) -> str:
    """A regular expression of the canonical decimals of ``low``..``high`` exactly
    (``low`` 0 or 1): no leading zero, no sign; the bound needs no look afterwards."""
    if low not in (0, 1) or high < max(low, 1):
        raise ValueError(f"no pattern for {low}..{high}")
    text, width = str(high), len(str(high))
    alternatives = ["0"] if low == 0 else []
    if width > 1:  # 1 .. 10**(width-1) - 1: any shorter number
        alternatives.append(f"[1-9][0-9]{{0,{width - 2}}}")
    for i, digit in enumerate(text):  # as long as high: smaller at position i, same before
        smallest = 1 if i == 0 else 0
        if int(digit) > smallest:
            rest = f"[0-9]{{{width - i - 1}}}" if i < width - 1 else ""
            alternatives.append(f"{text[:i]}[{smallest}-{int(digit) - 1}]{rest}")
    alternatives.append(text)
    return "(?:" + "|".join(alternatives) + ")"


def _int(name: str) -> str:
    low, high = _BOUNDED[name]
    return f"({at_most(high, low=low)})"


def _value(name: str, station_id: str) -> str:
    if name in _BOUNDED:
        return _int(name)
    if name in ("authorized_at", "completed_at"):
        return _TS
    if name in ("sale_id", "card_id", "product"):
        return f'"({_PRINTABLE}{{1,{MAX_TEXT}}})"'
    if name == "vehicle_id":
        return f'"({_PRINTABLE}{{1,{MAX_VEHICLE_LEN}}})"'
    if name == "odometer_flag":
        return '"(' + "|".join(re.escape(f) for f in ODOMETER_FLAGS) + ')"'
    if name == "seq":
        return "([1-9][0-9]{0,18})"
    if name == "wallet_debits":
        return f"(\\{{(?:{_WALLET_PAIR}(?:,{_WALLET_PAIR}){{0,99}})?\\}})"
    if name == "station_id":  # the sender's own id, as the canonical line spells it
        return re.escape(json.dumps(station_id, ensure_ascii=True))
    raise ValueError(f"no fast pattern for {name}")


@lru_cache(maxsize=256)
def _fast_pattern(station_id: str) -> re.Pattern[str] | None:
    """The canonical line of a plain sale of ``station_id``, anchored at line ends (None:
    judge every line): ``fullmatch`` one line, or ``findall`` over many joined by
    newlines, which gives each whole line's groups (no part of the pattern matches a
    newline, so a match is one whole line)."""
    if not wire.is_text(station_id, max_len=64):
        return None
    parts = []
    for name in sorted((*HASHED_FIELDS, *OPTIONAL_FIELDS)):
        if name == "pricing":
            continue  # a priced line is read by its one reader, in Python
        field = f'"{name}":{_value(name, station_id)}'
        parts.append(f"(?:,{field})?" if name in OPTIONAL_FIELDS else f",{field}")
    pattern = re.compile("^\\{" + "".join(parts)[1:] + "\\}$", re.MULTILINE)
    if pattern.groups != len(GROUPS):
        raise AssertionError("the fast pattern's groups are not GROUPS")
    return pattern


def _wallet(text: str) -> dict[str, int] | None:
    """A fast line's non-empty ``wallet_debits`` when canonical and within bounds."""
    debits = json.loads(text)
    if json.dumps(debits, sort_keys=True, separators=(",", ":")) != text or \
            any(abs(v) > MAX_WALLET_DEBIT for v in debits.values()):
        return None  # keys out of order or twice, or a debit too large: judged
    return dict(debits)


# -- COPY text --------------------------------------------------------------------------------
#: The columns in the order of the COPY text: the line's hash links, the fast pattern's
#: groups (its canonical key order), then what is the same for every line of a bundle:
#: the fast path joins a line's groups as they are and ends each row with the constants.
COPY_COLUMNS = ("prev_hash", "hash", *GROUPS, "received_at", "via", "station_id", "pricing")
_COPY_SALES = f"COPY sales ({', '.join(COPY_COLUMNS)}) FROM STDIN (NULL '')"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TEXT, _PREV, _DIGEST = itemgetter(1), itemgetter(2), itemgetter(3)
(_AMOUNT, _CARD, _COMPLETED, _PRODUCT, _SEQ, _VOLUME,
 _WALLET) = (GROUPS.index(k) for k in ("amount", "card_id", "completed_at", "product", "seq",
                                       "volume_ml", "wallet_debits"))
_SEQ_OF, _WALLET_OF = itemgetter(_SEQ), itemgetter(_WALLET)
_ROLLUP_OF = itemgetter(_COMPLETED, _PRODUCT, _CARD, _VOLUME, _AMOUNT)
#: Lines the fast path takes at a time: one ``findall``, one COPY write (about 300 KB).
SLICE_ROWS = 1024


def _copy_value(value: Any) -> str:
    if value is None:
        return _NULL
    if value == "":
        raise ValueError("an empty text would be COPY's null")
    if isinstance(value, int):
        return str(value)
    return str(value).translate(_ESCAPES)


def _judged(seq: int, line: str, prev: str, digest: str, *, station_id: str, tail: str
            ) -> tuple[str, dict[str, Any], dict[str, int]]:
    """A line the fast path did not take: the MQTT path's verdict (raises Refused),
    then its COPY text (ending with ``tail`` but for pricing), the sale and its
    wallet debits."""
    row = judge(seq, line, prev, digest, station_id)
    values = {**row, "wallet_debits": json.dumps(row["wallet_debits"], sort_keys=True,
                                                 separators=(",", ":"))}
    pricing = row.get("pricing")
    text = "\t".join(_copy_value(values.get(k)) for k in ("prev_hash", "hash", *GROUPS)) + \
        tail[:-len(_NULL) - 1] + _copy_value(pricing_text(pricing) if pricing is not None
                                              else None) + "\n"
    return text, row, dict(row["wallet_debits"])


# -- storing ----------------------------------------------------------------------------------
#: Python's thread switch interval during a bundle's ingest (seconds; the default is
#: 0.005): the thread that sends the COPY text (psycopg's ``QueuedLibpqWriter``) waits
#: for the GIL while this one formats; at the default it gets it too seldom to keep the
#: server fed (1,000,000 sales: 25.4 s, 23.7 s at 0.0005; docs/benchmarks.md).
SWITCH_INTERVAL = 0.0005


@contextmanager
def session(conn: OfficeConnection) -> Iterator[None]:  # noqa: ARG001 - the process's
    """The switch interval for one bundle's ingest, restored after it."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Copier:
    """Formats one chunk's new lines and hands them to COPY; what the chunk found.

    Lines go a slice at a time (``SLICE_ROWS``): when every line of a slice is a plain
    sale (the fast pattern matches each, their seqs run on, their wallet debits are
    canonical) one ``findall`` reads them and their COPY text is joined from the groups
    as they are, in C; a slice that is not (a priced sale, an escape, a bad line, a line
    the office holds) goes line by line, each line the fast pattern does not match
    judged by the MQTT path's row check.
    """

    def __init__(self, station_id: str, counts: rollups.Counts, *, via: str, at: str) -> None:
        self.station_id = station_id
        self.counts = counts
        self.fast = _fast_pattern(station_id)
        #: What ends every row: the bundle's constants, pricing null (fast rows have none).
        self.tail = f"\t{at}\t{via}\t{_copy_value(station_id)}\t{_NULL}\n"
        self.debits: list[str] = []
        self.days: dict[str, tuple[str, str]] = {}  # UTC minute -> local day and month
        self.daily: dict[tuple[str, str], list[int]] = {}
        self.monthly: dict[tuple[str, str], list[int]] = {}

    def chunk(self, chunk: list[Line], held: dict[int, str], copy: Any
              ) -> tuple[int, Refused | None, int | None]:
        """(rows copied, the first bad line's refusal, the first forked seq)."""
        bad: Refused | None = None
        fork: int | None = None
        copied = 0
        for start in range(0, len(chunk), SLICE_ROWS):
            part = chunk[start:start + SLICE_ROWS]
            text = None if held or bad is not None else self._fast(part)
            if text is None:
                text, n, bad, fork = self._slow(part, held, bad, fork)
            else:
                n = len(part)
            if bad is None and text:
                copy.write(text)
                sleep(0)  # the GIL to the thread that sends, if it waits
            copied += n
        return copied, bad, fork

    def counted(self) -> None:
        """Hand what the chunks summed to the roll-ups (once: a bundle's 20,000 cards
        are merged once, not once a chunk)."""
        self.counts.add_summed(self.daily, self.monthly)
        self.daily, self.monthly = {}, {}

    def _fast(self, part: list[Line]) -> str | None:
        """The slice's COPY text when every line is a plain sale; None otherwise."""
        if self.fast is None:
            return None
        rows = self.fast.findall("\n".join(map(_TEXT, part)))
        first = part[0][0]
        if len(rows) != len(part) or \
                list(map(_SEQ_OF, rows)) != list(map(str, range(first, first + len(part)))):
            return None
        if any(map("{}".__ne__, map(_WALLET_OF, rows))):
            debits = [(seq, _wallet(wallet)) for seq, wallet in
                      enumerate(map(_WALLET_OF, rows), first) if wallet != "{}"]
            if any(d is None for _, d in debits):
                return None
            for seq, got in debits:
                self._debits(seq, got or {})
        self._count(map(_ROLLUP_OF, rows))
        # an optional field a line lacks is an empty group: COPY's null as it is
        return self.tail.join(map("\t".join, zip(map(_PREV, part), map(_DIGEST, part),
                                                    map("\t".join, rows), strict=True))) + \
            self.tail

    def _count(self, sales: Iterable[tuple[str, str, str, str, str]]) -> None:
        """The roll-ups of plain sales (completed_at, product, card, volume, amount)."""
        days, days_of = self.days, self.counts.days
        daily, monthly = self.daily, self.monthly
        for completed, product, card, volume, amount in sales:
            minute = completed[:16]
            local = days.get(minute)
            if local is None:
                local = days[minute] = days_of(minute)
            ml, money = int(volume), int(amount)
            got = daily.get((local[0], product))
            if got is None:
                daily[local[0], product] = [1, ml, money, 0]
            else:
                got[0] += 1
                got[1] += ml
                got[2] += money
            got = monthly.get((local[1], card))
            if got is None:
                monthly[local[1], card] = [1, ml, money, 0]
            else:
                got[0] += 1
                got[1] += ml
                got[2] += money

    def _slow(self, part: list[Line], held: dict[int, str], bad: Refused | None,
              fork: int | None) -> tuple[str, int, Refused | None, int | None]:
        """Line by line: (COPY text, rows in it, the first bad line's refusal so far, the
        first forked seq so far)."""
        station_id, tail = self.station_id, self.tail
        match = self.fast.fullmatch if self.fast is not None else None
        block: list[str] = []
        for seq, line, prev, digest in part:
            known = False  # a line the office holds is judged, compared, not copied
            if held:
                stored = held.get(seq)
                if stored is not None:
                    known = True
                    if stored != digest and fork is None:
                        fork = seq
            if bad is not None:
                continue  # the chunk is refused: only the first bad line counts
            m = match(line) if match is not None else None
            if m is not None and int(m.group(_SEQ + 1)) == seq:
                groups = m.groups()
                wallet = groups[_WALLET]
                debits = None if wallet == "{}" else _wallet(wallet)
                if wallet == "{}" or debits is not None:
                    if known:
                        continue
                    self._count((_ROLLUP_OF(groups),))
                    if debits:
                        self._debits(seq, debits)
                    block.append("\t".join((prev, digest, *(g or _NULL for g in groups)))
                                 + tail)
                    continue
            try:
                text, row, debits = _judged(seq, line, prev, digest, station_id=station_id,
                                             tail=tail)
            except Refused as refused:
                bad = refused
                continue
            if known:
                continue
            self.counts.add_sale(row)
            self._debits(seq, debits)
            block.append(text)
        return "".join(block), len(block), bad, fork

    def _debits(self, seq: int, debits: dict[str, int]) -> None:
        for wallet, value in sorted(debits.items()):
            self.debits.append(f"{_copy_value(self.station_id)}\t{seq}\t"
                               f"{_copy_value(wallet)}\t{value}\n")


def store_chunks(conn: OfficeConnection, station_id: str, chunks: Iterable[list[Line]], *,
                 first: int, last: int, via: str, at: str) -> tuple[int, int, str]:
    """COPY each chunk's new lines into ``sales`` (``ingest_bulk.Dialect``)."""
    from django.db import connection

    runs = [(int(a), int(b)) for a, b in conn.execute(_HELD, (station_id, first, last))]
    counts = rollups.Counts(rollups.zone(conn))
    copier = _Copier(station_id, counts, via=via, at=at)
    conn.activate()
    stored = seen = 0
    last_hash = ""
    with connection.cursor() as wrapper, connection.wrap_database_errors, \
            ExitStack() as open_copy:  # a failed COPY raises Django's errors, as others do
        cursor = wrapper.cursor  # psycopg's own cursor under Django's
        copy = None  # one COPY across the chunks, ended to read what the office holds
        for chunk in chunks:
            lo, hi = chunk[0][0], chunk[-1][0]
            held: dict[int, str] = {}
            if any(a <= hi and b >= lo for a, b in runs):
                open_copy.close()  # the COPY so far is stored; the held hashes read
                copy = None
                held = dict(cursor.execute(_HASHES, (station_id, lo, hi)).fetchall())
            if copy is None:  # its own thread sends the text: formatting never waits
                copy = open_copy.enter_context(
                    cursor.copy(_COPY_SALES, writer=QueuedLibpqWriter(cursor)))
            copied, bad, fork = copier.chunk(chunk, held, copy)
            if bad is not None:
                raise bad  # in the COPY: ends it with an error, nothing of it is kept
            if fork is not None:
                raise stored_fork(fork, last)
            stored += copied
            seen += len(chunk)
            last_hash = chunk[-1][3]
        open_copy.close()
        if copier.debits:
            with cursor.copy(COPY_DEBITS) as copy:
                for start in range(0, len(copier.debits), 1000):
                    copy.write("".join(copier.debits[start:start + 1000]))
    copier.counted()
    counts.store(conn, station_id)
    return stored, seen, last_hash
