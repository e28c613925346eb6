"""The jobs app (``office.jobs``)."""

from __future__ import annotations

from django.apps import AppConfig


class OfficeJobsConfig(AppConfig):
    """The scheduled work of ``forecourt office serve`` and what it must remember."""

    name = "office.jobs"
    label = "jobs"
    verbose_name = "Scheduled jobs"
    default_auto_field = "django.db.models.BigAutoField"
