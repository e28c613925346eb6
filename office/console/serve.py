"""``forecourt office web``: Django configured from ``[office]``, served by gunicorn.

gunicorn runs in this process (``gunicorn.app.base.BaseApplication``): the master
configures Django and checks the store once, then forks ``[office] web_workers``
workers that serve the console's WSGI application. Static files come from whitenoise
inside the application (no collectstatic, no web server in front). TLS: gunicorn's
``certfile``/``keyfile`` from ``[office] web_cert_file``/``web_key_file``; Django then
marks session and CSRF cookies secure and sends HSTS when ``web_hsts`` asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from core.config import Config, OfficeConfig
from office import settings
from office.settings import ConsoleOptions

log = structlog.get_logger(__name__)


def console_options(config: Config) -> ConsoleOptions:
    """The console's settings from ``[office]`` (and ``[station] currency``, which is
    what the office's CLI shows money in)."""
    office = config.office
    return ConsoleOptions(
        currency=config.station.currency, currency_decimals=config.station.money.decimals,
        login_failure_limit=office.login_failure_limit,
        login_failure_window_s=office.seconds("login_failure_window"),
        login_lockout_s=office.seconds("login_lockout"),
        session_age_s=office.seconds("web_session_age"),
        hsts_s=office.seconds("web_hsts"))


def bind_host(bind: str) -> str:
    """``127.0.0.1`` of ``127.0.0.1:8000``, ``::1`` of ``[::1]:8000``."""
    host = bind.rpartition(":")[0]
    return host[1:-1] if host.startswith("[") else host


def allowed_hosts(office: OfficeConfig, bind: str) -> tuple[str, ...]:
    """``[office] web_allowed_hosts``, else localhost, 127.0.0.1 and the bind address."""
    if office.web_allowed_hosts:
        return tuple(office.web_allowed_hosts)
    hosts = ["localhost", "127.0.0.1", "[::1]"]
    host = bind_host(bind)
    if host not in ("0.0.0.0", "::", "") and host not in hosts:
        hosts.append(f"[{host}]" if ":" in host else host)
    return tuple(hosts)


def configure_web(config: Config, bind: str) -> None:
    """Configure Django for serving the console (the real secret key, the console's
    security settings). Must come before anything else configures Django."""
    from office.access.secret import load_secret_key

    office = config.office
    settings.configure(office.data_dir, office.database,
                       secret_key=load_secret_key(office.data_dir), language=office.language,
                       allowed_hosts=allowed_hosts(office, bind), tls=office.web_tls,
                       console=console_options(config))


def application(config: Config) -> Callable[..., Any]:
    """The console's WSGI application for ``config`` (Django configured first)."""
    from django.core.wsgi import get_wsgi_application

    from office.console import runtime

    runtime.set_config(config)
    return get_wsgi_application()  # type: ignore[no-any-return]


def _warm_charts() -> None:
    """Draw one small chart before the workers fork: matplotlib's import and font cache
    cost half a second the first time, which the first dashboard of every worker would
    pay otherwise (the dashboard must render in under a second)."""
    from core.display import Currency
    from office.reports import charts
    from office.reports.base import Chart, Column, Report

    charts.draw(Report("warm", "", (Column("x", "x"), Column("y", "y", "count")),
                       [{"x": "a", "y": 1}], Chart("bar", "x", "y")), "svg",
                Currency("XXX", 2))


def gunicorn_options(config: Config, bind: str) -> dict[str, Any]:
    office = config.office
    options: dict[str, Any] = {
        "bind": [bind], "workers": office.web_workers, "worker_class": "sync",
        "timeout": 60, "graceful_timeout": 10, "proc_name": "forecourt-office-web",
        "accesslog": "-", "errorlog": "-", "loglevel": "info",
        "forwarded_allow_ips": "127.0.0.1,::1",
    }
    if office.web_tls:
        options["certfile"] = office.web_cert_file
        options["keyfile"] = office.web_key_file
    return options


def serve(config: Config, bind: str) -> None:
    """Serve the console until stopped (SIGINT/SIGTERM end gunicorn gracefully)."""
    from django.db import connections
    from gunicorn.app.base import BaseApplication

    from office.store import open_office

    configure_web(config, bind)
    open_office(config)  # refuses a missing or foreign store; migrates an older one
    app = application(config)
    _warm_charts()
    connections.close_all()  # no database connection is shared with the workers

    class Console(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(config, bind).items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return app

    log.info("office.web_starting", bind=bind, workers=config.office.web_workers,
             tls=config.office.web_tls)
    Console().run()
