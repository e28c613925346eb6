"""Rights of the vouchers feature (issue 13) for the default groups.

Vouchers are a new feature; a default group that exists gets the rights of its kind on
it: viewers and operators see the batches, accountants also issue batches and settle
double redemptions (charge or write off), administrators everything. Rights an office
gave or took before are left as they are.
"""

from django.db import migrations

from office.access.grants import granter

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "add", "change"),
    "administrators": ("view", "add", "change"),
}


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0004_customer_rights"),
        ("vouchers", "0001_initial"),
    ]

    operations = [migrations.RunPython(granter("vouchers", "voucherbatch", GRANTS),
                                     migrations.RunPython.noop)]
