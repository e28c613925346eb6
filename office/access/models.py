"""The audit trail: one row for every change made in the console, the CLI or by sync.

Users, groups and rights are Django's auth (``django.contrib.auth``); the audit is our
own table, written by the services that make a change (not by model signals, which miss
bulk updates), so a change made in the console and the same change made with the CLI
leave the same record.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from office.access.audit import VIAS


class AuditEntry(models.Model):
    """Who did what, when, through which door, to which object: old -> new (JSON text)."""

    id = models.BigAutoField(primary_key=True)
    at = models.TextField()  # fixed-width ISO UTC, as everywhere in the store
    actor = models.TextField()  # the username, kept as text: users may be deleted later
    via = models.TextField()
    action = models.TextField()  # e.g. 'card.block'
    object_kind = models.TextField()  # e.g. 'card'
    object_id = models.TextField()
    old = models.TextField(null=True)  # JSON document before the change, NULL if none
    new = models.TextField(null=True)  # JSON document after the change, NULL if none
    detail = models.TextField(db_default="")

    class Meta:
        db_table = "audit_entries"
        permissions = (("export_auditentry", "Can print/export the audit trail"),)
        constraints = (
            models.CheckConstraint(condition=Q(via__in=list(VIAS)), name="audit_entries_via"),
        )
        indexes = (
            models.Index(fields=["at"], name="audit_entries_at"),
            models.Index(fields=["object_kind", "object_id"], name="audit_entries_object"),
        )


class LoginFailure(models.Model):
    """One wrong password for a username from an address (kept for the failure window)."""

    id = models.BigAutoField(primary_key=True)
    username = models.TextField()
    address = models.TextField()
    at = models.DateTimeField()

    class Meta:
        db_table = "login_failures"
        default_permissions = ()
        indexes = (
            models.Index(fields=["username", "address", "at"], name="login_failures_pair"),
        )


class LoginLock(models.Model):
    """A username + address pair that may not log in until ``until`` (too many failures)."""

    id = models.BigAutoField(primary_key=True)
    username = models.TextField()
    address = models.TextField()
    until = models.DateTimeField()

    class Meta:
        db_table = "login_locks"
        default_permissions = ()
        constraints = (
            models.UniqueConstraint(fields=["username", "address"], name="login_locks_pair"),
        )
