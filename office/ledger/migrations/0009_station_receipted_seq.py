"""What each station last said this office receipted (its status's last_receipt_seq):
how an office restored from a backup knows which receipted sales to ask for again."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_sync_answers")]

    operations = [
        migrations.AddField(model_name="stationchain", name="receipted_seq",
                            field=models.BigIntegerField(null=True)),
    ]
