"""Rights of the accounts feature (issue 14) for the default groups.

``accounts`` (customers' accounts: balances, payments, adjustments, statements) is a new
feature: viewers and operators may view accounts; accountants and administrators may
also record payments and adjustments (``add``) and print and export statements
(``export``). Rights an office gave or took before are left as they are.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "add", "export"),
    "administrators": ("view", "add", "export"),
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
                content_type__app_label="accounts", codename=f"{right}_accountentry")
                for right in rights))


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0007_report_rights"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
