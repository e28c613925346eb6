"""Search keys hold the name in Latin letters too (office.customers.search.latin), so
"ivanov" finds "Иванов": the keys of existing customers are made again."""

import json
from typing import Any

from django.db import migrations

from office.customers.search import search_key


def rekey(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    customer = apps.get_model("customers", "Customer")
    for c in customer.objects.all().iterator(chunk_size=2000):
        key = search_key(c.name, customer_id=c.customer_id, phones=json.loads(c.phones),
                         emails=json.loads(c.emails))
        if key != c.search_key:
            customer.objects.filter(customer_id=c.customer_id).update(search_key=key)


class Migration(migrations.Migration):

    dependencies = [("customers", "0003_search_index")]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
