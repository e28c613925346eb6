"""Duplicates and merge (issue 12): candidates by phone, e-mail and name; a merge that
moves cards (with wallets and history), vehicles, consent, groups and contacts in one
transaction, audited, with the moved cards' documents republished; a preview that
changes nothing; bad input refused in one sentence — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from core.config import Config
from core.formats.deltas import parse_ops
from office import db
from office.cards import service as cards
from office.customers import merge, service
from office.customers.duplicates import duplicates
from office.customers.errors import RecordRefused
from office.customers.find import search
from office.store import OfficeConnection
from tests.office.console_support import add_sale
from tests.office_fixtures import OfficeDb

WHO = service.Who("anna", "console")


@pytest.fixture
def config(office_db: OfficeDb) -> Config:
    return Config(office=office_db.config)


def add(conn: OfficeConnection, name: str, **values: Any) -> str:
    return str(service.add_customer(conn, {"name": name, **values}, WHO).customer_id)


def reasons(found: list[dict[str, Any]], *ids: str) -> list[str]:
    for item in found:
        if sorted(item["customer_ids"]) == sorted(ids):
            return sorted(r["reason"] for r in item["reasons"])
    return []


# -- duplicates ----------------------------------------------------------------------------

def test_duplicates_by_phone_e_mail_and_name(office_conn: OfficeConnection) -> None:
    a = add(office_conn, "Şükrü Yılmaz", phones=["+90 532 123 45 67"])
    b = add(office_conn, "Sukru Yilmas", phones=["0532 123 45 67"])  # same phone, typo
    c = add(office_conn, "Anna Petrova", emails=["anna@example.com"])
    d = add(office_conn, "A. Petrova", emails=["ANNA@example.com"])
    e = add(office_conn, "Иванов Иван")
    f = add(office_conn, "Иван Иванов")  # the same words, another order
    g = add(office_conn, "Mehmet Yıldız")  # alike only in part: not a candidate
    found = duplicates()
    assert reasons(found, a, b) == ["name", "phone"]
    assert reasons(found, c, d) == ["email"]
    assert reasons(found, e, f) == ["name"]
    assert all(g not in item["customer_ids"] for item in found)
    # The strongest (two reasons) first, each reason with what was shared.
    assert sorted(found[0]["customer_ids"]) == [a, b]
    phone = next(r for r in found[0]["reasons"] if r["reason"] == "phone")
    assert phone["value"] in ("+905321234567", "05321234567")
    name = next(r for r in found[0]["reasons"] if r["reason"] == "name")
    assert 88 <= name["score"] < 100
    # Merged customers are no candidates any more.
    merge.merge(office_conn, Config(), a, b, WHO)
    assert reasons(duplicates(), a, b) == []


def test_duplicate_names_are_found_in_a_big_block(office_conn: OfficeConnection) -> None:
    """A common first name makes a block too big to compare within; its names still
    meet in the blocks of their other words."""
    from office.customers import duplicates as dup

    old = dup.MAX_BLOCK
    dup.MAX_BLOCK = 5
    try:
        made = [add(office_conn, f"Mehmet {s}") for s in (
            "Kaya", "Demir", "Şahin", "Çelik", "Aydın", "Öztürk", "Arslan")]
        twin = add(office_conn, "Mehmet Öztürkk")
        found = duplicates()
    finally:
        dup.MAX_BLOCK = old
    assert reasons(found, made[5], twin) == ["name"]
    assert len(found) == 1


def test_the_same_name_is_one_group_and_a_similar_common_name_too(
        office_conn: OfficeConnection) -> None:
    """Many customers of one common name are one candidate, not every pair of them."""
    same = [add(office_conn, "Mehmet Yılmaz") for _ in range(6)]
    typo = [add(office_conn, "Mehmet Yilmas") for _ in range(5)]
    single = add(office_conn, "Ayşe Kaya")
    alike = add(office_conn, "Ayse Kayaa")
    found = duplicates()
    assert reasons(found, *same) == ["name"]
    assert reasons(found, *typo) == ["name"]
    assert reasons(found, *same, *typo) == ["name"]  # 30 pairs > MAX_PAIRS: one group
    assert reasons(found, single, alike) == ["name"]  # a pair
    assert len(found) == 4
    assert found[0]["reasons"] == [{"reason": "name", "score": 100.0}]


# -- merge ---------------------------------------------------------------------------------

@pytest.fixture
def pair(office_conn: OfficeConnection, config: Config) -> dict[str, Any]:
    """Two records of one person: ``keep`` with a card and a group; ``other`` with two
    cards (one with a wallet and sales), a vehicle, consent, two groups (one shared),
    other contacts and the fields ``keep`` lacks."""
    for group in ("fleet", "vip"):
        service.add_group(office_conn, {"group_id": group}, WHO)
    keep = add(office_conn, "Şükrü Yılmaz", phones=["+905321234567"],
               emails=["sukru@example.com"], groups=["fleet"], customer_id="C-KEEP")
    other = add(office_conn, "Sukru Yilmaz", phones=["+905559998877"],
                emails=["sukru@work.example", "sukru@example.com"], groups=["fleet", "vip"],
                birthday="1980-05-01", category="vip", region="Istanbul",
                addresses=["Bağdat Cd. 1, Istanbul"], customer_id="C-OTHER")
    cards.issue(office_conn, config, {"customer": keep, "kind": "digital",
                                      "card_id": "K-1"}, WHO)
    cards.issue(office_conn, config, {"customer": other, "kind": "magstripe",
                                      "pan": "7800555512345678"}, WHO)
    cards.issue(office_conn, config, {"customer": other, "kind": "digital",
                                      "card_id": "K-3"}, WHO)
    wallet = cards.add_wallet(office_conn, config, "7800555512345678",
                              {"unit": "money", "balance": 50000}, WHO)[0]
    vehicle = service.add_vehicle(office_conn, {"plate": "34 ABC 123", "customer": other},
                                  WHO)
    service.set_consent(office_conn, keep, "sms", given=True, source="form", who=WHO)
    service.set_consent(office_conn, other, "sms", given=False, source="sms reply", who=WHO)
    service.set_consent(office_conn, other, "email", given=True, source="web", who=WHO)
    db.execute("UPDATE consent_events SET at = '2026-01-01T00:00:00.000000Z' "
               "WHERE customer_id = ? AND channel = 'sms'", (keep,))
    add_sale("S-001", 1, card_id="7800555512345678")
    add_sale("S-001", 2, card_id="7800555512345678")
    return {"keep": keep, "other": other, "wallet": wallet.wallet_id,
            "vehicle": vehicle.vehicle_id}


def snapshot() -> dict[str, Any]:
    """Everything a merge could change, to compare before and after."""
    out: dict[str, Any] = {}
    for table, order in (("customers", "customer_id"), ("cards", "card_id"),
                         ("vehicles", "vehicle_id"), ("consent_events", "id"),
                         ("group_members", "id"), ("wallets", "wallet_id"),
                         ("cm_versions", "version"), ("cm_cards", "card_id"),
                         ("audit_entries", "id"), ("customer_search_rows", "rid")):
        if table == "customer_search_rows" and db.vendor() != "sqlite":
            continue
        out[table] = [tuple(r) for r in db.fetchall(f"SELECT * FROM {table} ORDER BY {order}")]
    return out


def test_the_preview_says_what_would_move_and_changes_nothing(
        office_conn: OfficeConnection, pair: dict[str, Any]) -> None:
    before = snapshot()
    plan = merge.preview(pair["keep"], pair["other"])
    assert snapshot() == before
    assert plan["preview"] is True
    assert plan["cards"] == ["7800555512345678", "K-3"]
    assert plan["wallets"] == [pair["wallet"]]
    assert plan["vehicles"] == [pair["vehicle"]]
    assert plan["sales"] == 2
    assert plan["groups"] == ["vip"] and plan["groups_already"] == ["fleet"]
    assert plan["phones"] == ["+905559998877"]
    assert plan["emails"] == ["sukru@work.example"]
    assert plan["addresses"] == ["Bağdat Cd. 1, Istanbul"]
    assert plan["fields"] == {"birthday": "1980-05-01", "category": "vip",
                              "region": "Istanbul"}
    assert plan["consent_events"] == 2
    # keep's sms "given" is older than other's "withdrawn": the withdrawal stands.
    assert plan["consent"] == {"email": True, "sms": False}


def test_merge_moves_everything_audited_and_republishes_the_cards(
        office_conn: OfficeConnection, config: Config, pair: dict[str, Any]) -> None:
    keep, other = pair["keep"], pair["other"]
    planned = merge.preview(keep, other)
    latest = db.fetchone("SELECT MAX(version) FROM cm_versions")
    done = merge.merge(office_conn, config, keep, other, WHO)
    assert {k: v for k, v in done.items() if k not in ("preview", "version", "published")} \
        == {k: v for k, v in planned.items() if k != "preview"}
    assert latest is not None and done["version"] == latest[0] + 1
    # The records moved.
    assert sorted(service.customer_cards(keep)) == ["7800555512345678", "K-1", "K-3"]
    assert service.customer_cards(other) == []
    kept = service.customer_record(service.get_customer(keep))
    assert kept["groups"] == ["fleet", "vip"]
    assert kept["phones"] == ["+905321234567", "+905559998877"]
    assert kept["emails"] == ["sukru@example.com", "sukru@work.example"]
    assert (kept["birthday"], kept["category"], kept["region"]) == (
        "1980-05-01", "vip", "Istanbul")
    assert kept["name"] == "Şükrü Yılmaz"  # keep's own values stay
    assert service.get_vehicle(pair["vehicle"]).customer_id == keep
    consent = service.consent_of(service.get_customer(keep))
    assert {ch: c["given"] for ch, c in consent.items()} == {"sms": False, "email": True}
    assert len(service.consent_history(service.get_customer(keep))) == 3  # history kept
    gone = service.get_customer(other)
    assert gone.merged_into == keep and gone.closed_at is not None
    assert not gone.memberships.exists()
    # The wallet went with its card; the customer's sales are still theirs.
    assert cards.wallet_record(pair["wallet"])["card"] == "7800555512345678"
    assert search("0555 999 88 77")[0].customer_id == keep  # the merged phone finds keep
    # Audited: one entry for each record, same action.
    entries = {r["object_id"]: r for r in db.fetchall(
        "SELECT object_id, actor, via, old, new FROM audit_entries "
        "WHERE action = 'customer.merge'")}
    assert set(entries) == {keep, other}
    new = json.loads(entries[keep]["new"])
    assert new["merged"] == other
    assert new["moved"]["cards"] == ["7800555512345678", "K-3"]
    assert new["groups"] == ["fleet", "vip"]
    assert json.loads(entries[keep]["old"])["groups"] == ["fleet"]
    assert json.loads(entries[other]["new"])["merged_into"] == keep
    assert (entries[keep]["actor"], entries[keep]["via"]) == ("anna", "console")
    # One new card-master version: the moved cards name the kept customer, and keep's
    # own card inherits the group it gained.
    ops = json.loads(db.fetchall("SELECT ops FROM cm_versions WHERE version = ?",
                                 (done["version"],))[0][0])
    parse_ops(ops)
    docs = {op["card"]["card_id"]: op["card"] for op in ops if op["op"] == "card"}
    assert {docs["7800555512345678"]["customer_id"], docs["K-3"]["customer_id"]} == {keep}
    stored = {r[0]: json.loads(r[1]) for r in db.fetchall("SELECT card_id, doc FROM cm_cards")}
    assert stored["K-3"]["customer_id"] == keep


def test_a_company_s_members_move_with_it_into_a_company(office_conn: OfficeConnection,
                                                          config: Config) -> None:
    keep = add(office_conn, "Anka Lojistik A.Ş.", kind="company")
    other = add(office_conn, "Anka Lojistik", kind="company")
    driver = add(office_conn, "Ali Veli", company=other)
    done = merge.merge(office_conn, config, keep, other, WHO)
    assert done["members"] == [driver] and done["version"] is None
    assert service.get_customer(driver).company_id == keep


@pytest.mark.parametrize("case", ["itself", "unknown keep", "unknown other", "into merged",
                                  "into closed", "merged again", "company into person"])
def test_bad_merges_are_one_sentence_and_change_nothing(
        office_conn: OfficeConnection, config: Config, pair: dict[str, Any],
        case: str) -> None:
    keep, other = pair["keep"], pair["other"]
    spare = add(office_conn, "Spare")
    if case in ("into merged", "merged again"):
        merge.merge(office_conn, config, spare, other, WHO)
    if case == "into closed":
        db.execute("UPDATE customers SET closed_at = '2026-01-01T00:00:00.000000Z' "
                   "WHERE customer_id = ?", (spare,))
    if case == "company into person":
        firm = add(office_conn, "Firm", kind="company")
        add(office_conn, "Worker", company=firm)
    args = {"itself": (keep, keep), "unknown keep": ("C-NOPE", other),
            "unknown other": (keep, "C-NOPE"), "into merged": (other, keep),
            "into closed": (spare, other), "merged again": (keep, other),
            "company into person": (keep, firm if case == "company into person" else "")}[case]
    before = snapshot()
    attempts: list[Callable[[], Any]] = [
        lambda: merge.preview(*args), lambda: merge.merge(office_conn, config, *args, WHO)]
    for attempt in attempts:
        with pytest.raises(RecordRefused) as refused:
            attempt()
        text = str(refused.value)
        assert "\n" not in text and text.count(".") <= 1, text
    assert snapshot() == before
    expected = {"itself": "cannot be merged into itself", "unknown keep": "does not exist",
                "unknown other": "does not exist", "into merged": "was merged into",
                "into closed": "is closed", "merged again": "was already merged into",
                "company into person": "is a company with 1 member"}[case]
    assert expected in text

