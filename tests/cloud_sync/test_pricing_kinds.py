"""Each kind of rule, defined at the office through its CLI, decided at a station that
received it the way every station does (the office's card-store message, applied by
offline_db.replication: a snapshot, then a delta), on SQLite and PostgreSQL offices.

Every discount here is stackable, so one sale shows which of them held: product,
category, group, time (22:00-06:00 station time), tier (this month's consumption,
reached by the station's own first sale) and volume (from 30 l in one fill); and the
multipliers by card kind and birthday, and the tier by last month's volume.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli import main
from core.config import Config, StationConfig, load_config_file
from edge.lifecycle import Station
from office.cards import master as card_master
from office.store import open_office
from offline_db.journal import list_sales
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def message(config_file: Path, have: int | None) -> dict[str, Any]:
    conn = open_office(load_config_file(config_file))
    try:
        return card_master.message_for(conn, have, config=load_config_file(config_file))
    finally:
        conn.close()


def test_every_kind_of_rule_from_the_office_holds_at_the_station(
        office_env: Path, sample_store_file: Path, tmp_path: Path) -> None:
    # The station's evening: 20:00 UTC is 23:00 in Moscow (inside 22:00-06:00). Never
    # before the real time: the office's messages are made now, and a station whose
    # clock lies behind one by more than [offline] max_clock_skew refuses it as made in
    # the future (a fixed "today 20:00" failed every run after 20:05 UTC). From 20:00
    # to 23:59 UTC a minute ahead is 23:01-03:00 in Moscow: still the night.
    real = datetime.now(UTC)
    now = real.replace(hour=20, minute=0, second=0, microsecond=0)
    if now < real:
        now = real + timedelta(minutes=1)
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    run("office", "groups", "add", "G-TAXI", "--name", "Taxi")
    customer = json.loads(run("office", "customers", "add", "--name", "Фёдор Сидоров",
                              "--category", "vip", "--birthday",
                              f"1975-{now:%m-%d}", "--json").stdout)["customer_id"]
    run("office", "groups", "join", "G-TAXI", customer)
    run("office", "cards", "issue", "--customer", customer, "--kind", "smart",
        "--card-id", "K-KINDS")
    run("office", "loyalty", "settings", "--point-value", "100", "--expiry-days", "90")
    for args in (("--kind", "product", "--percent", "1", "--product", "DT", "--id", "D-PROD"),
                 ("--kind", "category", "--percent", "2", "--category", "vip", "--id", "D-CAT"),
                 ("--kind", "group", "--per-litre", "50", "--group", "G-TAXI", "--id", "D-GRP"),
                 ("--kind", "time", "--per-litre", "100", "--hours", "22:00-06:00",
                  "--id", "D-NIGHT"),
                 ("--kind", "tier", "--percent", "3", "--consumption", "this:volume:10000",
                  "--id", "D-TIER"),
                 ("--kind", "volume", "--percent", "4", "--min-fill", "30000", "--id", "D-VOL")):
        run("office", "discounts", "add", *args, "--stackable")
    run("office", "loyalty", "earn", "--basis", "volume", "--points", "1", "--per", "1000",
        "--id", "P-LITRE")
    run("office", "loyalty", "multiplier", "--percent", "200", "--card-kind", "smart",
        "--id", "M-SMART")

    config = Config(station=StationConfig(id="S-001", data_dir=tmp_path / "station",
                                          timezone="Europe/Moscow"))
    store, _ = StationStore.create(config.station.data_dir)
    try:
        station = Station(store, config, clock=lambda: now)
        first = message(office_env, None)
        assert first["mode"] == "snapshot"
        assert apply_cards_message(station, first).outcome == "applied"
        # A rule added later reaches the station as a delta.
        run("office", "loyalty", "multiplier", "--percent", "150", "--birthday-days", "3",
            "--stackable", "--id", "M-BDAY")
        delta = message(office_env, first["snapshot"]["version"])
        assert delta["mode"] == "delta"
        assert apply_cards_message(station, delta).outcome == "applied"

        def sell(volume_ml: int) -> dict[str, Any]:
            auth = station.authorize(card="K-KINDS", pump=1, product="DT")
            assert auth["approved"], auth
            station.complete(auth["sale_id"], volume_ml=volume_ml)
            line = list_sales(store.conn)[-1]
            pricing = line["pricing"]
            return dict(json.loads(pricing) if isinstance(pricing, str) else pricing)

        small = sell(10000)  # the tier (10 l this month) and volume rules do not hold yet
        assert [r for r, _ in small["discounts"]] == ["D-CAT", "D-GRP", "D-NIGHT", "D-PROD"]
        big = sell(40000)  # now this month's 10 l reach the tier; 40 l is a volume fill
        assert [r for r, _ in big["discounts"]] == ["D-CAT", "D-GRP", "D-NIGHT", "D-PROD",
                                                     "D-TIER", "D-VOL"]
        assert big["basis"]["month_volume_ml"] == 10000
        assert big["basis"]["category"] == "vip" and big["basis"]["groups"] == ["G-TAXI"]
        assert "M-SMART" in big["earn_rules"] and "M-BDAY" in big["earn_rules"]
        # 63.50 a litre: 40 l = 2540.00; 1+2+3+4 % of it = 254.00, 0.50+1.00 a litre = 60.00
        assert big["list_amount"] == 254000
        assert sum(v for _, v in big["discounts"]) == 25400 + 6000
        # Points: 40 l paid in money x 1 x (2 + 0.5 extra for the birthday) = 100.
        assert big["points_earned"] == 100
    finally:
        store.close()
