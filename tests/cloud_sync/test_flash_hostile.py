"""Hostile flash-drive bundles (issue 10 #0 and #10), in process over real stores and keys.

An enrolled station S-002 signs bundles with its own key that name S-001 in the header,
the summary, the status or the sale lines; bundles and replies nested 100,000 deep or
with a wrong shape. Each is refused whole with a reason and one sentence (counted at
the office), and neither store changes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud_sync.bundle import MAGIC, BundleError, BundleWriter, read_header
from cloud_sync.envelope import OFFICE, canonical
from cloud_sync.flash_station import reply_name, sales_name
from core.formats.journal import GENESIS
from core.formats.journal import canonical as canonical_row
from core.keys import public_text
from tests.cloud_sync.flash_desk import STATION_ID, Desk

OTHER = "S-002"
DEEP = b"[" * 100_000


@pytest.fixture
def other_key(desk: Desk) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    desk.enrol(OTHER, public_text(key))
    return key


def refused(call: Any, *args: Any) -> BundleError:
    with pytest.raises(BundleError) as info:
        call(*args)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    return info.value


def status(station_id: str) -> dict[str, Any]:
    return {"station_id": station_id, "outbox_depth": 0, "oldest_undelivered_at": None,
            "card_store_version": 17, "alarms": []}


def summary(station_id: str, rows: list[dict[str, Any]], status_of: str | None = None
            ) -> bytes:
    meta = {"station_id": station_id, "first_seq": rows[0]["seq"] if rows else None,
            "last_seq": rows[-1]["seq"] if rows else None, "sales": len(rows),
            "first_prev_hash": rows[0]["prev_hash"] if rows else GENESIS,
            "last_hash": rows[-1]["hash"] if rows else GENESIS,
            "volume_ml": 0, "amount": 0, "status": status(status_of or station_id)}
    return canonical(meta)


def forged(desk: Desk, key: Ed25519PrivateKey, *, header_station: str, lines: list[bytes],
           name: str | None = None, sender: str = OTHER, **header_fields: Any) -> Path:
    """A sales bundle signed by S-002's own enrolled key."""
    header = {"kind": "sales", "from": sender, "to": OFFICE, "station_id": header_station,
              "created_at": "2026-11-20T10:00:00.000000Z",
              "range": {"first_seq": None, "last_seq": None, "sales": 0}, **header_fields}
    directory = desk.root / "forged"
    directory.mkdir(exist_ok=True)
    with BundleWriter(directory, name or sales_name(OTHER), header, signer=key,
                      recipient=desk.office_key.public_key()) as writer:
        writer.write(b"\n".join(lines) + b"\n")
        return writer.commit().path


def refusals(desk: Desk) -> dict[str, int]:
    return dict(desk.office.execute("SELECT reason, count FROM refused_messages").fetchall())


def test_a_bundle_naming_another_station_is_refused(desk: Desk,
                                                    other_key: Ed25519PrivateKey) -> None:
    desk.sell(3)
    rows = desk.journal()  # S-001's real sales, which S-002 has copied
    lines = [canonical_row(r) for r in rows]
    before = desk.office_state()
    cases = {
        "header": forged(desk, other_key, header_station=STATION_ID,
                         lines=[summary(OTHER, [])], name="a.fcb"),
        "summary": forged(desk, other_key, header_station=OTHER,
                          lines=[summary(STATION_ID, rows), *lines], name="b.fcb"),
        "status": forged(desk, other_key, header_station=OTHER,
                         lines=[summary(OTHER, [], status_of=STATION_ID)], name="c.fcb"),
    }
    for what, path in cases.items():
        err = refused(desk.office_import, path)
        assert err.reason == "wrong_station", what
        assert STATION_ID in str(err) and path.name in str(err), what
    assert refusals(desk)["wrong_station"] == 3
    assert desk.office_state() == before
    # The sale lines are S-001's: the whole bundle is quarantined, nothing stored.
    result = desk.office_import(forged(desk, other_key, header_station=OTHER,
                                       lines=[summary(OTHER, rows), *lines]))
    assert (result["quarantined"], result["stored"]) == ("wrong_station", 0)
    assert "belongs to station 'S-001'" in result["detail"]
    assert desk.office_sales() == []
    assert desk.office.one("SELECT COUNT(*) FROM sales")[0] == 0
    # S-001's own bundle is then taken whole.
    assert desk.office_import(desk.export())["stored"] == 3


def test_deeply_nested_or_misshapen_bundles_are_refused(desk: Desk,
                                                        other_key: Ed25519PrivateKey) -> None:
    before = desk.office_state()
    err = refused(desk.office_import, forged(desk, other_key, header_station=OTHER,
                                             lines=[DEEP], name="deep.fcb"))
    assert err.reason == "malformed" and "nested" in str(err)
    bad_alarms = canonical({**json.loads(summary(OTHER, [])),
                            "status": {**status(OTHER), "alarms": [{"x": [1]}] * 3}})
    result = desk.office_import(forged(desk, other_key, header_station=OTHER,
                                       lines=[bad_alarms], name="alarms.fcb"))
    assert result["quarantined"] == "malformed" and "alarms" in result["detail"]
    # A sale line nested 100,000 deep (SQLite's JSON parser gives up, then Python's).
    meta = {**json.loads(summary(OTHER, [])), "first_seq": 1, "last_seq": 1, "sales": 1,
            "last_hash": "ab" * 32}
    result = desk.office_import(forged(desk, other_key, header_station=OTHER,
                                       lines=[canonical(meta), DEEP], name="line.fcb"))
    assert result["quarantined"] == "malformed" and "nested" in result["detail"]
    state = desk.office_state()
    assert state["sales"] == before["sales"] == []
    # A header nested too deep, before any signature can be checked.
    path = desk.root / "header.fcb"
    head = b"[" * 60_000
    path.write_bytes(MAGIC + struct.pack(">I", len(head)) + head + b"\0" * 200)
    err = refused(read_header, path)
    assert err.reason == "damaged" and "nested" in str(err)
    err = refused(desk.office_import, path)
    assert err.reason == "damaged"



