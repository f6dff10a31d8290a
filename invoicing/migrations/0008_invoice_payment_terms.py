from django.db import migrations, models
from django.db.models import F


def due_on_issuing_date(apps, schema_editor):
    """Invoices made before payment terms were due on their issuing date (a term of 0 days)."""
    apps.get_model("invoicing", "Invoice").objects.update(payment_due_date=F("issuing_date"))


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0007_customer_deletion"),
        ("customers", "0004_net_payment_term"),
        ("organizations", "0002_net_payment_term"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice", name="net_payment_term", field=models.PositiveIntegerField(default=0)
        ),
        migrations.AddField(model_name="invoice", name="payment_due_date", field=models.DateField(null=True)),
        migrations.RunPython(due_on_issuing_date, migrations.RunPython.noop),
        migrations.AlterField(model_name="invoice", name="payment_due_date", field=models.DateField()),
    ]
