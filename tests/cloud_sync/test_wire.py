"""The one decoder and the shape checks every peer's message goes through (issue 10 #10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from cloud_sync import wire
from cloud_sync.envelope import EnvelopeError, open_envelope, seal

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=3), kids, max_size=3), max_leaves=40)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


@given(JSON, st.integers(0, 6))
def test_too_deep_agrees_with_a_recursive_count(value: Any, limit: int) -> None:
    assert wire.too_deep(value, limit) == (nesting(value) > limit)


@pytest.mark.parametrize("data", [b"[" * 100_000, b"{\"a\":" * 50_000, b"[" * 33 + b"]" * 33,
                                  b'{"a": NaN}', b"[Infinity]", b"\xff", b""])
def test_what_cannot_be_used_is_malformed_in_one_sentence(data: bytes) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode(data, what="the message", max_bytes=1 << 20)
    assert info.value.reason == "malformed" and str(info.value).startswith("the message is")


def test_the_size_cap_comes_first() -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode(b"[" * 2000, what="x", max_bytes=1000)
    assert info.value.reason == "too_large"
    assert wire.decode(b"[" * 32 + b"]" * 32, what="x", max_bytes=1000) is not None


def test_a_signed_envelope_nested_too_deep_is_refused_before_its_signature() -> None:
    key = Ed25519PrivateKey.generate()
    body: Any = 1
    for _ in range(40):
        body = [body]
    data = seal("status", "S-001", "office", {"x": body}, key)
    with pytest.raises(EnvelopeError) as info:
        open_envelope(data, recipient="office", key_for=lambda s: key.public_key())
    assert info.value.reason == "malformed" and "nested" in str(info.value)
    assert json.loads(data)  # Python itself parses it: the cap is ours


@pytest.mark.parametrize("field,value", [("from", "\ud800"), ("from", "S-001\x00"),
                                         ("to", "office\n"), ("kind", "status\ud800"),
                                         ("id", "\x1b[2J"), ("from", "S" * 65)])
def test_envelope_names_that_cannot_be_stored_or_shown_are_malformed(field: str,
                                                                     value: str) -> None:
    """A lone surrogate reached SQLite (UnicodeEncodeError in the office's callback)."""
    key = Ed25519PrivateKey.generate()
    raw = json.loads(seal("status", "S-001", "office", {}, key))
    raw[field] = value
    with pytest.raises(EnvelopeError) as info:
        open_envelope(json.dumps(raw).encode(), recipient="office",
                      key_for=lambda s: None if "\ud800" in s else key.public_key())
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("body,problem", [
    ({"station_id": "S-001", "from_seq": 0, "to_seq": 5}, "from_seq must be an integer >= 1"),
    ({"station_id": "S-001", "from_seq": 6, "to_seq": 5}, "to_seq must be at least from_seq"),
    ({"station_id": "S-001", "from_seq": True, "to_seq": 5}, "from_seq must be an integer"),
    ({"station_id": "S-001", "from_seq": 1}, "lacks to_seq"),
    ({"station_id": "S-001", "from_seq": 1, "to_seq": 2, "all": 1}, "unknown field(s) all"),
    ({"station_id": "S-002", "from_seq": 1, "to_seq": 2}, "names station 'S-002'"),
])
def test_a_resend_request_is_checked_whole(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.check_body("resend", body, "S-001")
    assert problem in str(info.value)
    wire.check_body("resend", {"station_id": "S-001", "from_seq": 3, "to_seq": 3}, "S-001")


def test_a_status_may_say_its_last_receipt_and_nothing_else_new() -> None:
    status = {"station_id": "S-001", "online": True, "outbox_depth": 0,
              "oldest_undelivered_at": None, "card_store_version": 3}
    wire.check_body("status", status, "S-001")  # an older station's: no last_receipt_seq
    wire.check_body("status", {**status, "last_receipt_seq": 12}, "S-001")
    with pytest.raises(wire.WireError, match="last_receipt_seq must be an integer"):
        wire.check_body("status", {**status, "last_receipt_seq": -1}, "S-001")
