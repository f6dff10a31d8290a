"""Lago's v1 customer endpoints (reference/lago-api.md §2.1). Shapes only; rules live in services.

The upsert is a hot path (a Lago client syncs its customers one request at a time), so it is one of
the two named exceptions to the API's input convention (billing.api.input): its body is read by a
plain function, `_service_data`, to the same rules and codes, off DRF's serializer path. The customer
is written by one plain function too, `customer_payload`, wherever it appears (here, and inside
invoices and credit notes). The serializers only document both in the OpenAPI schema; the tests hold
the functions to them (and the fuzz test the responses to the schema).
"""

import re
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.input import reject_unsupported
from billing.api.pagination import paginate
from billing.api.renderers import FastJSONRenderer
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import ValidationFailed
from billing.text import is_storable
from customers.models import SHIPPING_ADDRESS_KEYS, Customer, CustomerType, FinalizeZeroAmountInvoice
from customers.selectors import customers_to_page, get_customer_by_external_id, set_loaded_metadata, with_metadata
from customers.services import update_customer, upsert_customer
from invoicing.customer_deletion import delete_customer

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# Input ----------------------------------------------------------------------------------------


def _text():
    return serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


class BillingConfigurationInput(serializers.Serializer):
    invoice_grace_period = serializers.IntegerField(required=False, allow_null=True)
    payment_provider = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    provider_customer_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    document_locale = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="ISO 639-1 code, such as en or fr."
    )


# The object under `shipping_address`; its errors name the field `shipping_<key>` (Lago's columns).
class ShippingAddressInput(serializers.Serializer):
    address_line1 = _text()
    address_line2 = _text()
    city = _text()
    zipcode = _text()
    state = _text()
    country = _text()


class MetadataInput(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True)
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField(required=False)


@extend_schema_field(MetadataInput(many=True))
class MetadataListField(serializers.ListField):
    """Documented as metadata rows; typed loosely so that the service reports errors with its codes."""


# Documents the body in the OpenAPI schema (its docstring is the published description);
# requests are read by `_service_data`, which the tests hold to these fields.
class CustomerInput(serializers.Serializer):
    """The body under `customer`. Absent keys stay absent, so an update never wipes them."""

    external_id = serializers.CharField(trim_whitespace=False)
    name = _text()
    firstname = _text()
    lastname = _text()
    timezone = _text()
    currency = _text()
    country = _text()
    legal_name = _text()
    legal_number = _text()
    tax_identification_number = _text()
    email = _text()
    phone = _text()
    url = _text()
    address_line1 = _text()
    address_line2 = _text()
    zipcode = _text()
    city = _text()
    state = _text()
    customer_type = serializers.ChoiceField(
        choices=CustomerType.values, required=False, allow_null=True, allow_blank=True
    )
    net_payment_term = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=365, help_text="Days; null: the organization's."
    )
    finalize_zero_amount_invoice = serializers.ChoiceField(
        choices=FinalizeZeroAmountInvoice.values, required=False, allow_null=True, help_text="null: inherit."
    )
    shipping_address = ShippingAddressInput(required=False)
    billing_configuration = BillingConfigurationInput(required=False)
    metadata = MetadataListField(child=serializers.DictField(), required=False, allow_null=True)


class CustomerUpdateInput(CustomerInput):
    external_id = serializers.CharField(required=False, trim_whitespace=False)


CUSTOMER_FIELDS = frozenset(CustomerInput._declared_fields)
BILLING_CONFIGURATION_FIELDS = frozenset(BillingConfigurationInput._declared_fields)
SHIPPING_ADDRESS_FIELDS = frozenset(ShippingAddressInput._declared_fields)

# The optional text fields of CustomerInput (`_text()`), in its declaration order, which is the
# order of the error details.
OPTIONAL_TEXT_FIELDS = (
    "name",
    "firstname",
    "lastname",
    "timezone",
    "currency",
    "country",
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
)
# A whole number may be written with a decimal point: "7.0", 7.0 (DRF's IntegerField).
_TRAILING_ZERO_DECIMALS = re.compile(r"\.0*\s*$")
# Longer strings are refused before int() parses them (DRF's IntegerField.MAX_STRING_LENGTH).
MAX_INTEGER_STRING_LENGTH = 1000


class _Refused(Exception):
    """A value of the wrong JSON type, with the Lago code the API answers for it."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _read_text(value: Any, *, trim: bool = False, allow_null: bool = True, allow_blank: bool = True) -> str | None:
    """Text the way CustomerInput's CharFields took it: a number becomes its text, any other
    non-string is refused, and so is text the database cannot store."""
    if value is None:
        if allow_null:
            return None
        raise _Refused("value_is_mandatory")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Refused("value_is_invalid")
    text = str(value)
    if trim:
        text = text.strip()
    if text == "":
        if allow_blank:
            return ""
        raise _Refused("value_is_mandatory")
    if not is_storable(text):
        raise _Refused("value_is_invalid")
    return text


def _read_integer(value: Any) -> int | None:
    """A whole number the way DRF's IntegerField took it: an int, or text or a float that reads as one."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) > MAX_INTEGER_STRING_LENGTH:
        raise _Refused("value_is_too_long")
    try:
        return int(_TRAILING_ZERO_DECIMALS.sub("", str(value)))
    except ValueError:
        raise _Refused("value_is_invalid") from None


