"""tests/browser.py: Debian's chromium, driven by Playwright, against a live local server."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import chromium_path, launch_chromium

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>forecourt browser check</title></head>
<body>
<p id="status">waiting</p>
<button id="press" type="button"
        onclick="document.getElementById('status').textContent = 'pressed ' + (1 + 1)">
  Press</button>
<form method="post" action="/submit">
  <label>Card <input name="card" id="card"></label>
  <button id="send" type="submit">Block</button>
</form>
</body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    received: list[dict[str, list[str]]]

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/":
            self.send_error(404)
            return
        self._reply(PAGE)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        self.received.append(form)
        card = form.get("card", ["?"])[0]
        self._reply(f"<p id='result'>blocked {card}</p>".encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@pytest.fixture
def site() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """A tiny live HTTP server on a free port: its base URL and the forms it received."""
    received: list[dict[str, list[str]]] = []
    handler = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_click_runs_the_page_script_and_the_form_reaches_the_server(
        site: tuple[str, list[dict[str, list[str]]]]) -> None:
    base, received = site
    with launch_chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/")
        assert page.title() == "forecourt browser check"
        assert page.text_content("#status") == "waiting"
        page.click("#press")
        assert page.text_content("#status") == "pressed 2"

        page.fill("#card", "7800001234567890")
        with page.expect_navigation():
            page.click("#send")
        assert page.text_content("#result") == "blocked 7800001234567890"
        assert received == [{"card": ["7800001234567890"]}]
        context.close()


def test_the_browser_is_debians_chromium() -> None:
    out = subprocess.run([chromium_path(), "--version"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    with launch_chromium() as browser:
        version = browser.version
    assert version
    assert version in out, (version, out)
