"""Issue 10 #3 at the head office: the card master keeps and finds one form of each identifier.

``office cards import`` stores PANs and UIDs as the stations do; ``office cards
block|unblock`` find a card by any identifier however written, so a block of
``04a1...`` hits the card whose tag reads ``04A1...``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from core.errors import CardStoreFormatError
from core.formats.deltas import parse_ops
from office.cards import master as card_master
from office.cards.master import CardMasterRefusal
from office.store import OfficeConnection, init_office, open_office
from tests.office_fixtures import OfficeDb

FLEET = "7800001234567891"  # RFID 04A1B2C3D4E5F6
MAGSTRIPE = "7800001234567890"


@pytest.fixture
def office(office_db: OfficeDb) -> Iterator[OfficeConnection]:
    init_office(office_db.config)
    conn = open_office(office_db.config)
    try:
        yield conn
    finally:
        conn.close()


def respelled(sample: Path, version: int = 17) -> bytes:
    doc = json.loads(sample.read_text())
    doc["version"] = version
    for card in doc["cards"]:
        if card.get("rfid_uid") == "04A1B2C3D4E5F6":
            card["rfid_uid"] = "04:a1:b2:c3:d4:e5:f6"
        if card.get("pan") == MAGSTRIPE:
            card["pan"] = "7800 0012 3456 7890"
    doc["stop_list"] = ["04b7c8d9e0f1a2", "7800 0099 9999 9999"]
    return json.dumps(doc).encode()


def master_card(conn: OfficeConnection, card_id: str) -> dict[str, Any]:
    row = conn.one("SELECT doc FROM cm_cards WHERE card_id = ?", (card_id,))
    return dict(json.loads(row[0]))


def test_import_keeps_one_form(office: OfficeConnection, sample_store_file: Path) -> None:
    card_master.import_file(office, respelled(sample_store_file), actor="test")
    assert master_card(office, FLEET)["rfid_uid"] == "04A1B2C3D4E5F6"
    assert master_card(office, MAGSTRIPE)["pan"] == MAGSTRIPE
    doc = card_master.snapshot(office)
    assert doc["stop_list"] == ["04B7C8D9E0F1A2", "7800009999999999"]


@pytest.mark.parametrize("written", ["04a1b2c3d4e5f6", "04:A1:B2:C3:D4:E5:F6", FLEET])
def test_block_finds_the_card_however_written(office: OfficeConnection,
                                              sample_store_file: Path, written: str) -> None:
    card_master.import_file(office, sample_store_file.read_bytes(), actor="test")
    version, changed, card_id = card_master.set_status(office, written, "blocked",
                                                       actor="test")
    assert (changed, card_id) == (True, FLEET)
    assert master_card(office, FLEET)["status"] == "blocked"
    ops = parse_ops(card_master.delta_of(office, version)["ops"])
    assert ops[0][1].card_id == FLEET and ops[0][1].status == "blocked"


def test_block_by_a_pan_with_spaces(office: OfficeConnection,
                                    sample_store_file: Path) -> None:
    card_master.import_file(office, sample_store_file.read_bytes(), actor="test")
    assert card_master.set_status(office, "7800 0012 3456 7890", "blocked",
                                  actor="test")[2] == MAGSTRIPE
    with pytest.raises(CardMasterRefusal, match="not in the card master"):
        card_master.set_status(office, "t-8f2k9q", "blocked", actor="test")  # as issued


def test_a_stop_list_entry_kept_as_written_is_not_removed_and_added(
        office: OfficeConnection, sample_store_file: Path) -> None:
    """An older release kept '04b7...' as written: re-importing it sends no operation."""
    card_master.import_file(office, sample_store_file.read_bytes(), actor="test")
    office.execute("INSERT INTO cm_stop_list VALUES ('04b7c8d9e0f1a2')")
    doc = json.loads(sample_store_file.read_text())
    doc["stop_list"] = [*doc["stop_list"], "04B7C8D9E0F1A2"]
    _version, changes = card_master.import_file(office, json.dumps(doc).encode(), actor="t")
    assert changes == 0
    assert card_master.snapshot(office)["stop_list"] == ["04B7C8D9E0F1A2", "7800009999999999"]


def test_office_cards_block_on_the_command_line(office_env: Path,
                                                sample_store_file: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["office", "init"]).exit_code == 0
    assert runner.invoke(main, ["office", "cards", "import", str(sample_store_file)]
                         ).exit_code == 0
    result = runner.invoke(main, ["office", "cards", "block", "04a1b2c3d4e5f6"])
    assert result.exit_code == 0, result.output
    assert f"card {FLEET} is now blocked" in result.output


def test_an_expired_file_is_refused_by_the_office(office: OfficeConnection,
                                                  sample_store_file: Path) -> None:
    """Issue 10 #2: re-issued under the office's word, expired data would look fresh."""
    doc = json.loads(sample_store_file.read_text())
    doc.update(generated_at="2026-01-01T00:00:00Z", expires_at="2026-01-02T00:00:00Z")
    with pytest.raises(CardStoreFormatError, match="expires_at 2026-01-02T00:00:00Z has passed"):
        card_master.import_file(office, json.dumps(doc).encode(), actor="test")
    assert card_master.latest_version(office) == 0
    assert office.one("SELECT COUNT(*) FROM cm_cards")[0] == 0