def _service_data(payload: dict, *, external_id_required: bool) -> dict[str, Any]:
    """Check the JSON types of the body under `customer` and flatten `billing_configuration` and
    `shipping_address` (whose keys become `shipping_<key>`) into the service's field names. Absent
    keys stay absent, at every level, so that an update never wipes them.

    The hand-written exception to `billing.api.input.read_input` (the upsert is a measured hot
    path): it checks what that reader checks (undeclared keys, JSON types), with the same codes.

    Type errors are answered before any rule is checked, together and in the order of the
    documented fields; the rules (lengths, codes, metadata rows...) are the service's.
    """
    reject_unsupported(payload, CUSTOMER_FIELDS)
    shipping = payload.get("shipping_address")
    if isinstance(shipping, dict):
        reject_unsupported(shipping, SHIPPING_ADDRESS_FIELDS)
    billing = payload.get("billing_configuration")
    if isinstance(billing, dict):
        reject_unsupported(billing, BILLING_CONFIGURATION_FIELDS)

    data: dict[str, Any] = {}
    billing_data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def take(source: dict, target: dict, field: str, read, name: str | None = None, **options) -> None:
        """Read `source[field]`, if sent, into `target[name]` (the service's name, `field` unless given)."""
        if field not in source:
            return
        name = name or field
        try:
            target[name] = read(source[field], **options)
        except _Refused as refused:
            errors[name] = [refused.code]

    def nested(field: str) -> dict | None:
        """The object sent under `field`, or None (an error recorded) when it is not one."""
        value = payload[field]
        if isinstance(value, dict):
            return value
        errors[field] = ["value_is_mandatory" if value is None else "value_is_invalid"]
        return None

    if "external_id" in payload:
        take(payload, data, "external_id", _read_text, allow_null=False, allow_blank=False)
    elif external_id_required:
        errors["external_id"] = ["value_is_mandatory"]
    for field in OPTIONAL_TEXT_FIELDS:
        take(payload, data, field, _read_text)
    take(payload, data, "customer_type", _read_text)
    take(payload, data, "net_payment_term", _read_integer)
    take(payload, data, "finalize_zero_amount_invoice", _read_text)

    # As `billing_configuration` below: each key absent from the object keeps its stored value.
    if "shipping_address" in payload and nested("shipping_address") is not None:
        for key in SHIPPING_ADDRESS_KEYS:
            take(shipping, data, key, _read_text, name=f"shipping_{key}")

    if "billing_configuration" in payload and nested("billing_configuration") is not None:
        take(billing, billing_data, "invoice_grace_period", _read_integer)
        take(billing, billing_data, "payment_provider", _read_text, trim=True)
        take(billing, billing_data, "provider_customer_id", _read_text, trim=True)
        take(billing, billing_data, "document_locale", _read_text, trim=True)

    if "metadata" in payload:
        rows = payload["metadata"]
        if rows is None:
            data["metadata"] = None
        elif not isinstance(rows, list):
            errors["metadata"] = ["value_is_invalid"]
        else:
            # Each row must be an object; its keys and values are the service's to check. A row
            # that is not one is reported under its index, as DRF's ListField reported it.
            row_errors = {
                str(index): ["value_is_mandatory" if row is None else "value_is_invalid"]
                for index, row in enumerate(rows)
                if not isinstance(row, dict)
            }
            errors.update(row_errors)
            if not row_errors:
                data["metadata"] = [dict(row) for row in rows]

    if errors:
        raise ValidationFailed(errors)
    data.update(billing_data)
    return data


# Output ---------------------------------------------------------------------------------------


class MetadataOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField()
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)


class BillingConfigurationOutput(serializers.Serializer):
    invoice_grace_period = serializers.IntegerField(allow_null=True)
    payment_provider = serializers.CharField(allow_null=True)
    provider_customer_id = serializers.CharField(allow_null=True)
    document_locale = serializers.CharField(allow_null=True)


class ShippingAddressOutput(serializers.Serializer):
    address_line1 = serializers.CharField(allow_null=True)
    address_line2 = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True)


# Documents `customer_payload`, the customer's one writer; a test holds them to each other. (Comments
# rather than docstrings on these: drf-spectacular publishes a docstring as the schema's description.)
class CustomerOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    firstname = serializers.CharField(allow_null=True)
    lastname = serializers.CharField(allow_null=True)
    customer_type = serializers.ChoiceField(choices=CustomerType.values, allow_null=True)
    created_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    updated_at = serializers.DateTimeField(format=DATETIME_FORMAT)
    country = serializers.CharField(allow_null=True)
    address_line1 = serializers.CharField(allow_null=True)
    address_line2 = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    legal_name = serializers.CharField(allow_null=True)
    legal_number = serializers.CharField(allow_null=True)
    tax_identification_number = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    timezone = serializers.CharField(allow_null=True)
    applicable_timezone = serializers.CharField()
    net_payment_term = serializers.IntegerField(allow_null=True)
    finalize_zero_amount_invoice = serializers.ChoiceField(choices=FinalizeZeroAmountInvoice.values)
    billing_configuration = BillingConfigurationOutput(source="*")
    shipping_address = ShippingAddressOutput()
    metadata = MetadataOutput(many=True)
    taxes = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_taxes(self, customer) -> list:
        return []


