"""What the reports app keeps: each report exported, printed or written on schedule.

Viewing a report changes nothing and is not kept; a file that leaves the office (an
export, a scheduled report, a mailed one) is recorded with who made it and for what
question, so a spreadsheet found on a laptop can be traced. The model also carries the
``reports`` feature's rights (view, export).
"""

from __future__ import annotations

from django.db import models


class ReportRun(models.Model):
    """One report written to a file or sent: which, for what, by whom, how."""

    id = models.BigAutoField(primary_key=True)
    name = models.TextField()
    params = models.TextField()  # JSON: the options as given
    format = models.TextField()
    rows = models.BigIntegerField()
    at = models.TextField()
    actor = models.TextField()
    via = models.TextField()  # cli, console, schedule
    file = models.TextField(db_default="", default="")
    detail = models.TextField(db_default="", default="")

    class Meta:
        db_table = "report_runs"
        permissions = (("export_reportrun", "Can print/export reports"),)
        indexes = (models.Index(fields=["at"], name="report_runs_at"),)
