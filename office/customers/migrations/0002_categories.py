"""The customer categories every office starts with (an editable list)."""

from typing import Any

from django.db import migrations

CATEGORIES = (("vip", "VIP"), ("regular", "Regular"), ("business", "Business"),
              ("new", "New"))


def add(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    category = apps.get_model("customers", "CustomerCategory")
    for code, name in CATEGORIES:
        category.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):

    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
