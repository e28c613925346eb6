"""Issue 10 #3: one written form per identifier kind (offline_db/identifiers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import identifiers
from offline_db.cards import is_stop_listed
from offline_db.migrations import migrate
from offline_db.store import StationStore


@pytest.mark.parametrize(("text", "pan"), [
    ("7800001234567890", "7800001234567890"), ("7800 0012 3456 7890", "7800001234567890"),
    ("7800-0012-3456-7890", "7800001234567890"), (" 78000012 ", "78000012"),
    ("7800  0012", None), ("7800 0012 3456 7890 1234", None), ("1234567", None),
    ("04A1B2C3", None), ("", None), ("7800_0012_3456", None)])
def test_pan(text: str, pan: str | None) -> None:
    assert identifiers.pan(text) == pan


@pytest.mark.parametrize(("text", "uid"), [
    ("04a1b2c3d4e5f6", "04A1B2C3D4E5F6"), ("04:A1:B2:C3", "04A1B2C3"),
    ("04 a1 b2 c3", "04A1B2C3"), ("04-a1-b2-c3", "04A1B2C3"), ("04:a1-b2:c3", None),
    ("04a1b2", None), ("0" * 21, None), ("04:a1:zz:c3", None), ("4:a1:b2:c3", None)])
def test_uid(text: str, uid: str | None) -> None:
    assert identifiers.uid(text) == uid


@pytest.mark.parametrize(("text", "form"), [
    ("7800 0012 3456 7890", "7800001234567890"), ("04a1b2c3d4e5f6", "04A1B2C3D4E5F6"),
    ("T-8F2K9Q", "T-8F2K9Q"), ("t-8f2k9q", "t-8f2k9q"), ("X-1", "X-1")])
def test_canonical(text: str, form: str) -> None:
    assert identifiers.canonical(text) == form


def test_stop_list_entries_of_an_older_release_are_normalised(tmp_path: Path) -> None:
    store, _ = StationStore.create(tmp_path)
    try:
        conn = store.conn
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_canonical_stop_list'")
        conn.executemany("INSERT INTO stop_list VALUES (?)",
                         [("04c0ffee112233",), ("04C0FFEE112233",), ("7800 0099 9999 9999",),
                          ("X-1",)])
        assert migrate(conn) == ["0007_canonical_stop_list"]
        rows = sorted(r[0] for r in conn.execute("SELECT identifier FROM stop_list"))
        assert rows == ["04C0FFEE112233", "7800009999999999", "X-1"]
        assert is_stop_listed(conn, "04:c0:ff:ee:11:22:33")
    finally:
        store.close()