@pytest.mark.parametrize(("field", "value"), [("volume_ml", [1]), ("amount", "12.50"),
                                              ("volume_ml", -1), ("amount", 2**64)])
def test_a_summary_whose_totals_are_not_whole_numbers_is_refused(
        desk: Desk, other_key: Ed25519PrivateKey, field: str, value: object) -> None:
    """Issue 10 #10 sibling: the summary's totals are shown and logged by the office, so
    they are checked like every other number (they were repeated as they came)."""
    bad = canonical({**json.loads(summary(OTHER, [])), field: value})
    result = desk.office_import(forged(desk, other_key, header_station=OTHER,
                                       lines=[bad], name="totals.fcb"))
    assert result["quarantined"] == "malformed" and field in result["detail"]

def reply(desk: Desk, body: bytes, header_station: str = STATION_ID) -> Path:
    """A reply signed by the real office key and encrypted for S-001."""
    header = {"kind": "reply", "from": OFFICE, "to": STATION_ID,
              "station_id": header_station, "created_at": "2026-11-20T10:00:00.000000Z",
              "range": {}}
    directory = desk.root / "replies"
    directory.mkdir(exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    with BundleWriter(directory, reply_name(STATION_ID), header, signer=desk.office_key,
                      recipient=desk.station_key.public_key()) as writer:
        writer.write(body)
        return writer.commit().path


def test_a_misshapen_reply_changes_nothing_at_the_station(desk: Desk) -> None:
    desk.sell(3)
    journal = desk.journal()
    receipt = {"station_id": STATION_ID, "up_to_seq": 3, "hash": journal[2]["hash"]}
    good: dict[str, Any] = {"station_id": STATION_ID, "cards": None, "usage": None,
                            "receipt": receipt}
    before = desk.station_state()
    cases: dict[str, tuple[str, Any]] = {
        "deep": ("malformed", None),
        "header of S-002": ("wrong_station", good),
        "body of S-002": ("wrong_station", {**good, "station_id": OTHER}),
        "receipt of S-002": ("wrong_station", {**good, "receipt": {**receipt,
                                                                   "station_id": OTHER}}),
        "receipt hash a list": ("malformed", {**good, "receipt": {**receipt,
                                                                  "hash": [1]}}),
        "receipt seq a bool": ("malformed", {**good, "receipt": {**receipt,
                                                                 "up_to_seq": True}}),
        "cards a list": ("malformed", {**good, "cards": [1]}),
        "cards version text": ("malformed", {**good, "cards": {
            "mode": "delta", "from_version": "1", "to_version": 2, "ops": [],
            "expires_at": "2099-01-01T00:00:00.000000Z"}}),
        "usage of another mode": ("malformed", {**good, "usage": {
            "mode": "delta", "from_version": 1, "to_version": 2, "ops": [],
            "expires_at": "2099-01-01T00:00:00.000000Z"}}),
        "unknown part": ("malformed", {**good, "extra": 1}),
        "NaN": ("malformed", b'{"station_id": "S-001", "receipt": null, "cards": null, '
                             b'"usage": NaN}'),
    }
    for what, (reason, body) in cases.items():
        data = DEEP if body is None else body if isinstance(body, bytes) else canonical(body)
        path = reply(desk, data, OTHER if what == "header of S-002" else STATION_ID)
        err = refused(desk.station_import, path)
        assert err.reason == reason, (what, str(err))
        assert desk.station_state() == before, what
    assert desk.station_import(reply(desk, canonical(good)))["delivered"] == 3


def test_a_sender_name_that_cannot_be_looked_up_is_unknown(desk: Desk,
                                                          other_key: Ed25519PrivateKey) -> None:
    """A lone surrogate in ``from`` reached SQLite (UnicodeEncodeError, a traceback)."""
    for sender in ("\ud800", "S-002\x00", "S" * 65):
        path = forged(desk, other_key, header_station=sender, lines=[summary(OTHER, [])],
                      sender=sender, name="odd.fcb")
        err = refused(desk.office_import, path)
        assert err.reason == "unknown_sender"
        path.unlink()
    detail = desk.office.one("SELECT last_detail FROM refused_messages")[0]
    assert detail.isprintable() and "comes from 'SSS" in detail
    assert refusals(desk)["unknown_sender"] == 3


@pytest.mark.parametrize("fields", [
    {"created_at": "\udc80"}, {"created_at": [1, 2]},
    {"created_at": "2026-11-20T10:00:00Z\n\x1b[31mFAKE"}, {"range": "\udc80"},
    {"range": {"sales": "\udc80"}},
])
def test_a_bundle_header_that_cannot_be_stored_or_shown_is_refused(
        desk: Desk, other_key: Ed25519PrivateKey, fields: dict[str, Any]) -> None:
    # Found verifying issue 10 #10: the header's created_at and range were used
    # unchecked. A lone surrogate reached SQLite (UnicodeEncodeError, a traceback from
    # 'office flash import'); a list or a newline with an escape was stored and shown.
    path = forged(desk, other_key, header_station=OTHER, lines=[summary(OTHER, [])],
                  **fields)
    before = desk.office_state()
    err = refused(desk.office_import, path)
    assert err.reason == "damaged" and "header" in str(err), err
    assert str(err).isprintable()
    assert desk.office_state() == before
    assert refused(read_header, path).reason == "damaged"
