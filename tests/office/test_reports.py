"""Every office report's figures against the hand-computed office of report_fixture.py,
on SQLite and PostgreSQL, with Moscow's calendar (a sale at 23:59:59.999999 local on
the 30th is November's, one at 00:00 on the 1st December's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config_file
from core.config_reports import OfficeReportsConfig
from office.reports import registry
from office.reports.base import Report, ReportError
from office.store import OfficeConnection
from tests.office.report_fixture import build

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
NOV = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def office(office_env: Path) -> tuple[OfficeConnection, Any]:
    conn = build(office_env)
    return conn, load_config_file(office_env).office_reports


def report(office: tuple[OfficeConnection, Any], name: str, **options: str) -> Report:
    conn, config = office
    return registry.run(conn, name, options, config, now=NOW)


def figures(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_consumption_by_month_day_and_week(office: Any) -> None:
    month = report(office, "consumption", **NOV)
    assert figures(month.rows, "period", "sales", "volume_ml", "amount", "discount") == [
        ("2026-11-01", 5, 160_000, 900_000, 10_000)]
    days = report(office, "consumption", **NOV, by="day")
    assert len(days.rows) == 30  # every day, with zeros
    assert [r for r in figures(days.rows, "period", "sales", "volume_ml", "amount")
            if r[1]] == [("2026-11-02", 2, 100_000, 570_000), ("2026-11-11", 1, 20_000, 110_000),
                         ("2026-11-20", 1, 30_000, 165_000), ("2026-11-30", 1, 10_000, 55_000)]
    weeks = report(office, "consumption", **NOV, by="week")
    assert figures(weeks.rows, "period", "sales") == [
        ("2026-10-26", 0), ("2026-11-02", 2), ("2026-11-09", 1), ("2026-11-16", 1),
        ("2026-11-23", 0), ("2026-11-30", 1)]
    december = report(office, "consumption", **{"from": "2026-12-01", "to": "2026-12-01"})
    assert figures(december.rows, "sales", "volume_ml") == [(1, 10_000)]  # s6 at 00:00


def test_a_week_may_start_on_sunday(office: Any) -> None:
    conn, config = office
    sunday = replace(config, week_start="sunday")
    weeks = registry.run(conn, "consumption", {**NOV, "by": "week"}, sunday, now=NOW)
    assert figures(weeks.rows, "period", "sales") == [
        ("2026-11-01", 2), ("2026-11-08", 1), ("2026-11-15", 1), ("2026-11-22", 0),
        ("2026-11-29", 1)]


def test_consumption_per_dimension(office: Any) -> None:
    per = {dim: figures(report(office, "consumption", **NOV, per=dim).rows, dim, "sales",
                        "volume_ml", "amount")
           for dim in ("station", "product", "customer", "group", "card")}
    assert per["station"] == [("S-001", 4, 120_000, 660_000), ("S-002", 1, 40_000, 240_000)]
    assert per["product"] == [("AI95", 4, 120_000, 660_000), ("DT", 1, 40_000, 240_000)]
    assert per["customer"] == [("C-1", 3, 130_000, 735_000), ("C-2", 2, 30_000, 165_000)]
    assert per["group"] == [(None, 2, 30_000, 165_000), ("G-F", 3, 130_000, 735_000)]
    assert per["card"] == [("K1", 3, 130_000, 735_000), ("K2", 2, 30_000, 165_000)]
    names = report(office, "consumption", **NOV, per="customer").rows
    assert [r["name"] for r in names] == ["Anna Fleet", "Boris"]


def test_litres_per_100_km_by_the_fill_to_fill_method(office: Any) -> None:
    rows = report(office, "consumption", **NOV, per="vehicle").rows
    v1 = [r for r in rows if r["vehicle"] == "V-1"]
    # Readings 10000 (s1, first fill 60 l), 9990 (s2, 40 l), 13000 (s7, 30 l):
    # 3010 km on the 70 l after the first fill = 2.33 l/100 km.
    assert figures(v1, "sales", "volume_ml", "km", "l_per_100km") == [(3, 130_000, 3010, 2.33)]
    assert v1[0]["name"] == "A123BC"


def test_filters_narrow_the_sales(office: Any) -> None:
    def total(**filters: str) -> tuple[int, int]:
        rows = report(office, "consumption", **NOV, **filters).rows
        return sum(r["sales"] for r in rows), sum(r["volume_ml"] for r in rows)

    assert total(station="S-002") == (1, 40_000)
    assert total(customer="C-2") == (2, 30_000)
    assert total(group="G-F") == (3, 130_000)
    assert total(product="DT") == (1, 40_000)
    assert total(card="K1", station="S-001") == (2, 90_000)
    assert total(vehicle="V-1") == (3, 130_000)
    assert total(customer="C-3") == (0, 0)


def test_top_customers_and_lifetime_value(office: Any) -> None:
    top = report(office, "top-customers", **NOV)
    assert figures(top.rows, "rank", "customer", "sales", "volume_ml", "amount", "discount",
                   "average_fill_ml") == [(1, "C-1", 3, 130_000, 735_000, 10_000, 43_333),
                                          (2, "C-2", 2, 30_000, 165_000, 0, 15_000)]
    one = report(office, "top-customers", **NOV, order="amount", limit="1")
    assert figures(one.rows, "customer") == [("C-1",)]
    value = report(office, "customer-value", to="2026-12-31")
    assert figures(value.rows, "customer", "sales", "amount", "first_sale", "last_sale") == [
        ("C-1", 3, 735_000, "2026-11-02 11:00", "2026-11-20 15:00"),
        ("C-2", 3, 220_000, "2026-11-11 00:30", "2026-12-01 00:00"),
        ("C-3", 1, 150_000, "2026-08-01 13:00", "2026-08-01 13:00")]
    # C-2: 3 sales from 11-11 to 12-01 (21 days, less than a month: one month).
    assert value.rows[1]["visits_per_month"] == 3.0


def test_churn_acquisition_birthdays_and_mix(office: Any) -> None:
    churn = report(office, "churn", to="2026-11-30", days="60")
    assert figures(churn.rows, "customer", "last_sale", "days_since", "sales_90d",
                   "volume_90d_ml", "amount_90d") == [
        ("C-3", "2026-08-01 13:00", 121, 1, 30_000, 150_000)]
    assert report(office, "churn", to="2026-11-30", days="125").rows == []
    new = report(office, "acquisition", **NOV)
    assert figures(new.rows, "period", "new") == [("2026-11-01", 2)]  # C-3 on 10-31 local
    march = report(office, "birthdays", month="3")
    assert figures(march.rows, "customer", "day", "turns") == [("C-1", "03-15", 47)]
    mix = report(office, "customer-mix", **NOV, per="age")
    # On 2026-11-30 Boris (born 2001-11-30) is 25 that very day; Anna 46; Chen unknown.
    assert figures(mix.rows, "age", "customers", "active", "volume_ml") == [
        ("25-34", 1, 1, 30_000), ("45-54", 1, 1, 130_000), ("unknown", 1, 0, 0)]
    regions = report(office, "customer-mix", **NOV, per="region")
    assert figures(regions.rows, "region", "customers", "active") == [("North", 2, 1),
                                                                      ("South", 1, 1)]


def test_stations_per_station_pump_hour_and_weekday(office: Any) -> None:
    st = report(office, "stations", **NOV)
    assert figures(st.rows, "station", "product", "sales", "volume_ml", "amount") == [
        ("S-001", "AI95", 4, 120_000, 660_000), ("S-002", "DT", 1, 40_000, 240_000)]
    hours = report(office, "stations", **NOV, per="hour")
    assert len(hours.rows) == 24
    assert [(r["hour"], r["sales"]) for r in hours.rows if r["sales"]] == [
        (0, 1), (11, 2), (15, 1), (23, 1)]
    days = report(office, "stations", **NOV, per="weekday")
    assert [(r["weekday"], r["sales"]) for r in days.rows if r["sales"]] == [
        ("Monday", 3), ("Wednesday", 1), ("Friday", 1)]
    pumps = report(office, "stations", **NOV, per="pump")
    assert sum(r["sales"] for r in pumps.rows) == 5


def test_exceptions(office: Any) -> None:
    found = report(office, "exceptions", **NOV)
    assert figures(found.rows, "kind", "station", "seq", "card") == [
        ("over_tank", "S-001", 2, "K1"), ("odometer_backwards", "S-002", 1, "K1"),
        ("odometer_too_far", "S-001", 4, "K1"), ("two_stations", "S-002", 1, "K1")]
    assert found.rows[3]["detail"] == "10 min after a sale at S-001"
    assert found.rows[0]["detail"] == "60.000 l into a 50.000 l tank"
    tight = report(office, "exceptions", **NOV, within="5m")
    assert "two_stations" not in {r["kind"] for r in tight.rows}


def test_loyalty_and_vouchers(office: Any) -> None:
    conn, _config = office
    for kind, points, at in (("earn", 100, "2026-11-02T08:00:00.000000Z"),
                             ("burn", -30, "2026-11-10T21:30:00.000000Z"),
                             ("adjust", 5, "2026-11-20T12:00:00.000000Z"),
                             ("earn", 7, "2026-12-01T10:00:00.000000Z")):
        conn.execute("INSERT INTO points_entries (card_id, kind, points, lots, short, at, "
                     "actor, reason) VALUES ('K1', ?, ?, '[]', 0, ?, 'test', '')",
                     (kind, points, at))
    conn.execute("INSERT INTO points_lots (card_id, earned_on, expires, points, remaining, "
                 "created_at) VALUES ('K1', '2026-10-01', '2026-11-15', 50, 20, 'x')")
    rows = report(office, "loyalty", **NOV).rows
    assert figures(rows, "period", "earned", "burned", "adjusted", "expired", "net") == [
        ("2026-11-01", 100, 30, 5, 20, 55)]
    conn.execute("INSERT INTO voucher_batches (batch_id, number, product, volume_ml, count, "
                 "valid_from, valid_until, key, created_by, created_at, note) VALUES "
                 "('VB000001', 1, 'AI95', 20000, 10, '2026-10-01T00:00:00.000000Z', "
                 "'2027-01-01T00:00:00.000000Z', ?, 't', 'x', '')", ("0" * 64,))
    for serial, at in (("000001000001", "2026-11-02T08:00:00.000000Z"),
                       ("000001000002", "2026-12-02T08:00:00.000000Z")):
        conn.execute("INSERT INTO voucher_redemptions (serial, batch_id, station_id, sale_id, "
                     "seq, redeemed_at, value, volume_ml, recorded_at) VALUES "
                     "(?, 'VB000001', 'S-001', 'x', 1, ?, 110000, 20000, 'x')", (serial, at))
    conn.execute("INSERT INTO voucher_exceptions (serial, batch_id, station_id, sale_id, seq, "
                 "redeemed_at, value, volume_ml, status, note, created_at) VALUES "
                 "('000001000001', 'VB000001', 'S-002', 'y', 1, "
                 "'2026-11-03T08:00:00.000000Z', 110000, 20000, 'open', '', 'x')")
    v = report(office, "vouchers", **NOV).rows
    assert figures(v, "batch", "issued", "redeemed", "outstanding", "expired", "doubled",
                   "doubled_open") == [("VB000001", 10, 1, 9, 0, 1, 1)]


@pytest.mark.parametrize(("name", "options", "message"), [
    ("nosuch", {}, "there is no report 'nosuch'"),
    ("consumption", {"from": "2026-13-01"}, "--from must be a date"),
    ("consumption", {"from": "2026-11-30", "to": "2026-11-01"}, "is before --from"),
    ("consumption", {"by": "year"}, "--by must be one of day, week, month"),
    ("consumption", {"per": "planet"}, "--per must be one of"),
    ("birthdays", {"per": "region"}, "this report takes no --per"),
    ("top-customers", {"limit": "0"}, "--limit must be a whole number"),
    ("churn", {"days": "-1"}, "--days must be a whole number"),
    ("exceptions", {"within": "1s"}, "--within must be a time"),
    ("consumption", {"station": "<script>"}, "is not an identifier"),
    ("consumption", {"from": "2000-01-01", "to": "2026-01-01"}, "at most ten years"),
])
def test_a_bad_question_is_one_sentence(office_conn: OfficeConnection, name: str,
                                        options: dict[str, str], message: str) -> None:
    with pytest.raises(ReportError, match=message):  # refused before the store is read
        registry.run(office_conn, name, options, OfficeReportsConfig(), now=NOW)


@pytest.mark.parametrize("options", [
    {"by": "month"}, {"by": "day", "per": "station"}, {"by": "week", "per": "product"},
    {"by": "day", "station": "S-001", "product": "AI95"}, {"by": "month", "per": "none"}])
def test_the_rollups_answer_as_the_sales_do(office: Any, options: dict[str, str]) -> None:
    """Reports the daily roll-ups can answer read them; the figures are those of the
    sales (read when the roll-ups count in another zone)."""
    conn, config = office
    wide = {"from": "2026-07-01", "to": "2026-12-31", **options}
    fast = [registry.run(conn, name, wide if name == "consumption" else
                         {k: v for k, v in wide.items() if k not in ("by", "per")},
                         config, now=NOW).rows for name in ("consumption", "stations")]
    conn.execute("UPDATE rollup_state SET timezone = 'UTC'")  # no longer the report's zone
    slow = [registry.run(conn, name, wide if name == "consumption" else
                         {k: v for k, v in wide.items() if k not in ("by", "per")},
                         config, now=NOW).rows for name in ("consumption", "stations")]
    assert fast == slow
    assert sum(r["sales"] for r in fast[0]) == (5 if "station" in options else 7)
