"""Rights of the reports feature (issue 14) for the default groups.

``reports`` (the office's reports and the console's dashboard) is a new feature: every
default group that exists may view them; accountants and administrators may also print
and export them (files that leave the office). Rights an office gave or took before
are left as they are.
"""

from django.db import migrations

from office.access.grants import granter

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "export"),
    "administrators": ("view", "export"),
}


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0006_pricing_rights"),
        ("reports", "0001_initial"),
    ]

    operations = [migrations.RunPython(granter("reports", "reportrun", GRANTS),
                                     migrations.RunPython.noop)]
