"""The console's dashboard: today, this month, the trend, the top stations and
customers, and the state of the network, read in a few small queries.

It must answer in well under a second on a store of ten million sales, so it never
reads ``sales``: the figures come from the roll-ups kept at ingest in the same
transaction as each sale (``sales_daily`` per local day, station and product;
``card_monthly`` per local month and card; office.ledger.rollups), and "today" is
taken in the zone those count in (``rollup_state``). A year of a few hundred stations
is some hundred thousand ``sales_daily`` rows and a month of cards about as many
``card_monthly`` rows, whatever the sales count.
The network status reads the small per-station tables (``station_online``,
``station_chain``, ``chain_problems``, ``quarantine``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.config_reports import OfficeReportsConfig
from office.reports.base import Chart, Column, Report
from office.store import OfficeConnection

#: How many stations and customers the top lists show.
TOP = 10
#: How many months the trend shows (this one included).
MONTHS = 12
FIGURES = (Column("sales", "Sales", "count"), Column("volume_ml", "Volume", "ml"),
           Column("amount", "Amount", "money"), Column("discount", "Discount", "money"))
_SUMS = ("COALESCE(SUM(sales), 0) AS sales, COALESCE(SUM(volume_ml), 0) AS volume_ml, "
         "COALESCE(SUM(amount), 0) AS amount, COALESCE(SUM(discount), 0) AS discount")


@dataclass(frozen=True)
class Figures:
    """Sales count, volume (ml), amount and discount (minor units) of a span."""

    sales: int = 0
    volume_ml: int = 0
    amount: int = 0
    discount: int = 0

    @classmethod
    def of(cls, row: Any) -> Figures:
        return cls(int(row["sales"]), int(row["volume_ml"]), int(row["amount"]),
                   int(row["discount"]))


@dataclass(frozen=True)
class StationState:
    """A station that is not online: offline since ``since``, or never seen (None)."""

    station_id: str
    online: bool | None
    since: str | None


@dataclass(frozen=True)
class Network:
    """The network at a glance: how many stations are online, what waits to arrive,
    and what needs a look (open chain problems, quarantined messages)."""

    stations: int = 0
    online: int = 0
    offline: int = 0
    never_seen: int = 0
    #: The stations not online, longest offline first (never seen last).
    down: list[StationState] = field(default_factory=list)
    outbox_depth: int = 0
    oldest_undelivered_at: str | None = None
    open_problems: int = 0
    quarantined: int = 0


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows; money in minor units, volume in ml."""

    today: date
    #: The zone the roll-ups count days in, and ``[office_reports] timezone`` (they
    #: differ until ``forecourt office rollups rebuild`` after a change of zone).
    zone: str
    wanted_zone: str
    day: Figures
    month: Figures
    months: Report
    days: Report
    top_stations: list[dict[str, Any]]
    top_customers: list[dict[str, Any]]
    network: Network


def build(conn: OfficeConnection, config: OfficeReportsConfig, *,
          now: datetime | None = None) -> Dashboard:
    """The dashboard for the office's local today, in the zone the roll-ups count in
    (``[office_reports] timezone`` once they are rebuilt for it)."""
    from office.ledger import rollups

    if conn.vendor != "postgresql":  # (atomic() would take SQLite's write lock)
        return _build(conn, config, rollups.zone(conn), now)
    with conn.atomic():
        # The month's customers are grouped in memory, not sorted on disk.
        conn.execute("SET LOCAL work_mem = '64MB'")
        return _build(conn, config, rollups.zone(conn), now)


def _build(conn: OfficeConnection, config: OfficeReportsConfig, zone: str,
           now: datetime | None) -> Dashboard:
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()
    first = today.replace(day=1)
    sums = daily_sums(conn, _months_back(today, MONTHS - 1), today)
    return Dashboard(
        today=today, zone=zone, wanted_zone=config.timezone,
        day=sums.get(today.isoformat(), Figures()),
        month=_add(v for d, v in sums.items() if d >= first.isoformat()),
        months=by_month(sums, today),
        days=by_day(sums, today),
        top_stations=top_stations(conn, first, today),
        top_customers=top_customers(conn, first),
        network=network(conn))


def daily_sums(conn: OfficeConnection, first: date, last: date) -> dict[str, Figures]:
    """Per local day from ``first`` to ``last`` (included) with sales: its sums.

    One query serves today, this month and both trends. Grouping by day first follows
    the primary key's order (no sort), then months are summed from at most 366 rows:
    on SQLite that is twice as fast as grouping the year's rows by month directly."""
    return {r["day"]: Figures.of(r) for r in conn.execute(
        f"SELECT day, {_SUMS} FROM sales_daily WHERE day >= ? AND day <= ? GROUP BY day",
        (first.isoformat(), last.isoformat()))}


def figures(conn: OfficeConnection, first: date, last: date) -> Figures:
    """The sums of the local days ``first`` to ``last`` (included)."""
    return _add(daily_sums(conn, first, last).values())


def _add(values: Iterable[Figures]) -> Figures:
    total = Figures()
    for v in values:
        total = Figures(total.sales + v.sales, total.volume_ml + v.volume_ml,
                        total.amount + v.amount, total.discount + v.discount)
    return total


