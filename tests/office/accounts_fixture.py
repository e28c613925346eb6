"""A hand-computed month of a credit customer's account, shared by the accounts tests.

The office keeps Moscow time (UTC+3, no DST): ``[office_reports] timezone =
"Europe/Moscow"``, ``credit_due_days = 30``. Customer C-1 is on credit with a limit of
5,000.00 (500000); card K1 holds a money wallet W1 (300.00 opened 1 Sep, 100.00 topped up
5 Oct) and a litre wallet W2 (10 l). Prices are in kopecks per litre.

| sale | UTC completed | Moscow | what | amount | paid otherwise | charge |
|---|---|---|---|---|---|---|
| #2 | 09-10 09:00 | 09-10 12:00 | 50 l x 60.00, no pricing | 300000 | | 300000 |
| #1 | 09-30 21:30 | 10-01 00:30 | 10 l x 50.00 (October in Moscow) | 50000 | | 50000 |
| #3 | 10-03 07:00 | 10-03 10:00 | 40 l x 55.00 | 220000 | | 220000 |
| #4 | 10-08 10:00 | 10-08 13:00 | priced: list 180000, discount 9000 | 171000 | | 171000 |
| #5 | 10-12 12:00 | 10-12 15:00 | 20 l x 55.00, wallet W1 | 110000 | wallet 30000 | 80000 |
| #6 | 10-15 08:00 | 10-15 11:00 | priced, discount 6000 | 114000 | voucher 50000 | 64000 |
| #7 | 10-20 06:00 | 10-20 09:00 | 25 l x 55.00, litre wallet 10 l | 137500 | litres 55000 | 82500 |
| #8 | 10-31 23:30 | 11-01 02:30 | 10 l x 55.00 (November in Moscow) | 55000 | | 55000 |
| #9 | 12-05 07:00 | 12-05 10:00 | 10 l x 55.00 | 55000 | | 55000 |

Payments: 200000 on 09-25 (bank BT-0), 250000 on 10-12 (bank BT-1), 100000 on 10-25
(cash R-2); a credit note of 150.00 on 10-28; a voucher exception charged 200.00 on 10-30
12:00 Moscow. Opening 1 Oct: 300000 - 200000 = 100000; October: charges 687500, credits
365000; closing 31 Oct: 422500.

Customer C-3 is prepaid with a card without wallets: one sale on 10-02 (25000) is owed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.config_reports import OfficeReportsConfig
from office import db
from office.customers.service import Who
from office.store import OfficeConnection

TZ = "Europe/Moscow"
REPORTS = OfficeReportsConfig(timezone=TZ, credit_due_days=30)
#: "Now" for bookings (value dates must not be after today).
NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
STAMP = "2026-09-01T00:00:00.000000Z"
_COLUMNS = ("station_id", "seq", "sale_id", "card_id", "pump", "product", "volume_ml",
            "unit_price", "amount", "authorized_at", "completed_at", "wallet_debits",
            "prev_hash", "hash", "received_at", "via", "pricing")


def sale(seq: int, card: str, at: str, volume_ml: int, price: int, amount: int, *,
         debits: dict[str, int] | None = None, pricing: dict[str, Any] | None = None) -> None:
    """One stored sale of station S1 (and its wallet debits), completed at ``at`` UTC."""
    row = ("S1", seq, f"S1-{seq}", card, 1, "AI95", volume_ml, price, amount, at, at,
           json.dumps(debits or {}), "0" * 64, f"{seq:064d}", at, "mqtt",
           None if pricing is None else json.dumps(pricing))
    db.execute(f"INSERT INTO sales ({', '.join(_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(_COLUMNS))})", row)
    for wallet, value in (debits or {}).items():
        db.execute("INSERT INTO wallet_debits (station_id, seq, wallet_id, value) "
                   "VALUES ('S1', ?, ?, ?)", (seq, wallet, value))


def priced(list_amount: int, amount: int, *, voucher_value: int = 0) -> dict[str, Any]:
    """A pricing field as a station writes it (the parts the office's account reads)."""
    return {"revision": 1, "discounts": [["D-1", list_amount - amount]], "earn_rules": [],
            "list_amount": list_amount, "voucher_value": voucher_value,
            "voucher": "000001000001" if voucher_value else None, "voucher_ml": 0,
            "wallet_ml": 0, "wallet_value": 0, "points_asked": 0, "points_burned": 0,
            "points_value": 0, "money_due": amount - voucher_value, "points_earned": 0}


def customer(conn: OfficeConnection, customer_id: str, terms: str, limit: int | None,
             ) -> None:
    from office.customers import service

    service.add_customer(conn, {"customer_id": customer_id, "name": f"Fleet {customer_id}",
                                "payment_terms": terms, "credit_limit": limit,
                                "addresses": ["1 Depot Road, Tver"]}, Who("t", "cli"))


def card(card_id: str, customer_id: str) -> None:
    from office.cards.models import Card

    Card.objects.create(card_id=card_id, kind="rfid", customer_id=customer_id,
                        issued_at=STAMP, issued_by="t", modified_at=STAMP, modified_by="t")


def wallet(wallet_id: str, card_id: str, unit: str, entries: list[tuple[str, str, int]]
           ) -> None:
    from office.cards.models import Wallet, WalletEntry

    Wallet.objects.create(wallet_id=wallet_id, card_id=card_id, unit=unit,
                          created_at=STAMP, created_by="t")
    for kind, at, value in entries:
        WalletEntry.objects.create(wallet_id=wallet_id, kind=kind, value=value, at=at,
                                   actor="t", via="cli", reason=f"{kind} {wallet_id}")


def charged_voucher(customer_id: str, value: int, settled_at: str) -> None:
    from office.vouchers.models import VoucherBatch, VoucherException

    batch = VoucherBatch.objects.create(
        batch_id="VB000001", number=1, product=None, amount=50000, count=10,
        valid_from=STAMP, valid_until="2027-09-01T00:00:00.000000Z", key="00" * 32,
        created_by="t", created_at=STAMP)
    VoucherException.objects.create(
        serial="000001000001", batch=batch, station_id="S2", sale_id="S2-9", seq=9,
        card_id="K1", customer_id=customer_id, redeemed_at="2026-10-14T08:00:00.000000Z",
        value=value, status="charged", settled_by="t", settled_at=settled_at,
        created_at="2026-10-14T09:00:00.000000Z")


def build(conn: OfficeConnection) -> None:
    """The whole fixture (see the module docstring)."""
    from office.accounts import service

    customer(conn, "C-1", "credit", 500000)
    customer(conn, "C-2", "credit", None)
    customer(conn, "C-3", "prepaid", None)
    card("K1", "C-1")
    card("K2", "C-2")
    card("K3", "C-3")
    wallet("W1", "K1", "money", [("opening", STAMP, 30000),
                                 ("topup", "2026-10-05T10:00:00.000000Z", 10000)])
    wallet("W2", "K1", "volume", [("opening", STAMP, 10000)])
    sale(2, "K1", "2026-09-10T09:00:00.000000Z", 50000, 6000, 300000)
    sale(1, "K1", "2026-09-30T21:30:00.000000Z", 10000, 5000, 50000)
    sale(3, "K1", "2026-10-03T07:00:00.000000Z", 40000, 5500, 220000)
    sale(4, "K1", "2026-10-08T10:00:00.000000Z", 30000, 6000, 171000,
         pricing=priced(180000, 171000))
    sale(5, "K1", "2026-10-12T12:00:00.000000Z", 20000, 5500, 110000, debits={"W1": 30000})
    sale(6, "K1", "2026-10-15T08:00:00.000000Z", 20000, 6000, 114000,
         pricing=priced(120000, 114000, voucher_value=50000))
    sale(7, "K1", "2026-10-20T06:00:00.000000Z", 25000, 5500, 137500, debits={"W2": 10000})
    sale(8, "K1", "2026-10-31T23:30:00.000000Z", 10000, 5500, 55000)
    sale(9, "K1", "2026-12-05T07:00:00.000000Z", 10000, 5500, 55000)
    sale(10, "K3", "2026-10-02T10:00:00.000000Z", 5000, 5000, 25000)
    sale(11, "K2", "2027-01-02T10:00:00.000000Z", 2000, 5000, 10000)
    who = Who("anna", "console")
    tz = REPORTS.tz
    service.pay(conn, who, "C-1", 200000, reference="BT-0", day="2026-09-25", tz=tz, now=NOW)
    service.pay(conn, who, "C-1", 250000, reference="BT-1", day="2026-10-12", tz=tz, now=NOW)
    service.pay(conn, who, "C-1", 100000, reference="R-2", method="cash", day="2026-10-25",
                tz=tz, now=NOW)
    service.adjust(conn, who, "C-1", -15000, reason="price error", day="2026-10-28", tz=tz,
                   now=NOW)
    charged_voucher("C-1", 20000, "2026-10-30T09:00:00.000000Z")
