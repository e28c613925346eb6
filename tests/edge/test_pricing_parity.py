"""Station and office price every sale identically (issue 13 #3), over random rule sets
and sales (Hypothesis): a real station (SQLite store, the card store's pricing document,
authorize and complete) writes the journal line; the office's recomputation
(core.rules.recompute, what office.pricing.settle runs at ingest) reads it back and
prices it again from the facts it carries. No figure may differ."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from core.config import Config, StationConfig
from core.formats.pricing import parse_pricing
from core.formats.pricing_line import parse_line
from core.rules.recompute import differences
from edge.lifecycle import Station
from offline_db.journal import list_sales
from offline_db.store import StationStore
from tests.core.rules.test_pricing import rule_sets
from tests.edge.pricing_support import DAY_LIMIT, LOYAL, PRICING, WALLET, card_store, voucher

CARDS = [DAY_LIMIT, WALLET, LOYAL]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=rule_sets(), card=st.sampled_from([*CARDS, None]),
       product=st.sampled_from(["DT", "AI95"]), volume=st.integers(1000, 60000),
       points=st.sampled_from([None, 0, 7, 10**6]), seq=st.integers(1, 100),
       at=st.datetimes(min_value=datetime(2026, 1, 2), max_value=datetime(2027, 12, 30)),
       zone=st.sampled_from(["UTC", "Asia/Vladivostok", "America/Sao_Paulo"]),
       with_voucher=st.booleans())
def test_the_office_reproduces_every_figure_the_station_wrote(
        doc: dict[str, Any], card: str | None, product: str, volume: int, points: int | None,
        seq: int, at: datetime, zone: str, with_voucher: bool) -> None:
    doc = {**doc, "revision": 9, "vouchers": PRICING["vouchers"]}
    if card is None:  # a talon sale: the voucher alone
        with_voucher, points = True, None
    if points is not None and doc.get("loyalty") is None:
        points = None
    now = at.replace(tzinfo=UTC)
    root = Path(tempfile.mkdtemp(prefix="parity-"))
    try:
        config = Config(station=StationConfig(id="S-001", data_dir=root / "station",
                                              timezone=zone))
        store, _ = StationStore.create(config.station.data_dir)
        try:
            station = Station(store, config, clock=lambda: now)
            station.import_cards(card_store(root / "cs.json", doc=doc), actor="test")
            number = 1 if product == "DT" else 2  # the batch for the product
            auth = station.authorize(
                pump=1, card=card, product=None if card is None else product,
                voucher=voucher(number, seq) if with_voucher else None, points=points)
            assume(auth["approved"])
            delivered = min(volume, auth["max_volume_ml"])
            assume(delivered >= 1)
            station.clock = lambda: now + timedelta(minutes=3)
            station.complete(auth["sale_id"], volume_ml=delivered,
                             product=auth["products"][0])
            line = list_sales(store.conn)[-1]
        finally:
            store.close()
    finally:
        shutil.rmtree(root)
    if line.get("pricing") is None:
        event("nothing applied")
        return  # nothing applied: a plain line, amount = volume x list price
    event("priced")
    pricing = line["pricing"]
    read = parse_line(json.loads(pricing) if isinstance(pricing, str) else pricing,
                      station_id=line["station_id"], amount=line["amount"])
    assert differences(parse_pricing(doc), line, read) == []
    assert read.priced.amount == line["amount"]
