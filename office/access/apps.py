"""The access app (``office.access``)."""

from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Users, groups, rights and the audit trail."""

    name = "office.access"
    label = "access"
    verbose_name = "Access and audit"
    default_auto_field = "django.db.models.BigAutoField"
