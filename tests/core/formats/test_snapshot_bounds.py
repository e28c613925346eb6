"""Issue 10 #4, #8, #9, #10: the card-store format bounds every number, PIN hash
parameter, product code and text field, in snapshots and in deltas; a value out of
bounds is one sentence naming the field, and nothing changes in the store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import CardStoreFormatError
from core.formats.snapshot import parse_snapshot
from core.timefmt import iso, utc_now
from edge.lifecycle import Station
from offline_db.replication import apply_cards_message
from offline_db.state import get_state
from tests.core.formats.test_snapshot import mutate, sample

HUGE = 2**63
SMART = "7800001234567892"
PIN: dict[str, Any] = {"salt": "5f3c9a1e7b2d4c68",
       "hash": "aeaabf68465f920c13663d337249562abc1b4393b7e625d63f6c9d0d354fc3a7",
       "iterations": 100000}
USAGE: dict[str, Any] = {"period": "day", "period_start": "2026-11-22", "product": "AI95",
                         "volume_ml": 12000, "amount": 63588, "visits": 1}


def refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(CardStoreFormatError) as err:
        parse_snapshot(json.dumps(doc))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def import_doc(station: Station, tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "store.json"
    path.write_text(json.dumps(doc))
    station.import_cards(path, actor="test")


def unchanged(station: Station) -> None:
    conn = station.conn
    assert get_state(conn, "card_store_version") == "17"
    assert conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0] == 9  # the sample card store
    assert conn.execute("SELECT unit_price FROM products WHERE code = 'AI92'"
                        ).fetchone()[0] == 5090


# -- #8 huge integers -------------------------------------------------------------------
@pytest.mark.parametrize(("path", "value", "message"), [
    ("version", HUGE, "version must be at most 9007199254740991"),
    ("station_seqs.S-001", HUGE, "station_seqs.S-001 must be at most"),
    ("products.0.unit_price", HUGE - 1, "products[0].unit_price must be at most 10000000"),
    ("cards.0.limits.0.value", HUGE, "cards[0].limits[0].value must be at most 10000000000"),
    ("cards.0.limits.1.value", 10**15, "cards[0].limits[1].value must be at most "
                                       "100000000000000"),
    ("cards.0.wallets.0.balance", -HUGE, "cards[0].wallets[0].balance must be at least "
                                         "-100000000000000"),
    ("cards.0.usage", [{**USAGE, "volume_ml": HUGE}], "cards[0].usage[0].volume_ml must be at "
                                                      "most 10000000000"),
    ("cards.0.usage", [{**USAGE, "amount": HUGE}], "cards[0].usage[0].amount must be at most"),
    ("cards.0.usage", [{**USAGE, "visits": HUGE}], "cards[0].usage[0].visits must be at most "
                                                   "1000000"),
    ("cards.1.visits.0.count", HUGE, "cards[1].visits[0].count must be at most 1000000"),
    ("cards.1.visits.0.count", True, "cards[1].visits[0].count must be an integer"),
    ("products.0.unit_price", False, "products[0].unit_price must be an integer"),
])
def test_huge_integers_are_refused_naming_the_field(path: str, value: Any, message: str
                                                    ) -> None:
    refused(mutate(path, value), message)


@pytest.mark.parametrize(("path", "value"), [
    ("version", HUGE), ("cards.0.limits.0.value", HUGE), ("products.0.unit_price", HUGE - 1),
])
def test_huge_integer_import_changes_nothing(station: Station, tmp_path: Path, path: str,
                                             value: Any) -> None:
    doc = mutate(path, value)
    doc["version"] = doc["version"] if path == "version" else 18
    with pytest.raises(CardStoreFormatError, match="must be at most"):
        import_doc(station, tmp_path, doc)
    unchanged(station)
    # The store still authorizes (no OverflowError from a stored price).
    assert station.authorize(card="7800001234567890", pump=1)["approved"]


def test_largest_values_still_authorize_without_overflow(station: Station, tmp_path: Path
                                                         ) -> None:
    doc = sample()
    doc["version"] = 18
    for product in doc["products"]:
        product["unit_price"] = 10_000_000
    card = doc["cards"][0]
    card["limits"] = [{"period": "month", "unit": "money", "value": 10**14},
                      {"period": "day", "unit": "volume", "value": 10**10}]
    card["wallets"][0]["balance"] = 10**14
    card["usage"] = [{**USAGE, "volume_ml": 10**10, "amount": 10**14}]
    import_doc(station, tmp_path, doc)
    result = station.authorize(card="7800001234567890", pump=1, amount=10**14)
    assert result["reason"] in ("approved", "limit_exhausted")


# -- #4 PIN hash parameters ---------------------------------------------------------------
@pytest.mark.parametrize(("pin", "message"), [
    ({**PIN, "iterations": 2_000_000_000}, "cards[2].pin.iterations must be at most 1000000"),
    ({**PIN, "iterations": 1}, "cards[2].pin.iterations must be at least 10000"),
    ({**PIN, "iterations": True}, "cards[2].pin.iterations must be an integer"),
    ({**PIN, "salt": "5f3c9a1e7b2d4c6"}, "cards[2].pin.salt"),   # odd: not whole bytes
    ({**PIN, "salt": "5f3c9a1e"}, "cards[2].pin.salt"),          # 4 bytes: too short
    ({**PIN, "salt": "ab" * 65}, "cards[2].pin.salt"),           # 65 bytes: too long
    ({**PIN, "hash": PIN["hash"] + "00"}, "cards[2].pin.hash"),
    ({**PIN, "algorithm": "pbkdf2-sha1"}, "cards[2].pin.algorithm must be one of "
                                          "pbkdf2-sha256"),
])
def test_pin_hash_parameters_are_bounded(pin: dict[str, Any], message: str) -> None:
    refused(mutate("cards.2.pin", pin), message)


def test_pin_algorithm_may_be_named(station: Station, tmp_path: Path) -> None:
    doc = mutate("cards.2.pin", {**PIN, "algorithm": "pbkdf2-sha256"})
    doc["version"] = 18
    import_doc(station, tmp_path, doc)
    assert station.authorize(card=SMART, pump=1, pin="1234", product="DT")["approved"]


# -- #9 unknown product codes -------------------------------------------------------------
@pytest.mark.parametrize(("path", "value", "message"), [
    ("cards.0.limits.0.products", ["AI-95"],
     "cards[0].limits[0].products[0] names an unknown product 'AI-95'"),
    ("cards.0.wallets.0.products", ["AI95", "AI-98"],
     "cards[0].wallets[0].products[1] names an unknown product 'AI-98'"),
    ("cards.0.products", ["AI95", "GAS"], "cards[0].products[1] names an unknown product 'GAS'"),
])
def test_unknown_product_codes_are_refused(path: str, value: Any, message: str) -> None:
    refused(mutate(path, value), message)



@pytest.mark.parametrize(("path", "value"), [
    ("cards.0.card_id", "7800\u00a0001234567890"),  # a no-break space
    ("cards.1.vehicle_id", "V\u200d17"),             # a zero-width joiner
])
def test_journal_identifiers_are_what_the_office_accepts(path: str, value: Any) -> None:
    """A card id or vehicle id travels in every sale's journal line, where the head office
    accepts printable text only (wire.is_text): one the office would quarantine every
    batch for is refused at import instead. A customer's name may hold such a space."""
    from cloud_sync import wire

    assert not wire.is_text(value)
    refused(mutate(path, value), f"{path.replace('.0.', '[0].').replace('.1.', '[1].')} "
                                 "must be printable")
    parse_snapshot(json.dumps(mutate("customers.1.name", "ООО\u00a0Ромашка")))

