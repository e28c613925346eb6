"""The card master's tables, exactly as the office store had them before Django.

Products, cards and extras are held as JSON documents in text columns (the card
master's code reads and writes whole documents); ``cm_versions`` numbers every change
(the version is chosen by the code, MAX + 1, never by the database) and keeps its
operations, which are the delta a station applies. Column order is the old one: the code
inserts without naming columns.
"""

from __future__ import annotations

from django.db import models


class CardMasterProduct(models.Model):
    """A product's current document, by product code."""

    code = models.TextField(primary_key=True)
    doc = models.TextField()

    class Meta:
        db_table = "cm_products"


class CardMasterCard(models.Model):
    """A card's current document (status, identifiers, limits, wallets), by card id."""

    card_id = models.TextField(primary_key=True)
    doc = models.TextField()

    class Meta:
        db_table = "cm_cards"
        permissions = (("export_cardmastercard", "Can print/export the card master"),)


class StopListEntry(models.Model):
    """A card identifier (PAN, UID or token) every station must refuse."""

    identifier = models.TextField(primary_key=True)

    class Meta:
        db_table = "cm_stop_list"


class CardMasterExtra(models.Model):
    """Other documents of the card store (customers, groups, ...) by kind."""

    kind = models.TextField(primary_key=True)
    doc = models.TextField()

    class Meta:
        db_table = "cm_extra"


class CardMasterVersion(models.Model):
    """One version of the card master: when, by whom, and its operations (JSON text)."""

    version = models.BigIntegerField(primary_key=True)
    at = models.TextField()
    actor = models.TextField()
    ops = models.TextField()

    class Meta:
        db_table = "cm_versions"
