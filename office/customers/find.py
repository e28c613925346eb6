"""Finding people: one search over name, phone, e-mail, plate, card number and customer
code that tolerates typos and the scripts of our markets, and the customer list with its
filters (office.customers.filters) — the same for the console and the CLI.

How a search runs:

1. The text is folded as the stored keys are (office.customers.search.fold): "Şükrü
   Yılmaz", "sukru yilmaz" and "SUKRU YILMAZ" are one text; "Nguyễn Văn" is "nguyen van";
   Cyrillic stays Cyrillic, case folded.
2. Candidates come from indexes, never a scan: keys containing every word of the text,
   and when those are few, keys sharing many of its trigrams (typos: "yilmas" finds
   "yilmaz"), from the trigram index (office.customers.search_index); a text shorter
   than 3 characters matches the start of the key instead. A phone however typed
   ("0532 123 45 67" for "+905321234567") is matched on its trailing digits; plates by
   their folded form (``vehicles.plate_key``, its start) and cards by card id, PAN,
   RFID UID or token however written, or the start of a PAN or card id.
3. rapidfuzz scores each candidate (0-100) against the fields it can match; the best
   field wins and is named (``match``). Candidates under :data:`MIN_SCORE` are dropped,
   the rest returned best first. Closed and merged customers are left out unless asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz

from core import identifiers
from office import db
from office.customers import search_index
from office.customers.filters import Filters, figures, matching
from office.customers.search import digits, fold, latin, plate_key

#: A candidate scoring less than this is no match.
MIN_SCORE = 70.0
#: How many candidates each index query may bring (keys containing the text; similar keys).
CONTAINING = 1000
SIMILAR = 200
#: Plates and cards whose start matches, at most.
STARTING = 50
#: The fewest trailing digits a phone is matched on.
PHONE_DIGITS = 7
#: The most trailing digits compared (a national number; what precedes is a country code
#: or a trunk prefix).
NATIONAL_DIGITS = 10
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
#: When two fields score the same, the more specific one is named.
_FIELD_ORDER = ("id", "card", "plate", "phone", "email", "name", "key")


@dataclass(frozen=True)
class Hit:
    """A customer a search found: how well (0-100) and by which field."""

    customer_id: str
    score: float
    match: str


@dataclass(frozen=True)
class _Query:
    text: str
    folded: str
    tokens: list[str]
    long_tokens: list[str]  # 3+ characters: what trigram indexes can look for
    numeric: bool  # only digits and what separates them (a phone, a PAN, a code)
    phone: str | None  # the digits, without trunk zeros, of a text that is a phone number
    plate: str
    identifier_lookups: list[tuple[str, str]]


def _query(text: str) -> _Query:
    raw = text.strip()
    folded = fold(raw)
    tokens = folded.split()
    phone = None
    numeric = bool(_PHONE.match(raw))
    if numeric:
        # Digits however grouped are one number: "0532 123 45 67" is not four words.
        tokens = [digits(raw)]
        number = tokens[0].lstrip("0")
        if len(number) >= PHONE_DIGITS:
            phone = number
    return _Query(text=raw, folded=folded, tokens=tokens,
                  long_tokens=[t for t in tokens if len(t) >= 3], numeric=numeric,
                  phone=phone, plate=plate_key(raw),
                  identifier_lookups=identifiers.lookups(raw))


# -- candidates --------------------------------------------------------------------------

def _from_cards(q: _Query) -> dict[str, tuple[float, str]]:
    """Customers whose card is the text (100) or starts with it (90)."""
    out: dict[str, tuple[float, str]] = {}
    for column, value in q.identifier_lookups:
        for r in db.fetchall(f"SELECT customer_id FROM cards WHERE {column} = ? "
                             "AND customer_id IS NOT NULL", (value,)):
            out[str(r[0])] = (100.0, "card")
    starts: list[tuple[str, str]] = []
    number = digits(q.text)
    if len(number) >= 6 and number == q.text.replace(" ", "").replace("-", ""):
        starts.append(("pan", number))
    if len(q.text) >= 3:
        starts.append(("card_id", q.text))
    for column, value in starts:
        for r in db.fetchall(f"SELECT customer_id FROM cards WHERE {column} >= ? AND "
                             f"{column} < ? AND customer_id IS NOT NULL LIMIT ?",
                             (value, value + search_index.TOP, STARTING)):
            out.setdefault(str(r[0]), (90.0, "card"))
    return out


def _from_plates(q: _Query) -> dict[str, tuple[float, str]]:
    """Customers whose vehicle's plate is the text (100) or starts with it (90)."""
    out: dict[str, tuple[float, str]] = {}
    if len(q.plate) < 3 or not any(c.isdigit() for c in q.plate):
        return out
    for r in db.fetchall("SELECT customer_id, plate_key FROM vehicles WHERE plate_key >= ? "
                         "AND plate_key < ? AND customer_id IS NOT NULL "
                         "ORDER BY plate_key LIMIT ?", (q.plate, q.plate + search_index.TOP,
                                                        STARTING)):
        score = 100.0 if r[1] == q.plate else 90.0
        if score > out.get(str(r[0]), (0.0, ""))[0]:
            out[str(r[0])] = (score, "plate")
    return out


