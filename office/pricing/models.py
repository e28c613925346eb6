"""The pricing records: rules and settings as clerks define them, every revision of the
document stations receive, the points ledger, and the differences recomputation found.

A rule is kept as the JSON object the pricing document carries (core.formats.pricing
parses and checks it), so what a clerk defines is exactly what stations apply.
"""

from __future__ import annotations

from django.db import models


class PricingRule(models.Model):
    """A discount, an earning rule or a multiplier; ended rules stay for the record."""

    rule_id = models.TextField(primary_key=True)
    section = models.TextField()  # discount | earn | multiplier
    doc = models.TextField()  # the rule's object in the pricing document
    active = models.BooleanField(default=True)
    created_at = models.TextField()
    created_by = models.TextField()
    modified_at = models.TextField()
    modified_by = models.TextField()

    class Meta:
        db_table = "pricing_rules"
        permissions = (("export_pricingrule", "Can print/export pricing rules"),)


class PricingSetting(models.Model):
    """One setting of the programme: ``loyalty`` (point value, expiry days), ``tiers``,
    ``caps``, ``holidays``; the value is JSON."""

    key = models.TextField(primary_key=True)
    value = models.TextField()
    modified_at = models.TextField()
    modified_by = models.TextField()

    class Meta:
        db_table = "pricing_settings"
        default_permissions = ()


class PricingRevision(models.Model):
    """A published pricing document: stations price with it, the office recomputes with
    the revision a sale names. Never changed once written."""

    revision = models.BigIntegerField(primary_key=True)
    doc = models.TextField()
    created_at = models.TextField()
    created_by = models.TextField()
    card_master_version = models.BigIntegerField(null=True)

    class Meta:
        db_table = "pricing_revisions"
        default_permissions = ()


class PointsLot(models.Model):
    """One earning: its own expiry; ``remaining`` falls as redemptions draw on it."""

    card_id = models.TextField()
    earned_on = models.TextField()  # the sale's local date (YYYY-MM-DD)
    expires = models.TextField()  # last day it can be redeemed (YYYY-MM-DD)
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    #: Of ``remaining``, what the daily expiry job booked as expired (an ``expire``
    #: entry) once the lot's last day had passed (office.pricing.expiry).
    expired = models.BigIntegerField(default=0, db_default=0)
    station_id = models.TextField(null=True)
    sale_id = models.TextField(null=True)
    created_at = models.TextField()

    class Meta:
        db_table = "points_lots"
        default_permissions = ()
        indexes = (models.Index(fields=["card_id", "expires"], name="points_lots_card"),)


class CardTier(models.Model):
    """A card's loyalty tier for a calendar month, from its volume the month before, as
    the monthly job found it (office.pricing.tiers); stations work it out the same way
    from the same figures."""

    pk = models.CompositePrimaryKey("month", "card_id")
    month = models.TextField()  # its first day (YYYY-MM-01)
    card_id = models.TextField()
    tier = models.TextField(null=True)  # None: below every tier
    last_month_ml = models.BigIntegerField()
    computed_at = models.TextField()

    class Meta:
        db_table = "card_tiers"
        default_permissions = ()


class PointsEntry(models.Model):
    """The points history of a card: earn, burn, reverse, adjust, each with where it came
    from and who. ``lots`` (JSON) says which lots a burn drew on, and how much."""

    card_id = models.TextField()
    kind = models.TextField()  # earn | burn | void_earn | void_burn | adjust | repay | expire
    points = models.BigIntegerField()  # signed: + adds to the balance
    lots = models.TextField(default="[]")
    #: Points a burn could not draw (the card redeemed more offline than it had).
    short = models.BigIntegerField(default=0)
    station_id = models.TextField(null=True)
    seq = models.BigIntegerField(null=True)
    sale_id = models.TextField(null=True)
    at = models.TextField()  # when it happened (the sale's time for sales)
    actor = models.TextField()
    reason = models.TextField(default="")

    class Meta:
        db_table = "points_entries"
        permissions = (("export_pointsentry", "Can print/export points history"),)
        indexes = (models.Index(fields=["card_id", "id"], name="points_entries_card"),
                   models.Index(fields=["station_id", "seq"], name="points_entries_sale"))


class PricingDifference(models.Model):
    """A figure of a priced sale that the office's recomputation does not reproduce.

    It must never happen (one piece of code prices both sides, from the same inputs);
    one that does is a bug or a tampered line, and a clerk looks at it.
    """

    station_id = models.TextField()
    seq = models.BigIntegerField()
    sale_id = models.TextField()
    field = models.TextField()
    station_value = models.TextField()
    office_value = models.TextField()
    found_at = models.TextField()

    class Meta:
        db_table = "pricing_differences"
        default_permissions = ()
        indexes = (models.Index(fields=["station_id", "seq"], name="pricing_diff_sale"),)


class PricedSale(models.Model):
    """A priced sale settled at the office (points applied, voucher recorded, figures
    checked) exactly once; ``voided_*`` when a clerk voided it."""

    pk = models.CompositePrimaryKey("station_id", "seq")
    station_id = models.TextField()
    seq = models.BigIntegerField()
    sale_id = models.TextField()
    card_id = models.TextField()
    revision = models.BigIntegerField()
    settled_at = models.TextField()
    voided_at = models.TextField(null=True)
    voided_by = models.TextField(null=True)
    void_reason = models.TextField(null=True)

    class Meta:
        db_table = "priced_sales"
        default_permissions = ()
