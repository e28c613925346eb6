"""The vouchers app (``office.vouchers``)."""

from __future__ import annotations

from django.apps import AppConfig


class VouchersConfig(AppConfig):
    """Voucher batches, the redemption ledger (one winner per voucher) and its exceptions."""

    name = "office.vouchers"
    label = "vouchers"
    verbose_name = "Vouchers"
    default_auto_field = "django.db.models.BigAutoField"
