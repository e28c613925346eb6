"""What the office's scheduler keeps: per calendar job, the last time it was done for.

``forecourt office serve`` runs its calendar jobs (reports, tiers, points expiry) at
their times; a time that passed while it was down is made up once at the next start
(core.jobs). The mark is that memory, in the office's own store.
"""

from __future__ import annotations

from django.db import models


class JobMark(models.Model):
    """A calendar job and the last time (UTC text) it ran for."""

    job_id = models.TextField(primary_key=True)
    done_through = models.TextField()
    updated_at = models.TextField()

    class Meta:
        db_table = "job_marks"
        default_permissions = ()