# -- #10 text that cannot be stored or shown ------------------------------------------------
@pytest.mark.parametrize(("path", "value", "message"), [
    ("customers.1.name", "Ivan \ud800 Petrov", "customers[1].name"),
    ("cards.0.card_id", "78000012\x0034567890", "cards[0].card_id"),
    ("vehicles.0.plate", "A123BC\n77", "vehicles[0].plate"),
    ("products.0.name", "AI-92\x1b[31m", "products[0].name"),
    ("cards.3.token_id", "T-\u2028X", "cards[3].token_id"),
    ("cards.3.stations", ["S-001", "S-\x7f"], "cards[3].stations[1]"),
    ("stop_list", ["7800\r9999"], "stop_list[0]"),
    ("customers.0.name", "x" * 1001, "customers[0].name"),
])
def test_unstorable_text_is_refused(path: str, value: Any, message: str) -> None:
    refused(mutate(path, value), message + " must")


def test_surrogate_in_a_name_is_refused_on_import(station: Station, tmp_path: Path) -> None:
    doc = mutate("customers.1.name", "Ivan \ud800")
    doc["version"] = 18
    with pytest.raises(CardStoreFormatError, match=r"customers\[1\]\.name"):
        import_doc(station, tmp_path, doc)
    unchanged(station)


