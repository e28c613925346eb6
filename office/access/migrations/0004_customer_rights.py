"""Rights of the customer-management features (issue 12) for the default groups.

Customers, vehicles, customer groups and wallets are new features; a default group
that exists gets the rights of its kind on them (viewers see them, operators also add
and change customers, vehicles and cards, accountants also export and top up wallets,
administrators everything). Rights an office gave or took before are left as they are.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

_MODELS = {"customers": ("customers", "customer"), "vehicles": ("customers", "vehicle"),
           "groups": ("customers", "customergroup"), "wallets": ("cards", "wallet")}
_VIEW = ("customers.view", "vehicles.view", "groups.view", "wallets.view")
GRANTS = {
    "viewers": _VIEW,
    "operators": (*_VIEW, "customers.add", "customers.change", "vehicles.add",
                  "vehicles.change", "cards.add"),
    "accountants": (*_VIEW, "customers.export", "vehicles.export", "groups.export",
                    "wallets.export", "wallets.add", "wallets.change"),
    "administrators": (*(f"{f}.{r}" for f in ("customers", "vehicles", "groups")
                         for r in ("view", "add", "change", "delete", "export")),
                       "wallets.view", "wallets.add", "wallets.change", "wallets.export"),
}


def _permission(apps: Any, name: str) -> Any:
    feature, right = name.split(".")
    if feature == "cards":
        app_label, model = "cards", "cardmastercard"
    else:
        app_label, model = _MODELS[feature]
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label=app_label, codename=f"{right}_{model}")


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
        ("access", "0003_default_groups"),
        ("customers", "0002_categories"),
        ("cards", "0004_adopt_card_master"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
