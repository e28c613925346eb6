"""A voucher's QR code (``FCV1:`` and its 20 digits) scanned at a pump's reader is a
talon sale: the real daemon with a ``qr-serial`` reader on a pty, as in test_readers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drivers.ptyline import PtyLine
from tests.edge.pricing_support import card_store, voucher
from tests.edge.test_readers import daemon, decisions, scan, scanner, station
from tests.support import fc_json, start_daemon, stop_daemon, wait_for

__all__ = ["daemon", "scanner", "station"]  # the fixtures test_readers defines


@pytest.fixture
def sample_store_file(tmp_path: Path) -> Path:
    """The card store the ``station`` fixture imports: with the pricing document."""
    return card_store(tmp_path / "priced.json")


def test_a_voucher_qr_authorizes_a_talon_sale_once(station: Path, scanner: PtyLine,
                                                   daemon: subprocess.Popen[str]) -> None:
    code = voucher(1, 11)
    scan(scanner, "FCV1:" + code)
    (first,) = decisions(station, 1)
    assert (first["card_id"], first["pump"], first["state"]) == ("V000001000011", 3, "open")
    scan(scanner, "FCV1:" + code)
    rows = decisions(station, 2)
    assert (rows[1]["card_id"], rows[1]["reason"]) == ("V000001000011", "voucher_used")
    forged = code[:-1] + ("1" if code[-1] == "0" else "0")
    scan(scanner, "fcv1:" + forged)
    rows = decisions(station, 3)
    assert rows[2]["reason"] == "voucher_forged"
    # After a restart of the daemon the voucher is still used at this station.
    stop_daemon(daemon)
    again = start_daemon(station)
    try:
        wait_for(lambda: {r["reader"]: r for r in fc_json(station, "readers", "list")}
                 ["pump3-qr"]["state"] == "ready", "the reader to open its pty again")
        scan(scanner, "FCV1:" + code)
        rows = decisions(station, 4)
        assert rows[3]["reason"] == "voucher_used"
    finally:
        stop_daemon(again)
