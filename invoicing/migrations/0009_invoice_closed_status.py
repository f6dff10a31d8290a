"""Lago's `closed` invoice status: an invoice whose fees add up to zero, of a customer who skips
those, is closed rather than finalized and takes no number, so the database lets it go unnumbered."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0008_invoice_payment_terms")]

    operations = [
        migrations.RemoveConstraint(model_name="invoice", name="invoice_numbered_unless_draft"),
        migrations.AlterField(
            model_name="invoice",
            name="status",
            field=models.CharField(
                choices=[("draft", "Draft"), ("finalized", "Finalized"), ("voided", "Voided"), ("closed", "Closed")],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(status__in=["draft", "closed"]) | models.Q(sequential_id__isnull=False),
                name="invoice_numbered_unless_draft",
            ),
        ),
    ]
