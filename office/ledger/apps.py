"""The ledger app (``office.ledger``)."""

from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """Stations, sales and everything the office keeps about each station's journal."""

    name = "office.ledger"
    label = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"
