"""The account ledger: what the office booked on a customer's account by hand.

Sales charge the account by themselves (office.accounts.queries: the part of each sale
that wallets, vouchers and points did not pay); this table holds the rest: payments
received and adjustments (credit notes, debit notes) with their reason. ``amount`` is
signed as its effect on what the customer owes: a payment of 1,500.50 is ``-150050``,
a credit note negative, a debit note positive. ``value_date`` is the office's local
calendar day the money moved (a bank transfer's value date), which dates the entry on
statements; ``at`` is when it was recorded, ``actor``/``via`` by whom and through which
door. Entries are never changed or deleted: a mistake is corrected by another entry.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

#: What an entry is.
ENTRY_KINDS = ("payment", "adjustment")
#: How a payment came in ("" for adjustments).
METHODS = ("bank", "cash", "card", "other")


class AccountEntry(models.Model):
    """One payment or adjustment on a customer's account (never changed afterwards)."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT,
                                 db_column="customer_id", related_name="account_entries")
    kind = models.TextField()
    amount = models.BigIntegerField()  # minor units, signed: + owes more, - owes less
    method = models.TextField(db_default="", default="")
    reference = models.TextField(db_default="", default="")
    value_date = models.TextField()  # YYYY-MM-DD, the office's local day
    reason = models.TextField(db_default="", default="")
    at = models.TextField()
    actor = models.TextField()
    via = models.TextField()

    class Meta:
        db_table = "account_entries"
        permissions = (("export_accountentry", "Can print/export accounts"),)
        constraints = (
            models.CheckConstraint(condition=Q(kind__in=list(ENTRY_KINDS)),
                                   name="account_entries_kind"),
            models.CheckConstraint(condition=Q(kind="adjustment", method="")
                                   | Q(kind="payment", method__in=list(METHODS),
                                       amount__lt=0),
                                   name="account_entries_payment"),
            models.CheckConstraint(condition=~Q(amount=0), name="account_entries_nonzero"),
        )
        indexes = (models.Index(fields=["customer", "value_date"],
                                name="account_entries_customer"),
                   models.Index(fields=["value_date"], name="account_entries_date"))
