"""Customer management through the real CLI (issue 12), on SQLite and PostgreSQL: the
command forms the docs promise, what they leave in the records, the card master and the
audit trail, and what a station decides with the card data they publish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.config import Config, load_config_file
from core.formats.deltas import parse_ops
from office.store import open_office


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def out(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture
def office(office_env: Path, sample_store_file: Path) -> Path:
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    return office_env


def conn_of(config_file: Path) -> Any:
    return open_office(load_config_file(config_file))


def ops_of(config_file: Path, version: int) -> list[dict[str, Any]]:
    conn = conn_of(config_file)
    try:
        return list(json.loads(conn.one("SELECT ops FROM cm_versions WHERE version = ?",
                                        (version,))["ops"]))
    finally:
        conn.close()


def audit(config_file: Path, action: str) -> list[dict[str, Any]]:
    conn = conn_of(config_file)
    try:
        return [dict(zip(r.keys(), r, strict=True)) for r in conn.execute(
            "SELECT actor, via, object_id, old, new FROM audit_entries WHERE action = ? "
            "ORDER BY id", (action,))]
    finally:
        conn.close()


def test_the_documented_command_forms_print_the_new_ids(office: Path) -> None:
    customer = out("office", "customers", "add", "--name", "Şükrü Yılmaz", "--phone",
                   "+90 532 123 45 67", "--email", "Sukru@Example.com", "--birthday",
                   "1980-05-01", "--category", "vip")
    assert customer["customer_id"] == "C-000001"
    assert customer["phones"] == ["+905321234567"]
    assert customer["emails"] == ["sukru@example.com"]
    card = out("office", "cards", "issue", "--customer", "C-000001", "--kind", "magstripe",
               "--pan", "7800 5555 1234 5678")
    assert card["card_id"] == "7800555512345678" and card["status"] == "active"
    wallet = out("office", "wallets", "add", card["card_id"], "--unit", "money",
                 "--balance", "100000")
    assert wallet["wallet_id"] == "W-000001" and wallet["balance"] == 100000
    assert "100000 -> 105000" in run("office", "wallets", "topup", "W-000001", "5000").output
    new = out("office", "cards", "reissue", card["card_id"], "--pan", "7800555599990000")
    assert new["card_id"] == "7800555599990000"
    assert new["replaces"] == ["7800555512345678"]
    # Every change is in the audit trail with the person and the door.
    entries = audit(office, "wallet.topup")
    assert len(entries) == 1 and entries[0]["via"] == "cli" and entries[0]["actor"]
    assert json.loads(entries[0]["old"]) == {"balance": 100000}
    assert json.loads(entries[0]["new"]) == {"balance": 105000, "topup": 5000}


def test_reissue_keeps_limits_wallets_and_use_and_replaces_the_old_card(office: Path
                                                                         ) -> None:
    run("office", "customers", "add", "--name", "Anna", "--customer-id", "C-7")
    run("office", "cards", "issue", "--customer", "C-7", "--kind", "rfid", "--uid",
        "04:c1:b2:c3:d4:e5:f6", "--card-id", "OLD")
    run("office", "cards", "limit", "OLD", "--period", "day", "--unit", "volume",
        "--value", "50000")
    run("office", "wallets", "add", "OLD", "--unit", "volume", "--balance", "80000",
        "--wallet-id", "W-A")
    new = out("office", "cards", "reissue", "OLD", "--card-id", "NEW", "--uid",
              "04c1b2c3d4e5f7")
    assert new["limits"] == [{"period": "day", "unit": "volume", "value": 50000,
                              "products": None}]
    assert [w["wallet_id"] for w in new["wallets"]] == ["W-A"]
    old = out("office", "cards", "show", "OLD")
    assert (old["status"], old["replaced_by"], old["wallets"]) == ("replaced", "NEW", [])
    # One version replaces the old card and brings the new one, with its use so far.
    ops = ops_of(office, new["version"])
    parse_ops(ops)  # valid for every station
    cards = {op["card"]["card_id"]: op["card"] for op in ops if op["op"] == "card"}
    assert cards["OLD"]["status"] == "replaced" and "wallets" not in cards["OLD"]
    assert cards["NEW"]["replaces"] == ["OLD"]
    assert cards["NEW"]["wallets"] == [{"wallet_id": "W-A", "unit": "volume",
                                        "balance": 80000}]
    usage = [op for op in ops if op["op"] == "usage"]
    assert [u["card_id"] for u in usage] == ["NEW"]
    assert usage[0]["wallets"] == [{"wallet_id": "W-A", "balance": 80000}]
    # The old card cannot be reissued twice, nor changed instead of the new one.
    again = run("office", "cards", "reissue", "OLD", ok=False)
    assert again.exit_code == 1 and "already replaced by NEW" in again.output
    blocked = run("office", "cards", "block", "OLD", ok=False)
    assert blocked.exit_code == 1 and "replaced" in blocked.output


def test_group_limits_are_inherited_unless_the_card_sets_its_own(office: Path) -> None:
    run("office", "customers", "add", "--name", "Fleet driver", "--customer-id", "C-9")
    run("office", "groups", "add", "G-FL", "--kind", "fleet", "--products", "DT")
    run("office", "groups", "join", "G-FL", "C-9")
    run("office", "cards", "issue", "--customer", "C-9", "--kind", "smart",
        "--card-id", "K-9")
    run("office", "groups", "limit", "G-FL", "--period", "day", "--unit", "volume",
        "--value", "100000")
    run("office", "groups", "limit", "G-FL", "--period", "month", "--unit", "money",
        "--value", "5000000")
    conn = conn_of(office)
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = 'K-9'")["doc"])
    finally:
        conn.close()
    assert doc["products"] == ["DT"]
    assert doc["limits"] == [{"period": "day", "unit": "volume", "value": 100000},
                             {"period": "month", "unit": "money", "value": 5000000}]
    run("office", "cards", "limit", "K-9", "--period", "day", "--unit", "volume",
        "--value", "30000")
    conn = conn_of(office)
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = 'K-9'")["doc"])
    finally:
        conn.close()
    # The card's own day limit replaces the group's; the month limit is still inherited.
    assert doc["limits"] == [{"period": "day", "unit": "volume", "value": 30000},
                             {"period": "month", "unit": "money", "value": 5000000}]
    run("office", "groups", "leave", "G-FL", "C-9")
    conn = conn_of(office)
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = 'K-9'")["doc"])
    finally:
        conn.close()
    assert doc["limits"] == [{"period": "day", "unit": "volume", "value": 30000}]
    assert "products" not in doc


@pytest.mark.parametrize(("args", "why"), [
    (("customers", "add", "--name", "X", "--phone", "12"), "must have 6 to 15 digits"),
    (("customers", "add", "--name", "X", "--email", "nobody"), "is not an e-mail address"),
    (("customers", "add", "--name", "X", "--birthday", "2999-01-01"),
     "is not a possible date of birth"),
    (("customers", "add", "--name", "X", "--birthday", "01.05.1980"),
     "must be a date YYYY-MM-DD"),
    (("customers", "add", "--name", "X", "--category", "gold"), "is not in the list"),
    (("customers", "add", "--name", "X", "--credit-limit", "100"),
     "only for customers on credit"),
    (("customers", "add", "--name", " "), "name is required"),
    (("cards", "issue", "--customer", "C-404", "--kind", "smart"),
     "customer C-404 does not exist"),
    (("cards", "issue", "--customer", "C-1", "--kind", "magstripe"), "needs a pan"),
    (("cards", "issue", "--customer", "C-1", "--kind", "magstripe", "--pan", "12ab"),
     "must be 8-19 digits"),
    (("cards", "issue", "--customer", "C-1", "--kind", "magstripe", "--pan",
      "7800001234567890"), "card 7800001234567890 already exists"),
    (("cards", "limit", "7800001234567890", "--period", "day", "--unit", "volume",
      "--value", "-5"), "must be at least 0"),
    (("cards", "limit", "7800001234567890", "--period", "day", "--unit", "volume",
      "--value", "1", "--product", "PETROL"), "unknown product 'PETROL'"),
    (("wallets", "topup", "W-404", "100"), "wallet W-404 does not exist"),
    (("wallets", "add", "7800001234567890", "--unit", "money", "--balance",
      str(10**15)), "must be at most"),
])
def test_bad_input_is_one_sentence_and_changes_nothing(office: Path, args: tuple[str, ...],
                                                       why: str) -> None:
    conn = conn_of(office)  # (C-1 is a customer of the sample card store)
    try:
        before = [conn.one(f"SELECT COUNT(*) FROM {t}")[0] for t in (
            "customers", "cards", "cm_versions", "wallet_entries", "card_limits")]
    finally:
        conn.close()
    result = run("office", *args, ok=False)
    assert result.exit_code != 0
    assert why in result.output and "Traceback" not in result.output
    conn = conn_of(office)
    try:
        after = [conn.one(f"SELECT COUNT(*) FROM {t}")[0] for t in (
            "customers", "cards", "cm_versions", "wallet_entries", "card_limits")]
    finally:
        conn.close()
    assert after == before


def test_consent_is_a_history_and_the_profile_shows_it(office: Path) -> None:
    run("office", "customers", "add", "--name", "Иванов Иван", "--customer-id", "C-5")
    run("office", "customers", "consent", "C-5", "sms", "given", "--source", "paper form")
    again = run("office", "customers", "consent", "C-5", "sms", "given", "--source", "x")
    assert "already given; nothing changed" in again.output
    run("office", "customers", "consent", "C-5", "sms", "withdrawn", "--source", "sms STOP")
    profile = out("office", "customers", "show", "C-5")
    assert profile["consent"]["sms"]["given"] is False
    assert [(h["given"], h["source"]) for h in profile["consent_history"]] == [
        (True, "paper form"), (False, "sms STOP")]
    assert "whatsapp" not in profile["consent"]
    assert [e["new"] for e in audit(office, "consent.withdraw")] == ['{"sms": false}']


def test_the_sample_card_store_became_records(office: Path) -> None:
    """An imported card-store file's cards, customers and wallets are office records."""
    card = out("office", "cards", "show", "7800001234567890")
    assert card["wallets"] and card["wallets"][0]["balance"] > 0
    assert card["customer"] is not None
    customer = out("office", "customers", "show", card["customer"])
    assert "7800001234567890" in [c["card_id"] for c in customer["cards"]]


