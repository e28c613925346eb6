"""bench/reports.py at a tiny size, so that it does not rot: the store builds on both
databases, every registered report runs, and each report's figures equal its floor's
(the bare SQL of the same question). No timing is asserted."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import reports
import reports_build

from office.reports import registry
from tests import pg

SALES = 3000
CUSTOMERS = 2000


def _run(backend: str, root: Path) -> list[reports.Result]:
    spec = reports_build.Spec(backend, SALES, 11, date(2026, 11, 29), "Europe/Berlin",
                              CUSTOMERS)
    try:
        built = reports.prepare(spec, rebuild=False, root=root, say=lambda _: None)
        assert built.counts["sales"] == SALES
        assert built.counts["customers"] == CUSTOMERS
        assert built.counts["cards"] == CUSTOMERS + CUSTOMERS // 5
        # Built again from the cache: the same store, not a new one.
        assert reports_build.cached(spec, root) is not None
        return reports.measure(built, spec, runs=1, only=[], say=lambda _: None)
    finally:
        reports_build.drop(spec, root)


def test_every_report_agrees_with_its_floor_on_both_databases(tmp_path: Path) -> None:
    pg.require_pg()
    results = {backend: _run(backend, tmp_path / backend)
               for backend in ("sqlite", "postgresql")}
    for backend, found in results.items():
        measured = {r.report for r in found if not r.error}
        # Every registered report that takes a year's range ran.
        assert {"consumption", "top-customers", "churn", "stations", "loyalty", "vouchers",
                "exceptions"} <= measured
        for r in found:
            if r.error or r.floor_s is None:
                continue
            assert r.agrees, (backend, r.report, r.label, r.mine, r.floors)
            assert r.mine not in (None, (), [], 0), (backend, r.report, r.label)
        consumption = next(r for r in found if r.report == "consumption")
        assert consumption.mine[0] == SALES  # every sale of the year is in the year
    # The generator writes the same sales on both: every report answers the same.
    lite, post = results["sqlite"], results["postgresql"]
    assert [(r.report, r.label, r.rows, r.mine) for r in lite] == \
        [(r.report, r.label, r.rows, r.mine) for r in post]
    assert {r.report for r in lite} == set(registry.specs())


def test_a_store_without_its_marker_is_not_taken_from_the_cache(tmp_path: Path) -> None:
    spec = reports_build.Spec("sqlite", 10, 1, date(2026, 11, 29), "UTC", 100)
    (tmp_path / spec.key).mkdir()
    assert reports_build.cached(spec, tmp_path) is None


@pytest.mark.parametrize("tz", ["Europe/Berlin", "UTC"])
def test_the_year_starts_at_the_first_local_midnight(tz: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    spec = reports_build.Spec("sqlite", 1, 1, date(2026, 11, 29), tz)
    assert spec.start == date(2025, 11, 30)
    local = datetime.fromtimestamp(spec.base_epoch, ZoneInfo(tz))
    assert (local.date(), local.hour, local.minute) == (date(2025, 11, 30), 0, 0)
