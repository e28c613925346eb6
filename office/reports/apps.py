"""The reports app (``office.reports``)."""

from __future__ import annotations

from django.apps import AppConfig


class OfficeReportsConfig(AppConfig):
    """Reports, their exports and scheduled runs."""

    name = "office.reports"
    label = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"
