"""The authorization engine: pure functions over plain data, no I/O.

Given what the station knows about a card (:class:`CardView`), what is asked
(:class:`Request`) and the circumstances (:class:`Context`), :func:`authorize`
returns a :class:`Decision`: approved or refused with a reason code, the products
the card may take now and the largest preset after every rule.

Every rule is expressed as a cap on the volume of each product; money caps are
converted with :func:`core.money.max_volume_for` (exact, so the amount of the
preset never exceeds the money left). The preset is the smallest cap across the
allowed products, so it is safe whichever nozzle is lifted. Rules, in the order
they are checked, are listed in docs/authorization.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from core.cards import CARD_KINDS
from core.money import amount_for, max_volume_for
from core.periods import period_start_date, period_start_utc
from core.reasons import Reason

STATUS_REASONS = {
    "blocked": Reason.CARD_BLOCKED,
    "lost": Reason.CARD_LOST,
    "stolen": Reason.CARD_STOLEN,
    "withdrawn": Reason.CARD_WITHDRAWN,
    "replaced": Reason.CARD_REPLACED,
    "expired": Reason.CARD_EXPIRED,
}
UNLIMITED = 10**12


@dataclass(frozen=True)
class Limit:
    """A volume or money limit per fill or per calendar period."""

    period: str  # fill, day, week, month, year
    unit: str  # volume (ml) or money (minor units)
    value: int
    products: frozenset[str] | None = None  # None = all products


@dataclass(frozen=True)
class VisitLimit:
    """At most ``count`` fills per calendar period."""

    period: str
    count: int


@dataclass(frozen=True)
class TimeWindow:
    """Days of the week (0 = Monday) and local minutes ``[start, end)``; end <= start wraps."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end)


@dataclass(frozen=True)
class Wallet:
    """A prepaid balance; ``available`` already excludes debits and open holds."""

    wallet_id: str
    unit: str  # money or volume
    available: int
    products: frozenset[str] | None = None
    expires: date | None = None


@dataclass(frozen=True)
class UsedSale:
    """A sale of this card that the office usage figures do not include yet."""

    product: str
    at: datetime
    volume_ml: int
    amount: int


@dataclass(frozen=True)
class OfficeUsage:
    """Network-wide usage of a card for one period, as counted by the head office."""

    period: str
    period_start: date
    product: str
    volume_ml: int
    amount: int
    visits: int


@dataclass(frozen=True)
class Hold:
    """An open authorization of this card: it may still take up to this much."""

    products: frozenset[str]
    volume_ml: int
    amount: int


@dataclass(frozen=True)
class CardView:
    """Everything the station knows about one card, as plain data."""

    card_id: str
    kind: str
    status: str = "active"
    expires: date | None = None
    products: frozenset[str] | None = None
    limits: tuple[Limit, ...] = ()
    visits: tuple[VisitLimit, ...] = ()
    time_windows: tuple[TimeWindow, ...] = ()
    stations: frozenset[str] | None = None
    station_groups: frozenset[str] | None = None
    vehicle_id: str | None = None
    vehicle_binding: bool = False
    odometer_required: bool = False
    pin_required: bool = False
    pin_failures: int = 0
    #: The last odometer reading this station recorded for the sale's vehicle (km).
    last_odometer_km: int | None = None
    wallets: tuple[Wallet, ...] = ()
    sales: tuple[UsedSale, ...] = ()
    office_usage: tuple[OfficeUsage, ...] = ()
    holds: tuple[Hold, ...] = ()


@dataclass(frozen=True)
class Request:
    """What is asked for at the pump."""

    pump: int
    product: str | None = None
    volume_ml: int | None = None
    amount: int | None = None
    vehicle_id: str | None = None
    odometer_km: int | None = None
    pin_ok: bool | None = None  # None = no PIN entered
    #: The card was presented by a QR token the station verified (office signature,
    #: expiry, not replayed); the only way a digital card is authorized.
    token: bool = False


@dataclass(frozen=True)
class Policy:
    """Station-wide bounds (from ``[authorization]`` and ``[offline]``)."""

    max_fill_ml: int = 200_000
    min_preset_ml: int = 1_000
    pin_max_tries: int = 3
    max_data_age_s: int = 86_400
    stale_policy: str = "restrict"
    stale_fill_cap_ml: int = 40_000
    stale_card_kinds: frozenset[str] = frozenset(CARD_KINDS)
    odometer_max_step_km: int = 2_000
    odometer_policy: str = "flag"  # flag: approve and mark the sale; refuse: deny


