"""Card stores with a pricing document for the station's pricing tests."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.formats.vouchers import parse_batch
from core.vouchers import code_for
from tests.conftest import SAMPLE

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY_LIMIT = "7800001234567893"  # day money limit 300000, stations S-001 and S-002
WALLET = "7800001234567890"  # money wallet W-1 (100000, AI95 only), AI95 and DT
LOYAL = "L-1"  # the loyalty card added by card_store()
KEY = "ab" * 32

#: 5 % off diesel; a volume voucher batch (20 l of DT) and an amount one (500.00 of AI95).
PRICING: dict[str, Any] = {
    "revision": 4,
    "discounts": [{"rule_id": "DT-5", "kind": "product", "percent_bp": 500,
                   "when": {"products": ["DT"]}}],
    "loyalty": {"point_value": 100, "expiry_days": 365,
                "earn": [{"rule_id": "E-1", "basis": "volume", "points": 1, "per": 1000}],
                "tiers": [{"name": "gold", "at_least_ml": 500_000, "percent": 200}]},
    "vouchers": [
        {"batch_id": "VB000001", "number": 1, "count": 100, "product": "DT",
         "volume_ml": 20_000, "valid_from": "2026-01-01T00:00:00Z",
         "valid_until": "2099-12-31T00:00:00Z", "key": KEY},
        {"batch_id": "VB000002", "number": 2, "count": 100, "product": "AI95",
         "amount": 50_000, "valid_from": "2026-01-01T00:00:00Z",
         "valid_until": "2099-12-31T00:00:00Z", "key": KEY},
    ],
}


def pricing(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PRICING)
    doc.update(changes)
    return doc


def voucher(number: int, seq: int) -> str:
    """The 20-digit code of voucher ``seq`` of batch ``number`` of :data:`PRICING`."""
    raw = next(b for b in PRICING["vouchers"] if b["number"] == number)
    return code_for(parse_batch(raw, "batch"), seq)


def card_store(path: Path, *, doc: dict[str, Any] | None = PRICING, version: int = 17,
               edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The sample card store with ``doc`` as its pricing document (None: without one) and
    the loyalty card :data:`LOYAL` (1000 points expiring 2099-06-30, 500 expired)."""
    store = json.loads(SAMPLE.read_text())
    store["version"] = version
    if doc is not None:
        store["pricing"] = doc
    store["cards"].append({
        "card_id": LOYAL, "kind": "magstripe", "products": ["DT", "AI95"],
        "loyalty": {"category": "vip", "groups": ["G-VIP"], "birthday": "03-14"},
        "points": [{"expires": "2099-06-30", "points": 1000},
                   {"expires": "2026-10-31", "points": 500}]})
    if edit is not None:
        edit(store)
    path.write_text(json.dumps(store))
    return path
