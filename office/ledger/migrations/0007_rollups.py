"""TEMPORARY (branch console-reports): the dashboard's roll-up tables, as the lead is
adding them on main (``sales_daily``, ``card_monthly``); replaced by main's migration
of the same name when main has it."""

from django.db import migrations, models


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
    ]
