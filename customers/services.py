"""Every write the domain knows about customers. Views, API views, admin and commands call these."""

import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django_countries import countries

from billing.currencies import is_currency
from billing.errors import NotFound, ValidationFailed
from billing.text import is_storable
from billing.timezones import is_timezone
from customers.document_locales import is_document_locale
from customers.models import (
    EXTERNAL_ID_MAX_LENGTH,
    METADATA_KEY_MAX_LENGTH,
    METADATA_MAX_ROWS,
    METADATA_VALUE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Customer,
    CustomerMetadata,
    CustomerType,
    FinalizeZeroAmountInvoice,
    LiveCustomerCount,
    PaymentProvider,
)
from customers.selectors import load_metadata, set_loaded_metadata
from organizations.models import Organization
from webhooks.services import emit, outbox_cte, sent_on_commit

# Optional free-text fields: NULL when absent, at most 255 characters.
TEXT_FIELDS = (
    "firstname",
    "lastname",
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "email",
    "phone",
    "url",
    "address_line1",
    "address_line2",
    "zipcode",
    "city",
    "state",
    "shipping_address_line1",
    "shipping_address_line2",
    "shipping_zipcode",
    "shipping_city",
    "shipping_state",
    "provider_customer_id",
)
WRITABLE_FIELDS = frozenset(
    TEXT_FIELDS
    + ("external_id", "name", "timezone", "currency", "country", "payment_provider", "invoice_grace_period")
    + ("net_payment_term", "shipping_country", "customer_type", "document_locale", "finalize_zero_amount_invoice")
)
# What a new customer holds in a NOT NULL column it was not sent (the others hold NULL).
NEW_CUSTOMER_DEFAULTS = {"finalize_zero_amount_invoice": FinalizeZeroAmountInvoice.INHERIT.value}
MAX_GRACE_PERIOD_DAYS = 365
MAX_NET_PAYMENT_TERM_DAYS = 365

# Objects whose assignment locks the external_id (the seed: plan, coupon, add-on, wallet and
# credits), as (related name on Customer, how the staff UI names it). Each issue that adds one of
# these objects adds its relation here.
LOCKING_RELATIONS: tuple[tuple[str, str], ...] = (
    ("subscriptions", "a subscription"),
    ("applied_coupons", "a coupon"),
    ("wallets", "a wallet"),
    ("invoices", "an invoice"),
)

_email_validator = EmailValidator()


def external_id_lock_reason(*, customer: Customer) -> str | None:
    """Why the customer's external_id can no longer change, or None while it is free.

    The one predicate behind the API's 422, the staff form's read-only field and the tests.
    """
    if customer.pk is None:
        return None
    for relation, label in LOCKING_RELATIONS:
        if getattr(customer, relation).exists():
            return (
                f"The external ID cannot change: this customer already has {label}, and the "
                "external ID is how your backend refers to it."
            )
    return None


