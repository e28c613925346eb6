"""The last sync request answered per station, in the store (office.sync.mqtt): with
several office workers, a replayed request is refused whichever worker gets it."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0007_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='SyncAnswer',
            fields=[
                ('station_id', models.TextField(primary_key=True, serialize=False)),
                ('envelope_id', models.TextField()),
                ('answered_at', models.TextField()),
            ],
            options={
                'db_table': 'sync_answers',
            },
        ),
    ]
