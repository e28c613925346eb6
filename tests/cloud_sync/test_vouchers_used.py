"""Issue 13: "A voucher redeemed at one station is refused at that station again at once,
and at other stations as soon as they sync" — through a real mosquitto, two station
daemons and ``forecourt office serve``, with no clerk action between the sale and the
refusal: the office's ingest makes a card-master version with the serial, and its daemon
publishes it to every station."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.cloud_sync.test_customer_lifecycle import _second_station
from tests.cloud_sync.test_pricing_lifecycle import _codes, _knows_voucher, office_sales
from tests.network_fixtures import Broker
from tests.support import fc, fc_json, start_daemon, stop_daemon, wait_for


def _refused_as_used(config: Path, code: str) -> bool:
    """The station refuses the voucher as used (approved: not yet; cancelled again, so the
    asking itself takes nothing)."""
    auth: dict[str, Any] = fc_json(config, "sale", "authorize", "--voucher", code, "--pump",
                                   "4")
    if auth["approved"]:
        fc(config, "sale", "cancel", auth["sale_id"])
        return False
    assert auth["reason"] == "voucher_used", auth
    return True


def test_a_voucher_used_online_at_one_station_is_refused_at_the_other(
        network: Path, broker: Broker, card_store: Path, office: subprocess.Popen[str],
        tmp_path: Path) -> None:
    fc(network, "office", "cards", "import", str(card_store))
    second = _second_station(network, card_store, tmp_path)
    daemons = [start_daemon(network), start_daemon(second)]
    try:
        sheet = tmp_path / "talons.csv"
        fc(network, "office", "vouchers", "issue", "--product", "DT", "--volume", "20000",
           "--count", "3", "--valid", "30d", "--out", str(sheet))
        code, other = _codes(sheet)[:2]
        for config in (network, second):
            wait_for(lambda config=config: _knows_voucher(config, code),  # type: ignore[misc]
                     "the pricing document with the voucher batch to reach the station")

        # Online at S-001: the talon fills its 20 l; S-001 refuses it again at once.
        talon = fc_json(network, "sale", "authorize", "--voucher", code, "--pump", "3")
        assert talon["approved"], talon
        fc_json(network, "sale", "complete", talon["sale_id"], "--volume", "20000")
        again = fc_json(network, "sale", "authorize", "--voucher", code, "--pump", "3")
        assert again["reason"] == "voucher_used" and "at this station" in again["detail"]

        # The sale reaches the office; S-002 learns the serial without anyone's help.
        wait_for(lambda: talon["sale_id"] in {s["sale_id"] for s in office_sales(network)},
                 "the office to receive S-001's voucher sale")
        wait_for(lambda: _refused_as_used(second, code),
                 "S-002 to refuse the voucher S-001 redeemed")
        refused = fc_json(second, "sale", "authorize", "--voucher", code, "--pump", "2")
        assert (refused["approved"], refused["reason"]) == (False, "voucher_used")
        assert refused["detail"] == f"voucher {code[:12]} was redeemed at another station"
        # Recorded like every refusal: the station's decisions show it with the talon's id.
        denied = [r for r in fc_json(second, "sale", "list")
                  if r.get("card_id") == "V" + code[:12] and r.get("state") == "denied"]
        assert denied and {r["reason"] for r in denied} == {"voucher_used"}
        # Another voucher of the batch still pays at S-002.
        assert _knows_voucher(second, other)
        # The office holds one redemption of the serial and no exception.
        assert fc_json(network, "office", "vouchers", "exceptions") == []
    finally:
        for daemon in daemons:
            stop_daemon(daemon)