@dataclass(frozen=True)
class Context:
    """The circumstances of the request."""

    now: datetime
    station_id: str
    prices: dict[str, int]
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    week_start: int = 0
    station_groups: frozenset[str] = frozenset()
    data_age_s: int | None = 0
    #: The card data's ``expires_at`` has passed: stale whatever its age.
    data_expired: bool = False
    stop_listed: bool = False
    #: The pump already holds an open authorization (one per pump at a time).
    pump_busy: bool = False
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class Decision:
    """The answer: approved or refused, why, and what may be filled."""

    approved: bool
    reason: Reason
    products: tuple[str, ...] = ()
    max_volume_ml: int = 0
    #: Largest amount preset: safe for every allowed product (smallest across them).
    max_amount: int = 0
    #: Worst-case amount of the preset (dearest allowed product): held against money limits.
    hold_amount: int = 0
    #: Worst-case debit per wallet id if the preset is filled (the wallet hold).
    wallet_holds: dict[str, int] = field(default_factory=dict)
    #: True when a wrong PIN was entered (the caller counts it).
    pin_failed: bool = False
    #: True when the stale-data policy capped this decision.
    stale: bool = False
    #: True when the odometer reading is unreasonable and the policy only flags it.
    odometer_flag: bool = False

    @classmethod
    def deny(cls, reason: Reason, *, pin_failed: bool = False) -> Decision:
        return cls(approved=False, reason=reason, pin_failed=pin_failed)


def authorize(card: CardView | None, request: Request, ctx: Context) -> Decision:
    """Decide whether ``card`` may take fuel for ``request``, and how much at most."""
    if ctx.stop_listed:
        return Decision.deny(Reason.ON_STOP_LIST)
    if card is None:
        return Decision.deny(Reason.UNKNOWN_CARD)
    busy = _check_pump(ctx)
    if busy is not None:
        return busy
    local = ctx.now.astimezone(ctx.tz)
    early = _check_identity(card, request, ctx, local)
    if early is not None:
        return early
    odometer_flag = odometer_unreasonable(card, request, ctx.policy)
    if odometer_flag and ctx.policy.odometer_policy == "refuse":
        return Decision.deny(Reason.ODOMETER_UNREASONABLE)
    stale = (ctx.data_expired or ctx.data_age_s is None
             or ctx.data_age_s > ctx.policy.max_data_age_s)
    if stale and (ctx.policy.stale_policy == "refuse"
                  or card.kind not in ctx.policy.stale_card_kinds):
        return Decision.deny(Reason.DATA_STALE)

    products = _allowed_products(card, request, ctx)
    if not products:
        return Decision.deny(Reason.PRODUCT_NOT_ALLOWED)
    products = _big_enough_for_request(products, request, ctx)
    if not products:
        return Decision.deny(Reason.PRESET_TOO_SMALL)
    for visit in card.visits:
        if visits_used(card, visit.period, ctx) >= visit.count:
            return Decision.deny(Reason.VISITS_EXHAUSTED)

    caps = dict.fromkeys(products, ctx.policy.max_fill_ml)
    binding: dict[str, Reason] = {}

    def cap(product: str, volume: int, why: Reason) -> None:
        if volume < caps[product]:
            caps[product] = max(volume, 0)
            binding[product] = why

    if stale:
        for p in products:
            cap(p, ctx.policy.stale_fill_cap_ml, Reason.DATA_STALE)
    for p in products:
        cap(p, _requested_volume(request, ctx.prices[p]), Reason.APPROVED)
    for limit in card.limits:
        remaining = limit.value - limit_used(card, limit, ctx)
        for p in products:
            if limit.products is None or p in limit.products:
                volume = remaining if limit.unit == "volume" else max_volume_for(
                    remaining, ctx.prices[p])
                cap(p, volume, Reason.LIMIT_EXHAUSTED)
    today = local.date()
    if card.wallets:
        for p in products:
            cap(p, _wallet_volume(card.wallets, p, ctx.prices[p], today), Reason.WALLET_EMPTY)

    floor = max(ctx.policy.min_preset_ml, 1)
    usable = [p for p in products if caps[p] >= floor]
    if not usable:
        reasons = {binding.get(p, Reason.LIMIT_EXHAUSTED) for p in products}
        for why in (Reason.DATA_STALE, Reason.WALLET_EMPTY):
            if reasons == {why}:
                return Decision.deny(why)
        return Decision.deny(Reason.LIMIT_EXHAUSTED)
    max_volume = min(caps[p] for p in usable)
    amounts = [amount_for(max_volume, ctx.prices[p]) for p in usable]
    holds: dict[str, int] = {}
    for p in usable:
        for wallet_id, value in plan_wallet_debits(card.wallets, p, max_volume, ctx.prices[p],
                                                   today).items():
            holds[wallet_id] = max(holds.get(wallet_id, 0), value)
    return Decision(approved=True, reason=Reason.APPROVED, products=tuple(usable),
                    max_volume_ml=max_volume, max_amount=min(amounts),
                    hold_amount=max(amounts), wallet_holds=holds,
                    stale=stale, odometer_flag=odometer_flag)


