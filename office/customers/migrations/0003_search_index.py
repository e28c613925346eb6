"""The trigram index over customers' search keys (issue 12, finding people).

PostgreSQL: the ``pg_trgm`` extension and a GIN trigram index on ``customers.search_key``.
SQLite: an FTS5 trigram table kept in step with ``customers`` by triggers. Both: an index
on the key's first characters for short queries. What each is and why:
office.customers.search_index, whose statements this migration runs.
"""

from typing import Any

from django.db import migrations

from office.customers import search_index


class RunSQLOn(migrations.RunSQL):
    """``RunSQL`` on one database vendor only (a no-op on the other)."""

    def __init__(self, vendor: str, sql: Any, reverse_sql: Any) -> None:
        super().__init__(sql, reverse_sql)
        self.vendor = vendor

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        if schema_editor.connection.vendor == self.vendor:
            if self.vendor == "sqlite" and not search_index.sqlite_supports_trigram():
                import sqlite3

                raise RuntimeError(
                    f"the office's customer search needs SQLite 3.34 or newer (FTS5 "
                    f"trigram), this Python has {sqlite3.sqlite_version}")
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):

    dependencies = [("customers", "0002_categories")]

    operations = [
        RunSQLOn("postgresql", list(search_index.POSTGRESQL_INSTALL),
                 list(search_index.POSTGRESQL_REMOVE)),
        RunSQLOn("sqlite", list(search_index.SQLITE_INSTALL),
                 list(search_index.SQLITE_REMOVE)),
    ]