def test_card_rules_are_checked_as_stations_check_them(office: Path) -> None:
    run("office", "customers", "add", "--name", "Rules", "--customer-id", "C-R")
    run("office", "cards", "issue", "--customer", "C-R", "--kind", "smart", "--card-id", "K-R")
    out_ = run("office", "cards", "rules", "K-R", "--visits", "day:2", "--window",
               "mon-fri 06:00-22:00", "--stations", "S-001,S-002", "--odometer-required")
    assert "rules set (card master version" in out_.output
    conn = conn_of(office)
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = 'K-R'")["doc"])
    finally:
        conn.close()
    assert doc["visits"] == [{"period": "day", "count": 2}]
    assert doc["time_windows"] == [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                    "from": "06:00", "to": "22:00"}]
    assert (doc["stations"], doc["odometer_required"]) == (["S-001", "S-002"], True)
    bad = run("office", "cards", "rules", "K-R", "--window", "25:00-26:00", ok=False)
    assert bad.exit_code == 1 and "has an invalid value '25:00'" in bad.output
    binding = run("office", "cards", "rules", "K-R", "--vehicle-binding", ok=False)
    assert binding.exit_code == 1 and "vehicle_binding needs" in binding.output
    run("office", "cards", "rules", "K-R", "--clear", "visits", "--no-odometer-required")
    conn = conn_of(office)
    try:
        doc = json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = 'K-R'")["doc"])
    finally:
        conn.close()
    assert "visits" not in doc and "odometer_required" not in doc and "stations" in doc


