"""On SQLite, ``sales`` is a ``WITHOUT ROWID`` table, as the office store always had it.

Django cannot declare that, so this migration rebuilds the table (rows and indexes kept)
when it is not one yet. The sales are then clustered by (station_id, seq), the order
the ingest reads and writes them in, with no second b-tree for the key. A store adopted
from before Django already has it (nothing is done); PostgreSQL has no such thing.

Caution for later migrations: when Django alters ``sales`` on SQLite by rebuilding the
table (most changes except adding a nullable column), the rebuilt table has a rowid
again; such a migration must be followed by this rebuild once more.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def sales_without_rowid(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    """Rebuild ``sales`` as WITHOUT ROWID on SQLite, unless it is one already."""
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sales'")
        (create,) = cursor.fetchone()
        if "WITHOUT ROWID" in create.upper():
            return
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' "
                       "AND tbl_name = 'sales' AND sql IS NOT NULL")
        indexes = [sql for (sql,) in cursor.fetchall()]
        _head, paren, body = create.partition("(")
        cursor.execute(f'CREATE TABLE "sales__rebuild" {paren}{body} WITHOUT ROWID')
        cursor.execute('INSERT INTO "sales__rebuild" SELECT * FROM "sales"')
        cursor.execute('DROP TABLE "sales"')
        cursor.execute('ALTER TABLE "sales__rebuild" RENAME TO "sales"')
        for sql in indexes:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(sales_without_rowid, migrations.RunPython.noop, elidable=False),
    ]
