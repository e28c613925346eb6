"""The ledger's tables, exactly as the office store had them before Django.

The office's sync code keeps most of its SQL (through ``office.db``), so these models
reproduce the old schema column for column, in the old order (some inserts name no
columns): the same table names, nullability, database defaults (``db_default``, so a raw
INSERT that leaves a column out gets it), primary keys, CHECK constraints and indexes.
Timestamps are fixed-width ISO text (they sort as text), JSON documents are text, flags
are 0/1 integers, and integers are 64-bit on both databases (SQLite's INTEGER is; a
PostgreSQL ``integer`` would not hold an amount of 10^14).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

# The hash a station's chain starts from (offline_db.journal.GENESIS); repeated here as
# a literal so the migration does not depend on the station's package.
GENESIS = "0" * 64


class Station(models.Model):
    """An enrolled station and the public key its messages are signed with."""

    station_id = models.TextField(primary_key=True)
    public_key = models.TextField()
    enrolled_at = models.TextField()

    class Meta:
        db_table = "stations"


class Sale(models.Model):
    """One sale line of a station's journal, stored exactly once on (station_id, seq).

    On SQLite the table is ``WITHOUT ROWID`` as before (migration 0002): the sales are
    clustered by their key, which the ingest reads and writes in runs.
    """

    pk = models.CompositePrimaryKey("station_id", "seq")
    station_id = models.TextField()
    seq = models.BigIntegerField()
    sale_id = models.TextField()
    card_id = models.TextField()
    pump = models.BigIntegerField()
    product = models.TextField()
    volume_ml = models.BigIntegerField()
    unit_price = models.BigIntegerField()
    amount = models.BigIntegerField()
    authorized_at = models.TextField()
    completed_at = models.TextField()
    wallet_debits = models.TextField()
    prev_hash = models.TextField()
    hash = models.TextField()
    received_at = models.TextField()
    via = models.TextField()
    vehicle_id = models.TextField(null=True)
    odometer_km = models.BigIntegerField(null=True)
    odometer_flag = models.TextField(null=True)
    #: How the pricing rules priced the sale (core.formats.pricing_line; JSON text).
    pricing = models.TextField(null=True)

    class Meta:
        db_table = "sales"
        permissions = (("export_sale", "Can print/export sales"),)
        constraints = (
            models.CheckConstraint(condition=Q(via__in=["mqtt", "flash"]), name="sales_via"),
        )
        indexes = (
            models.Index(fields=["completed_at"], name="sales_completed_at"),
            models.Index(fields=["card_id", "completed_at"], name="sales_card"),
            models.Index(fields=["vehicle_id", "completed_at"], name="sales_vehicle",
                         condition=Q(vehicle_id__isnull=False)),
        )


class StationChain(models.Model):
    """Each station's verified chain head and what its last status said."""

    station_id = models.TextField(primary_key=True)
    contiguous_seq = models.BigIntegerField(db_default=0)
    contiguous_hash = models.TextField(db_default=GENESIS)
    last_seen_at = models.TextField(null=True)
    outbox_depth = models.BigIntegerField(null=True)
    oldest_undelivered_at = models.TextField(null=True)
    card_store_version = models.BigIntegerField(null=True)
    alarms = models.TextField(null=True)
    #: The last seq the station says this office receipted (its status): beyond the
    #: contiguous head only after the office lost receipted sales (office.sync.resend).
    receipted_seq = models.BigIntegerField(null=True)

    class Meta:
        db_table = "station_chain"


class ChainProblem(models.Model):
    """A gap, fork or bad chain found in a station's sales; open until resolved."""

    id = models.BigAutoField(primary_key=True)
    station_id = models.TextField()
    kind = models.TextField()
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    detail = models.TextField()
    found_at = models.TextField()
    resolved_at = models.TextField(null=True)

    class Meta:
        db_table = "chain_problems"
        constraints = (
            models.CheckConstraint(condition=Q(kind__in=["gap", "fork", "bad_chain"]),
                                   name="chain_problems_kind"),
        )
        indexes = (
            models.Index(fields=["station_id", "kind"], name="chain_problems_open",
                         condition=Q(resolved_at__isnull=True)),
        )


class Quarantine(models.Model):
    """A batch or bundle held back (malformed, wrong chain, ...), counted when repeated."""

    id = models.BigAutoField(primary_key=True)
    station_id = models.TextField(null=True)
    first_seq = models.BigIntegerField(null=True)
    last_seq = models.BigIntegerField(null=True)
    reason = models.TextField()
    detail = models.TextField()
    envelope_id = models.TextField()
    received_at = models.TextField()
    payload = models.TextField()
    payload_sha256 = models.TextField()
    repeats = models.BigIntegerField(db_default=1)
    last_received_at = models.TextField()

    class Meta:
        db_table = "quarantine"
        indexes = (
            models.Index(fields=["station_id", "payload_sha256"], name="quarantine_station"),
        )


