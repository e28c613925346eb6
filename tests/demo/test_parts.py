"""The demo's own logic, without running the whole demo: the plan of sales, the config it
writes (loaded by the real loader), the card set (read by the real parsers), the
exactly-once comparison, the log tail, the folder rules, and stopping process groups."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from core.config import load_config_file
from core.formats.snapshot import parse_snapshot
from demo import children as children_mod
from demo.cards import (
    MAGSTRIPE,
    NFC,
    NFC_CARD,
    QR,
    QR_CARDS,
    SWIPE_CARD,
    TAG_UID,
    card_store,
    luhn,
    swipe_text,
    tag_ndef,
)
from demo.children import Children, group_members
from demo.configfile import Ports, config_text, readers
from demo.errors import DemoError
from demo.sale import plan
from demo.summary import Summary
from demo.view import LogTail
from demo.workspace import Workspace
from drivers.readers.nfc import card_number_from_ndef
from drivers.readers.track import parse_swipe

TODAY = date(2026, 5, 17)


def test_three_sales_show_every_kind_of_card_on_both_pumps(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, False)
    sales = plan(3, readers(ws, Ports(web=1, nfc=2, mqtt=3)))
    assert [(s.number, s.pump, s.kind) for s in sales] == [(1, 1, MAGSTRIPE), (2, 2, NFC),
                                                          (3, 1, QR)]
    six = plan(6, readers(ws, Ports(web=1, nfc=2, mqtt=None)))
    assert [s.kind for s in six if s.pump == 2] == [NFC, QR, NFC]
    assert [s.card for s in six if s.kind is QR] == [QR_CARDS[1], QR_CARDS[2]]
    assert {s.reader for s in six} == {"pump1-swipe", "pump1-qr", "pump2-nfc", "pump2-qr"}


@pytest.mark.parametrize("mqtt", [4321, None])
def test_the_config_it_writes_is_valid(tmp_path: Path, mqtt: int | None) -> None:
    ws = Workspace(tmp_path, False)
    ws.config.write_text(config_text(ws, Ports(web=8111, nfc=9222, mqtt=mqtt),
                                     office_key=""))
    config = load_config_file(ws.config)  # unknown keys and wrong types would raise
    assert config.mqtt.enabled is (mqtt is not None)
    assert config.station.data_dir == tmp_path / "station"
    assert config.office.data_dir == tmp_path / "office"
    assert [(r.id, r.driver, r.pump) for r in config.readers] == [
        ("pump1-swipe", "magstripe-serial", 1), ("pump1-qr", "qr-serial", 1),
        ("pump2-nfc", "nfc", 2), ("pump2-qr", "qr-serial", 2)]
    assert config.readers[2].device == "udp:127.0.0.1:9222"
    assert [p.number for line in config.pump_lines for p in line.pumps] == [1, 2]


def test_the_card_set_is_a_valid_card_store_and_its_cards_read() -> None:
    doc = card_store(TODAY)
    snapshot = parse_snapshot(json.dumps(doc))  # the station's own strict parser
    assert len(snapshot.cards) == 4
    swipe = parse_swipe(swipe_text(SWIPE_CARD, date(2029, 12, 31)))
    assert (swipe.pan, swipe.expiry, swipe.luhn_ok) == (SWIPE_CARD, "2912", True)
    assert card_number_from_ndef(tag_ndef()) == NFC_CARD
    rfid = next(c for c in doc["cards"] if c["card_id"] == NFC_CARD)
    assert rfid["rfid_uid"] == TAG_UID.hex().upper()
    assert luhn("7992739871") == "79927398713"  # the textbook example


def _rows(*sales: tuple[str, int, int]) -> list[dict[str, object]]:
    return [{"sale_id": i, "volume_ml": v, "amount": a} for i, v, a in sales]


def test_the_summary_holds_only_when_both_sides_agree_exactly() -> None:
    station = _rows(("A", 1000, 50), ("B", 2000, 100))
    good = Summary.compare(2, station, list(reversed(station)), journal_ok=True,
                           outbox_depth=0, transport="mqtt")
    assert good.exactly_once and good.problems == []
    cases = {
        "never reached": _rows(("A", 1000, 50)),
        "twice": _rows(("A", 1000, 50), ("B", 2000, 100), ("B", 2000, 100)),
        "does not": _rows(("A", 1000, 50), ("B", 2000, 100), ("C", 1, 1)),
        "differs": _rows(("A", 1000, 50), ("B", 2000, 101)),
    }
    for words, office in cases.items():
        bad = Summary.compare(2, station, office, journal_ok=True, outbox_depth=0,
                              transport="flash")
        assert not bad.exactly_once
        assert any(words in p for p in bad.problems), (words, bad.problems)
    assert not Summary.compare(3, station, station, journal_ok=True, outbox_depth=0,
                               transport="mqtt").exactly_once
    assert not Summary.compare(2, station, station, journal_ok=False, outbox_depth=0,
                               transport="mqtt").exactly_once
    assert not Summary.compare(2, station, station, journal_ok=True, outbox_depth=1,
                               transport="mqtt").exactly_once


def test_log_tail_returns_whole_json_lines_once(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    tail = LogTail(log)
    assert tail.read() == []
    log.write_text('{"event": "a"}\nnot json\n{"event": "b"')
    assert tail.read() == [{"event": "a"}]
    with log.open("a") as f:
        f.write(', "n": 1}\n')
    assert tail.read() == [{"event": "b", "n": 1}]
    assert tail.read() == []


def test_dir_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(DemoError, match="not an empty folder"):
        Workspace.make(tmp_path / "full")
    ws = Workspace.make(tmp_path / "new" / "demo")
    assert ws.logs.is_dir() and ws.stick.is_dir() and not ws.temporary


def test_stopping_ends_whole_groups_even_a_child_that_ignores_sigterm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(children_mod, "STOP_WAIT_S", 1.0)
    kids = Children(tmp_path)
    # A leader with a grandchild in its group, and one that shrugs off SIGTERM.
    family = kids.start("family", ["sh", "-c", "sleep 300 & sleep 300"],
                        log=tmp_path / "family.log")
    stubborn = kids.start("stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & wait"],
                          log=tmp_path / "stubborn.log")
    deadline = time.monotonic() + 10
    while len(group_members(family.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(family.pid)) >= 2  # sh and its background sleep, at least
    stopped = dict(kids.stop_all())
    assert stopped["family"] == -signal.SIGTERM
    assert stopped["stubborn"] == -signal.SIGKILL
    assert group_members(family.pid) == [] and group_members(stubborn.pid) == []
    with pytest.raises(DemoError, match="stopping"):
        kids.start("late", ["true"], log=tmp_path / "late.log")


def test_a_child_that_died_is_named_with_its_log(tmp_path: Path) -> None:
    kids = Children(tmp_path)
    child = kids.start("quitter", ["sh", "-c", "exit 3"], log=tmp_path / "q.log")
    child.proc.wait(10)
    with pytest.raises(DemoError, match=r"quitter stopped unexpectedly \(exit code 3\); "
                                        r"its log is .*q\.log"):
        kids.check_all()
    kids.stop_all()


def test_a_one_shot_command_is_ended_when_the_demo_stops(tmp_path: Path) -> None:
    kids = Children(tmp_path)
    result: dict[str, int] = {}

    def run() -> None:
        result["returncode"] = kids.run(["sleep", "300"]).returncode

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not kids._running and time.monotonic() < deadline:
        time.sleep(0.05)
    (proc,) = list(kids._running)
    kids.stop_all()
    thread.join(10)
    assert proc.returncode is not None and group_members(proc.pid) == []
    assert result["returncode"] == -signal.SIGTERM  # a failure to its caller
