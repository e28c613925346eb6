"""The card-store format: the sample parses; every malformation is named exactly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.errors import CardStoreFormatError
from core.formats.snapshot import load_snapshot_file, parse_snapshot
from edge.card_admin import CardStoreVersionError
from edge.lifecycle import Station
from offline_db import cards

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "card-store.json"


def sample() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SAMPLE.read_text())
    return doc


def test_sample_parses() -> None:
    snap = load_snapshot_file(SAMPLE)
    assert snap.version == 17
    assert [p.code for p in snap.products] == ["AI92", "AI95", "DT"]
    first = snap.cards[0]
    assert first.limits[0].value == 50000 and first.limits[0].products == ["AI95"]
    assert first.wallets[0].balance == 100000
    assert snap.stop_list == ["7800009999999999"]
    rfid = snap.cards[1]
    assert rfid.rfid_uid == "04A1B2C3D4E5F6"
    assert rfid.rules["vehicle_binding"] is True
    assert rfid.rules["time_windows"][0]["from"] == "05:00"


def mutate(path: str, value: Any) -> dict[str, Any]:
    """The sample with the value at a dotted path (``cards.0.limits.0.value``) replaced."""
    doc = copy.deepcopy(sample())
    *head, last = path.split(".")
    node: Any = doc
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(("path", "value", "message"), [
    ("format", "something-else", "format must be 'forecourt-card-store'"),
    ("version", "17", "version must be an integer"),
    ("version", -1, "version must be at least 0"),
    ("products.0.unit_price", 50.9, "products[0].unit_price must be an integer (minor units "
                                    "per litre), got 50.9"),
    ("products.1.code", "AI92", "products[1].code 'AI92' appears twice"),
    ("cards.0.limits.0.value", 12.5, "cards[0].limits[0].value must be an integer"),
    ("cards.0.limits.0.period", "fortnight", "cards[0].limits[0].period must be one of fill, "
                                             "day, week, month, year"),
    ("cards.0.limits.0.unit", "litres", "cards[0].limits[0].unit must be one of volume, money"),
    ("cards.0.kind", "chip", "cards[0].kind must be one of rfid, magstripe, smart, digital"),
    ("cards.0.status", "frozen", "cards[0].status must be one of active"),
    ("cards.0.expires", "31.12.2028", "cards[0].expires must be a date YYYY-MM-DD"),
    ("cards.0.pan", "78000012345678901234", "cards[0].pan must be 8-19 digits"),
    ("cards.0.limit", [], "cards[0].limit is not a known field"),
    ("cards.1.card_id", "7800001234567890", "cards[1].card_id '7800001234567890' is already "
                                            "used by cards[0]"),
    ("cards.2.pan", "7800001234567890", "cards[2].pan '7800001234567890' is already used"),
    ("cards.0.wallets.0.unit", "coupons", "cards[0].wallets[0].unit must be one of money, "
                                          "volume"),
    ("cards.1.time_windows.0.from", "25:00", "cards[1].time_windows[0].from has an invalid"),
    ("cards.1.time_windows.0.days", ["monday"], "cards[1].time_windows[0].days has 'monday'"),
    ("cards.1.vehicle_id", KeyError, "cards[1].vehicle_binding needs cards[1].vehicle_id"),
    ("cards.0.products", "AI95", "cards[0].products must be a JSON array"),
    ("stop_list", [""], "stop_list[0] must be a non-empty string"),
    ("generated_at", "2026-11-22T10:00:00", "generated_at must include a UTC offset"),
    ("cards", {}, "cards must be a JSON array"),
    ("cards.0", [], "cards[0] must be a JSON object"),
])
def test_malformed_documents_are_named(path: str, value: Any, message: str) -> None:
    with pytest.raises(CardStoreFormatError) as err:
        parse_snapshot(json.dumps(mutate(path, value)))
    assert message in str(err.value)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2", b"null", b"[]", b"42"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(CardStoreFormatError):
        parse_snapshot(data)


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"cards": ' * 50_000])
def test_deep_nesting_is_refused_in_one_sentence(data: bytes) -> None:
    """Issue 10 #10: Python's parser raises RecursionError; a card store says why."""
    with pytest.raises(CardStoreFormatError) as err:
        parse_snapshot(data)
    assert "nested too deeply" in str(err.value)


def test_import_replaces_atomically(station: Station, tmp_path: Path) -> None:
    conn = station.conn
    before = conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
    doc = sample()
    doc["version"] = 18
    doc["cards"] = doc["cards"][:2]
    doc["stop_list"] = []
    new = tmp_path / "v18.json"
    new.write_text(json.dumps(doc))
    result = station.import_cards(new, actor="test")
    assert (result["version"], result["previous_version"], result["cards"]) == (18, 17, 2)
    assert before == 9
    assert conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM stop_list").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM wallets").fetchone()[0] == 1


def test_failed_import_changes_nothing(station: Station, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    doc = sample()
    doc["version"] = 18
    doc["cards"] = doc["cards"][:1]
    new = tmp_path / "v18.json"
    new.write_text(json.dumps(doc))

    def boom(*_args: object, **_kw: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(cards, "set_state", boom)
    with pytest.raises(OSError, match="disk gone"):
        station.import_cards(new, actor="test")
    conn = station.conn
    assert conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 9
    assert conn.execute("SELECT value FROM sync_state WHERE key = 'card_store_version'"
                        ).fetchone()[0] == "17"


def test_older_version_is_refused(station: Station, tmp_path: Path) -> None:
    doc = sample()
    doc["version"] = 3
    old = tmp_path / "v3.json"
    old.write_text(json.dumps(doc))
    with pytest.raises(CardStoreVersionError, match="refusing to roll back"):
        station.import_cards(old, actor="test")
    # The same version again is harmless.
    assert station.import_cards(SAMPLE, actor="test")["version"] == 17


def test_lookup_by_every_identifier(station: Station, config: Config) -> None:
    conn = station.conn
    for ident in ("7800001234567891", "04a1b2c3d4e5f6", "04A1B2C3D4E5F6"):
        row = cards.find_card(conn, ident)
        assert row is not None and row["card_id"] == "7800001234567891"
    token = cards.find_card(conn, "T-8F2K9Q")
    assert token is not None and token["card_id"] == "7800001234567897"
    assert cards.find_card(conn, "0000") is None
    assert config.station.id == "S-001"
