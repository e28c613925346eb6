"""A real browser for the console tests: Debian's chromium driven by Playwright.

Playwright's Python package carries its own node driver, which starts the browser we
name (``executable_path``): Debian's ``/usr/bin/chromium`` from ``scripts/setup.sh``.
Playwright's own browser builds are never downloaded (``playwright install`` is never
run, and the download is switched off for anything that might try).

The flags keep chromium from reaching out on its own (no background networking,
component updates, sync or QUIC), let it run as root in a container (``--no-sandbox``)
and without a display or GPU (headless, ``--disable-gpu``). Every launch gets a fresh
temporary profile (Playwright makes one per launch and deletes it on close), so no
cookie or cache survives from one test to the next.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CHROMIUM_ENV = "FORECOURT_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """The chromium executable: ``FORECOURT_CHROMIUM``, else Debian's /usr/bin/chromium."""
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


@contextmanager
def launch_chromium(*, headless: bool = True, slow_mo: float = 0) -> Iterator[Browser]:
    """Start chromium for the length of a ``with`` block and yield the Playwright Browser.

    Open a context per user (``browser.new_context()``), a page per tab. A missing
    browser is an error, not a skip: the console tests must run wherever the suite does.
    """
    executable = chromium_path()
    if shutil.which(executable) is None:
        raise FileNotFoundError(
            f"no chromium at {executable} (bash scripts/setup.sh installs Debian's chromium; "
            f"{CHROMIUM_ENV} names another one)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=headless, slow_mo=slow_mo,
            args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
