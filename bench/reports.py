"""Benchmark: the office's reports at ten million sales, on SQLite and PostgreSQL
(issue 14, item 5).

What: builds (or takes from its cache) an office store with a year of sales (default
10,000,000 at 300 stations, 100,000 customers, 120,000 cards, 20,000 vehicles; see
bench/reports_build.py and bench/reports_sql.py for what is in it), then runs every
registered report through ``office.reports.registry.run`` with a typical set of
options (bench/reports_floors.py) and times it against its FLOOR, the bare SQL
aggregate of the same question on the same tables, measured in the same run: one
warm-up each, then ``--runs`` rounds of report and floor in turn; the medians count.
Each report's figures are checked against the floor's (the same totals). Then the
dashboard (office.reports.dashboard, when it exists) against its 1 s target.

Targets: every report within 2x of its floor; the dashboard under 1 s. The script
reports; it exits 0 (the ``met`` column says PASS or FAIL).

Run::

    .venv/bin/python bench/reports.py --sales 200000               # develop: a minute
    .venv/bin/python bench/reports.py                              # 10M, both databases
    .venv/bin/python bench/reports.py --backend postgresql --rebuild
    .venv/bin/python bench/reports.py --only consumption --only stations

See docs/benchmarks.md, "Reports".
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import reports_build
from reports_floors import Case, cases

from core.config_reports import OfficeReportsConfig
from office.store import OfficeConnection

TARGET_RATIO = 2.0
DASHBOARD_TARGET_S = 1.0
#: With --no-warmup, a case whose report answers quicker than this is still warmed up.
QUICK_S = 10.0


@dataclass
class Result:
    """One case measured."""

    report: str
    label: str
    rows: int
    time_s: float
    floor_s: float | None
    mine: Any = None  # the report's figures
    floors: Any = None  # the floor's
    error: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.floor_s else self.time_s / self.floor_s

    @property
    def agrees(self) -> bool:
        return bool(self.mine == self.floors)

    @property
    def met(self) -> str:
        if self.error:
            return "-"
        if not self.agrees:
            return "DIFFERS"
        ratio = self.ratio
        return "-" if ratio is None else ("PASS" if ratio <= TARGET_RATIO else "FAIL")


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = func()
    return time.perf_counter() - started, out


def measure_case(conn: OfficeConnection, case: Case, spec: reports_build.Spec,
                 config: OfficeReportsConfig, now: datetime, runs: int, warmup: bool = True
                 ) -> Result:
    """Time one case's report and floor (a warm-up each, then ``runs`` rounds)."""
    from office.reports import registry
    from office.reports.base import ReportError

    options = {k: v.format(start=spec.start.isoformat(), end=spec.end.isoformat(),
                           month=spec.end.replace(day=1).isoformat())
               for k, v in case.options.items()}
    label = case.label
    try:
        params = registry.params_for(case.report, options, config, now=now)
        got: Any = registry.run(conn, case.report, options, config, now=now) if warmup \
            else None
    except ReportError as exc:
        return Result(case.report, label, 0, 0.0, None, error=str(exc))

    def report() -> Any:
        return registry.run(conn, case.report, options, config, now=now)

    floor = case.floor
    times: list[float] = []
    floor_times: list[float] = []
    found: Any = None
    if not warmup:
        # Without a warm-up only for the slow: a case quicker than QUICK_S is warmed up
        # (its first run, cold, would say more about the page cache than the report).
        spent, got = _timed(report)
        if spent < QUICK_S:
            runs = max(runs, 3)
        else:
            times.append(spent)
            runs -= 1
            if floor is not None:
                spent, found = _timed(lambda: floor(conn, params))
                floor_times.append(spent)
    if floor is not None and not times:
        found = floor(conn, params)  # its warm-up
    for _ in range(runs):
        spent, got = _timed(report)
        times.append(spent)
        if floor is not None:
            spent, found = _timed(lambda: floor(conn, params))
            floor_times.append(spent)
    mine, floors = case.agree(got, found) if case.agree else (None, None)
    return Result(case.report, label, len(got.rows), statistics.median(times),
                  statistics.median(floor_times) if floor_times else None, mine, floors)


def measure_dashboard(conn: OfficeConnection, config: OfficeReportsConfig, now: datetime,
                      runs: int) -> float | None:
    """The median time of the dashboard's queries (None if there is no dashboard yet)."""
    try:
        from office.reports import dashboard
    except ImportError:
        return None
    build = dashboard.build
    build(conn, config, now=now)
    return statistics.median(_timed(lambda: build(conn, config, now=now))[0]
                             for _ in range(runs))


def measure_page(built: reports_build.Built, config: OfficeReportsConfig, runs: int
                 ) -> float | None:
    """The median time of the console's dashboard page (``GET /dashboard/``, Django's
    test client, logged in as a member of ``viewers``), on the real clock; None if the
    console has no dashboard page."""
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from core.config import Config
    from office.console import runtime

    try:
        url = reverse("console:dashboard")
    except NoReverseMatch:
        return None
    runtime.set_config(Config(office=built.config, office_reports=config))
    try:
        user, _ = User.objects.get_or_create(username="bench-viewer")
        user.groups.set([Group.objects.get(name="viewers")])
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)

        def page() -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code}")

        page()
        return statistics.median(_timed(page)[0] for _ in range(runs))
    finally:
        runtime.set_config(None)


