"""Property tests of the sale lifecycle on a real SQLite file store.

A Hypothesis state machine imports a random card store (a few cards with random
limits, visits and wallets), then runs random sequences of authorize, complete
(1 ml up to the preset), cancel, refused repeats and clock steps (forward only,
sometimes across a local midnight). After every step it checks, straight from the
database, that nothing was exceeded and the journal is intact.

The limit invariant is the worst case: sales completed in the current period plus,
for every open authorization, the most it could still add to that limit (its preset
in ml, or its preset's amount at the dearest of its products that the limit covers).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cloud_sync import tokens
from core.config import WEEKDAYS, Config, StationConfig
from core.errors import SaleError
from core.keys import public_text
from core.money import amount_for
from core.reasons import Reason
from core.rules.authorization import limit_used, visits_used
from edge.cardview import build_card_view, build_context
from edge.lifecycle import Station
from offline_db import journal
from offline_db.cards import find_card
from offline_db.store import StationStore

PRICES = {"AI92": 5090, "AI95": 5299, "DT": 6350}
PRODUCTS = tuple(PRICES)
STATION_ID = "S-001"
UNKNOWN_CARD = "7800000000009999"
OFFICE = Ed25519PrivateKey.generate()  # signs the digital cards' QR tokens
TABLES = ("authorizations", "wallet_holds", "journal", "wallet_debits", "outbox", "pin_tries",
          "audit_log", "sync_state", "cards", "wallets", "card_limits")

#: Local start times next to calendar boundaries (day, week, month, year, DST).
STARTS = (
    datetime(2026, 12, 31, 22, 30),  # Thursday before New Year
    datetime(2026, 11, 30, 23, 0),  # last day of a month
    datetime(2026, 11, 21, 23, 15),  # Saturday night: weeks from Sunday roll over
    datetime(2026, 11, 22, 22, 45),  # Sunday night: weeks from Monday roll over
    datetime(2026, 10, 31, 23, 30),  # New York leaves summer time at 02:00 next night
    datetime(2026, 3, 7, 23, 40),  # New York enters summer time at 02:00 next night
)
ZONES = ("Europe/Moscow", "America/New_York", "UTC")


@dataclass
class Clock:
    """A station clock that tests move forward by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        assert delta > timedelta(0)
        self.now += delta


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def period_start(period: str, now: datetime, tz: ZoneInfo, week_start: int) -> datetime:
    """Reference: the instant the local ``period`` containing ``now`` began."""
    today = now.astimezone(tz).date()
    if period == "day":
        start = today
    elif period == "week":
        start = today - timedelta(days=(today.weekday() - week_start) % 7)
    elif period == "month":
        start = today.replace(day=1)
    else:
        start = today.replace(month=1, day=1)
    return datetime.combine(start, time(0), tzinfo=tz)


# -- card-store generation --------------------------------------------------------------

scope_st = st.one_of(st.none(), st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3,
                                         unique=True))


