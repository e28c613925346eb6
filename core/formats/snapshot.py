"""The card-store snapshot format (``forecourt-card-store``): parsing and validation.

The same document is imported from a file (``forecourt cards import``) and, later,
sent by the head office as the replication snapshot. Every field, unit and rule is
documented in docs/card-store.md. Parsing is strict: an unknown key, a float where
an integer is due, or a duplicate identifier is a :class:`CardStoreFormatError`
that names the exact place (``cards[3].limits[0].value``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from core import bounds as B
from core import identifiers
from core.cards import CARD_KINDS, CARD_STATUSES
from core.errors import CardStoreFormatError
from core.formats.refs import check_card_products

FORMAT = "forecourt-card-store"
PERIODS = ("fill", "day", "week", "month", "year")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    unit_price: int


@dataclass(frozen=True)
class LimitSpec:
    period: str
    unit: str
    value: int
    products: list[str] | None


@dataclass(frozen=True)
class WalletSpec:
    wallet_id: str
    unit: str
    balance: int
    products: list[str] | None
    expires: str | None


@dataclass(frozen=True)
class UsageSpec:
    period: str
    period_start: str
    product: str
    volume_ml: int
    amount: int
    visits: int


@dataclass(frozen=True)
class PointsLot:
    """Points of a card that expire at the end of ``expires`` (a local date)."""

    expires: str
    points: int


@dataclass(frozen=True)
class PointsEarned:
    """Points a card earned network-wide in the ``period`` starting ``period_start``."""

    period: str
    period_start: str
    points: int


@dataclass(frozen=True)
class CardSpec:
    card_id: str
    kind: str
    status: str
    pan: str | None
    rfid_uid: str | None
    token_id: str | None
    expires: str | None
    customer_id: str | None
    vehicle_id: str | None
    products: list[str] | None
    limits: list[LimitSpec]
    wallets: list[WalletSpec]
    usage: list[UsageSpec]
    #: Restrictions kept as one JSON document: visits, time_windows, stations,
    #: station_groups, vehicle_binding, odometer_required, pin; ``replaces``, the
    #: cards this one took over from (their sales count towards its limits); and
    #: ``loyalty``, the card's facts for the pricing rules (category, groups, birthday).
    rules: dict[str, Any]
    #: Unexpired loyalty points at the office as of the station's mark, by expiry date.
    points: list[PointsLot] = field(default_factory=list)
    #: Points the card earned network-wide in a day, week or month (for the caps).
    points_earned: list[PointsEarned] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    version: int
    generated_at: datetime | None
    expires_at: datetime | None
    station_seqs: dict[str, int]
    products: list[Product]
    customer_groups: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    vehicles: list[dict[str, Any]]
    cards: list[CardSpec]
    stop_list: list[str]
    extra: dict[str, Any] = field(default_factory=dict)
    #: The pricing document (core.formats.pricing, docs/pricing.md) as sent, already
    #: validated; None when the snapshot has none.
    pricing: dict[str, Any] | None = None
    #: Serials of the vouchers redeemed anywhere in the network (sorted, no repeats).
    vouchers_used: list[str] = field(default_factory=list)


class _Obj:
    """A JSON object being read, remembering where it is for error messages."""

    def __init__(self, raw: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(raw, dict):
            raise CardStoreFormatError(f"{where or 'the document'} must be a JSON object")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise CardStoreFormatError(
                f"{self._at(where, B.safe_key(unknown[0]))} is not a known field")
        self.raw = raw
        self.where = where

    @staticmethod
    def _at(where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def at(self, key: str) -> str:
        return self._at(self.where, key)

    def get_str(self, key: str, *, required: bool = True, pattern: str | None = None,
                printable: bool = False) -> str | None:
        """Text ``key``; ``printable``: an identifier a sale's journal line carries
        (core.bounds.printable_problem), else any one line of text."""
        value = self.raw.get(key)
        if value is None:
            if required:
                raise CardStoreFormatError(f"{self.at(key)} is missing")
            return None
        if not isinstance(value, str) or not value:
            raise CardStoreFormatError(f"{self.at(key)} must be a non-empty string")
        _check_text(value, self.at(key), printable=printable)
        if pattern and not re.fullmatch(pattern, value):
            raise CardStoreFormatError(f"{self.at(key)} has an invalid value {value!r}")
        return value

    def req_str(self, key: str, *, pattern: str | None = None, printable: bool = False
                ) -> str:
        value = self.get_str(key, pattern=pattern, printable=printable)
        assert value is not None
        return value

    def get_int(self, key: str, *, minimum: int = 0, maximum: int = B.MAX_SAFE_INT,
                default: int | None = None, what: str = "") -> int:
        """An integer in ``minimum..maximum`` (docs/card-store.md, "Ranges")."""
        value = self.raw.get(key, default)
        if value is None:
            raise CardStoreFormatError(f"{self.at(key)} is missing")
        problem = B.int_problem(value, minimum, maximum, what)
        if problem:
            raise CardStoreFormatError(f"{self.at(key)} {problem}")
        assert isinstance(value, int)
        return value

    def get_bool(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            raise CardStoreFormatError(f"{self.at(key)} must be true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value not in choices:
            raise CardStoreFormatError(
                f"{self.at(key)} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def get_date(self, key: str) -> str | None:
        value = self.get_str(key, required=False)
        if value is None:
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise CardStoreFormatError(
                f"{self.at(key)} must be a date YYYY-MM-DD, got {value!r}") from None

    def get_timestamp(self, key: str) -> datetime | None:
        value = self.get_str(key, required=False)
        if value is None:
            return None
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise CardStoreFormatError(
                f"{self.at(key)} must be an ISO 8601 time, got {value!r}") from None
        if ts.tzinfo is None:
            raise CardStoreFormatError(f"{self.at(key)} must include a UTC offset, e.g. Z")
        return ts.astimezone(UTC)

    def get_list(self, key: str, *, required: bool = False) -> list[Any]:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise CardStoreFormatError(f"{self.at(key)} is missing")
            return []
        if not isinstance(value, list):
            raise CardStoreFormatError(f"{self.at(key)} must be a JSON array")
        return value

    def str_list(self, key: str) -> list[str] | None:
        """A list of non-empty strings, or ``None`` when the key is absent (= all)."""
        if self.raw.get(key) is None:
            return None
        items = self.get_list(key)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise CardStoreFormatError(f"{self.at(key)}[{i}] must be a non-empty string")
            _check_text(item, f"{self.at(key)}[{i}]")
        return list(items)


#: The strict JSON-object reader, for the other card-store sections (core.formats.pricing).
JsonObject = _Obj


def parse_hhmm(obj: _Obj, key: str) -> int:
    """A local time ``HH:MM`` (``24:00`` allowed) as minutes after midnight."""
    text = obj.req_str(key, pattern=_HHMM.pattern)
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _check_text(value: str, where: str, *, printable: bool = False) -> None:
    """Refuse text that SQLite cannot store or a terminal would act on (issue 10 #10);
    ``printable``: also what the head office refuses in a journal line."""
    problem = B.printable_problem(value) if printable else B.text_problem(value)
    if problem:
        raise CardStoreFormatError(f"{where} {problem}")


def load_snapshot_file(path: Path) -> Snapshot:
    """Read and validate a snapshot file."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise CardStoreFormatError(f"card-store file {path} does not exist") from None
    except OSError as exc:
        raise CardStoreFormatError(f"cannot read card-store file {path}: {exc.strerror}"
                                   ) from None
    return parse_snapshot(text)


def parse_snapshot(data: bytes | str) -> Snapshot:
    """Parse and validate a snapshot document."""
    try:
        raw = json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit number
        raise CardStoreFormatError(f"the card store is not valid JSON: {exc}") from None
    except RecursionError:
        raise CardStoreFormatError("the card store is not usable JSON: it is nested too deeply"
                                   ) from None
    top = _Obj(raw, "", {"format", "version", "generated_at", "expires_at", "station_seqs",
                         "products", "customer_groups", "customers", "vehicles", "cards",
                         "stop_list", "comment", "pricing", "vouchers_used"})
    if raw.get("format") != FORMAT:
        raise CardStoreFormatError(f"format must be {FORMAT!r}, got {raw.get('format')!r}")
    station_seqs_raw = raw.get("station_seqs", {})
    if not isinstance(station_seqs_raw, dict):
        raise CardStoreFormatError("station_seqs must be a JSON object")
    seqs_obj = _Obj(station_seqs_raw, "station_seqs", set(station_seqs_raw))
    for key in station_seqs_raw:
        _check_text(key, f"station_seqs key {B.safe_key(key)}")
    station_seqs = {k: seqs_obj.get_int(k, maximum=B.MAX_SEQ, what="a sequence number")
                    for k in station_seqs_raw}

    products = []
    seen: set[str] = set()
    for i, item in enumerate(top.get_list("products", required=True)):
        obj = _Obj(item, f"products[{i}]", {"code", "name", "unit_price"})
        code = obj.req_str("code", pattern=r"[A-Za-z0-9_.-]{1,32}")
        if code in seen:
            raise CardStoreFormatError(f"products[{i}].code {code!r} appears twice")
        seen.add(code)
        products.append(Product(code, obj.get_str("name", required=False) or code,
                                obj.get_int("unit_price", maximum=B.MAX_UNIT_PRICE,
                                            what="minor units per litre")))
    groups = [_simple(item, f"customer_groups[{i}]", "group_id", {"name"})
              for i, item in enumerate(top.get_list("customer_groups"))]
    customers = [_simple(item, f"customers[{i}]", "customer_id", {"name", "group_id"})
                 for i, item in enumerate(top.get_list("customers"))]
    vehicles = [_simple(item, f"vehicles[{i}]", "vehicle_id", {"plate", "customer_id"})
                for i, item in enumerate(top.get_list("vehicles"))]
    cards = [_card(item, f"cards[{i}]") for i, item in enumerate(top.get_list("cards"))]
    _unique(cards)
    for i, card in enumerate(cards):
        check_card_products(card, seen, f"cards[{i}]")
    stop_list = []
    for i, item in enumerate(top.get_list("stop_list")):
        if not isinstance(item, str) or not item:
            raise CardStoreFormatError(f"stop_list[{i}] must be a non-empty string")
        _check_text(item, f"stop_list[{i}]")
        stop_list.append(identifiers.canonical(item))
    pricing = raw.get("pricing")
    if pricing is not None:
        from core.formats.pricing import parse_pricing  # it reads with this module's tools

        parse_pricing(pricing, "pricing")  # a bad document refuses the whole card store
    from core.formats.vouchers import MAX_USED_IN_SNAPSHOT, parse_serials

    used = raw.get("vouchers_used")
    return Snapshot(
        pricing=pricing,
        vouchers_used=[] if used is None else parse_serials(used, "vouchers_used",
                                                            MAX_USED_IN_SNAPSHOT),
        version=top.get_int("version", maximum=B.MAX_VERSION, what="the card-store version"),
        generated_at=top.get_timestamp("generated_at"),
        expires_at=top.get_timestamp("expires_at"),
        station_seqs=station_seqs,
        products=products, customer_groups=groups, customers=customers, vehicles=vehicles,
        cards=cards, stop_list=sorted(set(stop_list)),
    )


def _simple(item: Any, where: str, key: str, fields: set[str]) -> dict[str, Any]:
    obj = _Obj(item, where, {key, *fields})
    out: dict[str, Any] = {key: obj.req_str(key)}
    for name in sorted(fields):
        out[name] = obj.get_str(name, required=False)
    return out


def parse_card(item: Any, where: str = "card") -> CardSpec:
    """One card object of the snapshot format (also the unit of a card-store delta)."""
    return _card(item, where)


def parse_product(item: Any, where: str = "product") -> Product:
    obj = _Obj(item, where, {"code", "name", "unit_price"})
    code = obj.req_str("code", pattern=r"[A-Za-z0-9_.-]{1,32}")
    return Product(code, obj.get_str("name", required=False) or code,
                   obj.get_int("unit_price", maximum=B.MAX_UNIT_PRICE,
                               what="minor units per litre"))


def _card(item: Any, where: str) -> CardSpec:
    obj = _Obj(item, where, {
        "card_id", "kind", "status", "pan", "rfid_uid", "token_id", "expires", "customer_id",
        "vehicle_id", "products", "limits", "wallets", "usage", "visits", "time_windows",
        "stations", "station_groups", "vehicle_binding", "odometer_required", "pin",
        "replaces", "loyalty", "points", "points_earned"})
    limits = []
    for j, raw in enumerate(obj.get_list("limits")):
        lim = _Obj(raw, f"{where}.limits[{j}]", {"period", "unit", "value", "products"})
        period, unit = lim.choice("period", PERIODS), lim.choice("unit", ("volume", "money"))
        limits.append(LimitSpec(period, unit, lim.get_int("value", **_quantity(unit)),
                                lim.str_list("products")))
    wallets = []
    for j, raw in enumerate(obj.get_list("wallets")):
        w = _Obj(raw, f"{where}.wallets[{j}]", {"wallet_id", "unit", "balance", "products",
                                                  "expires"})
        unit = w.choice("unit", ("money", "volume"))
        quantity = _quantity(unit)
        wallets.append(WalletSpec(w.req_str("wallet_id"), unit,
                                  w.get_int("balance", **quantity,
                                            minimum=-quantity["maximum"]),
                                  w.str_list("products"), w.get_date("expires")))
    usage: list[UsageSpec] = []
    for j, raw in enumerate(obj.get_list("usage")):
        u = _Obj(raw, f"{where}.usage[{j}]", {"period", "period_start", "product", "volume_ml",
                                                "amount", "visits"})
        start = u.get_date("period_start")
        if start is None:
            raise CardStoreFormatError(f"{u.at('period_start')} is missing")
        usage.append(UsageSpec(
            u.choice("period", PERIODS[1:]), start, u.req_str("product"),
            u.get_int("volume_ml", **_quantity("volume")),
            u.get_int("amount", **_quantity("money")),
            u.get_int("visits", default=0, maximum=B.MAX_COUNT)))
    rules: dict[str, Any] = {}
    visits = []
    for j, raw in enumerate(obj.get_list("visits")):
        v = _Obj(raw, f"{where}.visits[{j}]", {"period", "count"})
        visits.append({"period": v.choice("period", PERIODS[1:]),
                       "count": v.get_int("count", maximum=B.MAX_COUNT)})
    if visits:
        rules["visits"] = visits
    windows = []
    for j, raw in enumerate(obj.get_list("time_windows")):
        w = _Obj(raw, f"{where}.time_windows[{j}]", {"days", "from", "to"})
        days = w.str_list("days") or list(DAYS)
        for day in days:
            if day not in DAYS:
                raise CardStoreFormatError(
                    f"{w.at('days')} has {day!r}; use {', '.join(DAYS)}")
        start = w.req_str("from", pattern=_HHMM.pattern)
        end = w.req_str("to", pattern=_HHMM.pattern)
        windows.append({"days": days, "from": start, "to": end})
    if windows:
        rules["time_windows"] = windows
    for key in ("stations", "station_groups"):
        values = obj.str_list(key)
        if values is not None:
            rules[key] = values
    replaces = obj.str_list("replaces")
    if replaces:
        for j, replaced in enumerate(replaces):
            _check_text(replaced, f"{obj.at('replaces')}[{j}]", printable=True)
        rules["replaces"] = replaces  # reissue: their sales count towards this card
    for key in ("vehicle_binding", "odometer_required"):
        if obj.get_bool(key):
            rules[key] = True
    if obj.raw.get("pin") is not None:
        rules["pin"] = _pin(obj.raw["pin"], f"{where}.pin")
    if obj.raw.get("loyalty") is not None:
        rules["loyalty"] = _loyalty(obj.raw["loyalty"], f"{where}.loyalty")
    card = CardSpec(
        card_id=obj.req_str("card_id", printable=True), kind=obj.choice("kind", CARD_KINDS),
        status=obj.choice("status", CARD_STATUSES, default="active"),
        pan=_pan(obj), rfid_uid=_uid(obj), token_id=obj.get_str("token_id", required=False),
        expires=obj.get_date("expires"), customer_id=obj.get_str("customer_id", required=False),
        vehicle_id=obj.get_str("vehicle_id", required=False, printable=True),
        products=obj.str_list("products"),
        limits=limits, wallets=wallets, usage=usage, rules=rules,
        points=parse_points(obj.raw.get("points"), f"{where}.points"),
        points_earned=parse_points_earned(obj.raw.get("points_earned"),
                                          f"{where}.points_earned"))
    if rules.get("vehicle_binding") and not card.vehicle_id:
        raise CardStoreFormatError(f"{where}.vehicle_binding needs {where}.vehicle_id")
    return card


#: A birthday as the card store and a journal line carry it: month and day, never the year.
BIRTHDAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
#: The calendar periods of points earned (and of the caps on them).
POINTS_PERIODS = ("day", "week", "month")


def month_day(text: str) -> tuple[int, int]:
    """A :data:`BIRTHDAY` text as (month, day)."""
    return int(text[:2]), int(text[3:])


def _loyalty(raw: Any, where: str) -> dict[str, Any]:
    """A card's loyalty facts: ``category``, customer ``groups``, ``birthday`` (MM-DD)."""
    obj = _Obj(raw, where, {"category", "groups", "birthday"})
    out: dict[str, Any] = {}
    category = obj.get_str("category", required=False)
    if category is not None:
        out["category"] = category
    groups = obj.str_list("groups")
    if groups is not None:
        out["groups"] = sorted(set(groups))
    birthday = obj.get_str("birthday", required=False, pattern=BIRTHDAY)
    if birthday is not None:
        out["birthday"] = birthday
    return out


def parse_points(raw: Any, where: str) -> list[PointsLot]:
    """Point lots ``[{expires, points}]`` (None: none); one lot per expiry date."""
    lots: list[PointsLot] = []
    if raw is None:
        return lots
    if not isinstance(raw, list):
        raise CardStoreFormatError(f"{where} must be a JSON array")
    seen: set[str] = set()
    for j, item in enumerate(raw):
        lot = _Obj(item, f"{where}[{j}]", {"expires", "points"})
        expires = lot.get_date("expires")
        if expires is None:
            raise CardStoreFormatError(f"{lot.at('expires')} is missing")
        if expires in seen:
            raise CardStoreFormatError(f"{lot.at('expires')} {expires} appears twice")
        seen.add(expires)
        lots.append(PointsLot(expires, lot.get_int("points", maximum=B.MAX_SAFE_INT,
                                                   what="points")))
    return lots


def parse_points_earned(raw: Any, where: str) -> list[PointsEarned]:
    """Points earned ``[{period, period_start, points}]`` (None: none)."""
    out: list[PointsEarned] = []
    if raw is None:
        return out
    if not isinstance(raw, list):
        raise CardStoreFormatError(f"{where} must be a JSON array")
    seen: set[tuple[str, str]] = set()
    for j, item in enumerate(raw):
        e = _Obj(item, f"{where}[{j}]", {"period", "period_start", "points"})
        period = e.choice("period", POINTS_PERIODS)
        start = e.get_date("period_start")
        if start is None:
            raise CardStoreFormatError(f"{e.at('period_start')} is missing")
        if (period, start) in seen:
            raise CardStoreFormatError(f"{where}[{j}]: {period} {start} appears twice")
        seen.add((period, start))
        out.append(PointsEarned(period, start, e.get_int("points", maximum=B.MAX_SAFE_INT,
                                                         what="points")))
    return out


def _pan(obj: _Obj) -> str | None:
    """The card's PAN in its one form, digits only (core.identifiers)."""
    return _identifier(obj, "pan", identifiers.pan,
                       "8-19 digits (groups may be separated by spaces or dashes)")


def _identifier(obj: _Obj, key: str, form: Callable[[str], str | None], shape: str
                ) -> str | None:
    """Identifier ``key`` of a card in its one form (``form``), or a refusal naming it."""
    text = obj.get_str(key, required=False)
    if text is None:
        return None
    value = form(text)
    if value is None:
        raise CardStoreFormatError(f"{obj.at(key)} must be {shape}, got {text!r}")
    return value


def _quantity(unit: str) -> dict[str, Any]:
    """``get_int`` bounds of an amount of ``unit`` (``volume``: ml, ``money``: minor units)."""
    if unit == "volume":
        return {"maximum": B.MAX_VOLUME_ML, "what": "ml"}
    return {"maximum": B.MAX_AMOUNT, "what": "minor units"}


def parse_pin(raw: Any, where: str) -> dict[str, Any]:
    """A PIN rule checked as on import (also for one stored before the bounds existed)."""
    return _pin(raw, where)


def _pin(raw: Any, where: str) -> dict[str, Any]:
    """A card's PIN hash, its PBKDF2 parameters within the documented range (issue 10 #4).

    Bounded so one PIN check cannot hold the single writer for long (iterations) and
    cannot fail at authorization time (salt of whole bytes, a SHA-256-sized hash).
    """
    pin = _Obj(raw, where, {"salt", "hash", "iterations", "algorithm", "reset"})
    pin.choice("algorithm", B.PIN_ALGORITHMS, default=B.PIN_ALGORITHMS[0])
    low, high = B.PIN_SALT_BYTES
    salt = pin.req_str("salt")
    if not re.fullmatch(rf"(?:[0-9a-f]{{2}}){{{low},{high}}}", salt):
        raise CardStoreFormatError(
            f"{pin.at('salt')} must be {low} to {high} bytes as lower-case hex digits "
            f"({2 * low} to {2 * high}, an even number), got {len(salt)} characters")
    digest = pin.req_str("hash")
    if not re.fullmatch(rf"[0-9a-f]{{{2 * B.PIN_HASH_BYTES}}}", digest):
        raise CardStoreFormatError(
            f"{pin.at('hash')} must be {2 * B.PIN_HASH_BYTES} lower-case hex digits "
            f"(a {B.PIN_HASH_BYTES}-byte PBKDF2-HMAC-SHA256 hash)")
    iterations = pin.get_int("iterations", minimum=B.PIN_MIN_ITERATIONS,
                             maximum=B.PIN_MAX_ITERATIONS, default=100_000,
                             what="PBKDF2 rounds")
    rule: dict[str, Any] = {"salt": salt, "hash": digest, "iterations": iterations}
    # The head office's PIN reset generation: wrong PINs counted under a lower one (or
    # under another PIN hash) no longer count (docs/card-store.md, issue 10 #5).
    reset = pin.get_int("reset", default=0, maximum=B.MAX_VERSION,
                        what="a PIN reset generation")
    if reset:
        rule["reset"] = reset
    return rule


def _uid(obj: _Obj) -> str | None:
    """The card's RFID UID in its one form, upper-case hex (core.identifiers)."""
    return _identifier(obj, "rfid_uid", identifiers.uid,
                       "8-20 hex digits (byte pairs may be separated by ':', '-' or spaces)")


def _unique(cards: list[CardSpec]) -> None:
    seen: dict[tuple[str, str], int] = {}
    wallets: dict[str, int] = {}
    for i, card in enumerate(cards):
        for key in ("card_id", "pan", "rfid_uid", "token_id"):
            value = getattr(card, key)
            if value is None:
                continue
            if (key, value) in seen:
                raise CardStoreFormatError(
                    f"cards[{i}].{key} {value!r} is already used by cards[{seen[key, value]}]")
            seen[key, value] = i
        for w in card.wallets:
            if w.wallet_id in wallets:
                raise CardStoreFormatError(
                    f"cards[{i}] wallet {w.wallet_id!r} is already used by "
                    f"cards[{wallets[w.wallet_id]}]")
            wallets[w.wallet_id] = i