def _candidate_ids(q: _Query) -> list[str]:
    """Customer ids worth scoring, from the trigram and prefix indexes."""
    found: dict[str, None] = {}
    if q.phone is not None:
        for cid in search_index.containing([q.phone[-PHONE_DIGITS:]], CONTAINING):
            found[cid] = None
    if q.long_tokens:
        containing = search_index.containing(q.long_tokens, CONTAINING)
        for cid in containing:
            found[cid] = None
        # Typos: only when the words as typed are found in few keys (a common name
        # typed right needs no look-alikes, and they would only rank below it); a typo
        # in a number is another number.
        if not q.numeric and len(containing) < SIMILAR:
            for cid in search_index.similar(q.folded, q.long_tokens, SIMILAR):
                found[cid] = None
    elif q.folded:
        for cid in search_index.starting(q.folded, SIMILAR):
            found[cid] = None
    return list(found)


# -- scores ------------------------------------------------------------------------------

def name_score(query_tokens: list[str], name: str) -> float:
    """How well the folded words of a query match a folded name (0-100): each query word
    against its best name word (equal 100, the start of it 90-100, a typo by edit
    ratio), averaged; a little of the whole names' likeness breaks ties."""
    words = name.split()
    if not words or not query_tokens:
        return 0.0
    best: list[float] = []
    for token in query_tokens:
        top = 0.0
        for word in words:
            if word == token:
                top = 100.0
                break
            if word.startswith(token):
                top = max(top, 90.0 + 10.0 * len(token) / len(word))
            else:
                top = max(top, fuzz.ratio(token, word))
        best.append(top)
    whole = fuzz.token_sort_ratio(" ".join(query_tokens), name)
    return 0.95 * sum(best) / len(best) + 0.05 * whole


def _phone_matches(number: str, phones: list[str]) -> bool:
    """Whether a phone and the typed digits end alike: their last 10 digits (a national
    number without country code or trunk prefix: "+7 495 ..." is "8 495 ..."), or all of
    the shorter one's, at least 7."""
    for phone in phones:
        stored = digits(phone).lstrip("0")
        n = min(len(stored), len(number), NATIONAL_DIGITS)
        if n >= PHONE_DIGITS and stored[-n:] == number[-n:]:
            return True
    return False


def _score(q: _Query, row: Any) -> tuple[float, str]:
    """The best field's score and name for one candidate row."""
    scores: dict[str, float] = {}
    customer_id = str(row["customer_id"])
    if q.text.casefold() == customer_id.casefold() or q.folded == fold(customer_id):
        scores["id"] = 100.0
    if q.phone is not None and _phone_matches(q.phone, json.loads(row["phones"])):
        scores["phone"] = 100.0
    emails = json.loads(row["emails"])
    if "@" in q.text and q.text.casefold() in emails:
        scores["email"] = 100.0
    name = fold(row["name"])
    scores["name"] = max(name_score(q.tokens, name), name_score(q.tokens, latin(name)))
    key = str(row["search_key"])
    if q.tokens and all(t in key for t in q.tokens):
        scores["key"] = 85.0
    elif q.folded and not q.numeric:
        scores["key"] = 0.8 * fuzz.partial_ratio(q.folded, key)
    top = max(scores.values())
    field = next(f for f in _FIELD_ORDER if scores.get(f) == top)
    return round(top, 1), field


