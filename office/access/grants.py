"""Giving the default groups the rights of a new feature, for the migrations that add one.

A feature added after an office was made (vouchers, reports, accounts, ...) gets its
rights in the default groups that exist (viewers, operators, accountants,
administrators); rights an office gave or took before are left as they are. The
migrations call :func:`granter` with the feature's model and the rights per group, so
each states only what it grants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth.management import create_permissions


def granter(app_label: str, model: str, grants: Mapping[str, tuple[str, ...]]
            ) -> Callable[[Any, Any], None]:
    """A ``RunPython`` function giving each existing group in ``grants`` its rights
    (``view``, ``add``, ...) on ``app_label.model``."""
    def grant(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, verbosity=0, apps=apps)
            app_config.models_module = None
        group = apps.get_model("auth", "Group")
        permission = apps.get_model("auth", "Permission")
        for name, rights in grants.items():
            found = group.objects.filter(name=name).first()
            if found is not None:
                found.permissions.add(*(permission.objects.get(
                    content_type__app_label=app_label, codename=f"{right}_{model}")
                    for right in rights))
    return grant
