"""Django's settings for the head office, built from our configuration, never edited by hand.

``build_settings`` turns ``[office]`` values (data directory, database, secret key,
language) into the dict ``django.conf.settings.configure`` takes; ``configure`` does that
once per process. ``use_database`` points an already configured process at another
office store (tests and one-process tools open several).

The database is either empty (a SQLite file ``office.db`` in the data directory, tuned as
the station's store is: WAL, ``synchronous=FULL``, foreign keys, a busy timeout and
``BEGIN IMMEDIATE`` transactions, so concurrent writers wait instead of failing with
"database is locked") or a ``postgresql://`` URL, read with ``urllib.parse`` alone.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

OFFICE_DB = "office.db"
PACKAGE_DIR = Path(__file__).resolve().parent

# Seconds a SQLite writer waits for another one's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 5.0
# Run on every new SQLite connection (Django 5.2 splits init_command on ";" and executes
# each statement). Django itself also sets foreign_keys=ON; it is said here for readers.
SQLITE_INIT_COMMAND = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"

LANGUAGES = [("en", "English"), ("ru", "Русский"), ("tr", "Türkçe"), ("vi", "Tiếng Việt")]

OFFICE_APPS = ["office.ledger", "office.customers", "office.cards", "office.pricing",
               "office.access", "office.vouchers", "office.reports", "office.accounts",
               "office.jobs", "office.console"]


@dataclass(frozen=True, kw_only=True)
class ConsoleOptions:
    """What the web console takes from ``[office]`` besides the database and language.

    ``currency``/``currency_decimals``: how money is shown (the office uses ``[station]
    currency`` as its CLI does). The failed-login limit: ``login_failure_limit`` wrong
    passwords for one username from one address within ``login_failure_window_s`` lock
    that pair for ``login_lockout_s``. ``session_age_s``: a session ends this long after
    login. ``hsts_s``: the Strict-Transport-Security max-age sent over TLS (0: none).
    """

    currency: str = "RUB"
    currency_decimals: int = 2
    login_failure_limit: int = 5
    login_failure_window_s: int = 900
    login_lockout_s: int = 900
    session_age_s: int = 8 * 3600
    hsts_s: int = 0

_PG_SCHEMES = ("postgresql", "postgres")
# URL query keys that become Django's own keys; every other one is handed to libpq.
_PG_KEYS = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD",
            "dbname": "NAME"}


def database_settings(database: str, data_dir: Path) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for an ``[office] database`` value.

    ``""`` is the SQLite file ``data_dir/office.db``; otherwise a
    ``postgresql://user:password@host:port/dbname?key=value`` URL (``postgres://`` too, as
    libpq reads both; ``postgresql:///dbname?host=/var/run/postgresql`` for the local
    socket). ValueError, one sentence, for anything else; the password is never repeated.
    """
    if not database.strip():
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / OFFICE_DB),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": SQLITE_BUSY_TIMEOUT_S,
                "init_command": SQLITE_INIT_COMMAND,
            },
        }
    return _postgresql_settings(database.strip())


def _postgresql_settings(url: str) -> dict[str, Any]:
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in _PG_SCHEMES:
        shown = f"a {scheme}:// URL" if sep else "text that is not a URL"
        raise ValueError(f"[office] database must be empty (a SQLite file in the data "
                         f"directory) or a postgresql://user:password@host:port/dbname URL, "
                         f"not {shown}")
    parts = urlsplit(url)
    if parts.fragment:
        raise ValueError("[office] database: a postgresql:// URL has no '#' part")
    settings: dict[str, Any] = {"ENGINE": "django.db.backends.postgresql", "NAME": "",
                                "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
                                "OPTIONS": {}}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        settings["USER"], settings["PASSWORD"] = unquote(user), unquote(password)
    host, port = _split_hostport(hostport)
    settings["HOST"], settings["PORT"] = host, port
    settings["NAME"] = unquote(parts.path.lstrip("/"))
    seen: set[str] = set()
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError("[office] database: the postgresql:// URL's query part is not "
                         "key=value pairs joined by '&'") from None
    for key, value in query:
        if key in seen:
            raise ValueError(f"[office] database: the postgresql:// URL gives {key!r} twice")
        seen.add(key)
        if key in _PG_KEYS:
            settings[_PG_KEYS[key]] = value
        else:
            settings["OPTIONS"][key] = value
    if not settings["NAME"]:
        raise ValueError("[office] database: the postgresql:// URL names no database "
                         "(postgresql://user@host/dbname)")
    if "/" in settings["NAME"]:
        raise ValueError("[office] database: the postgresql:// URL's database name has a '/'")
    if settings["PORT"] and not str(settings["PORT"]).isdigit():
        raise ValueError("[office] database: the postgresql:// URL's port is not a number")
    return settings


