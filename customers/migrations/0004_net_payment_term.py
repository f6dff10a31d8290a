from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_live_customer_count")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="net_payment_term",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
