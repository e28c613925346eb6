"""Rights of the accounts feature (issue 14) for the default groups.

``accounts`` (customers' accounts: balances, payments, adjustments, statements) is a new
feature: viewers and operators may view accounts; accountants and administrators may
also record payments and adjustments (``add``) and print and export statements
(``export``). Rights an office gave or took before are left as they are.
"""

from django.db import migrations

from office.access.grants import granter

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "add", "export"),
    "administrators": ("view", "add", "export"),
}


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0007_report_rights"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(granter("accounts", "accountentry", GRANTS),
                                     migrations.RunPython.noop)]
