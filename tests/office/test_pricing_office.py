"""Pricing at the office (issue 13), on SQLite and PostgreSQL: rules defined through the
real CLI become a published revision stations receive; a priced sale is settled once,
recomputed with the same code (a tampered figure is flagged), its points booked with
their expiry and drawn earliest first, and a void gives everything back."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from cli import main
from core.config import load_config_file
from core.formats.pricing import parse_pricing
from core.formats.pricing_line import line_doc
from core.rules.conditions import Facts
from core.rules.pricing import price_sale
from office.store import open_office

MSK = ZoneInfo("Europe/Moscow")


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def office(office_env: Path, sample_store_file: Path) -> Path:
    run("office", "init")
    run("office", "cards", "import", str(sample_store_file))
    return office_env


@pytest.fixture
def programme(office: Path) -> Path:
    run("office", "loyalty", "settings", "--point-value", "100", "--expiry-days", "30")
    run("office", "discounts", "add", "--kind", "volume", "--percent", "3", "--min-fill",
        "30000", "--id", "D-VOL")
    run("office", "loyalty", "earn", "--basis", "volume", "--points", "1", "--per", "1000",
        "--id", "P-LITRE")
    run("office", "loyalty", "tiers", "gold=500000:150")
    return office


def published(config_file: Path) -> dict[str, Any]:
    return dict(json.loads(run("office", "pricing", "show").stdout))


def test_rules_from_the_cli_are_published_as_stations_read_them(programme: Path) -> None:
    doc = published(programme)
    rules = parse_pricing(doc)
    assert [d.rule_id for d in rules.discounts] == ["D-VOL"]
    assert rules.loyalty is not None and rules.loyalty.tiers[0].name == "gold"
    conn = open_office(load_config_file(programme))
    try:
        ops = json.loads(conn.one("SELECT ops FROM cm_versions WHERE version = (SELECT "
                                  "card_master_version FROM pricing_revisions WHERE "
                                  "revision = ?)", (doc["revision"],))["ops"])
        who = conn.one("SELECT actor FROM audit_entries WHERE action = 'pricing.discount.add'")
    finally:
        conn.close()
    assert ops == [{"op": "pricing", "pricing": doc}]
    assert who["actor"]


@pytest.mark.parametrize("args, words", [
    (("--kind", "volume", "--percent", "3"), "min_fill_ml"),
    (("--kind", "time", "--per-litre", "100", "--hours", "25:00-06:00"), "hours.from"),
    (("--kind", "product", "--percent", "3", "--per-litre", "5", "--product", "AI95"),
     "exactly one"),
])
def test_a_bad_rule_is_one_sentence_and_changes_nothing(programme: Path, args: tuple[str, ...],
                                                        words: str) -> None:
    before = published(programme)["revision"]
    result = run("office", "discounts", "add", *args, ok=False)
    assert result.exit_code != 0 and words in result.output
    assert "Traceback" not in result.output
    assert published(programme)["revision"] == before


def _sale(programme: Path, seq: int, **changes: Any) -> dict[str, Any]:
    rules = parse_pricing(published(programme))
    facts = Facts(local=datetime(2026, 12, 5, 12, 0, tzinfo=MSK), station_id="S1",
                  last_month_volume_ml=600000)
    priced = price_sale(rules, product="AI95", volume_ml=40000, unit_price=5000, facts=facts)
    line = line_doc(rules.revision, priced, 0, facts)
    line.update(changes)
    return {"station_id": "S1", "seq": seq, "sale_id": f"A{seq:09d}", "card_id": "C-1001",
            "product": "AI95", "volume_ml": 40000, "unit_price": 5000,
            "amount": priced.amount, "completed_at": "2026-12-05T09:05:00.000000Z",
            "pricing": json.dumps(line)}


def test_a_priced_sale_is_recomputed_and_its_points_booked(programme: Path) -> None:
    from office.pricing import points
    from office.pricing.models import PricingDifference
    from office.pricing.settle import settle_sale

    good, tampered = _sale(programme, 1), _sale(programme, 2, points_earned=999)
    assert json.loads(good["pricing"])["points_earned"] == 60  # 40 l x 1 x gold 1.5
    conn = open_office(load_config_file(programme))
    try:
        with conn.atomic():
            settle_sale(good, {})
            settle_sale(tampered, {})
        flagged = [(d.seq, d.field) for d in PricingDifference.objects.order_by("seq")]
        day = datetime(2026, 12, 6).date()
        lots = points.lots("C-1001", day)
    finally:
        conn.close()
    assert flagged == [(2, "points_earned")]
    # Each lot expires 30 days after its local day; the tampered line earns no more than
    # the rules give (a station cannot mint points).
    assert lots == [{"expires": "2027-01-04", "points": 60},
                    {"expires": "2027-01-04", "points": 60}]


def test_redemption_draws_the_earliest_expiry_and_a_void_gives_it_back(programme: Path
                                                                       ) -> None:
    from office.customers.service import Who
    from office.pricing import ledger_service, points

    conn = open_office(load_config_file(programme))
    try:
        with conn.atomic():
            ref = points.SaleRef("S1", 7, "A7", "2026-12-05T09:00:00Z", "sync:S1")
            early = points.earn("C-1001", 50, earned_on=datetime(2026, 11, 1).date(),
                                expiry_days=30, ref=ref)
            late = points.earn("C-1001", 50, earned_on=datetime(2026, 11, 20).date(),
                               expiry_days=30, ref=ref)
            entry = points.burn("C-1001", 70, on=datetime(2026, 11, 25).date(), ref=ref)
        assert early is not None and late is not None and entry is not None
        assert json.loads(entry.lots) == [[early.id, 50], [late.id, 20]]
        assert points.balance("C-1001", datetime(2026, 11, 25).date()) == 30
        # A burn with too few points left is recorded as owed; the next earning pays it.
        with conn.atomic():
            short = points.burn("C-1001", 40, on=datetime(2026, 11, 25).date(), ref=ref)
        assert short is not None and short.short == 10
        assert points.balance("C-1001", datetime(2026, 11, 25).date()) == -10
        from office.customers.errors import RecordRefused

        with pytest.raises(RecordRefused, match="no priced sale"):
            ledger_service.void(conn, "S1", 99, "test", Who("anna", "cli"))
    finally:
        conn.close()


def _card_doc(config_file: Path, card_id: str) -> dict[str, Any]:
    conn = open_office(load_config_file(config_file))
    try:
        return dict(json.loads(conn.one("SELECT doc FROM cm_cards WHERE card_id = ?",
                                        (card_id,))["doc"]))
    finally:
        conn.close()


def test_loyalty_facts_follow_the_customer_and_points_follow_a_reissue(programme: Path
                                                                       ) -> None:
    customer = json.loads(run("office", "customers", "add", "--name", "Ali Veli",
                              "--birthday", "1980-03-14", "--json").stdout)["customer_id"]
    run("office", "cards", "issue", "--customer", customer, "--kind", "smart",
        "--card-id", "K-LOYAL")
    assert _card_doc(programme, "K-LOYAL")["loyalty"] == {"birthday": "03-14"}
    run("office", "customers", "edit", customer, "--category", "vip")
    assert _card_doc(programme, "K-LOYAL")["loyalty"] == {"birthday": "03-14",
                                                         "category": "vip"}
    run("office", "points", "adjust", "K-LOYAL", "120", "--reason", "welcome")
    run("office", "cards", "reissue", "K-LOYAL", "--card-id", "K-LOYAL-2")
    moved = json.loads(run("office", "points", "show", "K-LOYAL-2", "--history",
                           "--json").stdout)
    assert moved["balance"] == 120 and [e["kind"] for e in moved["history"]] == ["adjust"]
    taken = run("office", "points", "adjust", "K-LOYAL-2", "-500", "--reason", "x", ok=False)
    assert taken.exit_code != 0 and "has 120 points" in taken.output


def test_a_negative_correction_is_a_number_not_an_option(office: Path) -> None:
    """``wallets adjust W -5000`` and ``points adjust CARD -5`` read the minus sign as a
    number (a clerk's correction), not as an unknown option."""
    customer = json.loads(run("office", "customers", "add", "--name", "Neg", "--json").stdout)
    run("office", "cards", "issue", "--customer", customer["customer_id"], "--kind", "smart",
        "--card-id", "K-NEG")
    wallet = json.loads(run("office", "wallets", "add", "K-NEG", "--unit", "money",
                            "--balance", "10000", "--json").stdout)["wallet_id"]
    result = run("office", "wallets", "adjust", wallet, "-2500", "--reason", "fee refunded")
    assert "10000 -> 7500" in result.output


def test_the_history_shows_what_expired_unspent(programme: Path) -> None:
    from office.pricing import points

    conn = open_office(load_config_file(programme))
    try:
        with conn.atomic():
            ref = points.SaleRef("S1", 3, "A3", "2026-10-01T09:00:00.000000Z", "sync:S1")
            points.earn("C-1001", 40, earned_on=datetime(2026, 10, 1).date(), expiry_days=30,
                        ref=ref)
            points.burn("C-1001", 15, on=datetime(2026, 10, 20).date(),
                        ref=points.SaleRef("S1", 4, "A4", "2026-10-20T09:00:00.000000Z",
                                           "sync:S1"))
        day = datetime(2026, 12, 1).date()
        shown = [(e["kind"], e["points"]) for e in points.history("C-1001", today=day)]
        balance = points.balance("C-1001", day)
    finally:
        conn.close()
    assert shown == [("earn", 40), ("burn", -15), ("expire", -25)]
    assert balance == 0 == sum(p for _k, p in shown)


def test_a_voucher_of_no_batch_is_a_difference_not_a_stuck_uplink(programme: Path) -> None:
    """A line naming a voucher serial the office never issued (forged, tampered) is
    settled all the same, the serial flagged; the ingest never fails on it."""
    from office.pricing.models import PricedSale, PricingDifference
    from office.pricing.settle import settle_sale

    forged = _sale(programme, 5, voucher="999999000001")
    conn = open_office(load_config_file(programme))
    try:
        with conn.atomic():
            assert settle_sale(forged, {}) is None
        flagged = sorted({d.field for d in PricingDifference.objects.filter(seq=5)})
        settled = PricedSale.objects.filter(seq=5).count()
    finally:
        conn.close()
    assert flagged == ["voucher"] and settled == 1