def test_a_customer_with_an_active_card_is_not_closed(office: Path) -> None:
    run("office", "customers", "add", "--name", "Leaving", "--customer-id", "C-L")
    run("office", "cards", "issue", "--customer", "C-L", "--kind", "smart", "--card-id", "K-L")
    refused = run("office", "customers", "close", "C-L", ok=False)
    assert refused.exit_code == 1 and "still has active cards (K-L)" in refused.output
    run("office", "cards", "withdraw", "K-L")
    assert "customer C-L closed" in run("office", "customers", "close", "C-L").output
    issue = run("office", "cards", "issue", "--customer", "C-L", "--kind", "smart", ok=False)
    assert issue.exit_code == 1 and "is closed; no card issued" in issue.output


def test_an_offline_overdraft_is_shown_and_reported(office: Path) -> None:
    wallet = out("office", "wallets", "show", "W-1")
    assert wallet["balance"] == 100000
    conn = conn_of(office)
    try:  # two stations, offline, each sold 700.00 from the 1,000.00 wallet
        for station, seq in (("S-001", 1), ("S-002", 1)):
            conn.execute("INSERT INTO wallet_debits VALUES (?, ?, 'W-1', 70000)",
                         (station, seq))
    finally:
        conn.close()
    assert out("office", "wallets", "show", "W-1")["balance"] == -40000
    assert "OVERDRAWN" in run("office", "wallets", "show", "W-1").output
    assert out("office", "wallets", "overdrawn") == [
        {"wallet_id": "W-1", "balance": -40000, "unit": "money",
         "card": "7800001234567890", "customer": "C-1"}]


