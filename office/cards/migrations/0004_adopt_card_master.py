"""The card master's documents become the office's records (issue 12).

Before, the office kept cards only as the documents stations receive; from now on the
records are the truth and the documents are computed from them. Each card document
(and the customers, groups and vehicles the card store listed) becomes a record; each
wallet opens with the balance its document held. Nothing is published: the documents
stay as they are until a record changes.
"""

import json
from typing import Any

from django.db import migrations

from office.cards.records import adopt


def adopt_documents(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    docs = [json.loads(d) for d in apps.get_model("cards", "CardMasterCard").objects
            .order_by("card_id").values_list("doc", flat=True)]
    extra = {e.kind: json.loads(e.doc) for e in apps.get_model("cards", "CardMasterExtra")
             .objects.all()}
    if docs or any(extra.values()):
        adopt(docs, customers=extra.get("customers", []),
              groups=extra.get("customer_groups", []), vehicles=extra.get("vehicles", []),
              actor="upgrade", via="cli", apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("cards", "0003_records"),
        ("customers", "0002_categories"),
    ]

    operations = [
        migrations.RunPython(adopt_documents, migrations.RunPython.noop),
    ]
