"""Pricing at the station, on a real SQLite store: discounts, presets, vouchers, points, tiers.

The card store carries the pricing document (snapshot key ``pricing``, delta op
``pricing``); authorizations use the discounted preset price, completions price the
sale with core.rules.pricing and write the hashed ``pricing`` field of the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.errors import CardStoreFormatError
from core.money import max_volume_for
from edge.lifecycle import Station
from offline_db.journal import list_sales, verify
from offline_db.replication import apply_cards_message
from offline_db.store import StationStore
from tests.edge.pricing_support import (
    DAY_LIMIT,
    LOYAL,
    NOW,
    WALLET,
    card_store,
    pricing,
    voucher,
)


def open_station(config: Config, clock: Any = None) -> tuple[StationStore, Station]:
    store, _ = StationStore.create(config.station.data_dir)
    return store, Station(store, config, clock=clock or (lambda: NOW))


@pytest.fixture
def priced(config: Config, tmp_path: Path) -> Iterator[Station]:
    """A station whose card store carries :data:`PRICING`."""
    store, station = open_station(config)
    station.import_cards(card_store(tmp_path / "cs.json"), actor="test")
    try:
        yield station
    finally:
        store.close()


def decisions(station: Station) -> list[dict[str, Any]]:
    return [dict(r) for r in station.conn.execute(
        "SELECT card_id, state, reason, voucher_serial FROM authorizations ORDER BY rowid")]


def test_a_discount_in_the_snapshot_lowers_the_journal_amount(priced: Station) -> None:
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    assert auth["preset_prices"] == {"DT": 6033}  # 6350 less 5 %, rounded up
    done = priced.complete(auth["sale_id"], volume_ml=10_000)
    assert (done["unit_price"], done["amount"]) == (6350, 60_325)  # list price kept
    assert done["pricing"]["discounts"] == [{"rule_id": "DT-5", "amount": 3175}]
    (line,) = list_sales(priced.conn)
    assert line["amount"] == 60_325 and line["unit_price"] == 6350
    assert line["pricing"]["list_amount"] == 63_500
    assert line["pricing"]["discounts"] == [["DT-5", 3175]]
    assert line["pricing"]["revision"] == 4
    assert line["pricing"]["basis"]["local"].startswith("2026-11-25T12:00")
    assert verify(priced.conn).ok
    # AI95 has no discount: the list amount, yet the line carries the field for the
    # points the sale earns (earn rule E-1: a point a litre).
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="AI95")
    assert auth["preset_prices"] == {"AI95": 5299}
    done = priced.complete(auth["sale_id"], volume_ml=10_000)
    assert done["amount"] == 52_990 and done["pricing"]["points_earned"] == 10


def test_a_station_without_pricing_writes_lines_without_the_field(
        config: Config, tmp_path: Path) -> None:
    store, station = open_station(config)
    try:
        station.import_cards(card_store(tmp_path / "cs.json", doc=None), actor="test")
        auth = station.authorize(card=DAY_LIMIT, pump=1, product="DT")
        assert auth["preset_prices"] is None
        done = station.complete(auth["sale_id"], volume_ml=10_000)
        assert done["amount"] == 63_500 and done["pricing"] is None
        (line,) = list_sales(station.conn)
        assert "pricing" not in line
        assert station.conn.execute("SELECT pricing FROM journal").fetchone()[0] is None
    finally:
        store.close()


def test_nothing_applied_writes_no_field(config: Config, tmp_path: Path) -> None:
    """A document whose rules do not apply to the sale (no discount, voucher or points)."""
    store, station = open_station(config)
    try:
        doc = pricing(loyalty=None)
        station.import_cards(card_store(tmp_path / "cs.json", doc=doc), actor="test")
        auth = station.authorize(card=DAY_LIMIT, pump=1, product="AI95")
        done = station.complete(auth["sale_id"], volume_ml=10_000)
        assert done["amount"] == 52_990 and done["pricing"] is None
        assert "pricing" not in list_sales(station.conn)[0]
    finally:
        store.close()


def delta(ops: list[dict[str, Any]], first: int, last: int) -> dict[str, Any]:
    return {"mode": "delta", "from_version": first, "to_version": last, "ops": ops,
            "expires_at": (NOW + timedelta(days=1)).isoformat()}


def test_a_pricing_delta_op_replaces_the_document(config: Config, tmp_path: Path) -> None:
    store, station = open_station(config)
    try:
        station.import_cards(card_store(tmp_path / "cs.json", doc=None), actor="test")
        result = apply_cards_message(station, delta([{"op": "pricing", "pricing": pricing()}],
                                                    17, 18))
        assert result.outcome == "applied", result.detail
        auth = station.authorize(card=DAY_LIMIT, pump=1, product="DT")
        assert station.complete(auth["sale_id"], volume_ml=10_000)["amount"] == 60_325
        gone = apply_cards_message(station, delta([{"op": "pricing", "pricing": None}], 18, 19))
        assert gone.outcome == "applied"
        auth = station.authorize(card=DAY_LIMIT, pump=1, product="DT")
        assert station.complete(auth["sale_id"], volume_ml=10_000)["amount"] == 63_500
        bad = apply_cards_message(station, delta([{"op": "pricing", "pricing": {
            "discounts": [{"rule_id": "X", "kind": "product", "percent_bp": 1.5}]}}], 19, 20))
        assert bad.outcome == "refused" and "ops[0].pricing.discounts[0]" in bad.detail
        assert verify(station.conn).ok
    finally:
        store.close()


def test_a_sale_completes_with_the_rules_its_preset_was_made_with(config: Config,
                                                                   tmp_path: Path) -> None:
    """New rules arriving while the fuel runs do not change that sale's price; the kept
    document is forgotten once no open authorization needs it."""
    store, station = open_station(config)
    try:
        station.import_cards(card_store(tmp_path / "cs.json"), actor="test")
        auth = station.authorize(card=DAY_LIMIT, pump=1, product="DT")
        ended = pricing(revision=5, discounts=[])
        assert apply_cards_message(station, delta([{"op": "pricing", "pricing": ended}],
                                                  17, 18)).outcome == "applied"
        done = station.complete(auth["sale_id"], volume_ml=10_000)
        assert done["amount"] == 60_325  # 5 % off, as when the pump was authorized
        assert list_sales(station.conn)[-1]["pricing"]["revision"] == 4
        later = station.authorize(card=DAY_LIMIT, pump=1, product="DT")
        assert station.complete(later["sale_id"], volume_ml=10_000)["amount"] == 63_500
        assert apply_cards_message(station, delta([{"op": "pricing", "pricing": pricing(
            revision=6)}], 18, 19)).outcome == "applied"
        kept = [r[0] for r in station.conn.execute(
            "SELECT key FROM sync_state WHERE key LIKE 'pricing@%'")]
        assert kept == []
    finally:
        store.close()


def test_a_bad_document_refuses_the_whole_snapshot(priced: Station, tmp_path: Path) -> None:
    doc = pricing(discounts=[{"rule_id": "V", "kind": "volume", "percent_bp": 300}])
    with pytest.raises(CardStoreFormatError, match=r"pricing\.discounts\[0\].*min_fill_ml"):
        priced.import_cards(card_store(tmp_path / "bad.json", doc=doc, version=18),
                            actor="test")
    # Nothing changed: the old document still prices.
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    assert auth["preset_prices"] == {"DT": 6033}


def test_a_snapshot_without_a_document_clears_it(priced: Station, tmp_path: Path) -> None:
    priced.import_cards(card_store(tmp_path / "none.json", doc=None, version=18), actor="t")
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    assert auth["preset_prices"] is None
    assert priced.complete(auth["sale_id"], volume_ml=1000)["amount"] == 6350


def test_the_discounted_preset_lets_a_money_limit_buy_more(priced: Station,
                                                           config: Config,
                                                           tmp_path: Path) -> None:
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    assert auth["max_volume_ml"] == max_volume_for(300_000, 6033) == 49_726
    assert auth["max_volume_ml"] > max_volume_for(300_000, 6350)
    done = priced.complete(auth["sale_id"], volume_ml=auth["max_volume_ml"])
    assert done["amount"] <= 300_000  # the whole preset stays within the day's money
    again = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    assert again["reason"] == "limit_exhausted"


def test_a_voucher_alone_buys_its_product_and_volume_once(priced: Station,
                                                          config: Config) -> None:
    code = voucher(1, 7)
    auth = priced.authorize(voucher=code, pump=2)
    assert auth["approved"], auth
    assert (auth["card_id"], auth["products"], auth["max_volume_ml"]) == \
        ("V000001000007", ["DT"], 20_000)
    done = priced.complete(auth["sale_id"], volume_ml=20_000)
    assert done["pricing"]["voucher"] == "000001000007"
    assert done["pricing"]["voucher_value"] == done["amount"] == 120_650  # 5 % off 127000
    line = list_sales(priced.conn)[-1]
    assert line["card_id"] == "V000001000007" and line["pricing"]["money_due"] == 0
    used = priced.authorize(voucher=code, pump=2)
    assert (used["approved"], used["reason"]) == (False, "voucher_used")
    assert "already used" in used["detail"]
    # The same voucher typed as printed, or as its QR text, is the same voucher.
    spaced = " ".join(code[i:i + 5] for i in range(0, 20, 5))
    assert priced.authorize(voucher=spaced, pump=3)["reason"] == "voucher_used"
    assert priced.authorize(voucher="FCV1:" + code, pump=3)["reason"] == "voucher_used"
    # After a restart (a new store connection and station), still used.
    priced.store.close()
    store, station = open_station(config)
    try:
        assert station.authorize(voucher=code, pump=2)["reason"] == "voucher_used"
        rows = decisions(station)
        assert [r["reason"] for r in rows] == ["approved", "voucher_used", "voucher_used",
                                               "voucher_used", "voucher_used"]
        assert {r["card_id"] for r in rows} == {"V000001000007"}
    finally:
        store.close()


def test_a_cancelled_voucher_sale_frees_the_voucher(priced: Station) -> None:
    code = voucher(1, 8)
    first = priced.authorize(voucher=code, pump=1)
    assert priced.authorize(voucher=code, pump=2)["reason"] == "voucher_used"
    priced.cancel(first["sale_id"])
    assert priced.authorize(voucher=code, pump=2)["approved"]


def test_forged_unknown_and_wrong_product_vouchers_are_refused_and_journaled(
        priced: Station) -> None:
    code = voucher(1, 9)
    forged = code[:12] + f"{(int(code[12:]) + 1) % 10**8:08d}"
    out = priced.authorize(voucher=forged, pump=1)
    assert (out["approved"], out["reason"], out["card_id"]) == \
        (False, "voucher_forged", "V000001000009")
    assert priced.authorize(voucher="12345", pump=1)["reason"] == "voucher_malformed"
    unknown = "000009000001" + code[12:]
    assert priced.authorize(voucher=unknown, pump=1)["reason"] == "voucher_unknown"
    wrong = priced.authorize(voucher=code, pump=1, product="AI95")
    assert wrong["reason"] == "voucher_product"
    # With a card: a forged voucher refuses the card's sale too.
    assert priced.authorize(card=DAY_LIMIT, pump=1, voucher=forged)["reason"] == \
        "voucher_forged"
    assert [r["reason"] for r in decisions(priced)] == [
        "voucher_forged", "voucher_malformed", "voucher_unknown", "voucher_product",
        "voucher_forged"]
    assert all(r["state"] == "denied" for r in decisions(priced))
    audits = priced.conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = "
                                 "'sale.refuse'").fetchone()[0]
    assert audits == 4  # the talon refusals carry their sentence in the audit log
    # Nothing was reserved: the voucher is still good.
    assert priced.authorize(voucher=code, pump=1)["approved"]


def test_a_voucher_with_a_card_adds_to_its_wallet_and_restricts_the_product(
        priced: Station) -> None:
    """Card W-1 pays AI95 from a 1000.00 wallet; a 500.00 AI95 voucher adds to it."""
    plain = priced.authorize(card=WALLET, pump=1, product="AI95")
    priced.cancel(plain["sale_id"])
    with_voucher = priced.authorize(card=WALLET, pump=1, voucher=voucher(2, 1))
    assert with_voucher["products"] == ["AI95"]  # the voucher's product only
    assert with_voucher["max_volume_ml"] == max_volume_for(150_000, 5299)
    assert with_voucher["max_volume_ml"] > plain["max_volume_ml"]
    holds = dict(priced.conn.execute("SELECT wallet_id, value FROM wallet_holds").fetchall())
    assert set(holds) == {"W-1"}  # the voucher is not a wallet the station holds
    done = priced.complete(with_voucher["sale_id"], volume_ml=25_000)
    amount = (25_000 * 5299 + 500) // 1000
    assert done["amount"] == amount
    assert done["pricing"]["voucher_value"] == 50_000
    assert done["wallet_debits"] == {"W-1": amount - 50_000}
    assert done["wallet_shortfall"] == 0
    # A diesel voucher cannot be used with the AI95 request.
    assert priced.authorize(card=WALLET, pump=1, product="AI95",
                            voucher=voucher(1, 1))["reason"] == "voucher_product"


def test_points_burned_are_bounded_by_lots_less_pending(priced: Station) -> None:
    """1000 points unexpired (500 more expired); an open sale may burn 300 of them."""
    pending = priced.authorize(card=LOYAL, pump=1, product="DT", points=300)
    assert pending["points_hold"] == 300
    second = priced.authorize(card=LOYAL, pump=2, product="DT", points=10**6)
    assert second["points_hold"] == 700  # 1000 - 300, the expired lot not counted
    done = priced.complete(second["sale_id"], volume_ml=40_000)
    parts = done["pricing"]
    assert (parts["points_asked"], parts["points_burned"], parts["points_value"]) == \
        (700, 700, 70_000)
    assert done["amount"] == 40 * 6350 - 12_700  # 5 % off diesel
    line = list_sales(priced.conn)[-1]["pricing"]
    assert line["basis"]["points_available"] == 700
    assert line["money_due"] == done["amount"] - 70_000
    # The pending sale, completed small, burns what its money allows, not more.
    small = priced.complete(pending["sale_id"], volume_ml=1_000)["pricing"]
    assert small["points_asked"] == 300 and small["points_burned"] == 60  # 6032 // 100
    # Now 1000 - 700 - 60 are left: all of them.
    third = priced.authorize(card=LOYAL, pump=1, product="DT", points=10**6)
    assert third["points_hold"] == 240
    assert verify(priced.conn).ok


def test_the_tier_turns_at_local_midnight_on_the_first(config: Config,
                                                       tmp_path: Path) -> None:
    """Vladivostok is UTC+10: 2026-11-30 19:00 UTC is already 1 December there, so the
    600 l of November are last month's and the card is gold."""
    config = replace(config, station=replace(config.station, timezone="Asia/Vladivostok"))
    gold_only = pricing(discounts=[{"rule_id": "GOLD", "kind": "product", "per_litre": 100,
                                    "when": {"products": ["DT"], "tiers": ["gold"]}}])

    def usage(doc: dict[str, Any]) -> None:
        card = next(c for c in doc["cards"] if c["card_id"] == LOYAL)
        card["usage"] = [{"period": "month", "period_start": "2026-11-01", "product": "DT",
                          "volume_ml": 600_000, "amount": 3_810_000, "visits": 12}]

    path = card_store(tmp_path / "cs.json", doc=gold_only, edit=usage)
    november_end = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # 23:00 local, 30 Nov
    december = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 05:00 local, 1 Dec
    now = [november_end]
    store, station = open_station(config, clock=lambda: now[0])
    try:
        station.import_cards(path, actor="test")
        before = station.authorize(card=LOYAL, pump=1, product="DT")
        assert before["preset_prices"] == {"DT": 6350}
        done = station.complete(before["sale_id"], volume_ml=10_000)
        assert done["amount"] == 63_500 and done["pricing"]["tier"] is None
        line = list_sales(station.conn)[-1]["pricing"]["basis"]
        assert (line["month_volume_ml"], line["last_month_volume_ml"]) == (600_000, 0)
        assert line["fills_this_month"] == 12
        now[0] = december
        after = station.authorize(card=LOYAL, pump=1, product="DT")
        assert after["preset_prices"] == {"DT": 6250}
        done = station.complete(after["sale_id"], volume_ml=10_000)
        assert done["amount"] == 62_500 and done["pricing"]["tier"] == "gold"
        basis = list_sales(station.conn)[-1]["pricing"]["basis"]
        # November: the office's 600 l plus this station's 10 l sold on the 30th.
        assert (basis["month_volume_ml"], basis["last_month_volume_ml"]) == (0, 610_000)
        assert basis["local"].startswith("2026-12-01T05:00") and basis["local"].endswith(
            "+10:00")
        assert basis["category"] == "vip" and basis["groups"] == ["G-VIP"]
        assert basis["birthday"] == "03-14"
        assert verify(station.conn).ok
    finally:
        store.close()