def _check_pump(ctx: Context) -> Decision | None:
    """A pump holds at most one open authorization: a second waits for the first to close.

    Two open sales on one pump cannot be told apart when the pump reports its filling,
    and each would hold the card's limits for a fill that can happen only once.
    """
    return Decision.deny(Reason.PUMP_BUSY) if ctx.pump_busy else None


def _check_token(card: CardView, request: Request) -> Decision | None:
    """A digital card has no physical medium: only its signed QR token proves it is there.

    Its card id and token id are printed on statements and receipts, so typing either
    must never be enough.
    """
    if card.kind == "digital" and not request.token:
        return Decision.deny(Reason.TOKEN_REQUIRED)
    return None


def _check_identity(card: CardView, request: Request, ctx: Context,
                    local: datetime) -> Decision | None:
    """Status, expiry, token, station, time, vehicle, PIN and odometer rules, in order."""
    if card.status in STATUS_REASONS:
        return Decision.deny(STATUS_REASONS[card.status])
    if card.expires is not None and local.date() > card.expires:
        return Decision.deny(Reason.CARD_EXPIRED)
    medium = _check_token(card, request)
    if medium is not None:
        return medium
    if not station_allowed(card, ctx.station_id, ctx.station_groups):
        return Decision.deny(Reason.STATION_NOT_ALLOWED)
    if not in_time_window(card, local):
        return Decision.deny(Reason.OUTSIDE_TIME_WINDOW)
    if card.vehicle_binding:
        if request.vehicle_id is None:
            return Decision.deny(Reason.VEHICLE_REQUIRED)
        if request.vehicle_id != card.vehicle_id:
            return Decision.deny(Reason.VEHICLE_MISMATCH)
    if card.pin_required:
        if card.pin_failures >= ctx.policy.pin_max_tries:
            return Decision.deny(Reason.PIN_LOCKED)
        if request.pin_ok is None:
            return Decision.deny(Reason.PIN_REQUIRED)
        if not request.pin_ok:
            locked = card.pin_failures + 1 >= ctx.policy.pin_max_tries
            return Decision.deny(Reason.PIN_LOCKED if locked else Reason.PIN_WRONG,
                                 pin_failed=True)
    if card.odometer_required and request.odometer_km is None:
        return Decision.deny(Reason.ODOMETER_REQUIRED)
    return None


def station_allowed(card: CardView, station_id: str, groups: frozenset[str]) -> bool:
    """No station list, or this station by its id or by one of its groups."""
    if card.stations is None and card.station_groups is None:
        return True
    by_id = card.stations is not None and station_id in card.stations
    return by_id or (card.station_groups is not None and bool(card.station_groups & groups))


def in_time_window(card: CardView, local: datetime) -> bool:
    """No time windows, or ``local`` (station time) inside one of them."""
    return not card.time_windows or any(w.contains(local) for w in card.time_windows)


def odometer_unreasonable(card: CardView, request: Request, policy: Policy) -> bool:
    """A reading below the vehicle's last one, or more than the largest step above it.

    Fleet systems call this the odometer reasonability check: a typo or an invented
    reading shows as a jump backwards or a leap ahead. Without a reading, or without an
    earlier reading of the vehicle, there is nothing to judge.
    """
    if request.odometer_km is None or card.last_odometer_km is None:
        return False
    step = request.odometer_km - card.last_odometer_km
    return not 0 <= step <= policy.odometer_max_step_km


def _allowed_products(card: CardView, request: Request, ctx: Context) -> list[str]:
    """Products priced at this station, allowed by the card, narrowed to the request."""
    products = set(ctx.prices)
    if card.products is not None:
        products &= card.products
    if request.product is not None:
        products &= {request.product}
    return sorted(products)


def _requested_volume(request: Request, price: int) -> int:
    """The largest volume of a product at ``price`` the request asks for (UNLIMITED: any)."""
    volume = UNLIMITED
    if request.volume_ml is not None:
        volume = min(volume, request.volume_ml)
    if request.amount is not None:
        volume = min(volume, max_volume_for(request.amount, price))
    return volume


