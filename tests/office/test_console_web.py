"""``forecourt office web`` really serves: gunicorn, static files through whitenoise,
our error pages (never Django's debug page), only the allowed host names."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from office.access.secret import ensure_secret_key
from tests.office.web_server import ROOT, WebServer


def _config(tmp_path: Path, data_dir: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text().replace(
        'data_dir = "var/office"', f'data_dir = "{data_dir}"')
    path.write_text(text.replace("web_workers = 2", "web_workers = 1") + extra)
    return path


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServer]:
    data_dir = tmp_path / "office"
    ensure_secret_key(data_dir)
    server = WebServer(_config(tmp_path, data_dir), tmp_path / "web.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _get(url: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_office_web_serves_login_static_and_our_404(web: WebServer) -> None:
    status, headers, body = _get(web.url + "/login/")
    assert status == 200 and b'name="password"' in body
    assert headers["X-Frame-Options"] == "DENY"
    assert "HttpOnly" in headers.get("Set-Cookie", "")
    status, headers, body = _get(web.url + "/static/console/console.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert b"--accent" in body
    status, _, body = _get(web.url + "/no/such/page")
    assert status == 404 and b"There is no such page" in body
    assert b"Traceback" not in body and b"DEBUG" not in body and b"URLconf" not in body
    status, _, body = _get(web.url + "/stations/")
    assert status == 200 and b'name="password"' in body  # redirected to the login page


def test_office_web_refuses_other_host_names(web: WebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("GET", "/login/", headers={"Host": "evil.example"})
    response = conn.getresponse()
    assert response.status == 400
    assert b"DisallowedHost" not in response.read()
    conn.close()


def test_office_web_without_secret_key_is_one_sentence(tmp_path: Path) -> None:
    server = WebServer(_config(tmp_path, tmp_path / "office"), tmp_path / "web.log")
    try:
        server.process.wait(30)
    finally:
        server.stop()
    text = server.log.read_text()
    assert server.process.returncode != 0
    assert "secret key" in text and "forecourt office init" in text
