"""Rights of the pricing features (issue 13) for the default groups.

``pricing`` (the discounts, earning rules, multipliers and programme settings) and
``points`` (balances, history, adjustments, voids of priced sales) are new features; a
default group that exists gets the rights of its kind on them: viewers and operators see
them, accountants also adjust points, void priced sales and export, administrators
everything. Rights an office gave or took before are left as they are.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

_MODELS = {"pricing": "pricingrule", "points": "pointsentry"}
_VIEW = ("pricing.view", "points.view")
GRANTS = {
    "viewers": _VIEW,
    "operators": _VIEW,
    "accountants": (*_VIEW, "pricing.export", "points.export", "points.change"),
    "administrators": (*_VIEW, "pricing.add", "pricing.change", "pricing.export",
                       "points.change", "points.export"),
}


def _permission(apps: Any, name: str) -> Any:
    feature, right = name.split(".")
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="pricing", codename=f"{right}_{_MODELS[feature]}")


def grant(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    group = apps.get_model("auth", "Group")
    for name, rights in GRANTS.items():
        found = group.objects.filter(name=name).first()
        if found is not None:
            found.permissions.add(*(_permission(apps, r) for r in rights))


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0005_voucher_rights"),
        ("pricing", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
