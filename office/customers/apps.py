"""The customers app (``office.customers``)."""

from __future__ import annotations

from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Customers, categories, marketing consent, customer groups and vehicles."""

    name = "office.customers"
    label = "customers"
    verbose_name = "Customers"
    default_auto_field = "django.db.models.BigAutoField"
