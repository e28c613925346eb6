"""A small office whose every report figure is computed by hand in tests/office/test_reports.py.

Made through the real CLI (customers, vehicles, cards, groups) and the real ingest
(sales as stations send them), in an office whose report calendar is Europe/Moscow
(UTC+3, no daylight saving). The sales (UTC -> Moscow):

====  =======  ===  ====  =====  ========  ======  ============================  =====
sale  station  seq  card  prod   ml        amount  completed (UTC)               odo
====  =======  ===  ====  =====  ========  ======  ============================  =====
s4    S-001    1    K3    AI92   30 000    150000  2026-08-01T10:00Z             -
s1    S-001    2    K1    AI95   60 000    330000  2026-11-02T08:00Z (11:00)     10000
s3    S-001    3    K2    AI95   20 000    110000  2026-11-10T21:30Z (11-11 00:30) -
s7    S-001    4    K1    AI95   30 000    165000  2026-11-20T12:00Z (15:00)     13000
s5    S-001    5    K2    AI95   10 000     55000  2026-11-30T20:59:59.999999Z   -
s6    S-001    6    K2    AI95   10 000     55000  2026-11-30T21:00Z (12-01 00:00) -
s2    S-002    1    K1    DT     40 000    240000  2026-11-02T08:10Z (11:10)     9990
====  =======  ===  ====  =====  ========  ======  ============================  =====

s2 was priced with a list amount of 250000 (a discount of 10000). K1 belongs to C-1
(group G-F, vehicle V-1 with a 50 l tank), K2 to C-2, K3 to C-3.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli import main
from core.config import load_config_file
from core.formats.journal import GENESIS
from office.ledger import rollups
from office.ledger.ingest import ingest_batch
from office.store import OfficeConnection, open_office

STATUS = {"outbox_depth": 0, "oldest_undelivered_at": None, "card_store_version": 1}
SALES: dict[str, list[tuple[str, str, str, int, int, str, int | None]]] = {
    # station: (name, card, product, ml, amount, completed_at, odometer)
    "S-001": [("s4", "K3", "AI92", 30_000, 150_000, "2026-08-01T10:00:00.000000Z", None),
              ("s1", "K1", "AI95", 60_000, 330_000, "2026-11-02T08:00:00.000000Z", 10_000),
              ("s3", "K2", "AI95", 20_000, 110_000, "2026-11-10T21:30:00.000000Z", None),
              ("s7", "K1", "AI95", 30_000, 165_000, "2026-11-20T12:00:00.000000Z", 13_000),
              ("s5", "K2", "AI95", 10_000, 55_000, "2026-11-30T20:59:59.999999Z", None),
              ("s6", "K2", "AI95", 10_000, 55_000, "2026-11-30T21:00:00.000000Z", None)],
    "S-002": [("s2", "K1", "DT", 40_000, 240_000, "2026-11-02T08:10:00.000000Z", 9_990)],
}


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _chain(station: str) -> list[dict[str, Any]]:
    prev, out = GENESIS, []
    for seq, (name, card, product, ml, amount, at, odo) in enumerate(SALES[station], start=1):
        row: dict[str, Any] = {
            "station_id": station, "seq": seq, "sale_id": f"{station}-{name}", "card_id": card,
            "pump": 1 + seq % 2, "product": product, "volume_ml": ml,
            "unit_price": amount * 1000 // ml, "amount": amount, "authorized_at": at,
            "completed_at": at, "wallet_debits": {}}
        if odo is not None:
            row.update(vehicle_id="V-1", odometer_km=odo)
        line = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.sha256(prev.encode() + b"\n" + line.encode()).hexdigest()
        out.append({**row, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


def build(config_file: Path) -> OfficeConnection:
    """The office above, in the test's database; its store opened."""
    text = config_file.read_text()
    head, sep, tail = text.partition("[office_reports]")
    assert sep and '\ntimezone = "UTC"\n' in tail
    config_file.write_text(head + sep + tail.replace('\ntimezone = "UTC"\n',
                                                     '\ntimezone = "Europe/Moscow"\n', 1))
    run("office", "init")
    for cid, name, birthday in (("C-1", "Anna Fleet", "1980-03-15"),
                                ("C-2", "Boris", "2001-11-30"), ("C-3", "Chen", None)):
        args = ["office", "customers", "add", "--name", name, "--customer-id", cid]
        if birthday:
            args += ["--birthday", birthday]
        run(*args)
    run("office", "vehicles", "add", "--plate", "A123BC", "--customer", "C-1", "--tank",
        "50000", "--vehicle-id", "V-1")
    for card, cid in (("K1", "C-1"), ("K2", "C-2"), ("K3", "C-3")):
        extra = ["--vehicle", "V-1"] if card == "K1" else []
        run("office", "cards", "issue", "--customer", cid, "--kind", "rfid", "--card-id", card,
            "--uid", f"0411{ord(card[1]):02X}AA", *extra)
    run("office", "groups", "add", "G-F", "--kind", "fleet")
    run("office", "groups", "join", "G-F", "C-1")
    conn = open_office(load_config_file(config_file))
    for cid, region, occupation, created in (
            ("C-1", "North", "driver", "2026-10-31T21:00:00.000000Z"),   # Moscow 11-01 00:00
            ("C-2", "South", "teacher", "2026-11-15T09:00:00.000000Z"),
            ("C-3", "North", "", "2026-10-31T20:59:59.000000Z")):        # Moscow 10-31 23:59
        conn.execute("UPDATE customers SET region = ?, occupation = ?, created_at = ? "
                     "WHERE customer_id = ?", (region, occupation, created, cid))
    for station in SALES:
        conn.execute("INSERT INTO stations VALUES (?, 'ed25519:x', '2026-01-01')", (station,))
        sales = _chain(station)
        body = {"station_id": station, "first_seq": 1, "last_seq": len(sales),
                "sales": copy.deepcopy(sales), "status": STATUS}
        from datetime import UTC, datetime

        result = ingest_batch(conn, body, via="mqtt", envelope_id="e" * 32,
                              now=datetime(2026, 12, 1, tzinfo=UTC))
        assert result.stored == len(sales), result
    # The discount of s2 (a priced sale's list amount; its pricing line itself is
    # tested with the pricing rules).
    conn.execute("UPDATE sales SET pricing = '{\"list_amount\": 250000}' "
                 "WHERE station_id = 'S-002' AND seq = 1")
    rollups.rebuild(conn, "Europe/Moscow")  # the roll-ups count it as ingest would have
    return conn
