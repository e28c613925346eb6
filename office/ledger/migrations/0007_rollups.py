"""Roll-ups of the sales for the dashboard: per local day, station and product, and per
local month and card (office.ledger.rollups), with the time zone they count in.

A store that already holds sales gets them counted here in UTC days (the default time
zone); ``forecourt office report rebuild`` counts them again in another.
"""

from typing import Any

from django.db import migrations, models

_DISCOUNT = {
    "sqlite": "COALESCE(json_extract(pricing, '$.list_amount') - amount, 0)",
    "postgresql": "COALESCE((pricing::jsonb ->> 'list_amount')::bigint - amount, 0)",
}


def count_existing(apps: Any, schema_editor: Any) -> None:  # noqa: ARG001
    discount = _DISCOUNT[schema_editor.connection.vendor]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("INSERT INTO rollup_state (id, timezone) VALUES (1, 'UTC')")
        cursor.execute(
            "INSERT INTO sales_daily (day, station_id, product, sales, volume_ml, amount, "
            f"discount) SELECT substr(completed_at, 1, 10), station_id, product, COUNT(*), "
            f"SUM(volume_ml), SUM(amount), SUM({discount}) FROM sales GROUP BY 1, 2, 3")
        cursor.execute(
            "INSERT INTO card_monthly (month, card_id, sales, volume_ml, amount, discount) "
            f"SELECT substr(completed_at, 1, 7) || '-01', card_id, COUNT(*), SUM(volume_ml), "
            f"SUM(amount), SUM({discount}) FROM sales GROUP BY 1, 2")


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0006_sales_pricing'),
    ]

    operations = [
        migrations.CreateModel(
            name='CardMonthly',
            fields=[
                ('pk', models.CompositePrimaryKey('month', 'card_id', blank=True, editable=False, primary_key=True, serialize=False)),
                ('month', models.TextField()),
                ('card_id', models.TextField()),
                ('sales', models.BigIntegerField()),
                ('volume_ml', models.BigIntegerField()),
                ('amount', models.BigIntegerField()),
                ('discount', models.BigIntegerField()),
            ],
            options={
                'db_table': 'card_monthly',
                'default_permissions': (),
            },
        ),
        migrations.CreateModel(
            name='SalesDaily',
            fields=[
                ('pk', models.CompositePrimaryKey('day', 'station_id', 'product', blank=True, editable=False, primary_key=True, serialize=False)),
                ('day', models.TextField()),
                ('station_id', models.TextField()),
                ('product', models.TextField()),
                ('sales', models.BigIntegerField()),
                ('volume_ml', models.BigIntegerField()),
                ('amount', models.BigIntegerField()),
                ('discount', models.BigIntegerField()),
            ],
            options={
                'db_table': 'sales_daily',
                'default_permissions': (),
            },
        ),
        migrations.CreateModel(
            name='RollupState',
            fields=[
                ('id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('timezone', models.TextField()),
                ('rebuilt_at', models.TextField(null=True)),
            ],
            options={
                'db_table': 'rollup_state',
                'default_permissions': (),
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='rollup_state_one_row')],
            },
        ),
        migrations.RunPython(count_existing, migrations.RunPython.noop),
    ]
