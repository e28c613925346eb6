"""The real ``forecourt`` command with a pricing document: ``sale authorize --voucher``
and ``--points``, and what ``sale complete`` and ``journal list`` show."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.pricing_support import LOYAL, card_store, voucher
from tests.support import fc, fc_json, initialize


@pytest.fixture
def station(config_file: Path, tmp_path: Path) -> Path:
    return initialize(config_file, card_store(tmp_path / "cs.json"))


def test_a_voucher_alone_from_the_cli(station: Path) -> None:
    code = voucher(1, 5)
    shown = fc(station, "sale", "authorize", "--voucher", code, "--pump", "1").stdout
    assert shown.startswith("APPROVED sale ") and "DT up to 20" in shown
    assert "voucher 000001000005: 20" in shown and "of DT" in shown
    sale_id = shown.split()[2]
    done = fc(station, "sale", "complete", sale_id, "--volume", "20000").stdout
    assert "list amount 1,270.00 RUB" in done and "discount DT-5 -63.50" in done
    assert "voucher 000001000005 paid 1,206.50 RUB (20.000 l)" in done
    listed = fc(station, "journal", "list").stdout
    assert "V000001000005" in listed and "list price 63.50 RUB/l" in listed
    assert "discount DT-5 -63.50" in listed
    (line,) = fc_json(station, "journal", "list")
    assert (line["unit_price"], line["amount"]) == (6350, 120_650)
    assert line["pricing"]["voucher"] == "000001000005"
    again = fc(station, "sale", "authorize", "--voucher", code, "--pump", "1").stdout
    assert again.startswith("DENIED card V000001000005 pump 1: voucher_used")
    other = code[:-1] + ("1" if code[-1] == "0" else "0")
    forged = fc_json(station, "sale", "authorize", "--voucher", other, "--pump", "1")
    assert forged["reason"] == "voucher_forged" and forged["detail"]
    assert fc(station, "journal", "verify").returncode == 0


def test_points_from_the_cli(station: Path) -> None:
    auth = fc_json(station, "sale", "authorize", "--card", LOYAL, "--pump", "2",
                   "--product", "DT", "--points", "all")
    assert auth["approved"] and auth["points_hold"] == 1000
    done = fc(station, "sale", "complete", auth["sale_id"], "--volume", "10000").stdout
    # 10 l of diesel cost 603.25: 603 points of the 1000 asked pay 603.00.
    assert "points burned 603 of 1000 asked" in done and "= 603.00" in done
    (line,) = fc_json(station, "journal", "list")
    assert line["pricing"]["points_burned"] == 603 and line["pricing"]["money_due"] == 25
    bad = fc(station, "sale", "authorize", "--voucher", voucher(1, 6), "--points", "5",
             "--pump", "1", check=False)
    assert bad.returncode != 0 and "--points needs the card" in bad.stderr
    worse = fc(station, "sale", "authorize", "--card", LOYAL, "--points", "some",
               "--pump", "1", check=False)
    assert worse.returncode != 0 and "not a number of points" in worse.stderr
