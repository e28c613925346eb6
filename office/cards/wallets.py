"""Wallet balances, netted across the network.

A wallet's balance is the sum of its ledger entries (opening balance, top-ups,
adjustments: ``wallet_entries``) minus every debit the stations sent with their sales
(``wallet_debits``). Two figures are kept apart:

- the **office balance**: every debit received, whatever its station's gaps — what the
  console shows, and what is reported when it is negative (an offline overdraft);
- the **station balance**: only the debits of each station up to its contiguous seq
  (``station_chain``), the mark that goes with it to the stations, so each station
  subtracts its own later debits itself and no debit is counted twice
  (office.cards.usage; docs/card-store.md, "Wallets").
"""

from __future__ import annotations

from collections.abc import Iterable

from office import db


def _chunks(ids: Iterable[str], size: int = 500) -> Iterable[list[str]]:
    unique = sorted(set(ids))
    for i in range(0, len(unique), size):
        yield unique[i:i + size]


def _sums(sql: str, wallet_ids: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(wallet_ids):
        marks = ",".join("?" * len(chunk))
        for row in db.fetchall(sql.format(marks=marks), chunk):
            out[str(row[0])] = int(row[1] or 0)
    return out


def credits(wallet_ids: Iterable[str]) -> dict[str, int]:
    """Per wallet: the sum of its ledger entries (what was put on it)."""
    return _sums("SELECT wallet_id, SUM(value) FROM wallet_entries "
                 "WHERE wallet_id IN ({marks}) GROUP BY wallet_id", wallet_ids)


def debits_received(wallet_ids: Iterable[str]) -> dict[str, int]:
    """Per wallet: every debit received from any station."""
    return _sums("SELECT wallet_id, SUM(value) FROM wallet_debits "
                 "WHERE wallet_id IN ({marks}) GROUP BY wallet_id", wallet_ids)


def debits_marked(wallet_ids: Iterable[str]) -> dict[str, int]:
    """Per wallet: the debits of each station up to its contiguous seq."""
    return _sums("SELECT d.wallet_id, SUM(d.value) FROM wallet_debits d "
                 "JOIN station_chain c ON c.station_id = d.station_id "
                 "WHERE d.seq <= c.contiguous_seq AND d.wallet_id IN ({marks}) "
                 "GROUP BY d.wallet_id", wallet_ids)


def office_balances(wallet_ids: Iterable[str]) -> dict[str, int]:
    """Per wallet: credits minus every debit received (negative: an offline overdraft)."""
    ids = list(wallet_ids)
    put, spent = credits(ids), debits_received(ids)
    return {w: put.get(w, 0) - spent.get(w, 0) for w in ids}


def station_balances(wallet_ids: Iterable[str]) -> dict[str, int]:
    """Per wallet: credits minus the debits up to each station's mark (what is sent)."""
    ids = list(wallet_ids)
    put, spent = credits(ids), debits_marked(ids)
    return {w: put.get(w, 0) - spent.get(w, 0) for w in ids}


def overdrawn() -> list[tuple[str, int]]:
    """Every wallet whose office balance is below zero: (wallet id, balance), worst first."""
    rows = db.fetchall(
        "SELECT w.wallet_id, COALESCE((SELECT SUM(e.value) FROM wallet_entries e "
        "WHERE e.wallet_id = w.wallet_id), 0) - COALESCE((SELECT SUM(d.value) "
        "FROM wallet_debits d WHERE d.wallet_id = w.wallet_id), 0) AS balance "
        "FROM wallets w")
    return sorted(((str(r[0]), int(r[1])) for r in rows if int(r[1]) < 0),
                  key=lambda item: (item[1], item[0]))