def measure(built: reports_build.Built, spec: reports_build.Spec, *, runs: int,
            only: list[str], warmup: bool = True, say: Callable[[str], None] = print
            ) -> list[Result]:
    """Every case of the registered reports (``only`` those if given), printed as it goes."""
    from office.reports import registry
    from office.store import open_office

    conn = open_office(built.config)
    config = OfficeReportsConfig(timezone=spec.tz)
    now = datetime(spec.end.year, spec.end.month, spec.end.day, 20, tzinfo=ZoneInfo(spec.tz))
    names = [n for n in registry.specs() if not only or any(o.split()[0] == n for o in only)]
    say(f"  {'report':<15} {'options':<30} {'rows':>7} {'time s':>8} {'floor s':>8} "
        f"{'ratio':>6}  target <= {TARGET_RATIO}")
    out = []
    chosen = [c for c in cases(names) if not only or any(
        o == c.report or (o.split()[0] == c.report and o.split(None, 1)[1] == c.label)
        for o in only)]
    for case in chosen:
        result = measure_case(conn, case, spec, config, now, runs, warmup)
        out.append(result)
        if result.error:
            say(f"  {case.report:<15} {result.label:<30} not run: {result.error}")
            continue
        floor = f"{result.floor_s:8.3f}" if result.floor_s is not None else f"{'-':>8}"
        ratio = f"{result.ratio:6.2f}" if result.ratio is not None else f"{'-':>6}"
        say(f"  {case.report:<15} {result.label:<30} {result.rows:>7} {result.time_s:8.3f} "
            f"{floor} {ratio}  {result.met}")
        if not result.agrees:
            say(f"    the report says {result.mine}, the floor {result.floors}")
    dashboards = not only or "dashboard" in only
    dash = measure_dashboard(conn, config, now, max(runs, 3)) if dashboards else None
    if dash is not None:
        verdict = "PASS" if dash < DASHBOARD_TARGET_S else "FAIL"
        say(f"  dashboard (office.reports.dashboard.build): {dash:.3f} s, target < "
            f"{DASHBOARD_TARGET_S:.0f} s: {verdict}")
    page = measure_page(built, config, max(runs, 3)) if dashboards else None
    if page is not None:
        verdict = "PASS" if page < DASHBOARD_TARGET_S else "FAIL"
        say(f"  dashboard page (GET /dashboard/ as a viewer, real clock): {page:.3f} s, "
            f"target < {DASHBOARD_TARGET_S:.0f} s: {verdict}")
    conn.close()
    return out


def prepare(spec: reports_build.Spec, *, rebuild: bool, root: Path = reports_build.CACHE,
            say: Callable[[str], None] = print) -> reports_build.Built:
    """The cached store of ``spec``, built first if missing (or ``rebuild``)."""
    built = None if rebuild else reports_build.cached(spec, root)
    if built is None:
        say(f"{spec.backend}: building {spec.sales:,} sales in {root / spec.key} ...")
        built = reports_build.build(spec, root, say=say)
    counts = ", ".join(f"{v:,} {k}" for k, v in built.counts.items())
    say(f"{spec.backend}: {'cached' if built.reused else 'built'} store: {counts}")
    say(f"{spec.backend}: build {built.build_s:.0f} s, roll-ups rebuilt in "
        f"{built.rollups_s:.1f} s, {built.size_bytes / 1e9:.2f} GB on disk")
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sales", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=reports_build.CUSTOMERS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=date.fromisoformat,
                        default=datetime.now(UTC).date(),
                        help="the last day of the year of sales (default today)")
    parser.add_argument("--tz", default="Europe/Berlin", help="[office_reports] timezone")
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"),
                        help="sqlite, postgresql (default both, one after the other)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds after the warm-up")
    parser.add_argument("--no-warmup", action="store_true",
                        help="no untimed run first for a report slower than 10 s (at 10M a scan "
                             "takes minutes, and the store stays in the page cache)")
    parser.add_argument("--only", action="append", default=[],
                        help="only this report ('dashboard': the dashboard; 'consumption "
                             "--by month --per vehicle': its case with these options)")
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("--cache", type=Path, default=reports_build.CACHE)
    args = parser.parse_args()
    from office.settings import configure

    park = args.cache / "park"
    park.mkdir(parents=True, exist_ok=True)
    configure(park, "", secret_key="bench-" + "k" * 50)
    from core.logs import configure as configure_logging

    configure_logging(level="warning")
    for backend in args.backend or ["sqlite", "postgresql"]:
        spec = reports_build.Spec(backend, args.sales, args.seed, args.end, args.tz,
                                  args.customers)
        built = prepare(spec, rebuild=args.rebuild, root=args.cache)
        measure(built, spec, runs=args.runs, only=args.only, warmup=not args.no_warmup)


if __name__ == "__main__":
    main()
