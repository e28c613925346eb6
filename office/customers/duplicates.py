"""Candidate duplicates among the open customers: the same phone, the same e-mail, or a
similar name — each candidate with its reasons, for a person to decide (and merge,
office.customers.merge).

- **phone**: the same national number, compared on the last 10 digits without trunk
  zeros ("+90 532 123 45 67" and "0532 123 45 67"), as the search matches phones. Every
  customer sharing it is one candidate group.
- **e-mail**: the same address (stored in lower case). One group per address.
- **name**: folded names (office.customers.search.fold: "Şükrü Yılmaz" = "sukru yilmaz")
  whose rapidfuzz ``token_sort_ratio`` (word order ignored) reaches ``min_score``; a pair
  each. Comparing every name with every other would be O(n²), so names are compared only
  within blocks that share a key: the first 4 letters of one of their words, and for big
  blocks (a common surname) the first 4 letters of two of their words. A block still
  larger than :data:`MAX_BLOCK` is skipped (its names meet in the smaller blocks of their
  other words).

Candidates with the same customers are one, with all their reasons; the strongest come
first (most reasons, then the name score).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rapidfuzz import fuzz, process

from office import db
from office.customers.search import digits, fold

#: Name likeness (token_sort_ratio, 0-100) from which two names are candidates.
MIN_NAME_SCORE = 88.0
#: The most names compared with each other in one block.
MAX_BLOCK = 2000
#: The most customers in one phone or e-mail group (a shared switchboard number is
#: reported with the first of them).
MAX_GROUP = 100
_PREFIX = 4


def phone_key(phone: str) -> str | None:
    """A phone's national number: its last 10 digits without trunk zeros (7 at least)."""
    number = digits(phone).lstrip("0")
    return number[-10:] if len(number) >= 7 else None


def _blocks(names: dict[str, str]) -> Iterable[list[str]]:
    """Lists of customer ids whose names share a word start (then two), each at most
    MAX_BLOCK long."""
    single: dict[str, list[str]] = defaultdict(list)
    words_of: dict[str, list[str]] = {}
    for customer_id, name in names.items():
        words = sorted({w[:_PREFIX] for w in name.split() if len(w) >= 2})
        words_of[customer_id] = words
        for w in words:
            single[w].append(customer_id)
    double: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, members in single.items():
        if len(members) <= MAX_BLOCK:
            if len(members) > 1:
                yield members
            continue
        for customer_id in members:
            for other in words_of[customer_id]:
                if other != key:
                    first, second = sorted((key, other))
                    double[(first, second)].append(customer_id)
    for members in double.values():
        unique = list(dict.fromkeys(members))
        if 1 < len(unique) <= MAX_BLOCK:
            yield unique


def _similar_names(names: dict[str, str], min_score: float
                   ) -> dict[tuple[str, str], float]:
    pairs: dict[tuple[str, str], float] = {}
    for members in _blocks(names):
        block = sorted(members)
        choices = [names[c] for c in block]
        for i, customer_id in enumerate(block[:-1]):
            for _, score, j in process.extract(names[customer_id], choices[i + 1:],
                                               scorer=fuzz.token_sort_ratio,
                                               score_cutoff=min_score, limit=None):
                pair = (customer_id, block[i + 1 + j])
                pairs[pair] = max(pairs.get(pair, 0.0), float(score))
    return pairs


def duplicates(*, min_score: float = MIN_NAME_SCORE, limit: int | None = None
               ) -> list[dict[str, Any]]:
    """Candidate duplicates among open customers: ``customer_ids``, ``names`` and
    ``reasons`` (``{"reason": "phone"|"email", "value": ...}`` or ``{"reason": "name",
    "score": ...}``), strongest first."""
    names: dict[str, str] = {}
    shown: dict[str, str] = {}
    phones: dict[str, list[str]] = defaultdict(list)
    emails: dict[str, list[str]] = defaultdict(list)
    shown_phone: dict[str, str] = {}
    for r in db.execute("SELECT customer_id, name, phones, emails FROM customers "
                        "WHERE closed_at IS NULL AND merged_into IS NULL ORDER BY customer_id"):
        customer_id = str(r[0])
        shown[customer_id] = str(r[1])
        folded = fold(str(r[1]))
        if folded:
            names[customer_id] = folded
        for phone in json.loads(r[2]):
            key = phone_key(phone)
            if key is not None and customer_id not in phones[key]:
                phones[key].append(customer_id)
                shown_phone.setdefault(key, phone)
        for email in json.loads(r[3]):
            if customer_id not in emails[email]:
                emails[email].append(customer_id)
    found: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for reason, groups, label in (("phone", phones, shown_phone), ("email", emails, None)):
        for key, members in sorted(groups.items()):
            if len(members) > 1:
                value = label[key] if label is not None else key
                found[tuple(sorted(members)[:MAX_GROUP])].append(
                    {"reason": reason, "value": value})
    for pair, score in sorted(_similar_names(names, min_score).items()):
        found[pair].append({"reason": "name", "score": round(score, 1)})
    def strength(item: tuple[tuple[str, ...], list[dict[str, Any]]]
                 ) -> tuple[int, float, tuple[str, ...]]:
        members, reasons = item
        return (-len(reasons), -max(float(r.get("score", 100.0)) for r in reasons), members)

    out = [{"customer_ids": list(members), "names": [shown[c] for c in members],
            "reasons": reasons} for members, reasons in sorted(found.items(), key=strength)]
    return out if limit is None else out[:limit]
