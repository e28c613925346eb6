"""A customer's card from issue to reissue, through a real mosquitto, two station
daemons and ``forecourt office serve`` (issue 12 #10): office change -> station decision
-> sale -> office balance; a wallet spent at two stations is netted across both."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.network_fixtures import Broker
from tests.support import fc, fc_json, initialize, start_daemon, stop_daemon, wait_for

CARD = "K-LIFE"
NEW = "K-LIFE-2"


def _second_station(network: Path, card_store: Path, tmp_path: Path) -> Path:
    second_dir = tmp_path / "s002"
    second_dir.mkdir()
    second = second_dir / "config.toml"
    second.write_text(network.read_text().replace('id = "S-001"', 'id = "S-002"'))
    initialize(second, card_store)
    fc(network, "office", "station", "add", "S-002", "--public-key",
       fc(second, "keys", "show").stdout.strip())
    return second


def _available(config: Path, card: str, wallet: str) -> int | None:
    shown: dict[str, Any] = fc_json(config, "cards", "show", card)
    for w in shown.get("wallets", []):
        if w["wallet_id"] == wallet:
            return int(w["available"])
    return None


def _has(config: Path, card: str, wallet: str, balance: int) -> Callable[[], bool]:
    """A test that the station shows ``balance`` available on the wallet."""
    return lambda: _available(config, card, wallet) == balance


def _sell(config: Path, card: str, volume_ml: int, pump: str = "3") -> dict[str, Any]:
    auth: dict[str, Any] = fc_json(config, "sale", "authorize", "--card", card, "--pump",
                                   pump, "--product", "DT")
    assert auth["approved"], auth
    fc(config, "sale", "complete", auth["sale_id"], "--volume", str(volume_ml))
    return auth


def _decision(config: Path, card: str) -> dict[str, Any]:
    result: dict[str, Any] = fc_json(config, "sale", "authorize", "--card", card, "--pump",
                                     "4", "--product", "DT")
    if result["approved"]:
        fc(config, "sale", "cancel", result["sale_id"])
    return result


def test_a_card_from_issue_to_reissue_with_a_wallet_netted_over_two_stations(
        network: Path, broker: Broker, card_store: Path, office: subprocess.Popen[str],
        tmp_path: Path) -> None:
    fc(network, "office", "cards", "import", str(card_store))
    second = _second_station(network, card_store, tmp_path)
    daemons = [start_daemon(network), start_daemon(second)]
    try:
        customer = fc_json(network, "office", "customers", "add", "--name", "Nguyễn Văn An",
                           "--phone", "+84 90 123 4567")["customer_id"]
        fc(network, "office", "cards", "issue", "--customer", customer, "--kind", "smart",
           "--card-id", CARD)
        fc(network, "office", "cards", "limit", CARD, "--period", "day", "--unit", "volume",
           "--value", "30000")
        wallet = fc_json(network, "office", "wallets", "add", CARD, "--unit", "money",
                         "--balance", "100000")["wallet_id"]
        for config in (network, second):  # both stations hear of the new card
            wait_for(_has(config, CARD, wallet, 100000),
                     "the new card and its wallet to reach the station")
        # 10 l of DT (63.50 a litre) at S-001: 635.00 from the wallet.
        _sell(network, CARD, 10000)
        wait_for(lambda: _available(second, CARD, wallet) == 100000 - 63500,
                 "S-002 to see S-001's debit")
        # S-002 may now sell only what is left: 365.00 is 5.748 l.
        at_second = _decision(second, CARD)
        assert at_second["max_volume_ml"] == (100000 - 63500) * 1000 // 6350
        _sell(second, CARD, 5000, pump="4")  # 317.50
        left = 100000 - 63500 - 31750
        wait_for(lambda: fc_json(network, "office", "wallets", "show", wallet)["balance"]
                 == left, "the office to net both stations' debits")
        wait_for(lambda: _available(network, CARD, wallet) == left,
                 "S-001 to see S-002's debit, its own not counted twice")
        # A top-up at the office reaches both stations at once.
        fc(network, "office", "wallets", "topup", wallet, "200000", "--reason", "receipt 17")
        for config in (network, second):
            wait_for(_has(config, CARD, wallet, left + 200000),
                     "the top-up to reach the station")
        # 15 l of the 30 l day limit are used; reissue carries the use and the wallet.
        fc(network, "office", "cards", "reissue", CARD, "--card-id", NEW)
        wait_for(lambda: _decision(network, CARD)["reason"] == "card_replaced",
                 "the old card to be refused as replaced")
        wait_for(lambda: _available(second, NEW, wallet) == left + 200000,
                 "the new card with the wallet at S-002")
        new_decision = _decision(second, NEW)
        assert new_decision["approved"]
        assert new_decision["max_volume_ml"] == 15000  # 30 l a day, 15 l used by the old card
        fc(network, "office", "cards", "stolen", NEW)
        wait_for(lambda: _decision(second, NEW)["reason"] == "card_stolen",
                 "the stolen card to be refused")
    finally:
        for daemon in daemons:
            stop_daemon(daemon)