@st.composite
def limit_st(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(("volume", "money")))
    top = 300_000 if unit == "volume" else 1_800_000
    # Mostly limits that a few fills exhaust; sometimes one that is (almost) used up.
    tiny = draw(st.integers(min_value=0, max_value=7)) == 0
    value = draw(st.integers(min_value=0, max_value=2_000) if tiny
                 else st.integers(min_value=top // 15, max_value=top))
    limit: dict[str, Any] = {
        "period": draw(st.sampled_from(("fill", "day", "week", "month", "year"))),
        "unit": unit, "value": value}
    products = draw(scope_st)
    if products is not None:
        limit["products"] = products
    return limit


@st.composite
def wallet_st(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(("volume", "money")))
    top = 300_000 if unit == "volume" else 1_500_000
    tiny = draw(st.integers(min_value=0, max_value=7)) == 0
    balance = draw(st.integers(min_value=0, max_value=2_000) if tiny
                   else st.integers(min_value=top // 20, max_value=top))
    wallet: dict[str, Any] = {"unit": unit, "balance": balance}
    products = draw(scope_st)
    if products is not None:
        wallet["products"] = products
    expires = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2)))
    if expires is not None:
        wallet["expires_in_days"] = expires  # resolved against the start date
    return wallet


@st.composite
def card_st(draw: st.DrawFn) -> dict[str, Any]:
    card: dict[str, Any] = {"kind": draw(st.sampled_from(("rfid", "magstripe", "smart",
                                                           "digital")))}
    products = draw(scope_st)
    if products is not None:
        card["products"] = products
    card["limits"] = draw(st.lists(limit_st(), max_size=3))
    card["wallets"] = draw(st.lists(wallet_st(), max_size=2))
    visits = draw(st.one_of(st.none(), st.none(), st.none(),
                            st.tuples(st.sampled_from(("day", "week")),
                                      st.integers(min_value=1, max_value=6))))
    if visits is not None:
        card["visits"] = [{"period": visits[0], "count": visits[1]}]
    return card


def card_store(cards: list[dict[str, Any]], start: date) -> dict[str, Any]:
    out = []
    for i, spec in enumerate(cards):
        card = dict(spec, card_id=f"78000000000000{i:02d}", status="active")
        wallets = []
        for j, w in enumerate(spec["wallets"]):
            wallet = {k: v for k, v in w.items() if k != "expires_in_days"}
            wallet["wallet_id"] = f"W-{i}-{j}"
            if "expires_in_days" in w:
                wallet["expires"] = (start + timedelta(days=w["expires_in_days"])).isoformat()
            wallets.append(wallet)
        card["wallets"] = wallets
        out.append(card)
    return {"format": "forecourt-card-store", "version": 1,
            "products": [{"code": c, "name": c, "unit_price": p} for c, p in PRICES.items()],
            "cards": out, "stop_list": []}


def open_station(folder: Path, snapshot: dict[str, Any], clock: Clock, zone: str = "UTC",
                 week_start: int = 0) -> Station:
    """A new station store in ``folder`` with ``snapshot`` imported (close its store)."""
    store, _ = StationStore.create(folder / "data")
    config = Config(station=StationConfig(id=STATION_ID, data_dir=folder / "data",
                                          timezone=zone, week_start=WEEKDAYS[week_start],
                                          office_public_key=public_text(OFFICE)))
    station = Station(store, config, clock=clock)
    path = folder / "cards.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    summary = station.import_cards(path, actor="test")
    assert summary["cards"] == len(snapshot["cards"])
    return station


# -- the state machine ------------------------------------------------------------------

class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir: Path | None = None
        self.store: StationStore | None = None
        self.station: Station
        self.clock: Clock
        self.tz: ZoneInfo
        self.week_start = 0
        self.snapshot: dict[str, Any] = {}
        self.cards: list[dict[str, Any]] = []
        self.open: dict[str, dict[str, Any]] = {}
        self.closed: list[str] = []  # completed or cancelled sale ids
        self.denied: list[str] = []  # decision ids of refusals
        self.completed = 0

    # -- setup ---------------------------------------------------------------------------
    @initialize(cards=st.lists(card_st(), min_size=1, max_size=3),
                start=st.sampled_from(STARTS), zone=st.sampled_from(ZONES),
                week_start=st.integers(min_value=0, max_value=6),
                earlier=st.integers(min_value=0, max_value=180))
    def setup(self, cards: list[dict[str, Any]], start: datetime, zone: str, week_start: int,
              earlier: int) -> None:
        self.tz = ZoneInfo(zone)
        self.week_start = week_start
        local_start = (start - timedelta(minutes=earlier)).replace(tzinfo=self.tz)
        self.clock = Clock(local_start.astimezone(UTC))
        self.dir = Path(tempfile.mkdtemp(prefix="forecourt-prop-"))
        snapshot = card_store(cards, local_start.date())
        self.snapshot = snapshot
        self.cards = snapshot["cards"]
        self.station = open_station(self.dir, snapshot, self.clock, zone, week_start)
        self.store = self.station.store

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def conn(self) -> sqlite3.Connection:
        assert self.store is not None
        return self.store.conn

    def _local_date(self, ts: datetime) -> date:
        return ts.astimezone(self.tz).date()

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        return {t: [tuple(r) for r in self.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
                for t in TABLES}

    # -- operations ----------------------------------------------------------------------
    @rule(data=st.data())
    def authorize(self, data: st.DataObject) -> None:
        which = data.draw(st.integers(min_value=0, max_value=3 * len(self.cards)),
                          label="card")
        card_id = (self.cards[which % len(self.cards)]["card_id"]
                   if which < 3 * len(self.cards) else UNKNOWN_CARD)
        product = data.draw(st.sampled_from((None, None, *PRODUCTS)), label="product")
        ask = data.draw(st.sampled_from(("nothing", "volume", "amount")), label="ask")
        volume = (data.draw(st.integers(min_value=500, max_value=250_000), label="volume")
                  if ask == "volume" else None)
        amount = (data.draw(st.integers(min_value=1_000, max_value=1_500_000), label="amount")
                  if ask == "amount" else None)
        pump = data.draw(st.integers(min_value=1, max_value=8), label="pump")
        digital = which < 3 * len(self.cards) and \
            self.cards[which % len(self.cards)]["kind"] == "digital"
        # A digital card is presented by a fresh office-signed QR token, or (refused)
        # by its card id alone (issue 10 #1).
        by_token = digital and data.draw(st.booleans(), label="by token")
        token = tokens.issue(OFFICE, card_id, self.clock.now + timedelta(minutes=10)) \
            if by_token else None
        result = self.station.authorize(card=None if by_token else card_id, token=token,
                                        pump=pump, product=product, volume_ml=volume,
                                        amount=amount)
        if digital and not by_token:
            assert not result["approved"]
        assert result["reason"] in {r.value for r in Reason}
        # One open authorization per pump, whatever the card (issue 10 #6).
        busy = any(a["pump"] == pump for a in self.open.values())
        assert (result["reason"] == Reason.PUMP_BUSY) == (busy and card_id != UNKNOWN_CARD)
        if card_id == UNKNOWN_CARD:
            assert result["reason"] == Reason.UNKNOWN_CARD
        if not result["approved"]:
            assert result["sale_id"] is None
            assert result["max_volume_ml"] == 0
            self.denied.append(result["decision_id"])
            return
        assert result["reason"] == Reason.APPROVED
        assert result["sale_id"] == result["decision_id"]
        # No preset below the minimum, whatever was asked (issue 10 #11).
        assert result["max_volume_ml"] >= self.station.config.authorization.min_preset_ml
        assert result["max_volume_ml"] <= self.station.config.authorization.max_fill_ml
        if volume is not None:
            assert result["max_volume_ml"] <= volume
        if product is not None:
            assert result["products"] == [product]
        for p in result["products"]:
            if amount is not None:
                assert amount_for(result["max_volume_ml"], PRICES[p]) <= amount
            assert amount_for(result["max_volume_ml"], PRICES[p]) >= result["max_amount"]
        self.open[result["sale_id"]] = dict(result, created_at=self.clock.now)

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        sale_id = data.draw(st.sampled_from(list(self.open)), label="sale")
        auth = self.open[sale_id]
        volume = data.draw(st.integers(min_value=1, max_value=auth["max_volume_ml"]),
                           label="volume")
        products = auth["products"]
        product = data.draw(st.sampled_from(products), label="delivered")
        name = product if len(products) > 1 or data.draw(st.booleans(), label="name") else None
        result = self.station.complete(sale_id, volume_ml=volume, product=name)
        self.completed += 1
        del self.open[sale_id]
        self.closed.append(sale_id)
        assert result["seq"] == self.completed
        assert result["product"] == product
        assert result["volume_ml"] == volume
        assert result["unit_price"] == PRICES[product]
        assert result["amount"] == amount_for(volume, PRICES[product])
        # Within the preset and on the day of the authorization, the wallets always pay
        # it all: the reservation covered this fill (an office sync changes no available
        # balance). Across a midnight: test_wallet_reserved_before_expiry_pays_after_midnight.
        if self._local_date(auth["created_at"]) == self._local_date(self.clock.now):
            assert result["wallet_shortfall"] == 0, result

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        sale_id = data.draw(st.sampled_from(list(self.open)), label="sale")
        assert self.station.cancel(sale_id) == {"sale_id": sale_id, "state": "cancelled"}
        del self.open[sale_id]
        self.closed.append(sale_id)

    @rule(data=st.data())
    def refused_operations_change_nothing(self, data: st.DataObject) -> None:
        """Completing or cancelling twice, a refusal, or more than the preset: SaleError."""
        choices = [("again", s) for s in self.closed + self.denied]
        choices += [("too_much", s) for s in self.open]
        if not choices:
            return
        how, sale_id = data.draw(st.sampled_from(choices), label="refused")
        before = self.dump()
        with pytest.raises(SaleError):
            if how == "too_much":
                auth = self.open[sale_id]
                self.station.complete(sale_id, volume_ml=auth["max_volume_ml"] + 1,
                                      product=auth["products"][0])
            elif data.draw(st.booleans(), label="complete"):
                self.station.complete(sale_id, volume_ml=1_000, product="DT")
            else:
                self.station.cancel(sale_id)
        assert self.dump() == before

    @rule()
    def office_sync(self) -> None:
        """A newer card store from the office, counting every sale up to the last seq.

        Usage for the current periods and wallet balances now include this station's
        sales up to ``station_seqs``; the station must add only its later sales.
        """
        seq = self.completed
        sales = [dict(r) for r in self.conn.execute("SELECT * FROM journal")]
        debits: dict[str, int] = {}
        for r in self.conn.execute("SELECT wallet_id, value FROM wallet_debits"):
            debits[r["wallet_id"]] = debits.get(r["wallet_id"], 0) + r["value"]
        cards = []
        for card in self.snapshot["cards"]:
            usage = []
            for period in ("day", "week", "month", "year"):
                start = period_start(period, self.clock.now, self.tz, self.week_start)
                for product in PRODUCTS:
                    mine = [x for x in sales if x["card_id"] == card["card_id"]
                            and x["product"] == product
                            and parse_ts(x["completed_at"]) >= start]
                    if mine:
                        usage.append({"period": period,
                                      "period_start": start.date().isoformat(),
                                      "product": product,
                                      "volume_ml": sum(x["volume_ml"] for x in mine),
                                      "amount": sum(x["amount"] for x in mine),
                                      "visits": len(mine)})
            wallets = [dict(w, balance=w["balance"] - debits.get(w["wallet_id"], 0))
                       for w in card["wallets"]]
            cards.append(dict(card, usage=usage, wallets=wallets))
        newer = dict(self.snapshot, version=self.snapshot["version"] + 1, cards=cards,
                     station_seqs={STATION_ID: seq})
        assert self.dir is not None
        path = self.dir / f"cards-{newer['version']}.json"
        path.write_text(json.dumps(newer), encoding="utf-8")
        before = {c["card_id"]: self.counted(c["card_id"]) for c in cards}
        self.station.import_cards(path, actor="office")
        # Nothing counted twice, nothing dropped: the station sees the same usage.
        assert {c["card_id"]: self.counted(c["card_id"]) for c in cards} == before

    def counted(self, card_id: str) -> tuple[Any, ...]:
        """What the station counts for a card now: per limit, per visit rule, per wallet."""
        row = find_card(self.conn, card_id)
        assert row is not None
        now = self.clock.now
        view = build_card_view(self.conn, row, self.station.config, now)
        ctx = build_context(self.conn, self.station.config, now)
        return (tuple(limit_used(view, lim, ctx) for lim in view.limits),
                tuple(visits_used(view, v.period, ctx) for v in view.visits),
                tuple(sorted((w.wallet_id, w.available) for w in view.wallets)))

    @rule(seconds=st.integers(min_value=1, max_value=3 * 3600), midnight=st.booleans(),
          after=st.integers(min_value=-90, max_value=600))
    def time_passes(self, seconds: int, midnight: bool, after: int) -> None:
        """A few seconds to hours, or to just before or after the next local midnight."""
        if not midnight:
            self.clock.advance(timedelta(seconds=seconds))
            return
        local = self.clock.now.astimezone(self.tz)
        next_day = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.tz)
        target = next_day.astimezone(UTC) + timedelta(seconds=after)
        self.clock.advance(max(target - self.clock.now, timedelta(seconds=1)))

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def journal_intact(self) -> None:
        if self.store is None:
            return
        result = journal.verify(self.conn)
        assert result.ok, result
        seqs = [r[0] for r in self.conn.execute("SELECT seq FROM journal ORDER BY seq")]
        assert seqs == list(range(1, self.completed + 1))
        outbox = [r[0] for r in self.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert outbox == seqs  # nothing is receipted yet

    @invariant()
    def authorizations_consistent(self) -> None:
        if self.store is None:
            return
        rows = {r["sale_id"]: dict(r) for r in self.conn.execute("SELECT * FROM authorizations")}
        assert {s for s, r in rows.items() if r["state"] == "open"} == set(self.open)
        for r in rows.values():
            assert r["max_volume_ml"] >= 0
            assert r["hold_amount"] >= 0
            assert r["max_amount"] >= 0
        for sale in self.conn.execute("SELECT * FROM journal"):
            auth = rows[sale["sale_id"]]
            assert auth["state"] == "completed"
            assert auth["seq"] == sale["seq"]
            assert auth["card_id"] == sale["card_id"]
            assert 1 <= sale["volume_ml"] <= auth["max_volume_ml"]
            assert sale["product"] in json.loads(auth["products"])
            assert sale["amount"] == amount_for(sale["volume_ml"], sale["unit_price"])
        for hold in self.conn.execute("SELECT * FROM wallet_holds"):
            assert hold["value"] >= 0
            assert rows[hold["sale_id"]]["state"] == "open"  # released when closed

    @invariant()
    def wallets_never_negative(self) -> None:
        if self.store is None:
            return
        as_of = int(self.conn.execute(
            "SELECT value FROM sync_state WHERE key = 'usage_as_of_seq'").fetchone()[0])
        for w in self.conn.execute("SELECT * FROM wallets"):
            # The imported balance already includes the debits up to ``as_of``.
            debits = self.conn.execute(
                "SELECT COALESCE(SUM(value), 0) FROM wallet_debits "
                "WHERE wallet_id = ? AND seq > ?", (w["wallet_id"], as_of)).fetchone()[0]
            holds = self.conn.execute(
                "SELECT COALESCE(SUM(h.value), 0) FROM wallet_holds h JOIN authorizations a "
                "ON a.sale_id = h.sale_id WHERE h.wallet_id = ? AND a.state = 'open'",
                (w["wallet_id"],)).fetchone()[0]
            assert w["balance"] - debits - holds >= 0, (dict(w), debits, holds)
        negative = self.conn.execute("SELECT COUNT(*) FROM wallet_debits WHERE value < 0")
        assert negative.fetchone()[0] == 0

    @invariant()
    def limits_never_exceeded(self) -> None:
        if self.store is None:
            return
        now = self.clock.now
        for card in self.cards:
            sales = [dict(r) for r in self.conn.execute(
                "SELECT * FROM journal WHERE card_id = ?", (card["card_id"],))]
            holds = [dict(r) for r in self.conn.execute(
                "SELECT * FROM authorizations WHERE card_id = ? AND state = 'open'",
                (card["card_id"],))]
            for limit in card["limits"]:
                self._check_limit(limit, sales, holds, now)
            for visit in card.get("visits", []):
                since = period_start(visit["period"], now, self.tz, self.week_start)
                done = sum(1 for s in sales if parse_ts(s["completed_at"]) >= since)
                assert done + len(holds) <= visit["count"], (visit, done, len(holds))

    def _check_limit(self, limit: dict[str, Any], sales: list[dict[str, Any]],
                     holds: list[dict[str, Any]], now: datetime) -> None:
        scope = set(limit.get("products") or PRODUCTS)
        money = limit["unit"] == "money"

        def worst(auth: dict[str, Any]) -> int:
            """The most an open authorization can still add to this limit."""
            products = scope & set(json.loads(auth["products"]))
            if not products:
                return 0
            if not money:
                return int(auth["max_volume_ml"])
            prices = json.loads(auth["prices"])
            return max(amount_for(auth["max_volume_ml"], prices[p]) for p in products)

        def used(sale: dict[str, Any]) -> int:
            return int(sale["amount"] if money else sale["volume_ml"])

        in_scope = [s for s in sales if s["product"] in scope]
        if limit["period"] == "fill":
            for s in in_scope:
                assert used(s) <= limit["value"], (limit, s)
            for h in holds:
                assert worst(h) <= limit["value"], (limit, h)
            return
        since = period_start(limit["period"], now, self.tz, self.week_start)
        total = (sum(used(s) for s in in_scope if parse_ts(s["completed_at"]) >= since)
                 + sum(worst(h) for h in holds))
        assert total <= limit["value"], (limit, total, now)


def test_lifecycle_never_exceeds_limits_or_wallets() -> None:
    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=40, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_wallet_reserved_before_expiry_pays_after_midnight(tmp_path: Path) -> None:
    """A fill authorized on its wallet's last valid day and finished after midnight.

    The authorization reserved the wallet (it was valid then); the completion must
    debit it. Found by the state machine above (a wallet expiring between authorize
    and complete left the fuel unpaid: ``wallet_shortfall`` > 0, no debit).
    """
    clock = Clock(datetime(2026, 11, 18, 23, 50, tzinfo=UTC))
    snapshot = card_store([{"kind": "magstripe", "limits": [], "wallets": [
        {"unit": "money", "balance": 100_000, "expires_in_days": 0}]}], date(2026, 11, 18))
    station = open_station(tmp_path, snapshot, clock)
    try:
        auth = station.authorize(card="7800000000000000", pump=1, product="AI95")
        assert auth["approved"]
        held = station.conn.execute("SELECT wallet_id, value FROM wallet_holds").fetchall()
        assert [tuple(h) for h in held] == [("W-0-0", amount_for(auth["max_volume_ml"], 5299))]
        clock.advance(timedelta(minutes=20))  # 00:10 on the 19th: the wallet has expired
        done = station.complete(auth["sale_id"], volume_ml=10_000)
        assert done["amount"] == 52_990
        assert done["wallet_debits"] == {"W-0-0": 52_990}
        assert done["wallet_shortfall"] == 0
    finally:
        station.store.close()
