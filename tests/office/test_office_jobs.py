"""The office's scheduled jobs on SQLite and PostgreSQL: the monthly tiers recorded from
last month's network volume and sent to stations, points expiry booked once (the history
still adds up through voids), and a job due while the office was down run once at the
next start, not again after."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from core.config import load_config_file
from office.jobs.schedule import OfficeJobs
from office.pricing import points
from office.pricing.expiry import expire_points
from office.pricing.models import CardTier, PointsEntry
from office.pricing.tiers import recompute_tiers
from office.store import OfficeConnection
from tests.office.report_fixture import build, run

DEC_1 = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # [office_jobs] tiers_at, [station] UTC


def programme(config_file: Path) -> OfficeConnection:
    """The report fixture's office (K1 130 l in November, K2 40 l, K3 none) with tiers."""
    conn = build(config_file)
    run("office", "loyalty", "settings", "--point-value", "100", "--expiry-days", "30")
    run("office", "loyalty", "tiers", "gold=100000:150", "silver=30000:120")
    return conn


def programme_with_points_due(config_file: Path) -> OfficeConnection:
    """:func:`programme`, and 10 points of K2 earned on 1 October that expire after 30
    days: a tiers job and a points-expiry job are both due on 25 November."""
    conn = programme(config_file)
    with conn.atomic():
        points.earn("K2", 10, earned_on=date(2026, 10, 1), expiry_days=30,
                    ref=points.SaleRef("S-001", 3, "S-001-s3", "2026-10-01T09:00:00Z", "t"))
    return conn


def test_the_monthly_tiers_are_recorded_and_sent(office_env: Path) -> None:
    conn = programme(office_env)
    config = load_config_file(office_env)
    sent: list[list[dict[str, Any]]] = []
    result = recompute_tiers(conn, config, DEC_1, publish=sent.append)
    tiers = {t.card_id: (t.tier, t.last_month_ml) for t in CardTier.objects.filter(
        month="2026-12-01")}
    assert tiers == {"K1": ("gold", 130_000), "K2": ("silver", 40_000), "K3": (None, 0)}
    assert (result.cards, result.by_tier, result.messages) == (
        3, {"gold": 1, "silver": 1, "-": 1}, 1)
    ops = {op["card_id"]: op for op in sent[0]}
    november = [u for u in ops["K1"]["usage"] if u["period_start"] == "2026-11-01"]
    assert sum(u["volume_ml"] for u in november) == 130_000
    assert ops["K1"]["station_seqs"] == {"S-001": 6, "S-002": 1}
    recompute_tiers(conn, config, DEC_1)  # again for the month: replaced, not doubled
    assert CardTier.objects.filter(month="2026-12-01").count() == 3


def test_points_expiry_is_booked_once_and_the_history_adds_up(office_env: Path) -> None:
    conn = programme(office_env)
    sale = points.SaleRef("S-001", 2, "S-001-s1", "2026-10-01T09:00:00.000000Z", "sync:S-001")
    burn = points.SaleRef("S-001", 4, "S-001-s7", "2026-10-20T09:00:00.000000Z", "sync:S-001")
    with conn.atomic():
        points.earn("K1", 40, earned_on=date(2026, 10, 1), expiry_days=30, ref=sale)
        points.burn("K1", 15, on=date(2026, 10, 20), ref=burn)
    day = date(2026, 12, 1)

    def shown() -> list[tuple[str, int]]:
        return [(e["kind"], e["points"]) for e in points.history("K1", today=day)]

    assert shown() == [("earn", 40), ("burn", -15), ("expire", -25)]  # not booked yet
    done = expire_points(day)
    assert (done.lots, done.points, done.cards) == (1, 25, 1)
    booked = PointsEntry.objects.get(kind="expire")
    assert (booked.points, booked.actor, booked.at) == (-25, "schedule", "2026-11-01T00:00:00Z")
    assert shown() == [("earn", 40), ("burn", -15), ("expire", -25)]  # booked, not twice
    assert expire_points(day).lots == 0
    # A voided redemption gives points back to the expired lot: they stay expired.
    with conn.atomic():
        points.reverse_sale("S-001", 4, burn)
    assert sum(p for _k, p in shown()) == points.balance("K1", day) == 0
    assert expire_points(day).points == 15
    assert sum(p for _k, p in shown()) == 0 and len(shown()) == 5
    # A voided earning takes its expired points back: the expiry of them is reversed.
    with conn.atomic():
        points.reverse_sale("S-001", 2, sale)
    assert sum(p for _k, p in shown()) == points.balance("K1", day) == 0
    assert expire_points(day).lots == 0


def test_jobs_due_while_the_office_was_down_run_once_at_the_next_start(
        office_env: Path) -> None:
    conn = programme_with_points_due(office_env)
    config = load_config_file(office_env)
    clock = [datetime(2026, 11, 25, 12, tzinfo=UTC)]
    sent: list[Any] = []

    def start() -> OfficeJobs:
        jobs = OfficeJobs(config, conn, publish=sent.append, clock=lambda: clock[0])
        jobs.start()
        return jobs

    first = start()  # the first start owes nothing
    first.stop()
    assert CardTier.objects.count() == 0 and not PointsEntry.objects.filter(kind="expire")

    clock[0] = datetime(2026, 12, 2, 12, tzinfo=UTC)  # down over the 1st
    second = start()
    deadline = time.monotonic() + 60
    while (second.jobs.runs["tiers"] < 1 or second.jobs.runs["points-expiry"] < 1) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    second.stop()
    assert (second.jobs.runs["tiers"], second.jobs.runs["points-expiry"]) == (1, 1)
    assert CardTier.objects.filter(month="2026-12-01").count() == 3 and len(sent) == 1
    assert PointsEntry.objects.filter(kind="expire").count() == 1

    third = start()  # restarted the same day: nothing is owed
    assert third.jobs.due("tiers", clock[0]) is None
    assert third.jobs.due("points-expiry", clock[0]) is None
    third.stop()
    assert (third.jobs.runs["tiers"], third.jobs.runs["points-expiry"]) == (0, 0)
    assert len(sent) == 1