def _big_enough_for_request(products: list[str], request: Request, ctx: Context) -> list[str]:
    """The products for which the requested volume or amount reaches the minimum preset.

    One rule for every preset: nothing below ``min_preset_ml`` is authorized. A request
    below it is the request's problem (``preset_too_small``), judged before the card's
    limits, so the customer is not told their limits are used up when they are not.
    """
    floor = max(ctx.policy.min_preset_ml, 1)
    return [p for p in products if _requested_volume(request, ctx.prices[p]) >= floor]


def _in_scope(product: str, scope: frozenset[str] | None) -> bool:
    return scope is None or product in scope


def _office_current(card: CardView, period: str, ctx: Context) -> Iterable[OfficeUsage]:
    today = ctx.now.astimezone(ctx.tz).date()
    start = period_start_date(period, today, ctx.week_start)
    return (u for u in card.office_usage if u.period == period and u.period_start == start)


def _period_sales(card: CardView, period: str, ctx: Context) -> Iterable[UsedSale]:
    since = period_start_utc(period, ctx.now, ctx.tz, ctx.week_start)
    return (s for s in card.sales if s.at.astimezone(UTC) >= since)


def visits_used(card: CardView, period: str, ctx: Context) -> int:
    if period == "fill":
        return len(card.holds)
    return (sum(1 for _ in _period_sales(card, period, ctx))
            + sum(u.visits for u in _office_current(card, period, ctx))
            + len(card.holds))


def limit_used(card: CardView, limit: Limit, ctx: Context) -> int:
    """What the card already used (sales and open holds) against ``limit``."""
    field_ = "volume_ml" if limit.unit == "volume" else "amount"
    used = 0
    for hold in card.holds:
        if limit.products is None or hold.products & limit.products:
            used += getattr(hold, field_)
    if limit.period == "fill":
        return 0
    for sale in _period_sales(card, limit.period, ctx):
        if _in_scope(sale.product, limit.products):
            used += getattr(sale, field_)
    for usage in _office_current(card, limit.period, ctx):
        if _in_scope(usage.product, limit.products):
            used += getattr(usage, field_)
    return used


def usable_wallets(wallets: Iterable[Wallet], product: str, today: date) -> list[Wallet]:
    """Wallets that can pay for ``product`` today: litre wallets first, then by expiry."""
    ok = [w for w in wallets if w.available > 0 and _in_scope(product, w.products)
          and (w.expires is None or w.expires >= today)]
    return sorted(ok, key=lambda w: (w.unit != "volume", w.expires or date.max, w.wallet_id))


def _wallet_volume(wallets: Iterable[Wallet], product: str, price: int, today: date) -> int:
    usable = usable_wallets(wallets, product, today)
    litres = sum(w.available for w in usable if w.unit == "volume")
    money = sum(w.available for w in usable if w.unit == "money")
    return min(litres + max_volume_for(money, price), UNLIMITED)


def plan_wallet_debits(wallets: Sequence[Wallet], product: str, volume_ml: int, price: int,
                       today: date) -> dict[str, int]:
    """How a fill of ``volume_ml`` is paid from the wallets (wallet id -> ml or minor units).

    Litre wallets pay first (earliest expiry first), then money wallets pay the amount
    of the volume left over; an empty result means the card pays on account. If the
    wallets cannot cover it all (a pump overran its preset, or new card data lowered a
    balance mid-fill) they pay what they can; see :func:`wallet_shortfall`.
    """
    return _plan(wallets, product, volume_ml, price, today)[0]


def wallet_shortfall(wallets: Sequence[Wallet], product: str, volume_ml: int, price: int,
                     today: date) -> int:
    """Minor units of ``volume_ml`` that the wallets cannot pay (0 when covered)."""
    return _plan(wallets, product, volume_ml, price, today)[1]


def _plan(wallets: Sequence[Wallet], product: str, volume_ml: int, price: int,
          today: date) -> tuple[dict[str, int], int]:
    if not wallets or volume_ml == 0:
        return {}, 0
    usable = usable_wallets(wallets, product, today)
    debits: dict[str, int] = {}
    left = draw(usable, "volume", volume_ml, debits)
    due = draw(usable, "money", amount_for(left, price), debits)
    return debits, due


def draw(usable: Sequence[Wallet], unit: str, wanted: int, debits: dict[str, int]) -> int:
    """Take ``wanted`` (ml or minor units) from the ``unit`` wallets in ``usable`` order,
    into ``debits``; what they could not pay."""
    left = wanted
    for w in usable:
        if w.unit == unit and left > 0:
            take = min(left, w.available)
            debits[w.wallet_id] = take
            left -= take
    return left
