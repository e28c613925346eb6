from django.db import migrations, models


class Migration(migrations.Migration):
    """A sale's ``pricing`` field (docs/journal.md, docs/pricing.md): JSON text, NULL for a
    line without pricing rules in force (every line before the field existed)."""

    dependencies = [
        ('ledger', '0005_sales_vehicle'),
    ]

    operations = [
        migrations.AddField(
            model_name='sale',
            name='pricing',
            field=models.TextField(null=True),
        ),
    ]