def test_hostile_unknown_key_is_not_echoed_raw() -> None:
    with pytest.raises(CardStoreFormatError) as err:
        parse_snapshot(json.dumps(mutate("cards.0.x\n\x1b[2J", 1)))
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


# -- the same checks on deltas ------------------------------------------------------------
FUTURE = iso(utc_now() + timedelta(hours=1))


def delta(ops: list[dict[str, Any]], first: int = 17, last: int = 18) -> dict[str, Any]:
    return {"mode": "delta", "from_version": first, "to_version": last, "ops": ops,
            "expires_at": FUTURE}


def card_op(**changes: Any) -> dict[str, Any]:
    card = {"card_id": "7800001234567897", "kind": "digital", "token_id": "T-8F2K9Q",
            "status": "blocked", **changes}
    return {"op": "card", "card": card}


@pytest.mark.parametrize(("ops", "message"), [
    ([card_op(limits=[{"period": "day", "unit": "volume", "value": HUGE}])],
     "ops[0].card.limits[0].value must be at most"),
    ([card_op(pin={**PIN, "iterations": 2_000_000_000})], "ops[0].card.pin.iterations"),
    ([card_op(limits=[{"period": "day", "unit": "volume", "value": 1, "products": ["AI-95"]}])],
     "ops[0].card.limits[0].products[0] names an unknown product 'AI-95'"),
    ([{"op": "product_delete", "code": "DT"}, card_op()],
     "product 'DT' is still named by card 7800001234567890"),
    ([card_op(customer_id="C-\ud800")], "ops[0].card.customer_id"),
    ([{"op": "product", "product": {"code": "AI92", "name": "x", "unit_price": HUGE}}],
     "ops[0].product.unit_price must be at most"),
    ([{"op": "stop_add", "identifier": "78\x00"}], "ops[0].identifier"),
    ([{"op": "card_delete", "card_id": "\ud800"}], "ops[0].card_id"),
    ([{"op": "usage", "card_id": "7800001234567890", "rev": HUGE, "station_seqs": {},
       "usage": []}], "ops[0].rev must be at most"),
])
def test_bad_delta_is_refused_whole(station: Station, ops: list[dict[str, Any]],
                                    message: str) -> None:
    result = apply_cards_message(station, delta([card_op(status="lost"), *ops]))
    assert result.outcome == "refused"
    assert message.replace("ops[0]", "ops[1]") in result.detail
    unchanged(station)
    status = station.conn.execute("SELECT status FROM cards WHERE card_id = '7800001234567897'"
                                  ).fetchone()[0]
    assert status == "active"


def test_delta_may_name_a_product_it_adds(station: Station) -> None:
    ops = [card_op(status="active", products=["LPG"]),
           {"op": "product", "product": {"code": "LPG", "name": "Autogas", "unit_price": 2500}}]
    assert apply_cards_message(station, delta(ops)).outcome == "applied"


def test_delta_version_bounds(station: Station) -> None:
    result = apply_cards_message(station, delta([], first=17, last=HUGE))
    assert result.outcome == "refused"
    assert get_state(station.conn, "card_store_version") == "17"


@pytest.mark.parametrize("data", [
    b'{"format": "forecourt-card-store", "version": 1' + b"1" * 5000 + b', "products": []}',
    b"[" * 100_000,
    b'{"cards": ' * 100_000,
])
def test_giant_numbers_and_deep_nesting_are_one_sentence(data: bytes) -> None:
    with pytest.raises(CardStoreFormatError) as err:
        parse_snapshot(data)
    assert "not valid JSON" in str(err.value) or "nested too deeply" in str(err.value)


def test_a_stored_pin_rule_out_of_range_is_refused_not_run(station: Station) -> None:
    """A card stored before the bounds existed cannot stall the writer either."""
    import time

    rules = {"pin": {**PIN, "iterations": 2_000_000_000}}
    station.conn.execute("UPDATE cards SET rules = ? WHERE card_id = ?",
                         (json.dumps(rules), SMART))
    before = station.conn.execute("SELECT COUNT(*) FROM authorizations").fetchone()[0]
    started = time.monotonic()
    with pytest.raises(CardStoreFormatError, match=r"pin\.iterations must be at most 1000000"):
        station.authorize(card=SMART, pump=1, pin="1234", product="DT")
    assert time.monotonic() - started < 5
    assert station.conn.execute("SELECT COUNT(*) FROM authorizations").fetchone()[0] == before
