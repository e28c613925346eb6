"""Candidate duplicates among the open customers: the same phone, the same e-mail, or a
similar name — each candidate with its reasons, for a person to decide (and merge,
office.customers.merge).

- **phone**: the same national number, compared on the last 10 digits without trunk
  zeros ("+90 532 123 45 67" and "0532 123 45 67"), as the search matches phones. Every
  customer sharing it is one candidate group.
- **e-mail**: the same address (stored in lower case). One group per address.
- **name**: folded names (office.customers.search.fold: "Şükrü Yılmaz" = "sukru yilmaz")
  with their words sorted ("Иванов Иван" = "Иван Иванов"). Customers with the same name
  are one group (score 100). Different names whose rapidfuzz ``token_sort_ratio``
  reaches ``min_score`` make pairs of their customers (one group when that would be
  more than :data:`MAX_PAIRS` pairs: a common name). Comparing every name with every
  other would be O(n²), so only distinct names are compared, and only within blocks
  sharing a key: the first 4 letters of one of their words, and for a big block (a
  common surname) the first 4 letters of two of their words. A block still larger than
  :data:`MAX_BLOCK` is skipped (its names meet in the smaller blocks of their others).
- Two customers sharing a phone or an e-mail whose names are alike get the name as a
  second reason.

Candidates naming the same customers are one, with all their reasons; the strongest come
first (most reasons, then the best score, then the smallest group).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from itertools import product
from typing import Any

from rapidfuzz import fuzz, process

from office import db
from office.customers.search import digits, fold

#: Name likeness (token_sort_ratio, 0-100) from which two names are candidates.
MIN_NAME_SCORE = 88.0
#: The most distinct names compared with each other in one block.
MAX_BLOCK = 2000
#: Two similar names held by more customers than this many pairs make one group.
MAX_PAIRS = 25
_PREFIX = 4

Reasons = list[dict[str, Any]]


def phone_key(phone: str) -> str | None:
    """A phone's national number: its last 10 digits without trunk zeros (7 at least)."""
    number = digits(phone).lstrip("0")
    return number[-10:] if len(number) >= 7 else None


def name_key(name: str) -> str:
    """A name folded, its words sorted: how two names are compared."""
    return " ".join(sorted(fold(name).split()))


def _blocks(names: list[str]) -> Iterable[list[str]]:
    """Lists of distinct names that share a word start (then two), each at most
    MAX_BLOCK long."""
    single: dict[str, list[str]] = defaultdict(list)
    starts_of: dict[str, list[str]] = {}
    for name in names:
        starts = sorted({w[:_PREFIX] for w in name.split() if len(w) >= 2})
        starts_of[name] = starts
        for start in starts:
            single[start].append(name)
    double: dict[tuple[str, str], list[str]] = defaultdict(list)
    for start, members in single.items():
        if len(members) <= MAX_BLOCK:
            if len(members) > 1:
                yield members
            continue
        for name in members:
            for other in starts_of[name]:
                if other != start:
                    first, second = sorted((start, other))
                    double[(first, second)].append(name)
    for members in double.values():
        unique = list(dict.fromkeys(members))
        if 1 < len(unique) <= MAX_BLOCK:
            yield unique


def similar_names(names: list[str], min_score: float) -> dict[tuple[str, str], float]:
    """Pairs of distinct names (sorted) at least ``min_score`` alike, with their score."""
    pairs: dict[tuple[str, str], float] = {}
    for members in _blocks(names):
        block = sorted(members)
        for i, name in enumerate(block[:-1]):
            for other, score, _ in process.extract(name, block[i + 1:],
                                                   scorer=fuzz.token_sort_ratio,
                                                   score_cutoff=min_score, limit=None):
                pair = (name, other)
                pairs[pair] = max(pairs.get(pair, 0.0), float(score))
    return pairs


def _add(found: dict[tuple[str, ...], Reasons], members: Iterable[str],
         reason: dict[str, Any]) -> None:
    key = tuple(sorted(set(members)))
    if len(key) > 1 and not any(r["reason"] == reason["reason"] == "name"
                                for r in found[key]):
        found[key].append(reason)


def duplicates(*, min_score: float = MIN_NAME_SCORE, limit: int | None = None
               ) -> list[dict[str, Any]]:
    """Candidate duplicates among open customers: ``customer_ids``, ``names`` and
    ``reasons`` (``{"reason": "phone"|"email", "value": ...}`` or ``{"reason": "name",
    "score": ...}``), strongest first."""
    shown: dict[str, str] = {}
    keys: dict[str, str] = {}
    by_name: dict[str, list[str]] = defaultdict(list)
    phones: dict[str, list[str]] = defaultdict(list)
    emails: dict[str, list[str]] = defaultdict(list)
    shown_phone: dict[str, str] = {}
    for r in db.execute("SELECT customer_id, name, phones, emails FROM customers "
                        "WHERE closed_at IS NULL AND merged_into IS NULL ORDER BY customer_id"):
        customer_id = str(r[0])
        shown[customer_id] = str(r[1])
        key = name_key(str(r[1]))
        if key:
            keys[customer_id] = key
            by_name[key].append(customer_id)
        for phone in json.loads(r[2]):
            number = phone_key(phone)
            if number is not None and customer_id not in phones[number]:
                phones[number].append(customer_id)
                shown_phone.setdefault(number, phone)
        for email in json.loads(r[3]):
            if customer_id not in emails[email]:
                emails[email].append(customer_id)
    found: dict[tuple[str, ...], Reasons] = defaultdict(list)
    for number, members in sorted(phones.items()):
        _add(found, members, {"reason": "phone", "value": shown_phone[number]})
    for email, members in sorted(emails.items()):
        _add(found, members, {"reason": "email", "value": email})
    for shared in list(found):  # a pair sharing a contact: are the names alike too?
        if len(shared) == 2 and all(m in keys for m in shared):
            score = fuzz.token_sort_ratio(keys[shared[0]], keys[shared[1]])
            if score >= min_score:
                _add(found, shared, {"reason": "name", "score": round(score, 1)})
    for namesakes in by_name.values():
        _add(found, namesakes, {"reason": "name", "score": 100.0})
    for (first, second), score in sorted(similar_names(list(by_name), min_score).items()):
        a, b = by_name[first], by_name[second]
        reason = {"reason": "name", "score": round(score, 1)}
        if len(a) * len(b) > MAX_PAIRS:
            _add(found, [*a, *b], reason)
        else:
            for pair in product(a, b):
                _add(found, pair, reason)

    def strength(item: tuple[tuple[str, ...], Reasons]
                 ) -> tuple[int, float, int, tuple[str, ...]]:
        members, reasons = item
        return (-len(reasons), -max(float(r.get("score", 100.0)) for r in reasons),
                len(members), members)

    out = [{"customer_ids": list(members), "names": [shown[c] for c in members],
            "reasons": reasons} for members, reasons in sorted(found.items(), key=strength)]
    return out if limit is None else out[:limit]