def _split_hostport(hostport: str) -> tuple[str, str]:
    """``host:port``, ``[v6]:port`` or a percent-encoded socket directory, unquoted."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = hostport.partition(":")
    return unquote(host), port


def _whitenoise_middleware() -> list[str]:
    """whitenoise serves the console's static files under gunicorn, when installed."""
    return (["whitenoise.middleware.WhiteNoiseMiddleware"]
            if importlib.util.find_spec("whitenoise") is not None else [])


def build_settings(data_dir: Path, database: str, *, secret_key: str, language: str = "en",
                   debug: bool = False, allowed_hosts: tuple[str, ...] = ("localhost",
                                                                          "127.0.0.1"),
                   tls: bool = False, console: ConsoleOptions | None = None
                   ) -> dict[str, Any]:
    """Everything Django needs, as keyword arguments for ``settings.configure``.

    ``tls``: the console is served over HTTPS, so session and CSRF cookies are marked
    secure (and HSTS is sent when ``console.hsts_s`` says so). DEBUG stays off unless a
    caller asks (no caller in forecourt does): a 404 or 500 is the console's own page.
    Django's own logging setup is off (``LOGGING_CONFIG=None``): the office logs
    through structlog like the station, and Django must not replace that configuration.
    """
    if language not in {code for code, _ in LANGUAGES}:
        raise ValueError(f"[office] language must be one of "
                         f"{', '.join(code for code, _ in LANGUAGES)}, not {language!r}")
    if not secret_key:
        raise ValueError("the office's secret key is empty; 'forecourt office init' makes one")
    console = console or ConsoleOptions()
    return {
        "DEBUG": debug,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": list(allowed_hosts),
        "DATABASES": {"default": database_settings(database, data_dir)},
        "INSTALLED_APPS": [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            *OFFICE_APPS,
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            *_whitenoise_middleware(),
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.locale.LocaleMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [],
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "office.console.context.console",
            ]},
        }],
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "USE_I18N": True,
        "LANGUAGE_CODE": language,
        "LANGUAGES": LANGUAGES,
        "LOCALE_PATHS": [str(PACKAGE_DIR / "locale")],
        "STATIC_URL": "static/",
        # No collectstatic: whitenoise serves the apps' static folders (USE_FINDERS).
        "STATIC_ROOT": None,
        "SESSION_COOKIE_SECURE": tls,
        "CSRF_COOKIE_SECURE": tls,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_AGE": console.session_age_s,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_HSTS_SECONDS": console.hsts_s if tls else 0,
        "ROOT_URLCONF": "office.console.urls",
        "LOGIN_URL": "console:login",
        "LOGIN_REDIRECT_URL": "console:home",
        "LOGOUT_REDIRECT_URL": "console:login",
        # whitenoise serves the apps' static folders straight from the package: no
        # collectstatic step, no web server in front.
        "WHITENOISE_USE_FINDERS": True,
        "WHITENOISE_AUTOREFRESH": False,
        "AUTH_PASSWORD_VALIDATORS": [
            {"NAME": "django.contrib.auth.password_validation."
                     "UserAttributeSimilarityValidator"},
            {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
             "OPTIONS": {"min_length": 10}},
            {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
            {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
        ],
        "OFFICE_CONSOLE": console,
        "LOGGING_CONFIG": None,
    }


_configure_lock = threading.Lock()
_configured_with: dict[str, Any] | None = None


def configure(data_dir: Path, database: str, *, secret_key: str, language: str = "en",
              debug: bool = False, allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
              tls: bool = False, console: ConsoleOptions | None = None) -> None:
    """Configure Django and run ``django.setup()``, once per process.

    Calling it again with the same values does nothing (so every entry point may call
    it); other values are a RuntimeError, since Django's settings cannot be rebuilt in a
    running process: ``use_database`` is how a process moves to another office store.
    """
    global _configured_with  # noqa: PLW0603 - one Django per process
    wanted = build_settings(data_dir, database, secret_key=secret_key, language=language,
                            debug=debug, allowed_hosts=allowed_hosts, tls=tls,
                            console=console)
    with _configure_lock:
        if _configured_with is not None:
            if wanted != _configured_with:
                raise RuntimeError("Django is already configured in this process with other "
                                   "settings; use_database switches the office store")
            return
        import django
        from django.conf import settings

        if settings.configured:
            raise RuntimeError("Django was configured outside office.settings.configure")
        # Django fills defaults into DATABASES in place: compare against a copy.
        snapshot = copy.deepcopy(wanted)
        settings.configure(**wanted)
        django.setup()
        _track_connections()
        _configured_with = snapshot


# Every Django database connection opened in this process, in any thread; weak, so a
# connection that is gone is forgotten. use_database closes them all.
_wrappers: weakref.WeakSet[Any] = weakref.WeakSet()
_wrappers_lock = threading.Lock()


def _track_connections() -> None:
    from django.db.backends.signals import connection_created

    def remember(sender: object, connection: Any, **kwargs: object) -> None:  # noqa: ARG001
        with _wrappers_lock:
            _wrappers.add(connection)

    connection_created.connect(remember, weak=False, dispatch_uid="office.settings.track")


def use_database(database: str, data_dir: Path) -> None:
    """Point this process's default database at another office store.

    Django reads ``DATABASES`` once: the ``ConnectionHandler`` (``django.db.connections``)
    caches it in its ``settings`` cached_property, and every thread keeps its own
    ``DatabaseWrapper`` (holding a copy of the old settings) in a thread-local ``Local``.
    So the trick is, in this order:

    1. refuse inside a transaction (``atomic``): switching there would lose its work;
    2. close every connection this process opened, in every thread (they are tracked
       through the ``connection_created`` signal; Django's wrappers cannot be reached
       across threads otherwise), so no SQLite file stays open and no PostgreSQL session
       lingers on a database a test wants to drop;
    3. replace ``settings.DATABASES``, drop the handler's cached ``settings`` and give it
       a fresh ``Local``: every thread then builds a new wrapper from the new settings on
       its next query (``django.db.connection`` is a proxy that looks up ``default``
       each time, so modules that imported it keep working);
    4. clear the ContentType cache, whose ids belong to the old database.

    Meant for tests and one-process tools, between units of work: a thread that is in
    the middle of a query on the old database when another thread switches loses its
    connection. A web server never switches.
    """
    from asgiref.local import Local
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections

    new = database_settings(database, data_dir)
    current = connections["default"]
    if current.in_atomic_block:
        raise RuntimeError("cannot switch the office database inside a transaction")
    connections.close_all()  # this thread's, through Django (it knows their state)
    with _wrappers_lock:
        wrappers = list(_wrappers)
        _wrappers.clear()
    for wrapper in wrappers:  # other threads': close the driver connection directly
        raw = wrapper.connection
        if raw is not None:
            with contextlib.suppress(Exception):  # already broken is as good as closed
                raw.close()
            wrapper.connection = None
    settings.DATABASES = {"default": copy.deepcopy(new)}
    connections.__dict__.pop("settings", None)  # the cached_property
    connections._settings = None
    connections._connections = Local(connections.thread_critical)
    ContentType.objects.clear_cache()
