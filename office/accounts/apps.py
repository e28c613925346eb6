"""The accounts app (``office.accounts``)."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Customers' accounts: payments, adjustments, balances and statements."""

    name = "office.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
