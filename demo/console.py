"""The head office's web console as a newcomer meets it: its address and a login that works.

The demo waits until ``forecourt office web`` answers its login page, then logs in as
the demo's administrator the way a browser does (the CSRF cookie and form field, then
the session cookie), so the address and password it prints are known to work.
"""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from demo.children import Child
from demo.errors import DemoError

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def wait_ready(url: str, child: Child, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check()
        try:
            with urllib.request.urlopen(url + "login/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise DemoError(f"the office's console did not answer at {url} within {timeout:.0f} s; "
                    f"its log is {child.log}")


def check_login(url: str, user: str, password: str) -> None:
    """Log in like a browser; DemoError unless the console lets the user in."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with opener.open(url + "login/", timeout=10) as answer:
            page = answer.read().decode("utf-8", "replace")
        found = _CSRF.search(page)
        if found is None:
            raise DemoError(f"the console's login page at {url}login/ has no login form")
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": found.group(1),
                                       "username": user, "password": password}).encode()
        request = urllib.request.Request(url + "login/", data=form,
                                         headers={"Referer": url + "login/"})
        with opener.open(request, timeout=10) as answer:
            landed = urllib.parse.urlparse(answer.geturl()).path
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise DemoError(f"the console at {url} did not answer the login: {exc}") from None
    if landed.rstrip("/").endswith("login"):
        raise DemoError(f"the console at {url} refused the demo's login {user!r}")