def test_usage_updates_bring_points_and_points_earned(priced: Station) -> None:
    ops = [{"op": "usage", "card_id": LOYAL, "rev": 5, "station_seqs": {"S-001": 0},
            "usage": [], "points": [{"expires": "2027-01-31", "points": 40}],
            "points_earned": [{"period": "month", "period_start": "2026-11-01",
                               "points": 12}]}]
    body = {"mode": "usage", "ops": ops, "expires_at": (NOW + timedelta(days=1)).isoformat()}
    assert apply_cards_message(priced, body).outcome == "usage"
    auth = priced.authorize(card=LOYAL, pump=1, product="DT", points=10**6)
    assert auth["points_hold"] == 40
    done = priced.complete(auth["sale_id"], volume_ml=5_000)
    basis = list_sales(priced.conn)[-1]["pricing"]["basis"]
    assert basis["points_earned"] == {"day": 0, "month": 12, "week": 0}
    assert done["pricing"]["points_burned"] == 40
    # A later update without points keeps the lots and their mark.
    ops[0].update(rev=6, station_seqs={"S-001": 1})
    del ops[0]["points"]
    assert apply_cards_message(priced, {**body, "ops": ops}).outcome == "usage"
    auth = priced.authorize(card=LOYAL, pump=1, product="DT", points=10**6)
    assert auth["points_hold"] == 0  # 40 lots, 40 burned after their mark (seq 0)
    rows = priced.conn.execute("SELECT points_as_of_seq, as_of_seq FROM card_usage_as_of "
                               "WHERE card_id = ?", (LOYAL,)).fetchone()
    assert tuple(rows) == (0, 1)


def test_the_authorization_records_what_completion_prices_from(priced: Station) -> None:
    """The preset price does not change while the fuel runs: new rules arriving between
    authorization and completion do not change the facts the sale was priced from."""
    auth = priced.authorize(card=DAY_LIMIT, pump=1, product="DT")
    row = priced.conn.execute("SELECT prices, pricing FROM authorizations WHERE sale_id = ?",
                              (auth["sale_id"],)).fetchone()
    assert json.loads(row["prices"]) == {"DT": 6350}  # the list price
    recorded = json.loads(row["pricing"])
    assert recorded["preset_prices"] == {"DT": 6033}
    assert recorded["basis"]["local"].startswith("2026-11-25T12:00")
    priced.clock = lambda: NOW + timedelta(hours=2)
    priced.complete(auth["sale_id"], volume_ml=1_000)
    assert list_sales(priced.conn)[-1]["pricing"]["basis"]["local"].startswith(
        "2026-11-25T12:00")