CustomerEnvelope = inline_serializer("CustomerEnvelope", {"customer": CustomerOutput()})
CustomerListEnvelope = inline_serializer(
    "CustomerListEnvelope", {"customers": CustomerOutput(many=True), "meta": PaginationMeta()}
)
CustomerUpsertBody = inline_serializer("CustomerUpsertBody", {"customer": CustomerInput()})
CustomerUpdateBody = inline_serializer("CustomerUpdateBody", {"customer": CustomerUpdateInput()})


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT)


def customer_payload(customer: Customer) -> dict[str, Any]:
    """Lago's customer object, as CustomerOutput documents it. Reads `customer.metadata.all()`:
    prefetched by the selectors, or loaded by the service that wrote the customer."""
    return {
        "lago_id": str(customer.id),
        "external_id": customer.external_id,
        "name": customer.name,
        "firstname": customer.firstname,
        "lastname": customer.lastname,
        "customer_type": customer.customer_type,
        "created_at": _timestamp(customer.created_at),
        "updated_at": _timestamp(customer.updated_at),
        "country": customer.country,
        "address_line1": customer.address_line1,
        "address_line2": customer.address_line2,
        "state": customer.state,
        "zipcode": customer.zipcode,
        "city": customer.city,
        "email": customer.email,
        "url": customer.url,
        "phone": customer.phone,
        "legal_name": customer.legal_name,
        "legal_number": customer.legal_number,
        "tax_identification_number": customer.tax_identification_number,
        "currency": customer.currency,
        "timezone": customer.timezone,
        "applicable_timezone": customer.applicable_timezone,
        "net_payment_term": customer.net_payment_term,
        "finalize_zero_amount_invoice": customer.finalize_zero_amount_invoice,
        "billing_configuration": {
            "invoice_grace_period": customer.invoice_grace_period,
            "payment_provider": customer.payment_provider,
            "provider_customer_id": customer.provider_customer_id,
            "document_locale": customer.document_locale,
        },
        "shipping_address": customer.shipping_address,
        "metadata": [
            {
                "lago_id": str(item.id),
                "key": item.key,
                "value": item.value,
                "display_in_invoice": item.display_in_invoice,
                "created_at": _timestamp(item.created_at),
            }
            for item in customer.metadata.all()
        ],
        "taxes": [],
    }


def _customer_response(customer: Customer) -> Response:
    return Response({"customer": customer_payload(customer)})


# Views ----------------------------------------------------------------------------------------


class CustomersApi(LagoApiView):
    renderer_classes = [FastJSONRenderer]  # customer_payload writes only plain values

    @extend_schema(
        operation_id="list_customers",
        parameters=[*PAGINATION_PARAMETERS, OpenApiParameter("search_term", str)],
        responses={200: CustomerListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        queryset, total = customers_to_page(
            organization=self.organization, search=request.query_params.get("search_term", "")
        )
        page = paginate(with_metadata(queryset), request.query_params, total_count=total)
        return Response({"customers": [customer_payload(customer) for customer in page.items], "meta": page.meta})

    @extend_schema(
        operation_id="upsert_customer",
        request=CustomerUpsertBody,
        responses={200: CustomerEnvelope, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = _service_data(self.root_payload("customer"), external_id_required=True)
        customer, _ = upsert_customer(organization=self.organization, data=data)
        return _customer_response(customer)


class CustomerApi(LagoApiView):
    renderer_classes = [FastJSONRenderer]

    resource = "customer"

    @extend_schema(operation_id="get_customer", responses={200: CustomerEnvelope, **errors(401, 404)})
    def get(self, request, external_id: str):
        return _customer_response(get_customer_by_external_id(organization=self.organization, external_id=external_id))

    @extend_schema(
        operation_id="update_customer",
        request=CustomerUpdateBody,
        responses={200: CustomerEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        payload = self.root_payload("customer")
        customer = update_customer(customer=customer, data=_service_data(payload, external_id_required=False))
        # Re-read, with its metadata, exactly as GET shows it.
        return _customer_response(
            get_customer_by_external_id(organization=self.organization, external_id=customer.external_id)
        )

    @extend_schema(operation_id="delete_customer", responses={200: CustomerEnvelope, **errors(401, 404)})
    def delete(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        deleted = delete_customer(customer=customer)
        # Lago answers with the deleted customer, in the same shape as GET. The deletion leaves the
        # metadata alone, so the rows read with the customer are still its rows.
        set_loaded_metadata(deleted, list(customer.metadata.all()))
        return _customer_response(deleted)