def _clean_optional_text(value: Any, max_length: int) -> tuple[str | None, str | None]:
    """Return (cleaned value, error code)."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not is_storable(value):
        return None, "value_is_invalid"
    if value == "":
        return None, None
    if len(value) > max_length:
        return None, "value_is_too_long"
    return value, None


def _clean_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate the scalar fields present in `data`; absent keys stay absent."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(field: str, code: str) -> None:
        errors.setdefault(field, []).append(code)

    unknown = set(data) - WRITABLE_FIELDS - {"metadata"}
    for field in sorted(unknown):
        fail(field, "unknown_field")

    if "external_id" in data:
        external_id = data["external_id"]
        if not isinstance(external_id, str) or not external_id.strip():
            fail("external_id", "value_is_mandatory")
        elif not is_storable(external_id):
            fail("external_id", "value_is_invalid")
        elif len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            fail("external_id", "value_is_too_long")
        else:
            cleaned["external_id"] = external_id

    if "name" in data:
        value, error = _clean_optional_text(data["name"], NAME_MAX_LENGTH)
        if error:
            fail("name", error)
        cleaned["name"] = value

    for field in TEXT_FIELDS:
        if field in data:
            value, error = _clean_optional_text(data[field], 255)
            if error:
                fail(field, error)
            cleaned[field] = value

    if cleaned.get("email"):
        # Like Lago, several addresses may be given, separated by commas.
        for address in cleaned["email"].split(","):
            try:
                _email_validator(address.strip())
            except DjangoValidationError:
                fail("email", "invalid_email_format")
                break

    if "timezone" in data:
        value, error = _clean_optional_text(data["timezone"], 64)
        if error or (value is not None and not is_timezone(value)):
            fail("timezone", "invalid_timezone")
        cleaned["timezone"] = value

    if "currency" in data:
        value, error = _clean_optional_text(data["currency"], 3)
        if error or (value is not None and not is_currency(value)):
            fail("currency", "value_is_invalid")
        cleaned["currency"] = value

    for field in ("country", "shipping_country"):
        if field in data:
            value, error = _clean_optional_text(data[field], 2)
            value = value.upper() if value else value
            if error or (value is not None and value not in countries):
                fail(field, "not_a_valid_country_code")
            cleaned[field] = value

    if "customer_type" in data:
        value, error = _clean_optional_text(data["customer_type"], 20)
        if error or (value is not None and value not in CustomerType.values):
            fail("customer_type", "value_is_invalid")
        cleaned["customer_type"] = value

    if "document_locale" in data:  # ISO 639-1, any case; stored in lower case
        value, error = _clean_optional_text(data["document_locale"], 2)
        value = value.lower() if value else value
        if error or (value is not None and not is_document_locale(value)):
            fail("document_locale", "value_is_invalid")
        cleaned["document_locale"] = value

    if "finalize_zero_amount_invoice" in data:
        # Lago's rule and code: null means inherit; anything but its three values is refused.
        value = data["finalize_zero_amount_invoice"]
        if value is None:
            value = FinalizeZeroAmountInvoice.INHERIT.value
        if value not in FinalizeZeroAmountInvoice.values:
            fail("finalize_zero_amount_invoice", "invalid_value")
        cleaned["finalize_zero_amount_invoice"] = value

    if "payment_provider" in data:
        value, error = _clean_optional_text(data["payment_provider"], 20)
        if error or (value is not None and value not in PaymentProvider.values):
            fail("payment_provider", "value_is_invalid")
        cleaned["payment_provider"] = value

    if "invoice_grace_period" in data:
        value = data["invoice_grace_period"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            fail("invoice_grace_period", "value_is_invalid")
        elif value is not None and not 0 <= value <= MAX_GRACE_PERIOD_DAYS:
            fail("invoice_grace_period", "value_is_out_of_range")
        cleaned["invoice_grace_period"] = value

    if "net_payment_term" in data:  # days; None: the organization's
        value = data["net_payment_term"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            fail("net_payment_term", "value_is_invalid")
        elif value is not None and not 0 <= value <= MAX_NET_PAYMENT_TERM_DAYS:
            fail("net_payment_term", "value_is_out_of_range")
        cleaned["net_payment_term"] = value

    return cleaned, errors


def _clean_metadata(rows: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Validate metadata rows: a list of {id?, key, value, display_in_invoice?}."""
    if rows is None:
        return [], []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return [], ["value_is_invalid"]
    codes: list[str] = []
    cleaned: list[dict[str, Any]] = []
    for row in rows:
        key, value = row.get("key"), row.get("value")
        display = row.get("display_in_invoice", False)
        if key in (None, "") or value in (None, ""):
            codes.append("value_is_mandatory")
            continue
        if not isinstance(key, str) or not key.strip() or not isinstance(value, str) or not is_storable(key + value):
            codes.append("value_is_invalid")
            continue
        if len(key) > METADATA_KEY_MAX_LENGTH or len(value) > METADATA_VALUE_MAX_LENGTH:
            codes.append("value_is_too_long")
            continue
        if display is None:
            display = False
        if not isinstance(display, bool):
            codes.append("value_is_invalid")
            continue
        cleaned.append({"id": row.get("id"), "key": key, "value": value, "display_in_invoice": display})
    keys = [row["key"] for row in cleaned]
    if len(keys) != len(set(keys)):
        codes.append("duplicated_key")
    # Two rows claiming one stored row would both keep its id and collide on the primary key.
    ids = [str(row["id"]) for row in cleaned if row["id"]]
    if len(ids) != len(set(ids)):
        codes.append("duplicated_id")
    if len(rows) > METADATA_MAX_ROWS:
        codes.append("invalid_count")
    return cleaned, sorted(set(codes), key=codes.index)