def search(text: str, *, include_closed: bool = False) -> list[Hit]:
    """Every customer ``text`` finds, best first (score, then folded name, then id).

    Typed in Cyrillic, the text is also looked for in Latin letters ("Иванов" finds a
    customer stored as "Ivanov"); the better of the two scores counts.
    """
    hits = _search(_query(text), include_closed)
    translit = latin(fold(text))
    if translit != fold(text):
        best = {h.customer_id: h for h in hits}
        for h in _search(_query(translit), include_closed):
            if h.customer_id not in best or best[h.customer_id].score < h.score:
                best[h.customer_id] = h
        hits = sorted(best.values(), key=lambda h: (-h.score, h.customer_id))
    return hits


def _search(q: _Query, include_closed: bool) -> list[Hit]:
    if not q.folded and not q.plate:
        return []
    known = {**_from_plates(q), **_from_cards(q)}
    ids = list(dict.fromkeys([*known, *_candidate_ids(q)]))
    hits: list[tuple[float, str, str, str]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.fetchall(
                "SELECT customer_id, name, search_key, phones, emails, closed_at, merged_into "
                f"FROM customers WHERE customer_id IN ({marks})", chunk):
            if not include_closed and (row["closed_at"] is not None
                                       or row["merged_into"] is not None):
                continue
            score, field = _score(q, row)
            better = known.get(str(row["customer_id"]))
            if better is not None and better[0] >= score:
                score, field = better
            if score >= MIN_SCORE:
                hits.append((score, str(row["search_key"]), str(row["customer_id"]), field))
    hits.sort(key=lambda h: (-h[0], h[1], h[2]))
    return [Hit(customer_id=h[2], score=h[0], match=h[3]) for h in hits]


# -- the list ----------------------------------------------------------------------------

def _rows(ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.fetchall(
                "SELECT customer_id, name, kind, category, region, company_id, phones, "
                f"emails, closed_at, merged_into FROM customers WHERE customer_id IN ({marks})",
                chunk):
            out[str(r["customer_id"])] = {
                "customer_id": r["customer_id"], "name": r["name"], "kind": r["kind"],
                "category": r["category"], "region": r["region"], "company": r["company_id"],
                "phones": json.loads(r["phones"]), "emails": json.loads(r["emails"]),
                "closed_at": r["closed_at"], "merged_into": r["merged_into"]}
    return out


def find(text: str | None = None, filters: Filters | None = None, *, limit: int = 50,
         now: datetime | None = None) -> list[dict[str, Any]]:
    """The customer list: those ``text`` finds (best first, with ``score`` and ``match``)
    or all (in name order), that pass ``filters``; at most ``limit``. Each with its
    ``last_sale``, ``turnover`` (over the filters' window) and ``balance``."""
    filters = filters or Filters()
    scored: dict[str, Hit] = {}
    if text is not None and text.strip():
        hits = search(text, include_closed=filters.include_closed)
        if filters.active:
            passing = set(matching(filters, ids=[h.customer_id for h in hits], now=now))
            hits = [h for h in hits if h.customer_id in passing]
        hits = hits[:limit]
        scored = {h.customer_id: h for h in hits}
        ids = [h.customer_id for h in hits]
    else:
        ids = matching(filters, limit=limit, now=now)
    rows = _rows(ids)
    extra = figures(ids, since=filters.since(now), unit=filters.balance_unit)
    out = []
    for customer_id in ids:
        item = {**rows[customer_id], **extra[customer_id]}
        if customer_id in scored:
            item["score"] = scored[customer_id].score
            item["match"] = scored[customer_id].match
        out.append(item)
    return out
