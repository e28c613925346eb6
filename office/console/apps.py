"""The console app (``office.console``)."""

from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """Pages, templates and static files of the web console."""

    name = "office.console"
    label = "console"
    verbose_name = "Web console"
