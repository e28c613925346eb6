"""The card master's tables, exactly as the office store had them before Django.

Products, cards and extras are held as JSON documents in text columns (the card
master's code reads and writes whole documents); ``cm_versions`` numbers every change
(the version is chosen by the code, MAX + 1, never by the database) and keeps its
operations, which are the delta a station applies. Column order is the old one: the code
inserts without naming columns.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


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


# -- the office's own card records (issue 12): the truth the documents above are ----------
# -- computed from (office.cards.compute) ---------------------------------------------------

#: Where a wallet ledger entry comes from.
WALLET_ENTRY_KINDS = ("opening", "topup", "adjustment", "transfer")
#: Limit periods and units, as the station engine knows them (core.formats.snapshot).
LIMIT_PERIODS = ("fill", "day", "week", "month", "year")
LIMIT_UNITS = ("volume", "money")
WALLET_UNITS = ("money", "volume")


class Card(models.Model):
    """A card issued to a customer (optionally bound to a vehicle or a driver)."""

    card_id = models.TextField(primary_key=True)
    kind = models.TextField()
    status = models.TextField(db_default="active", default="active")
    pan = models.TextField(null=True, unique=True)  # digits only (core.identifiers)
    rfid_uid = models.TextField(null=True, unique=True)  # upper-case hex
    token_id = models.TextField(null=True, unique=True)
    expires = models.TextField(null=True)  # YYYY-MM-DD
    customer = models.ForeignKey("customers.Customer", null=True, on_delete=models.PROTECT,
                                 db_column="customer_id", related_name="cards")
    vehicle = models.ForeignKey("customers.Vehicle", null=True, on_delete=models.PROTECT,
                                db_column="vehicle_id", related_name="cards")
    driver = models.TextField(db_default="", default="")
    #: Products the card may buy (JSON list; NULL: its groups' choice, else all).
    products = models.TextField(null=True)
    #: Restrictions in the card-store format's names: visits, time_windows, stations,
    #: station_groups, vehicle_binding, odometer_required, pin (JSON object).
    rules = models.TextField(db_default="{}", default="{}")
    #: Usage figures a card-store file brought (JSON list), sent until the office has its own.
    imported_usage = models.TextField(db_default="[]", default="[]")
    #: The card that took this one's place (reissue), and the ones it took over from.
    replaced_by = models.TextField(null=True)
    #: (JSON list of card ids, oldest first)
    replaces = models.TextField(db_default="[]", default="[]")
    issued_at = models.TextField()
    issued_by = models.TextField()
    modified_at = models.TextField()
    modified_by = models.TextField()

    class Meta:
        db_table = "cards"
        default_permissions = ()
        indexes = (models.Index(fields=["customer"], name="cards_customer"),
                   models.Index(fields=["vehicle"], name="cards_vehicle"))


class CardLimit(models.Model):
    """A limit of a card, or of a customer group (inherited by its members' cards)."""

    id = models.BigAutoField(primary_key=True)
    card = models.ForeignKey(Card, null=True, on_delete=models.CASCADE, db_column="card_id",
                             related_name="limits")
    group = models.ForeignKey("customers.CustomerGroup", null=True, on_delete=models.CASCADE,
                              db_column="group_id", related_name="limits")
    period = models.TextField()
    unit = models.TextField()
    value = models.BigIntegerField()  # ml or minor units
    products = models.TextField(null=True)  # JSON list; NULL: all products

    class Meta:
        db_table = "card_limits"
        default_permissions = ()
        constraints = (
            models.CheckConstraint(condition=Q(card__isnull=False, group__isnull=True)
                                   | Q(card__isnull=True, group__isnull=False),
                                   name="card_limits_one_owner"),
            models.CheckConstraint(condition=Q(period__in=list(LIMIT_PERIODS)),
                                   name="card_limits_period"),
            models.CheckConstraint(condition=Q(unit__in=list(LIMIT_UNITS)),
                                   name="card_limits_unit"),
            models.CheckConstraint(condition=Q(value__gte=0), name="card_limits_value"),
        )


class Wallet(models.Model):
    """A prepaid balance of a card in money (minor units) or volume (ml).

    Its balance is not stored: it is the sum of its ledger entries (top-ups,
    adjustments, the opening balance) minus every debit the stations have sent
    (``ledger.WalletDebit``), so a wallet spent at two stations is netted network-wide.
    """

    wallet_id = models.TextField(primary_key=True)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, db_column="card_id",
                             related_name="wallets")
    unit = models.TextField()
    products = models.TextField(null=True)  # JSON list; NULL: all products
    expires = models.TextField(null=True)  # YYYY-MM-DD
    created_at = models.TextField()
    created_by = models.TextField()

    class Meta:
        db_table = "wallets"
        permissions = (("export_wallet", "Can print/export wallets"),)
        constraints = (models.CheckConstraint(condition=Q(unit__in=list(WALLET_UNITS)),
                                              name="wallets_unit"),)


class WalletEntry(models.Model):
    """One credit or correction of a wallet: who, when, why (never changed afterwards)."""

    id = models.BigAutoField(primary_key=True)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, db_column="wallet_id",
                               related_name="entries")
    kind = models.TextField()
    value = models.BigIntegerField()  # signed; ml or minor units as the wallet
    at = models.TextField()
    actor = models.TextField()
    via = models.TextField()
    reason = models.TextField(db_default="", default="")

    class Meta:
        db_table = "wallet_entries"
        default_permissions = ()
        constraints = (models.CheckConstraint(condition=Q(kind__in=list(WALLET_ENTRY_KINDS)),
                                              name="wallet_entries_kind"),)
        indexes = (models.Index(fields=["wallet", "at"], name="wallet_entries_wallet"),)


class BlankCard(models.Model):
    """A card from the supplier's stock, not yet issued: its kind and identifiers."""

    id = models.BigAutoField(primary_key=True)
    kind = models.TextField()
    pan = models.TextField(null=True, unique=True)
    rfid_uid = models.TextField(null=True, unique=True)
    batch = models.TextField(db_default="", default="")  # the supplier's file or batch name
    imported_at = models.TextField()
    imported_by = models.TextField()
    issued_as = models.TextField(null=True)  # the card id it became

    class Meta:
        db_table = "card_stock"
        default_permissions = ()
