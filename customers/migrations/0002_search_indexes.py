"""Trigram indexes for the customer search, on PostgreSQL only.

Django writes `icontains` as `UPPER(col::text) LIKE UPPER('%term%')`, so the indexes are on that
same expression; an index on the bare column would never be used. SQLite, used by the demo, has no
such index type; its searches scan, which is fine at demo size.
"""

from django.db import migrations

SEARCHED_COLUMNS = ["name", "external_id", "email", "legal_name"]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS customer_{column}_trgm_idx "
            f"ON customers_customer USING gin ((UPPER({column}::text)) gin_trgm_ops) WHERE deleted_at IS NULL"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCHED_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS customer_{column}_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]
    operations = [migrations.RunPython(create_indexes, drop_indexes)]
