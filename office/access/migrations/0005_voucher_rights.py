"""Rights of the vouchers feature (issue 13) for the default groups.

Vouchers are a new feature; a default group that exists gets the rights of its kind on
it: viewers and operators see the batches, accountants also issue batches and settle
double redemptions (charge or write off), administrators everything. Rights an office
gave or took before are left as they are.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "add", "change"),
    "administrators": ("view", "add", "change"),
}


def grant(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    group = apps.get_model("auth", "Group")
    permission = apps.get_model("auth", "Permission")
    for name, rights in GRANTS.items():
        found = group.objects.filter(name=name).first()
        if found is not None:
            found.permissions.add(*(permission.objects.get(
                content_type__app_label="vouchers", codename=f"{right}_voucherbatch")
                for right in rights))


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0004_customer_rights"),
        ("vouchers", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
