"""The pricing and loyalty app (``office.pricing``)."""

from __future__ import annotations

from django.apps import AppConfig


class PricingConfig(AppConfig):
    """Discounts, points rules, tiers, caps, published revisions and the points ledger."""

    name = "office.pricing"
    label = "pricing"
    verbose_name = "Pricing and loyalty"
    default_auto_field = "django.db.models.BigAutoField"
