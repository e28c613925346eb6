"""PostgreSQL's flash path formats a slice of plain sales in one go exactly as it
formats them line by line (office.ledger.bulk_postgresql).

The slice path (one ``findall``, the COPY text joined from the groups) and the line
path (``fullmatch`` per line, or the MQTT path's row check) must give the same COPY
text, the same wallet debit rows and the same roll-ups; a slice holding anything but
plain sales must be left to the line path. The database side (what COPY stores, on
both paths, against the MQTT ingest) is tests/office/test_ingest_bulk.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.formats.journal import GENESIS
from office.ledger import rollups
from office.ledger.bulk_postgresql import COPY_COLUMNS, _Copier, at_most
from office.ledger.ingest_bulk import Line
from tests.office.bulk_journal import STATION, ZONE, journal

AT = "2026-11-22T12:00:00.000000Z"


def lines_of(rows: list[dict[str, Any]]) -> list[Line]:
    """The staged lines of journal rows, chained as the station chains them."""
    out: list[Line] = []
    prev = GENESIS
    for row in rows:
        fields = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()
        out.append((row["seq"], text, prev, digest))
        prev = digest
    return out


def plain_rows(count: int) -> list[dict[str, Any]]:
    """Plain sales: wallet debits, vehicles, odometers and flags, but no escapes."""
    rows, _ = journal(count)
    for row in rows:
        row["card_id"] = f"C-{row['seq'] % 3}"
    return rows


def copier() -> _Copier:
    return _Copier(STATION, rollups.Counts(ZONE), via="flash", at=AT)


def test_a_slice_of_plain_sales_is_formatted_as_line_by_line() -> None:
    part = lines_of(plain_rows(60))
    fast, slow = copier(), copier()
    text = fast._fast(part)
    assert text is not None, "plain sales must take the slice path"
    slow_text, copied, bad, fork = slow._slow(part, {}, None, None)
    assert (copied, bad, fork) == (60, None, None)
    assert text == slow_text
    assert fast.debits == slow.debits and len(fast.debits) == 2 * 15  # every 4th: 2 wallets
    assert (fast.daily, fast.monthly) == (slow.daily, slow.monthly) != ({}, {})
    assert sum(f[0] for f in fast.daily.values()) == 60
    row = text.split("\n")[4].split("\t")  # seq 5: a vehicle and its odometer, no flag
    assert len(row) == len(COPY_COLUMNS)
    fields = dict(zip(COPY_COLUMNS, row, strict=True))
    assert (fields["seq"], fields["vehicle_id"], fields["odometer_km"],
            fields["odometer_flag"], fields["pricing"]) == ("5", "V-1", "100005", "", "")
    assert (fields["station_id"], fields["received_at"], fields["via"]) == (STATION, AT,
                                                                            "flash")
    assert text.split("\n")[9].split("\t")[COPY_COLUMNS.index("odometer_flag")] == \
        "odometer_unreasonable"


@pytest.mark.parametrize("change", ["escape", "seq", "wallet order", "wallet bound",
                                    "pricing", "bound"])
def test_a_slice_with_anything_but_plain_sales_goes_line_by_line(change: str) -> None:
    rows = plain_rows(12)
    row = rows[7]  # seq 8: has wallet debits
    if change == "escape":
        row["card_id"] = 'a"b'
    elif change == "seq":
        row["seq"] = 80
    elif change == "wallet bound":
        row["wallet_debits"] = {"W-0": 10**14 + 1}
    elif change == "pricing":
        row["pricing"] = {"list_amount": row["amount"]}
    elif change == "bound":
        row["pump"] = 100
    part = lines_of(rows)
    if change == "wallet order":  # canonical JSON sorts keys: a hand-made line may not
        seq, text, prev, _ = part[7]
        text = text.replace('{"W-0":8,"W-1":-42392}', '{"W-1":-42392,"W-0":8}')
        assert '"W-1":-42392,"W-0":8' in text
        part[7] = (seq, text, prev, hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest())
    taken = copier()
    assert taken._fast(part) is None
    assert taken.debits == [] and taken.daily == {} and taken.monthly == {}


@given(high=st.integers(1, 10**15) | st.sampled_from([1, 9, 10, 99, 100, 10**7, 10**14]),
       low=st.sampled_from([0, 1]), value=st.integers(0, 10**16))
def test_at_most_matches_exactly_the_numbers_in_bounds(high: int, low: int,
                                                       value: int) -> None:
    pattern = re.compile(at_most(high, low=low))
    for x in (value, value % (high + 2), high, high + 1, low, low - 1 if low else 0):
        assert bool(pattern.fullmatch(str(x))) == (low <= x <= high), (high, low, x)
    for text in ("0" + str(high), "-1", "+1", "", f"{high}.0", f" {high}"):
        assert pattern.fullmatch(text) is None
