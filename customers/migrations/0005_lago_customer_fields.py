"""Lago's remaining customer fields: first and last name, customer type, shipping address, document
locale and what to do with zero-amount invoices; and trigram indexes for the two names, which the
customer search now matches.

The search ORs one `UPPER(col::text) LIKE` per column: PostgreSQL combines the trigram indexes only
when every column has one, so a column without would turn each search into a scan of the table.
"""

from django.db import migrations, models

SEARCHED_COLUMNS = ["firstname", "lastname"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:  # pg_trgm was created by 0002
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS customer_{column}_trgm_idx "
            f"ON customers_customer USING gin ((UPPER({column}::text)) gin_trgm_ops) WHERE deleted_at IS NULL"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS customer_{column}_trgm_idx")


def optional_text(max_length=255):
    return models.CharField(blank=True, max_length=max_length, null=True)


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_net_payment_term")]

    operations = [
        migrations.AddField(model_name="customer", name="firstname", field=optional_text()),
        migrations.AddField(model_name="customer", name="lastname", field=optional_text()),
        migrations.AddField(
            model_name="customer",
            name="customer_type",
            field=models.CharField(
                blank=True,
                choices=[("company", "Company"), ("individual", "Individual")],
                max_length=20,
                null=True,
            ),
        ),
        migrations.AddField(model_name="customer", name="shipping_address_line1", field=optional_text()),
        migrations.AddField(model_name="customer", name="shipping_address_line2", field=optional_text()),
        migrations.AddField(model_name="customer", name="shipping_zipcode", field=optional_text()),
        migrations.AddField(model_name="customer", name="shipping_city", field=optional_text()),
        migrations.AddField(model_name="customer", name="shipping_state", field=optional_text()),
        migrations.AddField(model_name="customer", name="shipping_country", field=optional_text(2)),
        migrations.AddField(model_name="customer", name="document_locale", field=optional_text(2)),
        migrations.AddField(
            model_name="customer",
            name="finalize_zero_amount_invoice",
            field=models.CharField(
                choices=[
                    ("inherit", "As the organization does (finalize)"),
                    ("finalize", "Finalize"),
                    ("skip", "Skip: close it without a number"),
                ],
                db_default="inherit",
                default="inherit",
                max_length=10,
            ),
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
