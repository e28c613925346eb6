"""The office's own customer records: the truth the card store is computed from.

Times are fixed-width ISO UTC text and dates ISO text, as everywhere in the store (they
sort as text and read the same on SQLite and PostgreSQL); money is integer minor units,
volume integer ml. Lists of contact details are JSON text. Every record says who made
it and who changed it last (the console user, or ``cli:<unix user>``); the history of
each change is in the audit trail.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

#: Person or company.
CUSTOMER_KINDS = ("person", "company")
#: Prepaid (wallets pay) or credit (invoiced, up to ``credit_limit``).
PAYMENT_TERMS = ("prepaid", "credit")
#: Marketing channels a customer consents to (or not), one history each.
CONSENT_CHANNELS = ("sms", "email", "whatsapp")
#: How the customer prefers to be contacted.
CONTACT_CHANNELS = ("none", "phone", "sms", "email", "whatsapp")
#: What a customer group is for (fleets, VIPs, wholesale buyers, a region, other).
GROUP_KINDS = ("fleet", "vip", "wholesale", "regional", "other")
#: What a vehicle is.
VEHICLE_TYPES = ("car", "van", "truck", "bus", "motorcycle", "tractor", "other")


class Stamped(models.Model):
    """Who made a record and when, who changed it last and when."""

    created_at = models.TextField()
    created_by = models.TextField()
    modified_at = models.TextField()
    modified_by = models.TextField()

    class Meta:
        abstract = True


class CustomerCategory(models.Model):
    """One entry of the editable category list (VIP, regular, business, new, ...)."""

    code = models.TextField(primary_key=True)
    name = models.TextField()

    class Meta:
        db_table = "customer_categories"
        default_permissions = ()


class Customer(Stamped):
    """A person or a company (a fleet) the office sells to."""

    customer_id = models.TextField(primary_key=True)
    kind = models.TextField(db_default="person", default="person")
    name = models.TextField()
    #: The name, phones, e-mails and customer id folded for search (office.customers.search).
    search_key = models.TextField(db_default="", default="")
    phones = models.TextField(db_default="[]", default="[]")  # JSON list, E.164-ish digits with '+'
    emails = models.TextField(db_default="[]", default="[]")  # JSON list, lower case
    addresses = models.TextField(db_default="[]", default="[]")  # JSON list of one-line addresses
    birthday = models.TextField(null=True)  # YYYY-MM-DD
    #: The company or fleet a person belongs to (a customer of kind company).
    company = models.ForeignKey("self", null=True, on_delete=models.PROTECT,
                                related_name="members", db_column="company_id")
    category = models.ForeignKey(CustomerCategory, null=True, on_delete=models.PROTECT,
                                 db_column="category")
    payment_terms = models.TextField(db_default="prepaid", default="prepaid")
    credit_limit = models.BigIntegerField(null=True)  # minor units, credit customers only
    preferred_channel = models.TextField(db_default="none", default="none")
    notes = models.TextField(db_default="", default="")
    region = models.TextField(db_default="", default="")
    occupation = models.TextField(db_default="", default="")
    #: Closed customers keep their history; merged ones point at the record kept.
    closed_at = models.TextField(null=True)
    merged_into = models.TextField(null=True)

    class Meta:
        db_table = "customers"
        permissions = (("export_customer", "Can print/export customers"),)
        constraints = (
            models.CheckConstraint(condition=Q(kind__in=list(CUSTOMER_KINDS)),
                                   name="customers_kind"),
            models.CheckConstraint(condition=Q(payment_terms__in=list(PAYMENT_TERMS)),
                                   name="customers_payment_terms"),
            models.CheckConstraint(condition=Q(preferred_channel__in=list(CONTACT_CHANNELS)),
                                   name="customers_preferred_channel"),
            models.CheckConstraint(condition=Q(credit_limit__isnull=True)
                                   | Q(credit_limit__gte=0), name="customers_credit_limit"),
        )
        indexes = (
            models.Index(fields=["name"], name="customers_name"),
            models.Index(fields=["region"], name="customers_region"),
            models.Index(fields=["birthday"], name="customers_birthday"),
        )


class ConsentEvent(models.Model):
    """Marketing consent given or withdrawn on one channel: when, how, recorded by whom.

    Kept as a history, never updated (KVKK and GDPR ask for the proof); a customer's
    consent on a channel is its latest event.
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_column="customer_id",
                                 related_name="consent_events")
    channel = models.TextField()
    given = models.BooleanField()
    at = models.TextField()
    source = models.TextField()  # e.g. 'paper form', 'console', 'import', 'sms reply'
    recorded_by = models.TextField()

    class Meta:
        db_table = "consent_events"
        default_permissions = ()
        constraints = (
            models.CheckConstraint(condition=Q(channel__in=list(CONSENT_CHANNELS)),
                                   name="consent_events_channel"),
        )
        indexes = (models.Index(fields=["customer", "channel", "at"],
                                name="consent_events_customer"),)


class CustomerGroup(Stamped):
    """A fleet, VIP, wholesale or regional group; its limits and rules are inherited by
    its members' cards unless a card sets its own (office.cards.compute)."""

    group_id = models.TextField(primary_key=True)
    name = models.TextField()
    kind = models.TextField(db_default="other", default="other")
    #: Restrictions the members' cards inherit: products, time_windows, stations,
    #: station_groups (JSON object, the card-store format's names).
    rules = models.TextField(db_default="{}", default="{}")

    class Meta:
        db_table = "customer_groups"
        permissions = (("export_customergroup", "Can print/export customer groups"),)
        constraints = (
            models.CheckConstraint(condition=Q(kind__in=list(GROUP_KINDS)),
                                   name="customer_groups_kind"),
        )


class GroupMembership(models.Model):
    """A customer in a group (a customer may be in several)."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_column="customer_id",
                                 related_name="memberships")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, db_column="group_id",
                              related_name="memberships")
    added_at = models.TextField()
    added_by = models.TextField()

    class Meta:
        db_table = "group_members"
        default_permissions = ()
        constraints = (models.UniqueConstraint(fields=["customer", "group"],
                                               name="group_members_pair"),)


class Vehicle(Stamped):
    """A vehicle: plate, type, fuel, tank; odometer readings come from its sales."""

    vehicle_id = models.TextField(primary_key=True)
    plate = models.TextField()
    #: The plate folded for search and duplicates ("34 abc 123" = "34ABC123").
    plate_key = models.TextField(db_default="", default="")
    customer = models.ForeignKey(Customer, null=True, on_delete=models.PROTECT,
                                 db_column="customer_id", related_name="vehicles")
    vehicle_type = models.TextField(db_default="car", default="car")
    fuel = models.TextField(null=True)  # a product code
    tank_capacity_ml = models.BigIntegerField(null=True)
    notes = models.TextField(db_default="", default="")
    retired_at = models.TextField(null=True)

    class Meta:
        db_table = "vehicles"
        permissions = (("export_vehicle", "Can print/export vehicles"),)
        constraints = (
            models.CheckConstraint(condition=Q(vehicle_type__in=list(VEHICLE_TYPES)),
                                   name="vehicles_type"),
            models.CheckConstraint(condition=Q(tank_capacity_ml__isnull=True)
                                   | Q(tank_capacity_ml__gt=0), name="vehicles_tank"),
        )
        indexes = (models.Index(fields=["plate_key"], name="vehicles_plate_key"),)


class Counter(models.Model):
    """The last number given out for a kind of id (customers C-000001, cards, ...)."""

    name = models.TextField(primary_key=True)
    value = models.BigIntegerField()

    class Meta:
        db_table = "id_counters"
        default_permissions = ()
