"""The default groups: viewers, operators, accountants, administrators.

Django makes permissions after all migrations ran (``post_migrate``); the groups need
them now, so this migration makes the content types and permissions of every app first
(``create_permissions`` does nothing for those that exist). A group that exists already
keeps its rights: an office may have changed them.
"""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

#: The rights each group got when this migration was written, frozen here: the live
#: list (office.access.rights) grows with features whose permissions do not exist yet
#: at this point of a fresh office's migrations (later migrations grant those).
_VIEW = ("access.view_auditentry", "auth.view_group", "auth.view_user",
         "cards.view_cardmastercard", "ledger.view_quarantine", "ledger.view_refusedmessage",
         "ledger.view_sale", "ledger.view_station")
DEFAULT_GROUPS = {
    "viewers": _VIEW,
    "operators": (*_VIEW, "cards.change_cardmastercard"),
    "accountants": (*_VIEW, "access.export_auditentry", "cards.export_cardmastercard",
                    "ledger.export_sale"),
    "administrators": (*_VIEW, "access.export_auditentry", "auth.add_group", "auth.add_user",
                       "auth.change_group", "auth.change_user", "auth.delete_group",
                       "auth.delete_user", "cards.add_cardmastercard",
                       "cards.change_cardmastercard", "cards.delete_cardmastercard",
                       "cards.export_cardmastercard", "ledger.add_station",
                       "ledger.change_station", "ledger.delete_station", "ledger.export_sale"),
}


def permission_objects(apps: Any, names: tuple[str, ...]) -> list[Any]:
    """The Permission rows of ``app_label.codename`` names."""
    permission = apps.get_model("auth", "Permission")
    return [permission.objects.get(content_type__app_label=name.split(".")[0],
                                   codename=name.split(".")[1]) for name in names]


def make_groups(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    group = apps.get_model("auth", "Group")
    for name, rights in DEFAULT_GROUPS.items():
        made, created = group.objects.get_or_create(name=name)
        if created:
            made.permissions.set(permission_objects(apps, rights))


def remove_groups(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    apps.get_model("auth", "Group").objects.filter(name__in=list(DEFAULT_GROUPS)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0002_login_limits"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("ledger", "0003_export_right"),
        ("cards", "0002_export_right"),
    ]

    operations = [
        migrations.RunPython(make_groups, remove_groups),
    ]
