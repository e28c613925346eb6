"""Sample data of the console's report and dashboard tests: two customers (one with a
hostile name), their cards, and sales with and without a pricing discount."""

from __future__ import annotations

import json

from core.timefmt import iso, utc_now
from office.cards.models import Card
from office.customers.models import Customer
from office.ledger.models import Sale

HOSTILE = "<script>alert(1)</script>"


def add_customer(customer_id: str, name: str, card_id: str) -> None:
    """A customer holding one card."""
    stamp = iso(utc_now())
    Customer.objects.create(customer_id=customer_id, name=name, created_at=stamp,
                            created_by="t", modified_at=stamp, modified_by="t")
    Card.objects.create(card_id=card_id, kind="rfid", customer_id=customer_id,
                        issued_at=stamp, issued_by="t", modified_at=stamp, modified_by="t")


def sale(station_id: str, seq: int, completed_at: str, *, card_id: str, product: str,
         volume_ml: int, amount: int, list_amount: int | None = None) -> None:
    """A stored sale; with ``list_amount`` it was priced by the rules (a discount of
    ``list_amount - amount``)."""
    pricing = None if list_amount is None else json.dumps({"list_amount": list_amount})
    Sale.objects.create(
        station_id=station_id, seq=seq, sale_id=f"S{station_id}{seq}", card_id=card_id,
        pump=1, product=product, volume_ml=volume_ml, unit_price=5000, amount=amount,
        authorized_at=completed_at, completed_at=completed_at, wallet_debits="{}",
        prev_hash="0" * 64, hash=f"{seq:064d}", received_at=completed_at, via="mqtt",
        pricing=pricing)


def sample_sales() -> None:
    """November 2026 (UTC): 2 Nov 2 sales 50 l 2,500.00 with 20.00 discount; 3 Nov one
    sale 10 l 600.00 with 10.00 discount; and one on 31 Oct (outside November)."""
    add_customer("C-7", "Sever Agro", "K-7")
    add_customer("C-8", HOSTILE, "K-8")
    sale("S-001", 1, "2026-11-02T08:00:00.000000Z", card_id="K-7", product="AI95",
         volume_ml=20000, amount=100000, list_amount=102000)
    sale("S-002", 1, "2026-11-02T09:00:00.000000Z", card_id="K-8", product="DT",
         volume_ml=30000, amount=150000)
    sale("S-001", 2, "2026-11-03T10:00:00.000000Z", card_id="K-7", product="DT",
         volume_ml=10000, amount=60000, list_amount=61000)
    sale("S-001", 3, "2026-10-31T23:00:00.000000Z", card_id="K-7", product="AI95",
         volume_ml=5000, amount=25000)