def _one(conn: OfficeConnection, sql: str, args: tuple[Any, ...] = ()) -> Any:
    """The one row of an aggregate query (which always has one)."""
    row = conn.execute(sql, args).fetchone()
    assert row is not None
    return row


def _months_back(day: date, count: int) -> date:
    """The first day of the month ``count`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def by_month(sums: dict[str, Figures], today: date) -> Report:
    """The last :data:`MONTHS` months to today, one row each (zeros for a month
    without sales), as a report with a bar chart of the amount."""
    months = [_months_back(today, n).isoformat()[:7] for n in range(MONTHS - 1, -1, -1)]
    found: dict[str, list[Figures]] = {m: [] for m in months}
    for day, value in sums.items():
        if day[:7] in found and day <= today.isoformat():
            found[day[:7]].append(value)
    return _trend("dashboard-months", f"Last {MONTHS} months", months,
                  [_add(found[m]) for m in months], kind="bar",
                  subtitle=f"{months[0]} to {months[-1]}")


def by_day(sums: dict[str, Figures], today: date) -> Report:
    """This month's days to today, one row each, as a report with a line chart."""
    first = today.replace(day=1)
    days = [(first + timedelta(days=n)).isoformat() for n in range(today.day)]
    return _trend("dashboard-days", "This month by day", days,
                  [sums.get(d, Figures()) for d in days], kind="line",
                  subtitle=f"{days[0]} to {days[-1]}")


def _trend(name: str, title: str, periods: list[str], values: list[Figures], *,
           kind: str, subtitle: str) -> Report:
    rows = [{"period": p, "sales": f.sales, "volume_ml": f.volume_ml, "amount": f.amount,
             "discount": f.discount} for p, f in zip(periods, values, strict=True)]
    return Report(name, title, (Column("period", "Period", "date"), *FIGURES), rows,
                  Chart("bar" if kind == "bar" else "line", "period", "amount"),
                  subtitle=subtitle,
                  totals={c.key: sum(r[c.key] for r in rows) for c in FIGURES})


def top_stations(conn: OfficeConnection, first: date, last: date) -> list[dict[str, Any]]:
    """The :data:`TOP` stations by amount from ``first`` to ``last`` (then by id)."""
    return [{"station_id": r["station_id"], **asdict(Figures.of(r))} for r in conn.execute(
        f"SELECT station_id, {_SUMS} FROM sales_daily WHERE day >= ? AND day <= ? "
        "GROUP BY station_id ORDER BY SUM(amount) DESC, station_id LIMIT ?",
        (first.isoformat(), last.isoformat(), TOP))]


def top_customers(conn: OfficeConnection, month: date) -> list[dict[str, Any]]:
    """The :data:`TOP` customers by amount in ``month`` (its first day): the sums of
    every card they hold or held; a card of no customer counts for nobody. The names
    are joined to the ten found, not to every customer of the month."""
    return [{"customer_id": r["customer_id"], "name": r["name"], **asdict(Figures.of(r))}
            for r in conn.execute(
                "SELECT t.customer_id, cu.name, t.sales, t.volume_ml, t.amount, t.discount "
                "FROM (SELECT c.customer_id, SUM(m.sales) AS sales, "
                "SUM(m.volume_ml) AS volume_ml, SUM(m.amount) AS amount, "
                "SUM(m.discount) AS discount FROM card_monthly m "
                "JOIN cards c ON c.card_id = m.card_id "
                "WHERE m.month = ? AND c.customer_id IS NOT NULL GROUP BY c.customer_id "
                "ORDER BY SUM(m.amount) DESC, c.customer_id LIMIT ?) t "
                "JOIN customers cu ON cu.customer_id = t.customer_id "
                "ORDER BY t.amount DESC, t.customer_id",
                (month.replace(day=1).isoformat(), TOP))]


def network(conn: OfficeConnection) -> Network:
    """Stations online and offline (and since when), what waits in the stations'
    outboxes, open chain problems and quarantined messages."""
    states = [(r["station_id"], r["online"], r["at"]) for r in conn.execute(
        "SELECT s.station_id, o.online, o.at FROM stations s "
        "LEFT JOIN station_online o ON o.station_id = s.station_id")]
    down = sorted((StationState(sid, None if online is None else bool(online), at)
                   for sid, online, at in states if not online),
                  key=lambda s: (s.since is None, s.since or "", s.station_id))
    outbox = _one(
        conn, "SELECT COALESCE(SUM(c.outbox_depth), 0) AS depth, "
        "MIN(c.oldest_undelivered_at) AS oldest FROM station_chain c "
        "JOIN stations s ON s.station_id = c.station_id")
    problems = _one(conn, "SELECT COUNT(*) AS n FROM chain_problems "
                    "WHERE resolved_at IS NULL")
    quarantined = _one(conn, "SELECT COUNT(*) AS n FROM quarantine")
    return Network(
        stations=len(states),
        online=sum(1 for _, online, _ in states if online),
        offline=sum(1 for _, online, _ in states if online is not None and not online),
        never_seen=sum(1 for _, online, _ in states if online is None),
        down=down, outbox_depth=int(outbox["depth"]),
        oldest_undelivered_at=outbox["oldest"], open_problems=int(problems["n"]),
        quarantined=int(quarantined["n"]))
