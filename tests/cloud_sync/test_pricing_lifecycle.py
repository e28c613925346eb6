"""Issue 13's "done means", through a real mosquitto, two station daemons and
``forecourt office serve``: a clerk defines a discount, a points rule and a voucher batch
at the office; the stations apply them at the pump, also offline; the office shows the
same figures to the cent and catches the voucher spent at both stations while offline."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path
from typing import Any

from tests.cloud_sync.test_customer_lifecycle import _second_station
from tests.network_fixtures import Broker
from tests.support import fc, fc_json, start_daemon, stop_daemon, wait_for

CARD = "K-PRICE"


def _codes(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row["code"].strip() for row in csv.DictReader(f)]


def _knows_voucher(config: Path, code: str) -> bool:
    """The station accepts the voucher (it has the batch): asked, then cancelled."""
    auth: dict[str, Any] = fc_json(config, "sale", "authorize", "--voucher", code, "--pump", "4")
    if auth["approved"]:
        fc(config, "sale", "cancel", auth["sale_id"])
    return bool(auth["approved"])


def office_sales(config: Path) -> list[dict[str, Any]]:
    return [row for station in ("S-001", "S-002")
            for row in fc_json(config, "office", "sales", "--station", station)]


def _journal(config: Path) -> dict[str, dict[str, Any]]:
    return {r["sale_id"]: r for r in fc_json(config, "journal", "list")}


def test_rules_from_the_office_priced_offline_and_the_voucher_spent_twice_caught(
        network: Path, broker: Broker, card_store: Path, office: subprocess.Popen[str],
        tmp_path: Path) -> None:
    fc(network, "office", "cards", "import", str(card_store))
    second = _second_station(network, card_store, tmp_path)
    daemons = [start_daemon(network), start_daemon(second)]
    try:
        customer = fc_json(network, "office", "customers", "add", "--name", "Ольга Петрова",
                           "--phone", "+7 912 000 11 22")["customer_id"]
        fc(network, "office", "cards", "issue", "--customer", customer, "--kind", "smart",
           "--card-id", CARD)
        # The clerk's rules: 5 % off DT, a point a litre, a batch of two 20 l DT vouchers.
        fc(network, "office", "loyalty", "settings", "--point-value", "100", "--expiry-days",
           "365")
        fc(network, "office", "discounts", "add", "--kind", "product", "--percent", "5",
           "--product", "DT", "--id", "D-DT5")
        fc(network, "office", "loyalty", "earn", "--basis", "volume", "--points", "1",
           "--per", "1000", "--id", "P-LITRE")
        sheet = tmp_path / "talons.csv"
        fc(network, "office", "vouchers", "issue", "--product", "DT", "--volume", "20000",
           "--count", "2", "--valid", "30d", "--out", str(sheet))
        code = _codes(sheet)[0]
        for config in (network, second):
            wait_for(lambda config=config: _knows_voucher(config, code),  # type: ignore[misc]
                     "the pricing document with the voucher batch to reach the station")

        # Online at S-001: 10 l of DT at 63.50 = 635.00, 5 % off = 603.25, 10 points.
        auth = fc_json(network, "sale", "authorize", "--card", CARD, "--pump", "3",
                       "--product", "DT")
        assert auth["approved"], auth
        done = fc_json(network, "sale", "complete", auth["sale_id"], "--volume", "10000")
        assert done["amount"] == 60325
        assert [(d["rule_id"], d["amount"]) for d in done["pricing"]["discounts"]] == [
            ("D-DT5", 3175)]
        assert done["pricing"]["points_earned"] == 10

        # Offline: both stations take the same voucher (neither can know of the other).
        broker.stop()
        talons = []
        for config in (network, second):
            talon = fc_json(config, "sale", "authorize", "--voucher", code, "--pump", "3")
            assert talon["approved"] and talon["max_volume_ml"] == 20000, talon
            sold = fc_json(config, "sale", "complete", talon["sale_id"], "--volume", "20000")
            assert sold["pricing"]["voucher_ml"] == 20000
            assert sold["pricing"]["money_due"] == 0
            talons.append((config, talon["sale_id"]))
        # Refused again at once at the station that took it.
        again = fc_json(network, "sale", "authorize", "--voucher", code, "--pump", "3")
        assert not again["approved"] and again["reason"] == "voucher_used"
        broker.start()

        # The office holds every sale with the station's very figures, recomputes them
        # without a difference, books the points, and catches the double redemption.
        sale_ids = {auth["sale_id"], *(s for _c, s in talons)}
        wait_for(lambda: sale_ids <= {s["sale_id"] for s in office_sales(network)},
                 "the office to receive all three sales")
        at_office = {s["sale_id"]: s for s in office_sales(network)}
        for config in (network, second):
            for sale_id, line in _journal(config).items():
                if sale_id in sale_ids:
                    assert at_office[sale_id]["amount"] == line["amount"]
        assert fc_json(network, "office", "pricing", "differences") == []
        wait_for(lambda: fc_json(network, "office", "points", "show", CARD)["balance"] == 10,
                 "the office to book the points earned")
        exceptions = fc_json(network, "office", "vouchers", "exceptions")
        assert [(e["sale_id"], e["status"]) for e in exceptions] == [(talons[1][1], "open")]
        fc(network, "office", "vouchers", "write-off", exceptions[0]["serial"], "--note",
           "talon copied; reported to security")
        assert fc_json(network, "office", "vouchers", "exceptions", "--status", "open") == []
        # A clerk voids the card's sale: the points it earned are taken back, audited.
        seq = str(_journal(network)[auth["sale_id"]]["seq"])
        fc(network, "office", "pricing", "void", "S-001", seq, "--reason", "pump test")
        shown = fc_json(network, "office", "points", "show", CARD, "--history")
        assert shown["balance"] == 0
        assert [e["kind"] for e in shown["history"]] == ["earn", "void_earn"]
        again = fc(network, "office", "pricing", "void", "S-001", seq, "--reason", "twice",
                   check=False)
        assert again.returncode != 0 and "voided already" in again.stderr
    finally:
        for daemon in daemons:
            stop_daemon(daemon)