def _validate(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    fields, errors = _clean_fields(data)
    metadata = None
    if "metadata" in data:
        metadata, metadata_errors = _clean_metadata(data["metadata"])
        if metadata_errors:
            errors["metadata"] = metadata_errors
    if errors:
        raise ValidationFailed(errors)
    return fields, metadata


def _replace_metadata(customer: Customer, rows: list[dict[str, Any]]) -> bool:
    """Make the customer's metadata exactly `rows`. Rows keep their id when matched by id or key.

    Returns whether anything was written. When nothing was, the metadata just read stays loaded
    on the customer, in display order (the model's ordering).
    """
    existing = list(customer.metadata.all())
    by_id = {str(item.id): item for item in existing}
    by_key = {item.key: item for item in existing}
    wanted: list[CustomerMetadata] = []
    for row in rows:
        match = by_id.get(str(row["id"])) if row["id"] else None
        match = match or by_key.get(row["key"])
        item = CustomerMetadata(
            customer=customer, key=row["key"], value=row["value"], display_in_invoice=row["display_in_invoice"]
        )
        if match is not None:
            item.id, item.created_at = match.id, match.created_at
        wanted.append(item)

    def signature(items: Iterable[CustomerMetadata]) -> set[tuple]:
        return {(str(i.id), i.key, i.value, i.display_in_invoice) for i in items}

    if signature(existing) == signature(wanted):
        set_loaded_metadata(customer, existing)
        return False
    # Delete then insert, so that swapped or renamed keys never collide on the unique constraint.
    # The customer's row is locked by the caller, so `existing` is all there is to delete.
    if existing:
        customer.metadata.all().delete()
    CustomerMetadata.objects.bulk_create(wanted)
    if hasattr(customer, "_prefetched_objects_cache"):
        customer._prefetched_objects_cache.pop("metadata", None)
    return True


def _locked(manager, customer: Customer, *, for_deletion: bool = False) -> Customer:
    """Reload the customer with its row locked (not its organization's) for the transaction.

    Only the deletion takes the full row lock, which event ingestion's FOR KEY SHARE waits for
    (events.services): events are then stored before a deletion or refused after it. Every other
    change locks the row FOR NO KEY UPDATE, which still serializes it with the deletion and with the
    other changes, but lets events for the customer go on meanwhile."""
    locking = manager.select_for_update(of=("self",), no_key=not for_deletion)
    try:
        return locking.select_related("organization").get(pk=customer.pk)
    except Customer.DoesNotExist:
        raise NotFound("customer") from None


def _live_customers(organization: Organization):
    return Customer.live.filter(organization=organization)


def _external_id_taken(organization: Organization, external_id: str, exclude: Customer | None = None) -> bool:
    others = _live_customers(organization).filter(external_id=external_id)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()


@transaction.atomic
def create_customer(*, organization: Organization, data: dict[str, Any]) -> Customer:
    if "external_id" not in data:
        data = {**data, "external_id": None}
    try:
        fields, metadata = _validate(data)
    except ValidationFailed as exc:
        # Report a duplicate id together with the other errors, not one round-trip later.
        external_id = data.get("external_id")
        if "external_id" not in exc.details and _external_id_taken(organization, external_id):
            exc.details["external_id"] = ["value_already_exist"]
        raise
    if _external_id_taken(organization, fields["external_id"]):
        raise ValidationFailed({"external_id": ["value_already_exist"]})
    customer = Customer(organization=organization, **fields)
    try:
        with transaction.atomic():
            customer.save(force_insert=True)
    except IntegrityError:
        # A concurrent request created the same external_id between the check and the insert.
        raise ValidationFailed({"external_id": ["value_already_exist"]}) from None
    if metadata:
        _replace_metadata(customer, metadata)
    _adjust_live_count(organization, +1)
    _emit(customer, "customer.created")
    return customer


def _emit(customer: Customer, webhook_type: str) -> None:
    emit(
        organization_id=customer.organization_id,
        webhook_type=webhook_type,
        object_type="customer",
        object_id=customer.pk,
    )


def _check_external_id_change(customer: Customer, new_external_id: str) -> None:
    if new_external_id == customer.external_id:
        return
    if external_id_lock_reason(customer=customer):
        raise ValidationFailed({"external_id": ["value_is_not_editable"]})
    if _external_id_taken(customer.organization, new_external_id, exclude=customer):
        raise ValidationFailed({"external_id": ["value_already_exist"]})


def check_customer_create(*, organization: Organization, data: dict[str, Any]) -> None:
    """Raise what `create_customer` would raise for `data` (bar a concurrent insert), without writing."""
    fields, _ = _validate({"external_id": None, **data})
    if _external_id_taken(organization, fields["external_id"]):
        raise ValidationFailed({"external_id": ["value_already_exist"]})


def check_customer_update(*, customer: Customer, data: dict[str, Any]) -> None:
    """Raise what `update_customer` would raise for `data`, without writing anything."""
    fields, _ = _validate(data)
    _check_external_id_change(customer, fields.get("external_id", customer.external_id))


@transaction.atomic
def update_customer(*, customer: Customer, data: dict[str, Any]) -> Customer:
    """Write the fields present in `data` and only those; refuse a locked external_id change."""
    fields, metadata = _validate(data)
    customer = _locked(Customer.live, customer)
    _check_external_id_change(customer, fields.get("external_id", customer.external_id))
    changed = [field for field, value in fields.items() if getattr(customer, field) != value]
    for field in changed:
        setattr(customer, field, fields[field])
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    if metadata is not None and _replace_metadata(customer, metadata):
        changed.append("metadata")
    if changed:
        _emit(customer, "customer.updated")
    return customer


def upsert_customer(*, organization: Organization, data: dict[str, Any]) -> tuple[Customer, bool]:
    """Create the customer, or update the live one with this external_id (Lago's POST /customers).

    One INSERT ... ON CONFLICT DO UPDATE on the partial unique index: two concurrent upserts of the
    same new external_id make one customer, and an update writes only the fields it received.
    The external_id is the conflict key, so an upsert never renames and the lock rule cannot apply.

    The customer comes back with its organization and its metadata (in display order) loaded.
    """
    if not isinstance(data.get("external_id"), str):
        data = {**data, "external_id": None}
    fields, metadata = _validate(data)
    # _upsert_row is atomic on its own; metadata writes need a transaction around it, and without
    # them one would only cost BEGIN and COMMIT round trips.
    with transaction.atomic() if metadata is not None else nullcontext():
        customer, created = _upsert_row(organization, fields)
        if created:
            set_loaded_metadata(customer, [])  # a new customer has none: nothing to read
        else:
            # What the update keeps, or what the metadata sent replaces (read under the row lock).
            load_metadata(customer)
        if metadata is not None and _replace_metadata(customer, metadata):
            load_metadata(customer)  # read back what was written, in the database's display order
    return customer, created


# Every column of the customers table, in the model's order: the upsert writes them all and
# reads them back in this order.
CUSTOMER_COLUMNS = tuple(Customer._meta.concrete_fields)
CUSTOMER_ATTNAMES = tuple(field.attname for field in CUSTOMER_COLUMNS)


def _upsert_row(organization: Organization, fields: dict[str, Any]) -> tuple[Customer, bool]:
    """Insert or update the customer's row, and count a new one in the live counter in the same
    transaction. Returns the customer as written and whether it is new."""
    now = timezone.now()
    values = {
        **dict.fromkeys(WRITABLE_FIELDS),
        **NEW_CUSTOMER_DEFAULTS,
        **fields,
        "id": uuid.uuid4(),
        "organization": organization.pk,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    params = [field.get_db_prep_save(values[field.name], connection) for field in CUSTOMER_COLUMNS]
    columns = ", ".join(field.column for field in CUSTOMER_COLUMNS)
    updated = [Customer._meta.get_field(name).column for name in sorted(fields) if name != "external_id"]
    upsert = (
        f"INSERT INTO {Customer._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(CUSTOMER_COLUMNS))}) "
        "ON CONFLICT (organization_id, external_id) WHERE deleted_at IS NULL DO UPDATE SET "
        + ", ".join(f"{column} = excluded.{column}" for column in [*updated, "updated_at"])
        + f" RETURNING {columns}"
    )
    # In both branches, the row is new exactly when it carries the creation time this statement wrote.
    if connection.vendor == "postgresql":
        # One statement is a transaction of its own, without BEGIN and COMMIT round trips: the
        # counter moves in a data-modifying WITH query, and only when the row is new.
        # The webhook messages (customer.created or .updated) are written by the same statement.
        kind = "CASE WHEN w.created_at = %s THEN 'customer.created' ELSE 'customer.updated' END"
        outbox = outbox_cte(source="written", webhook_type_sql=kind, object_type="customer", object_id_sql="w.id::text")
        counted = (
            f"WITH written AS ({upsert}), moved AS ("
            f"UPDATE {LiveCustomerCount._meta.db_table} SET live_count = live_count + 1 "
            "WHERE organization_id = %s AND EXISTS (SELECT FROM written WHERE created_at = %s) "
            f"RETURNING organization_id), messages AS ({outbox}) "
            f"SELECT {columns}, EXISTS (SELECT FROM moved), "
            "ARRAY(SELECT ARRAY[id::text, endpoint_id::text] FROM messages) FROM written"
        )
        kind_params = [now, now, now, organization.pk, now]  # the CASE, the two times, the organization, the CASE
        with connection.cursor() as cursor:
            cursor.execute(counted, [*params, organization.pk, now, *kind_params])
            *row, moved, messages = cursor.fetchone()
        sent_on_commit(messages)
        # psycopg returns every column as the ORM would read it (PostgreSQL needs no converters).
        customer = Customer.from_db(connection.alias, CUSTOMER_ATTNAMES, row)
        created = customer.created_at == now
        if created and not moved:
            recount_live_customers(organization=organization)  # the organization had no counter yet
    else:
        with transaction.atomic():
            # raw() converts the row as the ORM does (SQLite returns UUIDs and times as text).
            [customer] = Customer.objects.raw(upsert, params)
            created = customer.created_at == now
            if created:
                _adjust_live_count(organization, +1)
            _emit(customer, "customer.created" if created else "customer.updated")
    customer.organization = organization
    return customer, created


@transaction.atomic
def soft_delete_customer(*, customer: Customer, at: datetime | None = None) -> Customer:
    """Mark the customer deleted; its external_id is free again at once. Only the deletion of
    `invoicing.customer_deletion`, which also records the cascade over what the customer has,
    calls this."""
    customer = _locked(Customer.objects, customer, for_deletion=True)
    if customer.deleted_at is not None:
        raise NotFound("customer")
    customer.deleted_at = at or timezone.now()
    customer.save(update_fields=["deleted_at", "updated_at"])
    _adjust_live_count(customer.organization, -1)
    _emit(customer, "customer.deleted")  # ours: Lago sends none, and a backend wants to know
    return customer


def _adjust_live_count(organization: Organization, delta: int) -> None:
    """Move the live customer counter in the caller's transaction (the row stays locked until commit)."""
    if LiveCustomerCount.objects.filter(organization=organization).update(live_count=F("live_count") + delta):
        return
    recount_live_customers(organization=organization)


def recount_live_customers(*, organization: Organization) -> int:
    """Set the counter from the table, e.g. after a bulk load that bypassed the services."""
    count = Customer.live.filter(organization=organization).count()
    if LiveCustomerCount.objects.filter(organization=organization).update(live_count=count):
        return count
    try:
        with transaction.atomic():
            LiveCustomerCount.objects.create(organization=organization, live_count=count)
    except IntegrityError:
        # A concurrent transaction created the row first and has committed: count again, seeing its rows.
        count = Customer.live.filter(organization=organization).count()
        LiveCustomerCount.objects.filter(organization=organization).update(live_count=count)
    return count
