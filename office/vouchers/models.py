"""The voucher tables: batches, the redemption ledger and its exceptions.

Times are fixed-width ISO UTC text as everywhere in the store (core.timefmt.iso; a
redemption's ``redeemed_at`` is the station's completion time of the sale, as its journal
line has it), so they compare as text on SQLite and PostgreSQL alike; money is integer
minor units, volume integer ml.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

#: What became of a redemption that lost its voucher to an earlier one: still to settle
#: (``open``), charged to the customer of its card, written off, or ``voided`` (its sale
#: was voided at the office: nothing to settle).
EXCEPTION_STATUSES = ("open", "charged", "written_off", "voided")


class VoucherBatch(models.Model):
    """One batch of vouchers: serials ``number`` + 000001..``count``.

    ``key`` is the batch's HMAC-SHA256 key (64 hex digits): whoever holds it can make
    the batch's codes. It is never shown in the console and never exported, except inside
    the pricing document the stations receive in the signed card store.
    """

    batch_id = models.TextField(primary_key=True)  # VB000001
    number = models.BigIntegerField(unique=True)
    product = models.TextField(null=True)  # None: an amount voucher for any product
    volume_ml = models.BigIntegerField(null=True)
    amount = models.BigIntegerField(null=True)  # minor units
    count = models.BigIntegerField()
    valid_from = models.TextField()
    valid_until = models.TextField()
    key = models.TextField()
    created_by = models.TextField()
    created_at = models.TextField()
    note = models.TextField(db_default="", default="")

    class Meta:
        db_table = "voucher_batches"
        constraints = (
            models.CheckConstraint(
                condition=(Q(volume_ml__isnull=False, amount__isnull=True, volume_ml__gt=0,
                             product__isnull=False)
                           | Q(volume_ml__isnull=True, amount__isnull=False, amount__gt=0)),
                name="voucher_batches_one_value"),
            models.CheckConstraint(condition=Q(count__gte=1, count__lte=999_999),
                                   name="voucher_batches_count"),
            models.CheckConstraint(condition=Q(number__gte=1, number__lte=999_999),
                                   name="voucher_batches_number"),
        )


class VoucherRedemption(models.Model):
    """The ledger: the one redemption of a voucher that counts (unique by serial).

    The earliest station time wins (docs/pricing.md, "Vouchers"): a later-arriving sale
    with an earlier ``redeemed_at`` takes the voucher over and the one it displaces becomes
    a :class:`VoucherException`. ``seq`` is the sale's station sequence number.
    """

    id = models.BigAutoField(primary_key=True)
    serial = models.TextField(unique=True)
    batch = models.ForeignKey(VoucherBatch, on_delete=models.PROTECT, db_column="batch_id",
                              related_name="redemptions")
    station_id = models.TextField()
    sale_id = models.TextField()
    seq = models.BigIntegerField()
    card_id = models.TextField(null=True)
    redeemed_at = models.TextField()
    value = models.BigIntegerField()  # minor units the voucher paid
    volume_ml = models.BigIntegerField()  # volume it covered
    recorded_at = models.TextField()

    class Meta:
        db_table = "voucher_redemptions"
        default_permissions = ()
        indexes = (models.Index(fields=["station_id", "sale_id"],
                                name="voucher_redemptions_sale"),)


class VoucherException(models.Model):
    """A redemption of a voucher that another, earlier one had already redeemed (an
    offline double spend), and how it was settled. One per (serial, station, sale)."""

    id = models.BigAutoField(primary_key=True)
    serial = models.TextField()
    batch = models.ForeignKey(VoucherBatch, on_delete=models.PROTECT, db_column="batch_id",
                              related_name="exceptions")
    station_id = models.TextField()
    sale_id = models.TextField()
    seq = models.BigIntegerField()
    card_id = models.TextField(null=True)
    customer_id = models.TextField(null=True)  # set when charged: whom
    redeemed_at = models.TextField()
    value = models.BigIntegerField()
    volume_ml = models.BigIntegerField(db_default=0, default=0)
    status = models.TextField(db_default="open", default="open")
    settled_by = models.TextField(null=True)
    settled_at = models.TextField(null=True)
    note = models.TextField(db_default="", default="")
    created_at = models.TextField()

    class Meta:
        db_table = "voucher_exceptions"
        default_permissions = ()
        constraints = (
            models.UniqueConstraint(fields=["serial", "station_id", "sale_id"],
                                    name="voucher_exceptions_once"),
            models.CheckConstraint(condition=Q(status__in=list(EXCEPTION_STATUSES)),
                                   name="voucher_exceptions_status"),
        )
        indexes = (models.Index(fields=["status", "created_at"],
                                name="voucher_exceptions_open"),)