class StationOnline(models.Model):
    """Online (1) or offline (0) as the station last said, and that status's envelope."""

    station_id = models.TextField(primary_key=True)
    online = models.IntegerField()
    at = models.TextField()
    status_at = models.TextField(null=True)
    envelope_id = models.TextField(null=True)

    class Meta:
        db_table = "station_online"


class SyncAnswer(models.Model):
    """The last ``sync-request`` envelope answered per station, whichever office worker
    answered it: the same envelope again is a replay, refused by every worker."""

    station_id = models.TextField(primary_key=True)
    envelope_id = models.TextField()
    answered_at = models.TextField()

    class Meta:
        db_table = "sync_answers"


class RefusedMessage(models.Model):
    """Messages refused at the boundary, counted by reason with the last one's detail."""

    reason = models.TextField(primary_key=True)
    count = models.BigIntegerField()
    last_at = models.TextField()
    last_detail = models.TextField()

    class Meta:
        db_table = "refused_messages"


class FlashTransfer(models.Model):
    """One flash-drive bundle taken in or written out, and how it went."""

    id = models.BigAutoField(primary_key=True)
    at = models.TextField()
    direction = models.TextField()
    station_id = models.TextField()
    file = models.TextField()
    created_at = models.TextField(null=True)
    first_seq = models.BigIntegerField(null=True)
    last_seq = models.BigIntegerField(null=True)
    sales = models.BigIntegerField(null=True)
    stored = models.BigIntegerField(null=True)
    duplicates = models.BigIntegerField(null=True)
    outcome = models.TextField()
    detail = models.TextField(db_default="")

    class Meta:
        db_table = "flash_transfers"
        constraints = (
            models.CheckConstraint(condition=Q(direction__in=["in", "out"]),
                                   name="flash_transfers_direction"),
        )


class OfficeIdentity(models.Model):
    """The office's public key (one row, id 1), recorded when its key is made."""

    id = models.BigIntegerField(primary_key=True)
    public_key = models.TextField()
    recorded_at = models.TextField()

    class Meta:
        db_table = "office_identity"
        constraints = (
            models.CheckConstraint(condition=Q(id=1), name="office_identity_one_row"),
        )


class WalletDebit(models.Model):
    """One wallet debit of a stored sale (``sales.wallet_debits``, one row per wallet).

    Written in the same transaction as the sale, on every ingest path, so a wallet's
    balance (office.cards.wallets) is a sum over an index, not a scan of JSON.
    """

    pk = models.CompositePrimaryKey("station_id", "seq", "wallet_id")
    station_id = models.TextField()
    seq = models.BigIntegerField()
    wallet_id = models.TextField()
    value = models.BigIntegerField()

    class Meta:
        db_table = "wallet_debits"
        default_permissions = ()
        indexes = (models.Index(fields=["wallet_id"], name="wallet_debits_wallet"),)


class SalesDaily(models.Model):
    """Sales per local day, station and product (``office.ledger.rollups``).

    Added to in the same transaction as the sales it counts, on every ingest path, so
    the dashboard reads a few thousand rows instead of millions of sales. ``day`` is
    the office's local day (``rollup_state.timezone``).
    """

    pk = models.CompositePrimaryKey("day", "station_id", "product")
    day = models.TextField()
    station_id = models.TextField()
    product = models.TextField()
    sales = models.BigIntegerField()
    volume_ml = models.BigIntegerField()
    amount = models.BigIntegerField()
    discount = models.BigIntegerField()

    class Meta:
        db_table = "sales_daily"
        default_permissions = ()


class CardMonthly(models.Model):
    """Sales per local month (its first day) and card, kept as :class:`SalesDaily` is."""

    pk = models.CompositePrimaryKey("month", "card_id")
    month = models.TextField()
    card_id = models.TextField()
    sales = models.BigIntegerField()
    volume_ml = models.BigIntegerField()
    amount = models.BigIntegerField()
    discount = models.BigIntegerField()

    class Meta:
        db_table = "card_monthly"
        default_permissions = ()


class RollupState(models.Model):
    """The time zone the roll-ups count local days in (one row, id 1)."""

    id = models.BigIntegerField(primary_key=True)
    timezone = models.TextField()
    rebuilt_at = models.TextField(null=True)

    class Meta:
        db_table = "rollup_state"
        default_permissions = ()
        constraints = (
            models.CheckConstraint(condition=Q(id=1), name="rollup_state_one_row"),
        )
