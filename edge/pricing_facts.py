"""The pricing facts of a sale (core.rules.conditions.Facts), as the station knows them.

Built once, at authorization, and recorded with it: the price told at the pump does
not change while the fuel runs, and the journal line carries the same facts
(``pricing.basis``) so the head office recomputes from the very same inputs. Figures
follow the limits' rule (docs/card-store.md, "Usage"): the office's figures as of its
mark plus this station's own later sales. Calendar periods are the station's local
ones (``[station] timezone``), so a tier turns at local midnight on the 1st.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.config import Config
from core.formats.snapshot import POINTS_PERIODS, month_day
from core.periods import period_start_date
from core.rules.authorization import Wallet, usable_wallets
from core.rules.conditions import Facts
from core.timefmt import iso
from offline_db import pricing as db


def _utc_midnight(day: date, config: Config) -> str:
    """The UTC instant local ``day`` began, as the journal writes times."""
    return _midnight_text(day, config.station.timezone)


@lru_cache(maxsize=256)
def _midnight_text(day: date, timezone: str) -> str:
    """Cached: every authorization of a day asks for the same few period starts, and
    the zone arithmetic and formatting cost more than the journal read they bound."""
    return iso(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC))


def month_starts(local_day: date) -> tuple[date, date, date]:
    """(first of last month, first of this month, first of next month)."""
    this = local_day.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    following = (this + timedelta(days=32)).replace(day=1)
    return last, this, following


def place_facts(config: Config, now: datetime, *, card_kind: str) -> Facts:
    """Facts without a card (a voucher alone): the time and the station only."""
    st = config.station
    return Facts(local=now.astimezone(st.tz), station_id=st.id,
                 station_groups=frozenset(st.groups), card_kind=card_kind)


def card_facts(conn: sqlite3.Connection, config: Config, row: sqlite3.Row, now: datetime, *,
               store_mark: int, exclude_sale: str | None = None) -> Facts:
    """Everything the pricing rules may ask about the card at ``now`` (wallet_ml is 0:
    the product is not known yet; see :func:`wallet_ml`)."""
    st = config.station
    card_id = row["card_id"]
    rules = json.loads(row["rules"])
    loyalty = rules.get("loyalty", {})
    card_ids = [card_id, *rules.get("replaces", [])]
    local = now.astimezone(st.tz)
    today = local.date()
    as_of, points_mark = db.marks(conn, card_id, store_mark)
    last, this, following = month_starts(today)
    starts = [period_start_date(period, today, st.week_start_index) for period in POINTS_PERIODS]
    office = db.office_months(conn, card_id, [last.isoformat(), this.isoformat()])
    mine = db.local_figures(
        conn, card_ids, as_of_seq=as_of,
        windows=[(_utc_midnight(last, config), _utc_midnight(this, config)),
                 (_utc_midnight(this, config), _utc_midnight(following, config))],
        earned_since=[_utc_midnight(start, config) for start in starts])
    month = [(o[0] + m[0], o[1] + m[1], o[2] + m[2])
             for o, m in zip(office, mine.windows, strict=True)]
    available = (db.points_lots(conn, card_id, today.isoformat())
                 - db.points_burned_after(conn, card_ids, points_mark)
                 - db.points_held(conn, card_id, exclude_sale=exclude_sale))
    office_earned = db.office_points_earned(conn, card_id)
    earned = [(period, office_earned.get((period, start.isoformat()), 0) + local)
              for period, start, local in zip(POINTS_PERIODS, starts, mine.earned, strict=True)]
    birthday = loyalty.get("birthday")
    return Facts(
        local=local, station_id=st.id, station_groups=frozenset(st.groups),
        card_kind=row["kind"], category=loyalty.get("category"),
        groups=frozenset(loyalty.get("groups", ())),
        birthday=None if birthday is None else month_day(birthday),
        month_volume_ml=month[1][0], month_amount=month[1][1],
        last_month_volume_ml=month[0][0], last_month_amount=month[0][1],
        fills_this_month=month[1][2], points_available=max(available, 0),
        points_earned=tuple(earned))


def wallet_ml(wallets: Iterable[Wallet], product: str, today: date) -> int:
    """Litres (ml) the card's usable litre wallets hold for ``product`` (after holds)."""
    return sum(w.available for w in usable_wallets(wallets, product, today)
               if w.unit == "volume")
