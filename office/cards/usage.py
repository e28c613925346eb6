"""Network-wide card usage for the current periods, as the office counts it.

After a batch is stored, the office computes, for each card in it, the use in the
current day, week, month and year (per product: volume, amount, fills) over the
sales it holds — counting each station's sales only up to that station's contiguous
seq, and saying so in ``station_seqs``. A station then adds only its own sales after
its entry, so no sale is counted twice and a daily limit holds across the network as
far as connectivity allows. Periods are in the office's ``[station] timezone`` and
``week_start`` (one network, one calendar).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from core import bounds as B
from core.config import Config
from core.periods import period_start_date, period_start_utc
from core.timefmt import iso
from office.cards.wallets import station_balances
from office.store import OfficeConnection

PERIODS = ("day", "week", "month", "year")


def limited_cards(conn: OfficeConnection, card_ids: list[str], *, loyalty: bool
                  ) -> dict[str, dict[str, Any]]:
    """The documents of the cards among ``card_ids`` with limits, visit counts or
    wallets, or all of them when ``loyalty`` (a pricing rule set is published: every
    card's consumption, tier and points count), by card id: the cards whose
    network-wide use stations need."""
    out: dict[str, dict[str, Any]] = {}
    unique = sorted(set(card_ids))
    for i in range(0, len(unique), 500):
        chunk = unique[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT card_id, doc FROM cm_cards WHERE card_id IN ({marks})",
                              chunk):
            doc = json.loads(r["doc"])
            if loyalty or doc.get("limits") or doc.get("visits") or doc.get("wallets"):
                out[r["card_id"]] = doc
    return out


def holders(conn: OfficeConnection, card_ids: list[str]) -> list[str]:
    """``card_ids`` and the cards that now stand for them: a replaced card's sales count
    towards the card that took its place (reissue), so a sale of either names both."""
    successor = {str(r[0]): str(r[1]) for r in conn.execute(
        "SELECT card_id, replaced_by FROM cards WHERE replaced_by IS NOT NULL")}
    out = set(card_ids)
    for card_id in card_ids:
        current, seen = card_id, {card_id}
        while current in successor and successor[current] not in seen:
            current = successor[current]
            seen.add(current)
            out.add(current)
    return sorted(out)


def _sales_of(conn: OfficeConnection, card_ids: list[str], since: str
              ) -> Iterator[Any]:
    """The sales of ``card_ids`` completed since ``since``, 500 cards a query."""
    for i in range(0, len(card_ids), 500):
        chunk = card_ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(
            "SELECT card_id, station_id, seq, product, volume_ml, amount, completed_at "
            f"FROM sales WHERE card_id IN ({marks}) AND completed_at >= ?", (*chunk, since))


def usage_ops(conn: OfficeConnection, card_ids: list[str], config: Config,
              now: datetime) -> list[dict[str, Any]]:
    """One ``usage`` operation per card with limits or wallets (core.formats.deltas).

    Each carries the use in the current periods, counted over the card's sales and
    those of the cards it replaced, and its wallets' balances, both as of each station's
    contiguous seq (``station_seqs``).
    """
    from office.pricing.rules import in_force

    loyalty = in_force()
    docs = limited_cards(conn, holders(conn, card_ids), loyalty=loyalty)
    tz, week_start = config.station.tz, config.station.week_start_index
    seqs = {r["station_id"]: int(r["contiguous_seq"]) for r in conn.execute(
        "SELECT station_id, contiguous_seq FROM station_chain")}
    starts = {p: iso(period_start_utc(p, now, tz, week_start)) for p in PERIODS}
    today = now.astimezone(tz).date()
    # Last calendar month too (tiers and "last month" discounts, docs/pricing.md).
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    last_start = iso(datetime(last_month.year, last_month.month, 1, tzinfo=tz).astimezone(UTC))
    rev = time.time_ns()
    wallet_ids = [w["wallet_id"] for d in docs.values() for w in d.get("wallets", [])]
    balances = station_balances(wallet_ids)
    # Whose use a sale is: its own card's and, after a reissue, the new card's.
    owners: dict[str, list[str]] = defaultdict(list)
    for card_id, doc in docs.items():
        for sold in (card_id, *doc.get("replaces", [])):
            owners[sold].append(card_id)
    sums: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0]))
    for r in _sales_of(conn, sorted(owners), min(*starts.values(), last_start)):
        if r["seq"] > seqs.get(r["station_id"], 0):
            continue  # beyond a gap: that station still counts it itself
        for card_id in owners[r["card_id"]]:
            if last_start <= r["completed_at"] < starts["month"]:
                total = sums[card_id]["last_month", r["product"]]
                total[0] += r["volume_ml"]
                total[1] += r["amount"]
                total[2] += 1
            for period, start in starts.items():
                if r["completed_at"] >= start:
                    total = sums[card_id][period, r["product"]]
                    total[0] += r["volume_ml"]
                    total[1] += r["amount"]
                    total[2] += 1
    facts: dict[str, dict[str, Any]] = {}
    if loyalty:
        from office.pricing.points import station_facts

        facts = station_facts(sorted(docs), today, week_start)
    ops = []
    for card_id, doc in sorted(docs.items()):
        # Never more than a station accepts (core.bounds): a use at the bound
        # exhausts any limit all the same, and one past it would have every station
        # refuse the whole message (and every flash reply that carries it).
        usage = [{"period": "month" if period == "last_month" else period, "period_start":
                  last_month.isoformat() if period == "last_month" else
                  period_start_date(period, today, week_start).isoformat(),
                  "product": product, "volume_ml": min(v, B.MAX_VOLUME_ML),
                  "amount": min(a, B.MAX_AMOUNT), "visits": min(n, B.MAX_COUNT)}
                 for (period, product), (v, a, n) in sorted(sums[card_id].items())]
        op: dict[str, Any] = {"op": "usage", "card_id": card_id, "rev": rev,
                              "station_seqs": seqs, "usage": usage}
        if doc.get("wallets"):
            op["wallets"] = [{"wallet_id": w["wallet_id"],
                              "balance": bounded(balances.get(w["wallet_id"], 0), w["unit"])}
                             for w in doc["wallets"]]
        if loyalty:
            op.update(facts.get(card_id, {}))
        ops.append(op)
    return ops


def bounded(balance: int, unit: str) -> int:
    """A balance within what a station accepts (core.bounds), either sign."""
    cap = B.MAX_AMOUNT if unit == "money" else B.MAX_VOLUME_ML
    return max(-cap, min(cap, balance))
