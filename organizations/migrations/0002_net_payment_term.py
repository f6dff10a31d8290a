from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("organizations", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="organization", name="net_payment_term", field=models.PositiveIntegerField(default=0)
        ),
    ]