def test_lists_of_vehicles_and_groups(office: Path) -> None:
    run("office", "vehicles", "add", "--plate", "34 ABC 123", "--customer", "C-1",
        "--type", "van", "--fuel", "DT", "--tank", "80000")
    vehicles = out("office", "vehicles", "list", "--customer", "C-1")  # and the sample's
    assert ("34 ABC 123", 80000, "van") in [(v["plate"], v["tank_capacity_ml"],
                                             v["vehicle_type"]) for v in vehicles]
    assert all(v["customer"] == "C-1" for v in vehicles)
    run("office", "groups", "add", "G-X", "--kind", "vip")
    assert "G-X" in [g["group_id"] for g in out("office", "groups", "list")]


def test_a_group_s_cards_are_computed_in_a_few_queries_not_one_per_card(
        office_conn: Any) -> None:
    """A fleet group's limit change recomputes every member's card: the related rows are
    fetched per batch of cards, not per card (a 10,000-card fleet stays a few queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from office.cards import service as cards
    from office.cards.compute import docs_for
    from office.customers import service

    who = service.Who("anna", "cli")
    service.add_group(office_conn, {"group_id": "G-BIG", "kind": "fleet"}, who)
    for i in range(40):
        customer = service.add_customer(office_conn, {"name": f"Driver {i}",
                                                      "groups": ["G-BIG"]}, who)
        cards.issue(office_conn, Config(), {"customer": customer.customer_id,
                                             "kind": "smart", "card_id": f"K-{i}"}, who)
    ids = [f"K-{i}" for i in range(40)]
    with CaptureQueriesContext(connection) as few:
        docs = docs_for(ids[:4])
    with CaptureQueriesContext(connection) as many:
        docs = docs_for(ids)
    assert len(docs) == 40 and docs["K-7"]["customer_id"] == "C-000008"
    assert len(many.captured_queries) == len(few.captured_queries)
