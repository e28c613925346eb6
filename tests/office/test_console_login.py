"""Logging in: Django's auth with our template; the failed-login limit per user name and
address (logged and audited); sessions; the secret key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from django.conf import global_settings
from django.test import override_settings

from core.errors import KeyFileError
from office.access.models import AuditEntry, LoginLock
from office.access.secret import ensure_secret_key, load_secret_key, secret_key_path
from office.settings import ConsoleOptions, build_settings
from tests.office.console_support import PASSWORD, client, make_user
from tests.office_fixtures import OfficeDb

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _login(c: object, username: str, password: str, address: str = "10.0.0.1") -> str:
    response = c.post("/login/", {"username": username, "password": password},  # type: ignore[attr-defined]
                      REMOTE_ADDR=address, follow=True)
    return str(response.content.decode())


def test_login_and_logout(console_db: OfficeDb) -> None:
    make_user("vera", ["viewers"])
    c = client()
    page = c.get("/login/").content.decode()
    assert 'name="password"' in page and "csrfmiddlewaretoken" in page
    page = _login(c, "vera", PASSWORD)
    assert "Stations" in page and "vera" in page
    assert c.get("/sales/").status_code == 200
    assert c.get("/logout/").status_code == 405  # logging out is a POST
    c.post("/logout/")
    assert c.get("/sales/").status_code == 302


def test_wrong_password_is_counted_and_locks_the_pair(console_db: OfficeDb) -> None:
    make_user("vera", ["viewers"])
    c = client()
    for _ in range(4):
        assert "Please enter a correct username and password" in _login(c, "vera", "wrong")
    assert not LoginLock.objects.exists()
    assert "Too many failed logins" in _login(c, "vera", "wrong")  # the 5th
    # now even the right password is refused from that address, without checking it
    page = _login(c, "vera", PASSWORD)
    assert "Too many failed logins" in page and c.get("/sales/").status_code == 302
    entry = AuditEntry.objects.get(action="login.lockout")
    assert entry.object_id == "vera@10.0.0.1" and entry.via == "console"
    # another address, and another user from the same address, are not locked
    other = client()
    assert "Stations" in _login(other, "vera", PASSWORD, address="10.0.0.2")
    make_user("olga", ["viewers"])
    assert "Stations" in _login(client(), "olga", PASSWORD)


def test_the_lock_ends(console_db: OfficeDb) -> None:
    make_user("vera", ["viewers"])
    with override_settings(OFFICE_CONSOLE=ConsoleOptions(login_failure_limit=2,
                                                         login_lockout_s=1)):
        c = client()
        _login(c, "vera", "wrong")
        assert "Too many failed logins" in _login(c, "vera", "wrong")
        LoginLock.objects.update(until="2000-01-01T00:00:00Z")  # as if the time passed
        assert "Stations" in _login(c, "vera", PASSWORD)


def test_a_good_login_forgets_failures(console_db: OfficeDb) -> None:
    make_user("vera", ["viewers"])
    c = client()
    for _ in range(4):
        _login(c, "vera", "wrong")
    _login(c, "vera", PASSWORD)
    c.post("/logout/")
    for _ in range(4):
        assert "Too many" not in _login(c, "vera", "wrong")


def test_a_disabled_user_cannot_log_in_and_is_logged_out(console_db: OfficeDb) -> None:
    from office.access import accounts

    make_user("vera", ["viewers"])
    c = client()
    _login(c, "vera", PASSWORD)
    accounts.disable_user("vera", actor="root", via="cli")
    assert c.get("/sales/").status_code == 302
    assert "Please enter a correct username and password" in _login(client(), "vera",
                                                                    PASSWORD)


def test_security_settings() -> None:
    plain = build_settings(Path("/x"), "", secret_key="k" * 50)
    assert plain["DEBUG"] is False
    assert plain["SESSION_COOKIE_HTTPONLY"] is True
    assert plain["X_FRAME_OPTIONS"] == "DENY"
    assert plain["SESSION_COOKIE_SECURE"] is False and plain["SECURE_HSTS_SECONDS"] == 0
    tls = build_settings(Path("/x"), "", secret_key="k" * 50, tls=True,
                         console=ConsoleOptions(hsts_s=3600, session_age_s=600))
    assert tls["SESSION_COOKIE_SECURE"] is True and tls["CSRF_COOKIE_SECURE"] is True
    assert tls["SECURE_HSTS_SECONDS"] == 3600 and tls["SESSION_COOKIE_AGE"] == 600
    # passwords are hashed with Django's default (PBKDF2), not something weaker
    assert "PASSWORD_HASHERS" not in plain
    assert global_settings.PASSWORD_HASHERS[0].endswith("PBKDF2PasswordHasher")
    assert len(plain["AUTH_PASSWORD_VALIDATORS"]) == 4
    with pytest.raises(ValueError, match="secret key is empty"):
        build_settings(Path("/x"), "", secret_key="")


def test_responses_deny_framing(console_db: OfficeDb) -> None:
    assert client().get("/login/")["X-Frame-Options"] == "DENY"


def test_secret_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing; run 'forecourt office init'"):
        load_secret_key(tmp_path)
    assert ensure_secret_key(tmp_path) is True
    assert ensure_secret_key(tmp_path) is False
    path = secret_key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_secret_key(tmp_path)
    assert len(key) >= 50 and key == load_secret_key(tmp_path)
    other = tmp_path / "other"
    ensure_secret_key(other)
    assert load_secret_key(other) != key
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_secret_key(tmp_path)
