"""Card-store deltas: the operations that take a card store from version N to M.

A delta is a list of operations, applied in one transaction together with the new
version (docs/mqtt.md, "cards" body):

- ``card`` with ``card`` (a card object of the snapshot format): insert or replace the
  card with its limits, wallets and usage;
- ``card_delete`` with ``card_id``; ``product`` with ``product`` (``{code, name,
  unit_price}``); ``product_delete`` with ``code``;
- ``stop_add`` / ``stop_remove`` with ``identifier``;
- ``usage`` with ``card_id``, ``rev``, ``station_seqs`` (station id -> the last seq of
  that station counted) and ``usage`` (entries of the snapshot format): network-wide
  use of the card in the current periods; optionally ``wallets`` (``[{wallet_id,
  balance}]``), the card's wallet balances as of the same marks; optionally ``points``
  (``[{expires, points}]``, the card's unexpired loyalty points as of the same marks)
  and ``points_earned`` (``[{period, period_start, points}]``, for the caps). Not a
  card-store version of its own (though a version may carry one with its card
  operations);
- ``pricing`` with ``pricing`` (the pricing document, core.formats.pricing): replaces
  the station's whole document (``null``: the station has none any more);
- ``vouchers_used`` with ``serials`` (at most 10,000 12-digit voucher serials): vouchers
  redeemed somewhere in the network, which the station refuses from then on
  (``voucher_used``; docs/pricing.md, "Vouchers").

:func:`parse_ops` validates every operation before anything is written; a bad one
refuses the whole delta with a :class:`~core.errors.CardStoreFormatError` naming it.
The office writes deltas, the station applies them (``offline_db.deltas``).
"""

from __future__ import annotations

from typing import Any

from core import bounds as B
from core import identifiers
from core.errors import CardStoreFormatError
from core.formats.snapshot import (
    parse_card,
    parse_points,
    parse_points_earned,
    parse_product,
)
from core.formats.vouchers import MAX_USED_PER_OP, parse_serials

Op = tuple[str, Any]


def parse_ops(raw: Any) -> list[Op]:
    if not isinstance(raw, list):
        raise CardStoreFormatError("ops must be a JSON array")
    out: list[Op] = []
    for i, item in enumerate(raw):
        where = f"ops[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise CardStoreFormatError(f"{where} must be an object with an 'op'")
        op = item["op"]
        if op == "card" and set(item) == {"op", "card"}:
            out.append((op, parse_card(item["card"], f"{where}.card")))
        elif op == "product" and set(item) == {"op", "product"}:
            out.append((op, parse_product(item["product"], f"{where}.product")))
        elif op == "usage" and set(item) - {"wallets", "points", "points_earned"} == {
                "op", "card_id", "rev", "station_seqs", "usage"}:
            out.append((op, _usage(item, where)))
        elif op == "pricing" and set(item) == {"op", "pricing"}:
            from core.formats.pricing import parse_pricing  # it reads with snapshot's tools

            parse_pricing(item["pricing"], f"{where}.pricing")
            out.append((op, item["pricing"]))
        elif op == "vouchers_used" and set(item) == {"op", "serials"}:
            out.append((op, parse_serials(item["serials"], f"{where}.serials",
                                          MAX_USED_PER_OP)))
        elif op in ("card_delete", "product_delete", "stop_add", "stop_remove"):
            key = {"card_delete": "card_id", "product_delete": "code"}.get(op, "identifier")
            value = item.get(key)
            if set(item) != {"op", key} or not isinstance(value, str) or not value:
                raise CardStoreFormatError(f"{where}: {op} needs a non-empty {key!r}")
            _check_text(value, f"{where}.{key}")
            out.append((op, _stop_entry(value) if key == "identifier" else value))
        else:
            raise CardStoreFormatError(f"{where}: unknown or malformed operation {op!r}")
    return out


def _stop_entry(identifier: str) -> str:
    """A stop-list entry in the form the station keeps and matches (identifiers.canonical)."""
    return identifiers.canonical(identifier)


def _usage(item: dict[str, Any], where: str) -> dict[str, Any]:
    card_id, rev, seqs = item["card_id"], item["rev"], item["station_seqs"]
    if not isinstance(card_id, str) or not card_id or not isinstance(rev, int) \
            or isinstance(rev, bool) or not isinstance(seqs, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                for k, v in seqs.items()):
        raise CardStoreFormatError(f"{where}: usage needs card_id, an integer rev and "
                                   "station_seqs of integers")
    _check_text(card_id, f"{where}.card_id")
    _check_int(rev, f"{where}.rev", B.MAX_USAGE_REV)
    for station, seq in seqs.items():
        _check_text(station, f"{where}.station_seqs key {B.safe_key(station)}")
        _check_int(seq, f"{where}.station_seqs.{B.safe_key(station)}", B.MAX_SEQ)
    entries = parse_card({"card_id": card_id, "kind": "rfid", "usage": item["usage"]},
                         f"{where}").usage
    out = {"card_id": card_id, "rev": rev, "station_seqs": seqs, "usage": entries}
    if "wallets" in item:
        out["wallets"] = _wallets(item["wallets"], f"{where}.wallets")
    if "points" in item:
        out["points"] = parse_points(item["points"], f"{where}.points")
    out["points_earned"] = parse_points_earned(item.get("points_earned"),
                                               f"{where}.points_earned")
    return out


def _wallets(raw: Any, where: str) -> dict[str, int]:
    """A usage update's wallet balances: wallet id -> balance (either sign, bounded)."""
    if not isinstance(raw, list):
        raise CardStoreFormatError(f"{where} must be a JSON array")
    out: dict[str, int] = {}
    for j, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"wallet_id", "balance"} \
                or not isinstance(item["wallet_id"], str) or not item["wallet_id"]:
            raise CardStoreFormatError(f"{where}[{j}] must be an object with a wallet_id "
                                       "and a balance")
        _check_text(item["wallet_id"], f"{where}[{j}].wallet_id")
        problem = B.int_problem(item["balance"], -B.MAX_AMOUNT, B.MAX_AMOUNT, "")
        if problem:
            raise CardStoreFormatError(f"{where}[{j}].balance {problem}")
        out[item["wallet_id"]] = item["balance"]
    return out


def _check_text(value: str, where: str) -> None:
    """Refuse text that cannot be stored or shown (issue 10 #10; bounds.text_problem)."""
    problem = B.text_problem(value)
    if problem:
        raise CardStoreFormatError(f"{where} {problem}")


def _check_int(value: int, where: str, maximum: int) -> None:
    """Refuse an integer outside ``0..maximum`` (issue 10 #8)."""
    problem = B.int_problem(value, 0, maximum)
    if problem:
        raise CardStoreFormatError(f"{where} {problem}")
