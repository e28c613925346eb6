"""The card master app (``office.cards``)."""

from __future__ import annotations

from django.apps import AppConfig


class CardsConfig(AppConfig):
    """The card master: current documents and its numbered versions."""

    name = "office.cards"
    label = "cards"
    verbose_name = "Card master"
    default_auto_field = "django.db.models.BigAutoField"
