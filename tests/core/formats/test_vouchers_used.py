"""The card store's redeemed vouchers: the ``vouchers_used`` delta operation and snapshot
key are parsed strictly, naming the place of what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import CardStoreFormatError
from core.formats.deltas import parse_ops
from core.formats.snapshot import parse_snapshot
from core.formats.vouchers import MAX_USED_PER_OP

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "card-store.json"


def op(serials: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"op": "stop_add", "identifier": "X-1"},
            {"op": "vouchers_used", "serials": serials, **extra}]


def test_the_op_gives_the_serials_sorted_once() -> None:
    ops = parse_ops(op(["000002000001", "000001000042", "000001000042"]))
    assert ops[1] == ("vouchers_used", ["000001000042", "000002000001"])
    assert parse_ops(op([]))[1] == ("vouchers_used", [])
    assert len(parse_ops(op([f"000001{i:06d}" for i in range(1, MAX_USED_PER_OP + 1)]))[1][1]
               ) == MAX_USED_PER_OP


@pytest.mark.parametrize("serials, words", [
    (["000001000042", "00000100004"], r"ops\[1\]\.serials\[1\] must be a voucher serial .*"
                                      r"got '00000100004'"),
    (["000001000042", "0000010000421"], r"ops\[1\]\.serials\[1\] must be a voucher serial"),
    (["00000100004x"], r"ops\[1\]\.serials\[0\] must be a voucher serial"),
    (["000000000001"], r"ops\[1\]\.serials\[0\] .*neither 000000"),
    (["000001000000"], r"ops\[1\]\.serials\[0\] .*neither 000000"),
    ([1000042], r"ops\[1\]\.serials\[0\] must be a voucher serial .*got 1000042"),
    (["٠٠٠٠٠١٠٠٠٠٤٢"], r"ops\[1\]\.serials\[0\] must be a voucher serial"),  # Arabic digits
    ("000001000042", r"ops\[1\]\.serials must be a JSON array"),
    ([f"000001{i:06d}" for i in range(1, MAX_USED_PER_OP + 2)],
     r"ops\[1\]\.serials has 10001 serials; at most 10000"),
])
def test_a_bad_serial_or_too_many_refuses_the_delta(serials: Any, words: str) -> None:
    with pytest.raises(CardStoreFormatError, match=words):
        parse_ops(op(serials))


def test_an_unknown_key_or_a_missing_list_refuses_the_delta() -> None:
    with pytest.raises(CardStoreFormatError, match=r"ops\[1\]: unknown or malformed "
                                                   r"operation 'vouchers_used'"):
        parse_ops(op(["000001000042"], station="S-001"))
    with pytest.raises(CardStoreFormatError, match=r"ops\[0\]: unknown or malformed"):
        parse_ops([{"op": "vouchers_used"}])


def snapshot(**changes: Any) -> bytes:
    doc = json.loads(SAMPLE.read_text())
    doc.update(changes)
    return json.dumps(doc).encode()


def test_the_snapshot_key_is_optional_and_strict() -> None:
    assert parse_snapshot(snapshot()).vouchers_used == []
    snap = parse_snapshot(snapshot(vouchers_used=["000003000001", "000001000042"]))
    assert snap.vouchers_used == ["000001000042", "000003000001"]
    # A snapshot may carry more than one operation may (every redeemed voucher).
    many = [f"000001{i:06d}" for i in range(1, MAX_USED_PER_OP + 2)]
    assert len(parse_snapshot(snapshot(vouchers_used=many)).vouchers_used) == len(many)
    with pytest.raises(CardStoreFormatError, match=r"^vouchers_used\[1\] must be a voucher "):
        parse_snapshot(snapshot(vouchers_used=["000001000042", "1"]))
    with pytest.raises(CardStoreFormatError, match=r"^vouchers_used must be a JSON array"):
        parse_snapshot(snapshot(vouchers_used={"000001000042": True}))
    with pytest.raises(CardStoreFormatError, match=r"^voucher_used is not a known field"):
        parse_snapshot(snapshot(voucher_used=["000001000042"]))
