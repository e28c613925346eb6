"""A wallet spent at two stations, synced in any order by flash drive (issue 12 #4),
with Hypothesis: no debit is lost or counted twice, whatever the order of sales and
syncs.

At every moment a station's available balance is the office's balance as of that
station's mark minus its own later debits — so it never counts its own debit twice and
never forgets one; once every station has synced, each station shows exactly the
office's balance, which is the opening balance minus every sale's debit.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.views import card_show
from office.cards import master as card_master
from office.cards.wallets import office_balances
from tests.cloud_sync.flash_desk import LIMITED_CARD, WALLET_CARD, Desk, card_store

OPENING = 100_000  # W-1 of the sample card store: 1,000.00, AI95 only

Step = tuple[str, int, int]  # (sell | sync, station index, decilitres)


def available(desk: Desk) -> int:
    shown = card_show(desk.station.conn, desk.config, WALLET_CARD, desk.clock.now)
    assert shown is not None
    return next(int(w["available"]) for w in shown["wallets"] if w["wallet_id"] == "W-1")


def spent(desk: Desk) -> int:
    return sum(int(r["wallet_debits"].get("W-1", 0)) if isinstance(r["wallet_debits"], dict)
               else 0 for r in _journal(desk))


def _journal(desk: Desk) -> list[dict[str, object]]:
    import json

    return [{**r, "wallet_debits": json.loads(str(r["wallet_debits"]))}
            for r in desk.journal()]


def sync(office: Desk, desk: Desk, station_id: str) -> None:
    office.office_import(desk.export())
    desk.station_import(office.office_export(station_id=station_id))


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["sell", "sync"]), st.integers(0, 1),
                                st.integers(1, 60)), min_size=1, max_size=10))
@example(steps=[("sell", 0, 1), ("sell", 0, 10), ("sell", 0, 10), *[("sync", 0, 1)] * 5])
def test_any_order_of_sales_and_syncs_nets_every_debit_once(
        tmp_path_factory: pytest.TempPathFactory, office_databases: Callable[[], str],
        steps: list[Step]) -> None:
    root = tmp_path_factory.mktemp("netting")
    first = Desk(root / "a", database=office_databases())  # a fresh office each example
    card_master.import_file(first.office, card_store(first.root, extra=[LIMITED_CARD])
                            .read_bytes(), actor="test")
    second = Desk(root / "b", "S-002", office_of=first)
    desks, ids = [first, second], ["S-001", "S-002"]
    try:
        # Both stations load the office's data once (its snapshot: marks of zero).
        for desk, station_id in zip(desks, ids, strict=True):
            sync(first, desk, station_id)
        known = [0, 0]  # each station's debits as the office holds them
        for kind, i, decilitres in steps:
            desk = desks[i]
            before = available(desk)
            if kind == "sell":
                auth = desk.station.authorize(card=WALLET_CARD, pump=1, product="AI95",
                                              volume_ml=decilitres * 100, actor="test")
                if auth["approved"]:
                    desk.station.complete(auth["sale_id"],
                                          volume_ml=min(decilitres * 100,
                                                        auth["max_volume_ml"]),
                                          actor="test")
                    assert available(desk) < before  # its own debit, at once
            else:
                sync(first, desk, ids[i])
                known[i] = spent(desk)
                # Exactly: its own debits once, and the others' the office holds.
                assert available(desk) == OPENING - spent(desk) - known[1 - i]
        for desk, station_id in zip(desks, ids, strict=True):  # everyone syncs, twice
            sync(first, desk, station_id)
        for desk, station_id in zip(desks, ids, strict=True):
            sync(first, desk, station_id)
        total = sum(spent(d) for d in desks)
        assert office_balances(["W-1"]) == {"W-1": OPENING - total}
        assert [available(d) for d in desks] == [OPENING - total] * 2
    finally:
        second.close()
        first.close()
