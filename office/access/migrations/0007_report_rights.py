"""Rights of the reports feature (issue 14) for the default groups.

``reports`` (the office's reports and the console's dashboard) is a new feature: every
default group that exists may view them; accountants and administrators may also print
and export them (files that leave the office). Rights an office gave or took before
are left as they are.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "viewers": ("view",),
    "operators": ("view",),
    "accountants": ("view", "export"),
    "administrators": ("view", "export"),
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
                content_type__app_label="reports", codename=f"{right}_reportrun")
                for right in rights))


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0006_pricing_rights"),
        ("reports", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
