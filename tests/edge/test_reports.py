"""Shift and day reports against a hand-computed fixture (issue 14 #3, #6).

The station is in Europe/Berlin; 2026-03-29 is the spring-forward day (23 hours:
2026-03-28 23:00 UTC to 2026-03-29 22:00 UTC). Sales on two pumps, two products
(AI92 at 50.90, DT at 63.50 per litre) and two card kinds (magstripe, rfid), and
refusals with two reasons, at the day's edges: 23:59:59 and 00:00:00 local.

| sale | UTC | local (Berlin) | pump | product | ml | amount | card kind |
| --- | --- | --- | --- | --- | --- | --- | --- |
| S1 | 03-28 22:59:59 | 03-28 23:59:59 CET | 1 | AI92 | 10000 | 50900 | magstripe |
| S2 | 03-28 23:00:00 | 03-29 00:00:00 CET | 1 | AI92 | 20000 | 101800 | magstripe |
| S3 | 03-29 10:00:00 | 03-29 12:00:00 CEST | 2 | DT | 30000 | 190500 | rfid |
| S4 | 03-29 20:30:00 | 03-29 22:30:00 CEST | 2 | DT | 15500 | 98425 | magstripe |
| S5 | 03-29 21:59:59 | 03-29 23:59:59 CEST | 1 | DT | 1234 | 7836 | rfid |
| S6 | 03-29 22:00:00 | 03-30 00:00:00 CEST | 2 | AI92 | 5000 | 25450 | magstripe |

Amounts: ml x price / 1000 rounded half up (1234 x 6350 = 7835900 -> 7836).
Refusals: R4 card_blocked 03-28 22:30 UTC (the 28th); R1 unknown_card 08:00, R2
card_blocked 09:00, R3 unknown_card 15:00 UTC on the 29th.
Shift 1 closes at 03-28 23:00:00 UTC, shift 2 at 03-29 22:00:00 UTC: shift 2 is
exactly the day of the 29th.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.config import load_config_file
from core.timefmt import iso
from edge.lifecycle import Station
from edge.reports import day_bounds, parse_day
from offline_db.shifts import PumpTotals, Readings, close_shift
from offline_db.store import StationStore

MAG, RFID, BLOCKED = "7800001234567893", "7800001234567891", "7800001234567894"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SALES = [  # (UTC time, pump, product, ml, card)
    ("2026-03-28T22:59:59", 1, "AI92", 10000, MAG),
    ("2026-03-28T23:00:00", 1, "AI92", 20000, MAG),
    ("2026-03-29T10:00:00", 2, "DT", 30000, RFID),
    ("2026-03-29T20:30:00", 2, "DT", 15500, MAG),
    ("2026-03-29T21:59:59", 1, "DT", 1234, RFID),
    ("2026-03-29T22:00:00", 2, "AI92", 5000, MAG),
]
REFUSALS = [("2026-03-28T22:30:00", BLOCKED), ("2026-03-29T08:00:00", "7899999999999999"),
            ("2026-03-29T09:00:00", BLOCKED), ("2026-03-29T15:00:00", "7899999999999998")]


def readings(taken: str, p1: tuple[int, int], p2: tuple[int, int]) -> Readings:
    """Pump 1 and 2, nozzle 1 AI92 and nozzle 2 DT (ml); amounts are not compared."""
    return Readings(iso(at(taken)), "test", None, {
        1: PumpTotals(None, {1: ("AI92", p1[0], 7), 2: ("DT", p1[1], 8)}),
        2: PumpTotals(None, {1: ("AI92", p2[0], 9), 2: ("DT", p2[1], 10)})})


@pytest.fixture
def berlin(config_file: Path) -> Path:
    text = config_file.read_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
    config_file.write_text(text.replace('max_data_age = "24h"', 'max_data_age = "30d"'))
    return config_file


@pytest.fixture
def fixture_station(berlin: Path, sample_store_file: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> Iterator[Path]:
    """The sales, refusals and two shift closes above, made through the real lifecycle."""
    monkeypatch.setenv("FORECOURT_CONFIG", str(berlin))
    config = load_config_file(berlin)
    clock = [at("2026-03-28T12:00:00")]
    store, _ = StationStore.create(config.station.data_dir)
    st = Station(store, config, clock=lambda: clock[0])
    # The rfid card without its weekday window, vehicle binding and visit count: the
    # 29th is a Sunday, and these tests count sales, not rules.
    cards = json.loads(sample_store_file.read_text())
    for card in cards["cards"]:
        if card["card_id"] == RFID:
            for rule in ("time_windows", "vehicle_binding", "odometer_required", "visits"):
                card.pop(rule)
    store_file = berlin.parent / "cards.json"
    store_file.write_text(json.dumps(cards))
    st.import_cards(store_file, actor="test")
    events: list[tuple[str, Any]] = [(t, ("sale", p, prod, ml, card))
                                     for t, p, prod, ml, card in SALES]
    events += [(t, ("refuse", card)) for t, card in REFUSALS]
    events += [("2026-03-28T23:00:00", ("close", readings("2026-03-28T23:00:00",
                                                          (1_000_000, 500_000), (0, 2_000_000))))]
    # Shift 2's end: pump 1 rose by S2 (AI92) and S5 (DT); pump 2's DT by 100 ml more
    # than S3 + S4 (the mismatch the operator must see); pump 2's AI92 did not move.
    events += [("2026-03-29T22:00:00", ("close", readings(
        "2026-03-29T22:00:00", (1_020_000, 501_234), (0, 2_045_600))))]
    order = {"refuse": 0, "close": 1, "sale": 2}  # a close at 23:00 before the sale at 23:00
    for when, what in sorted(events, key=lambda e: (e[0], order[e[1][0]])):
        clock[0] = at(when)
        if what[0] == "sale":
            _kind, pump, product, ml, card = what
            auth = st.authorize(card=card, pump=pump, product=product, volume_ml=ml,
                                actor="test")
            assert auth["approved"], auth
            st.complete(auth["sale_id"], volume_ml=ml, actor="test")
        elif what[0] == "refuse":
            assert not st.authorize(card=what[1], pump=1, actor="test")["approved"]
        else:
            close_shift(st.conn, what[1], actor="cli:bob")
    store.close()
    yield berlin


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def report_json(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("report", *args, "--json").stdout)
    return data


DAY_29_SALES = {
    "by_pump": [{"pump": 1, "count": 2, "volume_ml": 21234, "amount": 109636},
                {"pump": 2, "count": 2, "volume_ml": 45500, "amount": 288925}],
    "by_product": [{"product": "AI92", "count": 1, "volume_ml": 20000, "amount": 101800},
                   {"product": "DT", "count": 3, "volume_ml": 46734, "amount": 296761}],
    "by_card_kind": [{"card_kind": "magstripe", "count": 2, "volume_ml": 35500,
                      "amount": 200225},
                     {"card_kind": "rfid", "count": 2, "volume_ml": 31234, "amount": 198336}],
    "total": {"count": 4, "volume_ml": 66734, "amount": 398561},
}
DAY_29_REFUSALS = {"by_reason": [{"reason": "unknown_card", "count": 2},
                                 {"reason": "card_blocked", "count": 1}], "total": 3}


def test_day_report_figures_on_the_23_hour_day(fixture_station: Path) -> None:
    data = report_json("day", "--date", "2026-03-29")
    assert data["sales"] == DAY_29_SALES
    assert data["refusals"] == DAY_29_REFUSALS
    period = data["period"]
    assert period["seconds"] == 23 * 3600
    assert period["start"]["local"] == "2026-03-29T00:00:00+01:00"
    assert period["end"]["local"] == "2026-03-30T00:00:00+02:00"
    assert (data["date"], data["complete"], data["timezone"]) == ("2026-03-29", True,
                                                                   "Europe/Berlin")


def test_a_sale_at_23_59_59_and_one_at_00_00_00_fall_on_their_own_days(
        fixture_station: Path) -> None:
    day28 = report_json("day", "--date", "2026-03-28")
    assert day28["sales"]["total"] == {"count": 1, "volume_ml": 10000, "amount": 50900}
    assert day28["refusals"]["by_reason"] == [{"reason": "card_blocked", "count": 1}]
    assert day28["period"]["seconds"] == 24 * 3600
    day30 = report_json("day", "--date", "2026-03-30")
    assert day30["sales"]["by_pump"] == [{"pump": 2, "count": 1, "volume_ml": 5000,
                                          "amount": 25450}]
    assert day30["complete"] is True


def test_closed_shift_report_with_totalizers_and_the_mismatch(fixture_station: Path) -> None:
    shift2 = report_json("shift", "--number", "2")
    assert shift2["shift"] == {"number": 2, "closed": True,
                               "closed_at": "2026-03-29T22:00:00.000000Z",
                               "closed_by": "cli:bob"}
    assert shift2["sales"] == DAY_29_SALES
    assert shift2["refusals"] == DAY_29_REFUSALS
    tot = shift2["totalizers"]
    assert (tot["start"]["source"], tot["end"]["source"]) == ("shift 1 close", "shift 2 close")
    rows = {(p["pump"], r["nozzle"]): (r["product"], r["start_ml"], r["end_ml"],
                                      r["difference_ml"], r["sold_ml"], r["mismatch_ml"])
            for p in tot["pumps"] for r in p["nozzles"]}
    assert rows == {(1, 1): ("AI92", 1_000_000, 1_020_000, 20000, 20000, 0),
                    (1, 2): ("DT", 500_000, 501_234, 1234, 1234, 0),
                    (2, 1): ("AI92", 0, 0, 0, 0, 0),
                    (2, 2): ("DT", 2_000_000, 2_045_600, 45600, 45500, 100)}
    assert tot["mismatches"] == 1
    # The day of the 29th uses the same readings (taken exactly at its boundaries).
    assert report_json("day", "--date", "2026-03-29")["totalizers"]["pumps"] == tot["pumps"]
    shift1 = report_json("shift", "--number", "1")
    assert shift1["sales"]["total"] == {"count": 1, "volume_ml": 10000, "amount": 50900}
    assert shift1["period"]["start"]["utc"] == "2026-03-28T22:30:00.000000Z"  # first decision
    assert shift1["totalizers"]["pumps"][0]["unavailable"] == \
        "start: no totalizer reading before the first shift close"


def test_printable_text_shows_money_litres_and_the_mismatch(fixture_station: Path) -> None:
    out = run("report", "shift", "--number", "2").stdout
    assert "SHIFT REPORT  shift 2 (closed by cli:bob)" in out
    assert "2026-03-29 00:00:00 CET  to  2026-03-30 00:00:00 CEST" in out
    assert "23 h 00 min, time zone Europe/Berlin" in out
    assert "3,985.61 RUB" in out and "66.734 l" in out
    assert "MISMATCH on 1 nozzle (!)" in out
    mismatch = next(line for line in out.splitlines() if line.endswith(" !"))
    assert mismatch.split() == ["2", "2", "DT", "2,000.000", "2,045.600", "45.600", "45.500",
                                "0.100", "!"]
    assert max(len(line) for line in out.splitlines()) <= 80


def test_csv_and_json_parse_back(fixture_station: Path) -> None:
    as_csv = run("report", "day", "--date", "2026-03-29", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    head = {r["name"]: r["value"] for r in rows if r["section"] == "report"}
    assert head["start"] == "2026-03-29T00:00:00+01:00" and head["seconds"] == "82800"
    by_pump = {r["name"]: (int(r["count"]), int(r["volume_ml"]), int(r["amount"]))
               for r in rows if r["section"] == "pump"}
    assert by_pump == {"1": (2, 21234, 109636), "2": (2, 45500, 288925)}
    kinds = {r["name"]: int(r["amount"]) for r in rows if r["section"] == "card_kind"}
    assert kinds == {"magstripe": 200225, "rfid": 198336}
    refusals = {r["name"]: int(r["count"]) for r in rows if r["section"] == "refusal"}
    assert refusals == {"unknown_card": 2, "card_blocked": 1}
    total = next(r for r in rows if r["section"] == "total" and r["name"] == "sales")
    assert (total["count"], total["volume_ml"], total["amount"]) == ("4", "66734", "398561")
    mismatch = [r for r in rows if r["section"] == "totalizer" and r["mismatch_ml"] not in
                ("", "0")]
    assert [(r["pump"], r["nozzle"], r["mismatch_ml"]) for r in mismatch] == [("2", "2", "100")]
    via_format = json.loads(run("report", "day", "--date", "2026-03-29", "--format",
                                "json").stdout)
    assert via_format["sales"] == DAY_29_SALES


def test_shift_close_is_audited_with_the_user(fixture_station: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The Unix user the kernel names, not the one the environment claims (issue 15).
    monkeypatch.setenv("LOGNAME", "alice")
    me = f"unix:{pwd.getpwuid(os.geteuid()).pw_name}"
    data = report_json("shift", "--close")
    assert data["shift"]["number"] == 3 and data["shift"]["closed_by"] == me
    assert data["sales"]["total"] == {"count": 1, "volume_ml": 5000, "amount": 25450}  # S6
    # No daemon: the readings are unavailable, and say why.
    assert data["totalizers"]["end"]["unavailable"] == "daemon not running"
    assert {p["unavailable"] for p in data["totalizers"]["pumps"]} == {
        "end: daemon not running"}
    db = fixture_station.parent / "station" / "station.db"
    with sqlite3.connect(db) as conn:
        audit = conn.execute("SELECT actor, details FROM audit_log WHERE action = "
                             "'shift.close'").fetchall()
        shift = conn.execute("SELECT opened_at, closed_by FROM shifts WHERE shift_no = 3"
                             ).fetchone()
    conn.close()
    assert [(a, json.loads(d)["shift_no"]) for a, d in audit] == [
        ("cli:bob", 1), ("cli:bob", 2), (me, 3)]
    assert shift == ("2026-03-29T22:00:00.000000Z", me)
    again = report_json("shift")
    assert again["shift"] == {"number": 4, "closed": False, "closed_at": None,
                              "closed_by": None}
    assert again["sales"]["total"]["count"] == 0
    assert again["totalizers"]["start"]["source"] == "shift 3 close"


@pytest.mark.parametrize(("args", "message"), [
    (("day", "--date", "2026-02-30"), "--date must be a calendar date like 2026-03-29"),
    (("day", "--date", "2026-W13-1"), "--date must be a calendar date"),
    (("day", "--date", "2999-01-01"), "2999-01-01 has not begun yet in Europe/Berlin"),
    (("day", "--format", "xml"), "'xml' is not one of 'text', 'json', 'csv'"),
    (("shift", "--number", "9"), "there is no closed shift 9 (the open shift is 3)"),
    (("shift", "--close", "--number", "1"), "give one of them"),
    (("day", "--json", "--format", "csv"), "ask for two formats"),
])
def test_bad_input_is_one_sentence(fixture_station: Path, args: tuple[str, ...],
                                   message: str) -> None:
    result = run("report", *args, ok=False)
    assert result.exit_code != 0
    assert message in result.stderr and "Traceback" not in result.output + result.stderr


def test_day_bounds_follow_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start, end = day_bounds(date(2026, 3, 29), berlin)
    assert (start, end) == (at("2026-03-28T23:00:00"), at("2026-03-29T22:00:00"))
    start, end = day_bounds(date(2026, 10, 25), berlin)
    assert (end - start).total_seconds() == 25 * 3600
    start, end = day_bounds(date(2026, 6, 1), ZoneInfo("UTC"))
    assert (end - start).total_seconds() == 24 * 3600
    assert parse_day("2026-03-29") == date(2026, 3, 29)
