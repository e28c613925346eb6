"""The dashboard (office.reports.dashboard and the console's /dashboard/), on SQLite and
PostgreSQL: its figures from roll-up rows put in by hand and checked against sums
done by hand, the network status, the page for a viewer, and (with real sales
ingested) its agreement with the consumption report."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from core.config_reports import OfficeReportsConfig
from office.ledger.models import ChainProblem, Station, StationChain
from office.reports import dashboard
from office.reports.dashboard import Figures, StationState
from office.store import OfficeConnection, open_office
from tests.office.console_report_support import HOSTILE, add_customer
from tests.office.console_support import logged_in, make_user, sample_network
from tests.office.test_ingest_bulk import journal_rows
from tests.office_fixtures import OfficeDb

__all__ = ["journal_rows"]  # the module fixture, used here too
pytestmark = pytest.mark.usefixtures("fast_hashing")
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def daily(conn: OfficeConnection, day: str, station: str, product: str,
          *figures: int) -> None:
    conn.execute("INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, "
                 "amount, discount) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (day, station, product, *figures))


def monthly(conn: OfficeConnection, month: str, card: str, *figures: int) -> None:
    conn.execute("INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, "
                 "discount) VALUES (?, ?, ?, ?, ?, ?)", (month, card, *figures))


@pytest.fixture
def conn(console_db: OfficeDb) -> OfficeConnection:
    """Roll-ups of November 2026 and before (figures: sales, ml, minor units, discount)."""
    c = open_office(console_db.config)
    daily(c, "2026-11-15", "S-001", "AI95", 3, 60000, 300000, 3000)
    daily(c, "2026-11-15", "S-002", "DT", 1, 40000, 240000, 0)
    daily(c, "2026-11-01", "S-002", "AI95", 2, 30000, 150000, 1500)
    daily(c, "2026-11-16", "S-001", "AI95", 5, 50000, 250000, 0)  # after today
    daily(c, "2026-10-31", "S-003", "DT", 4, 80000, 480000, 4000)
    daily(c, "2025-12-01", "S-001", "AI95", 1, 10000, 50000, 0)  # 12th month back
    daily(c, "2025-11-30", "S-001", "AI95", 1, 10000, 50000, 0)  # 13th: not shown
    add_customer("C-1", "Alpha", "K-1")
    add_customer("C-2", HOSTILE, "K-3")
    from office.cards.models import Card

    Card.objects.create(card_id="K-2", kind="rfid", customer_id="C-1", issued_at="x",
                        issued_by="t", modified_at="x", modified_by="t")
    monthly(c, "2026-11-01", "K-1", 2, 20000, 100000, 0)
    monthly(c, "2026-11-01", "K-2", 1, 10000, 60000, 500)
    monthly(c, "2026-11-01", "K-3", 1, 50000, 250000, 0)
    monthly(c, "2026-11-01", "K-9", 10, 100000, 900000, 0)  # a card of no customer
    monthly(c, "2026-10-01", "K-1", 9, 90000, 990000, 0)  # last month
    return c


def test_today_month_and_trend(conn: OfficeConnection) -> None:
    board = dashboard.build(conn, OfficeReportsConfig(), now=NOW)
    assert board.today.isoformat() == "2026-11-15"
    assert board.day == Figures(4, 100000, 540000, 3000)
    assert board.month == Figures(6, 130000, 690000, 4500)
    months = {r["period"]: r for r in board.months.rows}
    assert list(months) == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04",
                            "2026-05", "2026-06", "2026-07", "2026-08", "2026-09",
                            "2026-10", "2026-11"]
    assert (months["2025-12"]["sales"], months["2025-12"]["amount"]) == (1, 50000)
    assert (months["2026-10"]["sales"], months["2026-10"]["volume_ml"]) == (4, 80000)
    assert months["2026-11"] == {"period": "2026-11", "sales": 6, "volume_ml": 130000,
                                 "amount": 690000, "discount": 4500}
    assert months["2026-06"]["amount"] == 0
    assert board.months.totals == {"sales": 11, "volume_ml": 220000, "amount": 1220000,
                                   "discount": 8500}
    days = board.days.rows
    assert [r["period"] for r in days] == [f"2026-11-{d:02d}" for d in range(1, 16)]
    assert (days[0]["sales"], days[0]["amount"]) == (2, 150000)
    assert (days[14]["sales"], days[14]["amount"]) == (4, 540000)
    assert sum(r["sales"] for r in days[1:14]) == 0


def test_top_stations_and_customers_this_month(conn: OfficeConnection) -> None:
    board = dashboard.build(conn, OfficeReportsConfig(), now=NOW)
    assert board.top_stations == [
        {"station_id": "S-002", "sales": 3, "volume_ml": 70000, "amount": 390000,
         "discount": 1500},
        {"station_id": "S-001", "sales": 3, "volume_ml": 60000, "amount": 300000,
         "discount": 3000}]
    assert board.top_customers == [
        {"customer_id": "C-2", "name": HOSTILE, "sales": 1, "volume_ml": 50000,
         "amount": 250000, "discount": 0},
        {"customer_id": "C-1", "name": "Alpha", "sales": 3, "volume_ml": 30000,
         "amount": 160000, "discount": 500}]


def test_the_top_lists_keep_ten_by_amount(console_db: OfficeDb) -> None:
    c = open_office(console_db.config)
    for i in range(1, 13):
        daily(c, "2026-11-10", f"S-{i:03d}", "DT", 1, 1000 * i, 10000 * i, 0)
        add_customer(f"C-{i:02d}", f"Customer {i}", f"K-{i:02d}")
        monthly(c, "2026-11-01", f"K-{i:02d}", 1, 1000, 450 if i <= 2 else 100 * i, 0)
    board = dashboard.build(c, OfficeReportsConfig(), now=NOW)
    assert [r["station_id"] for r in board.top_stations] == [
        f"S-{i:03d}" for i in range(12, 2, -1)]
    # 12.00 down to 5.00, then C-01 and C-02 tie at 4.50 (the lower id first);
    # C-04 (4.00) and C-03 (3.00) are out.
    assert [r["customer_id"] for r in board.top_customers] == [
        "C-12", "C-11", "C-10", "C-09", "C-08", "C-07", "C-06", "C-05", "C-01", "C-02"]


def test_local_days_follow_the_office_time_zone(conn: OfficeConnection) -> None:
    """At 23:30 UTC on 15 November it is already the 16th in Moscow; "today" is taken in
    the zone the roll-ups count in, whatever the configuration says until a rebuild."""
    late = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)
    board = dashboard.build(conn, OfficeReportsConfig(timezone="Europe/Moscow"), now=late)
    assert (board.today.isoformat(), board.zone, board.wanted_zone) == (
        "2026-11-15", "UTC", "Europe/Moscow")
    conn.execute("UPDATE rollup_state SET timezone = 'Europe/Moscow' WHERE id = 1")
    board = dashboard.build(conn, OfficeReportsConfig(timezone="Europe/Moscow"), now=late)
    assert board.today.isoformat() == "2026-11-16" and board.zone == "Europe/Moscow"
    assert board.day == Figures(5, 50000, 250000, 0)
    assert board.month == Figures(11, 180000, 940000, 4500)


def test_an_empty_store(console_db: OfficeDb) -> None:
    board = dashboard.build(open_office(console_db.config), OfficeReportsConfig(), now=NOW)
    assert board.day == board.month == Figures()
    assert len(board.months.rows) == 12 and board.months.totals["amount"] == 0
    assert board.top_stations == board.top_customers == []
    assert board.zone == board.wanted_zone == "UTC"
    assert board.network.stations == 0 and board.network.down == []


def test_network_status(console_db: OfficeDb) -> None:
    sample_network()  # S-001 online (outbox 3, an open gap, a quarantined message), S-002 off
    Station.objects.create(station_id="S-003", public_key="ed25519:y", enrolled_at="x")
    StationChain.objects.create(station_id="S-002", contiguous_seq=1, outbox_depth=2,
                                oldest_undelivered_at="2026-11-14T07:00:00.000000Z")
    ChainProblem.objects.create(station_id="S-002", kind="gap", first_seq=5, last_seq=5,
                                detail="x", found_at="x", resolved_at="y")  # resolved
    net = dashboard.network(open_office(console_db.config))
    assert (net.stations, net.online, net.offline, net.never_seen) == (3, 1, 1, 1)
    assert [(s.station_id, s.online) for s in net.down] == [("S-002", False),
                                                            ("S-003", None)]
    assert net.down[0].since is not None and net.down[1] == StationState("S-003", None, None)
    assert (net.outbox_depth, net.oldest_undelivered_at) == (5, "2026-11-14T07:00:00.000000Z")
    assert (net.open_problems, net.quarantined) == (1, 1)


def test_the_dashboard_page(console_db: OfficeDb) -> None:
    """The page for a viewer, on the real clock: today's and this month's roll-ups."""
    sample_network()
    c = open_office(console_db.config)
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    daily(c, today.isoformat(), "S-001", "AI95", 2, 45500, 227500, 1250)
    if first != today:
        daily(c, first.isoformat(), "S-002", "DT", 1, 10000, 60000, 0)
    last_month = (first - timedelta(days=1)).isoformat()
    daily(c, last_month, "S-009", "DT", 7, 70000, 700000, 0)  # not in this month's top
    add_customer("C-2", HOSTILE, "K-3")
    monthly(c, first.isoformat(), "K-3", 1, 50000, 250000, 0)
    response = logged_in(make_user("vera", ["viewers"])).get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    today_tile = page.split('id="today"', 1)[1].split("</section>", 1)[0]
    assert "45.500 l" in today_tile and "2,275.00 RUB" in today_tile
    assert "12.50 RUB" in today_tile
    month_tile = page.split('id="month"', 1)[1].split("</section>", 1)[0]
    if first != today:
        assert "55.500 l" in month_tile and "2,875.00 RUB" in month_tile
    stations = page.split('id="top-stations"', 1)[1].split("</section>", 1)[0]
    assert 'data-station="S-001"' in stations and 'data-station="S-009"' not in stations
    customers = page.split('id="top-customers"', 1)[1].split("</section>", 1)[0]
    assert "&lt;script&gt;" in customers and HOSTILE not in page
    assert 'href="/customers/C-2/"' in customers
    network = page.split('id="network"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'<span class="bad">1</span> / 2', network)
    assert 'data-station="S-002"' in page  # offline, listed with its time
    charts = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(charts) == 2
    for chart in charts:
        assert ElementTree.fromstring(base64.b64decode(chart)).tag.endswith("svg")
    assert "<h1>Dashboard</h1>" in page


def test_the_dashboard_is_where_a_viewer_lands(console_db: OfficeDb) -> None:
    response = logged_in(make_user("vera", ["viewers"])).get("/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


# -- with real sales ----------------------------------------------------------------------

INGESTED_AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
#: Completion times (UTC) of the station's nine sales; Moscow is UTC+3, so 21:30 UTC is
#: the next local day: 2 sales on 22 Nov (local), 5 earlier in November (one of them on
#: 1 Nov local, made on 31 Oct UTC), 2 in October (local).
TIMES = ("2026-11-22T09:00:00.000000Z", "2026-11-21T21:30:00.000000Z",
         "2026-11-21T20:59:59.999999Z", "2026-11-10T08:00:00.000000Z",
         "2026-11-10T09:00:00.000000Z", "2026-10-31T21:00:00.000000Z",
         "2026-11-03T10:00:00.000000Z", "2026-10-31T20:59:00.000000Z",
         "2026-10-05T10:00:00.000000Z")


def test_the_dashboard_agrees_with_the_consumption_report(
        office_conn: OfficeConnection, journal_rows: list[dict[str, Any]]) -> None:
    """Sales a real station made, ingested as over MQTT (which keeps the roll-ups), in
    Moscow time: every dashboard figure is what the consumption report (which reads
    ``sales``) says for the same days."""
    from office.ledger.ingest import ingest_batch
    from office.reports import registry
    from tests.office.bulk_journal import STATUS
    from tests.office.test_rollups import timed

    conn = office_conn
    conn.execute("INSERT INTO stations VALUES ('S-001', 'ed25519:x', '2026-01-01')")
    conn.execute("UPDATE rollup_state SET timezone = 'Europe/Moscow' WHERE id = 1")
    sales, _ = timed(journal_rows, list(TIMES))
    assert len(sales) == len(TIMES)
    cards = sorted({s["card_id"] for s in sales})
    assert len(cards) >= 2
    for i, card in enumerate(cards, start=1):
        add_customer(f"C-{i}", f"Customer {i}", card)
    result = ingest_batch(conn, {"station_id": "S-001", "first_seq": 1,
                                 "last_seq": len(sales), "sales": sales, "status": STATUS},
                          via="mqtt", envelope_id="e" * 32, now=INGESTED_AT)
    assert result.stored == len(TIMES)
    config = OfficeReportsConfig(timezone="Europe/Moscow")
    board = dashboard.build(conn, config, now=INGESTED_AT)

    def report(**options: str) -> Any:
        return registry.run(conn, "consumption", options, config, now=INGESTED_AT)

    def as_figures(totals: dict[str, Any]) -> Figures:
        return Figures(totals["sales"], totals["volume_ml"], totals["amount"],
                       totals["discount"])

    today = report(**{"from": "2026-11-22", "to": "2026-11-22"})
    month = report(**{"from": "2026-11-01", "to": "2026-11-22"})
    assert board.day == as_figures(today.totals) and board.day.sales == 2
    assert board.month == as_figures(month.totals) and board.month.sales == 7
    by_month = report(**{"from": "2025-12-01", "to": "2026-11-22", "by": "month"})
    assert [(r["period"], r["sales"], r["volume_ml"], r["amount"], r["discount"])
            for r in board.months.rows if r["sales"]] == [
        (r["period"][:7], r["sales"], r["volume_ml"], r["amount"], r["discount"])
        for r in by_month.rows if r["sales"]]
    assert [r["sales"] for r in board.months.rows[-2:]] == [2, 7]
    by_day = report(**{"from": "2026-11-01", "to": "2026-11-22", "by": "day"})
    assert [(r["period"], r["sales"], r["amount"]) for r in board.days.rows] == [
        (r["period"], r["sales"], r["amount"]) for r in by_day.rows]
    per_station = report(**{"from": "2026-11-01", "to": "2026-11-22", "per": "station"})
    assert [(r["station_id"], r["amount"], r["volume_ml"]) for r in board.top_stations] \
        == [(r["station"], r["amount"], r["volume_ml"]) for r in per_station.rows]
    per_customer = report(**{"from": "2026-11-01", "to": "2026-11-22", "per": "customer"})
    assert len(board.top_customers) >= 2
    assert [(r["customer_id"], r["name"], r["sales"], r["amount"])
            for r in board.top_customers] == sorted(
        ((r["customer"], r["name"], r["sales"], r["amount"]) for r in per_customer.rows),
        key=lambda t: (-t[3], t[0]))


def test_the_page_says_when_the_rollups_count_in_another_zone(console_db: OfficeDb) -> None:
    from core.config import Config
    from office.console import runtime

    c = logged_in(make_user("vera", ["viewers"]))
    assert "rollups rebuild" not in c.get("/dashboard/").content.decode()
    runtime.set_config(Config(office=console_db.config,
                              office_reports=OfficeReportsConfig(timezone="Europe/Moscow")))
    page = c.get("/dashboard/").content.decode()
    assert ("counts days in UTC, but the office's report time zone is Europe/Moscow: "
            'run "forecourt office rollups rebuild"') in page
