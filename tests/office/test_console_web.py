"""``forecourt office web`` really serves: gunicorn, static files through whitenoise,
our error pages (never Django's debug page), only the allowed host names."""

from __future__ import annotations

import http.client
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from office.access.secret import secret_key_path
from tests.office.web_server import ROOT, WebServer
from tests.office_fixtures import set_office_database
from tests.support import fc


def _config(tmp_path: Path, data_dir: Path, database: str) -> Path:
    """config.toml for an office in ``data_dir`` on ``database``, initialized."""
    path = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text().replace(
        'data_dir = "var/office"', f'data_dir = "{data_dir}"')
    path.write_text(text.replace("web_workers = 2", "web_workers = 1"))
    set_office_database(path, database)
    fc(path, "office", "init")
    return path


@pytest.fixture
def web(tmp_path: Path, office_database: str) -> Iterator[WebServer]:
    data_dir = tmp_path / "office"
    server = WebServer(_config(tmp_path, data_dir, office_database), tmp_path / "web.log")
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


def test_office_web_needs_the_secret_key_of_office_init(tmp_path: Path) -> None:
    data_dir = tmp_path / "office"
    config = _config(tmp_path, data_dir, "")
    key = secret_key_path(data_dir)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # made by office init
    key.chmod(0o640)
    text = fc(config, "office", "web", check=False).stderr
    assert "readable by others" in text and len(text.strip().splitlines()) == 1
    key.unlink()
    result = fc(config, "office", "web", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: the console's secret key {key} is missing; run "
                                     "'forecourt office init'")
    assert "made the web console's secret key" in fc(config, "office", "init").stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
