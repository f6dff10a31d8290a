"""Invoice numbers: the organization's prefix, the provisional number of a draft, and the gap-free
sequence a finalization takes its number from."""

import re

from django.db import IntegrityError, connection, transaction

from invoicing.models import InvoiceSequence
from organizations.models import Organization


def invoice_prefix(organization: Organization) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", organization.name).upper()
    return letters[:4] or "INV"


def draft_number(organization: Organization) -> str:
    """The provisional number a draft shows (Lago's clients require one)."""
    return f"{invoice_prefix(organization)}-DRAFT"


def final_number(organization: Organization, sequential_id: int) -> str:
    """The number a finalized invoice keeps."""
    return f"{invoice_prefix(organization)}-{sequential_id:06d}"


def next_sequential_id(organization_id) -> int:
    """Take the organization's next invoice number in one statement. The row stays locked until the
    finalization commits, so concurrent finalizations take turns: no gap, no duplicate."""
    table = InvoiceSequence._meta.db_table
    organization_pk = InvoiceSequence._meta.pk.get_db_prep_value(organization_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_sequential_id = last_sequential_id + 1 "
            "WHERE organization_id = %s RETURNING last_sequential_id",
            [organization_pk],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    try:
        with transaction.atomic():
            InvoiceSequence.objects.create(organization_id=organization_id, last_sequential_id=1)
            return 1
    except IntegrityError:
        return next_sequential_id(organization_id)  # created meanwhile by a concurrent finalization
