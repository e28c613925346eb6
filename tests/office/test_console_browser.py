"""The console in a real browser (Debian's chromium through Playwright) against a live
``forecourt office web``, with a real station daemon, ``forecourt office serve`` and a
mosquitto the test starts: log in, see the station come online, block a card with the
console's button, and see the station refuse that card.

``FORECOURT_SCREENSHOTS=DIR`` keeps a screenshot of each step in DIR.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser import launch_chromium
from tests.conftest import forecourt_exe
from tests.network_fixtures import CARD, Broker
from tests.office.console_support import PASSWORD
from tests.office.web_server import WebServer
from tests.support import fc, fc_json, start_daemon, stop_daemon, wait_for

pytestmark = pytest.mark.slow


def _shot(page: Page, name: str) -> None:
    folder = os.environ.get("FORECOURT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def web(network: Path, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(network, tmp_path / "web.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _add_operator(config: Path) -> None:
    """Console user anna, an operator, with the test password (the real CLI)."""
    subprocess.run([forecourt_exe(), "--config", str(config), "office", "users", "add",
                    "anna", "--group", "operators", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)


def _log_in(page: Page, url: str, landing: str) -> None:
    """Open ``url``, log in as anna on the login page it leads to, land on ``landing``."""
    page.goto(url)
    page.fill("input[name=username]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(landing)


def _authorize(config: Path, pump: int) -> dict[str, object]:
    """One authorization at the station; an approved one is cancelled again at once."""
    result: dict[str, object] = fc_json(config, "sale", "authorize", "--card", CARD,
                                        "--pump", str(pump))
    if result.get("approved"):
        fc(config, "sale", "cancel", str(result["sale_id"]))
    return result


def test_block_a_card_in_the_browser_and_the_station_refuses_it(
        network: Path, broker: Broker, card_store: Path, office: subprocess.Popen[str],
        web: WebServer, office_database: str) -> None:
    started = time.monotonic()
    fc(network, "office", "cards", "import", str(card_store))
    _add_operator(network)
    station = start_daemon(network)
    try:
        with launch_chromium() as browser:
            page = browser.new_context(locale="en-US").new_page()
            _log_in(page, web.url + "/", "**/dashboard/")  # where a viewer lands
            page.goto(web.url + "/stations/")
            _shot(page, "1-stations")

            def online() -> bool:
                page.goto(web.url + "/stations/")
                state = page.locator("tr[data-station='S-001'] td.state").inner_text()
                return state.strip() == "online"

            wait_for(online, "the console to show S-001 online", timeout=60)
            _shot(page, "2-online")
            wait_for(lambda: fc_json(network, "status")["card_store_version"] == 17,
                     "the station to sync to the office's card master")
            assert _authorize(network, 3)["approved"]

            page.goto(f"{web.url}/cards/?q={CARD}")
            page.click(f"tr[data-card='{CARD}'] button[name=block]")
            message = page.locator("ul.messages li").inner_text()
            assert f"Card {CARD} is now blocked (card master version 18)" in message
            assert "Sent to every station" in message
            assert page.locator(f"tr[data-card='{CARD}'] td.status").inner_text() == "blocked"
            _shot(page, "3-blocked")

            wait_for(lambda: _authorize(network, 4).get("reason") == "card_blocked",
                     "the station to refuse the blocked card", timeout=30)
            assert fc_json(network, "status")["card_store_version"] == 18

            page.goto(f"{web.url}/audit/?action=card.block")
            row = page.locator("table tbody tr").first.inner_text()
            assert "anna" in row and "console" in row and "status: active" in row \
                and "status: blocked" in row
            _shot(page, "4-audit")
    finally:
        stop_daemon(station)
    print(f"browser test on {'PostgreSQL' if office_database else 'SQLite'}: "
          f"{time.monotonic() - started:.1f} s")


def test_a_clerk_adds_a_customer_issues_a_card_and_the_station_takes_it(
        network: Path, broker: Broker, card_store: Path, office: subprocess.Popen[str],
        web: WebServer, office_database: str) -> None:
    """Issue 12 in the browser: a customer typed in (with a non-Latin name), found again
    by a Latin spelling with a typo, a card issued with a day limit; the station then
    authorizes that card with the limit the clerk set."""
    fc(network, "office", "cards", "import", str(card_store))
    _add_operator(network)
    station = start_daemon(network)
    try:
        with launch_chromium() as browser:
            page = browser.new_context(locale="en-US").new_page()
            _log_in(page, web.url + "/customers/new", "**/customers/new")
            page.fill("input[name=name]", "Şükrü Yılmaz")
            page.fill("input[name=phones]", "+90 532 123 45 67")
            page.click("form.record button[type=submit]")
            page.wait_for_url("**/customers/C-*/")
            customer_id = page.url.rstrip("/").rsplit("/", 1)[1]
            _shot(page, "c1-customer")
            page.goto(web.url + "/customers/?q=sukru+yilmas")
            assert page.locator(f"tr[data-customer='{customer_id}']").count() == 1
            page.goto(web.url + f"/customers/{customer_id}/issue")
            page.select_option("select[name=kind]", "smart")
            page.fill("input[name=card_id]", "K-WEB")
            page.click("form.record button[type=submit]")
            page.wait_for_url("**/card/K-WEB/")
            page.select_option("form[action$='/limit'] select[name=period]", "day")
            page.select_option("form[action$='/limit'] select[name=unit]", "volume")
            page.fill("form[action$='/limit'] input[name=value]", "25")
            page.click("form[action$='/limit'] button[type=submit]")
            page.wait_for_url("**/card/K-WEB/")
            assert "25.000" in page.locator("table").nth(1).inner_text()
            _shot(page, "c2-card")

        def limited() -> bool:
            result = fc_json(network, "sale", "authorize", "--card", "K-WEB", "--pump", "3",
                             "--product", "DT")
            if result.get("approved"):
                fc(network, "sale", "cancel", str(result["sale_id"]))
            return bool(result.get("approved") and result["max_volume_ml"] == 25000)

        wait_for(limited, "the station to take the new card with its 25 l a day")
        # Issue 13: a discount typed into the pricing page is published at once.
        fc(network, "office", "roles", "grant", "operators", "pricing.add")
        with launch_chromium() as browser:
            page = browser.new_context(locale="en-US").new_page()
            _log_in(page, web.url + "/pricing/", "**/pricing/")
            page.click("details:has(#add-discount) summary")
            page.select_option("#add-discount select[name=discount-kind]", "volume")
            page.fill("#add-discount input[name=discount-percent]", "2.5")
            page.fill("#add-discount input[name=discount-min_fill]", "30")
            page.fill("#add-discount input[name=discount-rule_id]", "D-WEB")
            page.click("#add-discount button[type=submit]")
            page.wait_for_url("**/pricing/")
            assert "Rule D-WEB added." in page.locator("ul.messages li").inner_text()
            row = page.locator("tr[data-rule='D-WEB']").inner_text()
            assert "2.5 %" in row and "from 30 l in one fill" in row
            _shot(page, "c3-pricing")
        shown = fc(network, "office", "pricing", "show").stdout
        assert '"percent_bp": 250' in shown and '"min_fill_ml": 30000' in shown
    finally:
        stop_daemon(station)


def _shop(config: Path) -> None:
    """Today's sales at S-001 and S-002 (the real clock), in ``sales`` and in the
    roll-ups the dashboard reads, written to the office store as a test bench would."""
    from datetime import UTC, datetime

    from core.config import load_config_file
    from office.store import open_office

    now = datetime.now(UTC).replace(microsecond=0)
    conn = open_office(load_config_file(config))
    try:
        with conn.atomic():
            for seq, (station, product, ml, amount) in enumerate(
                    (("S-001", "AI95", 20000, 100000), ("S-002", "DT", 35000, 210000)),
                    start=1):
                at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # both today, at any hour
                conn.execute(
                    "INSERT INTO sales (station_id, seq, sale_id, card_id, pump, product, "
                    "volume_ml, unit_price, amount, authorized_at, completed_at, "
                    "wallet_debits, prev_hash, hash, received_at, via) VALUES "
                    "(?, 1, ?, 'K-1', 1, ?, ?, 5000, ?, ?, ?, '{}', ?, ?, ?, 'mqtt')",
                    (station, f"sale-{seq}", product, ml, amount, at, at, "0" * 64,
                     f"{seq:064d}", at))
                conn.execute(
                    "INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, "
                    "amount, discount) VALUES (?, ?, ?, 1, ?, ?, 0)",
                    (at[:10], station, product, ml, amount))
    finally:
        conn.close()


def _chart_loaded(page: Page, selector: str) -> int:
    """The natural width of the chart image ``selector`` once the browser decoded it."""
    image = page.locator(selector)
    image.wait_for()
    width: int = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    return width


def test_the_dashboard_and_a_report_show_their_charts(
        config_file: Path, office_database: str, tmp_path: Path) -> None:
    """Issue 14 in the browser: anna lands on the dashboard and sees today's figures and
    both trend charts drawn; a report page shows its table and chart."""
    from tests.office_fixtures import set_office_database

    set_office_database(config_file, office_database)
    fc(config_file, "office", "init")
    _add_operator(config_file)
    _shop(config_file)
    server = WebServer(config_file, tmp_path / "web.log")
    try:
        server.wait_ready()
        with launch_chromium() as browser:
            page = browser.new_context(locale="en-US").new_page()
            _log_in(page, server.url + "/", "**/dashboard/")
            today = page.locator("#today").inner_text()
            assert "55.000 l" in today and "3,100.00 RUB" in today
            assert _chart_loaded(page, "#chart-months img") > 100
            assert _chart_loaded(page, "#chart-days img") > 100
            assert page.locator("#top-stations tbody tr").first.get_attribute(
                "data-station") == "S-002"
            _shot(page, "r1-dashboard")
            page.click("header nav a:text-is('Reports')")
            page.wait_for_url("**/reports/")
            page.click("tr[data-report='consumption'] a")
            page.wait_for_url("**/reports/consumption/")
            page.select_option("select[name=by]", "day")
            page.select_option("select[name=per]", "station")
            page.click("form.report-form button[type=submit]")
            page.wait_for_url("**/reports/consumption/?*per=station*")
            assert _chart_loaded(page, "figure.chart img") > 100
            total = page.locator("table.report tfoot").inner_text()
            assert "55.000 l" in total and "3,100.00 RUB" in total
            assert page.locator("a[href*='export.csv']").count() == 0  # no export right
            _shot(page, "r2-report")
    finally:
        server.stop()
