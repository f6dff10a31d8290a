"""Lago's v1 customer endpoints (reference/lago-api.md §2.1). Shapes only; rules live in services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import reject_unsupported
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from customers.selectors import (
    customers_to_page,
    get_customer_by_external_id,
    load_metadata,
    with_metadata,
)
from customers.services import delete_customer, update_customer, upsert_customer

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# Input ----------------------------------------------------------------------------------------


class BillingConfigurationInput(serializers.Serializer):
    invoice_grace_period = serializers.IntegerField(required=False, allow_null=True)
    payment_provider = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    provider_customer_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class MetadataInput(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True)
    key = serializers.CharField()
    value = serializers.CharField()
    display_in_invoice = serializers.BooleanField(required=False)


@extend_schema_field(MetadataInput(many=True))
class MetadataListField(serializers.ListField):
    """Documented as metadata rows; typed loosely so that the service reports errors with its codes."""


def _text():
    return serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


class CustomerInput(serializers.Serializer):
    """The body under `customer`. Absent keys stay absent, so an update never wipes them."""

    external_id = serializers.CharField(trim_whitespace=False)
    name = _text()
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
    billing_configuration = BillingConfigurationInput(required=False)
    metadata = MetadataListField(child=serializers.DictField(), required=False, allow_null=True)


class CustomerUpdateInput(CustomerInput):
    external_id = serializers.CharField(required=False, trim_whitespace=False)


CUSTOMER_FIELDS = frozenset(CustomerInput._declared_fields)
BILLING_CONFIGURATION_FIELDS = frozenset(BillingConfigurationInput._declared_fields)


def _service_data(payload: dict, serializer_class: type[serializers.Serializer]) -> dict:
    """Validate types and flatten `billing_configuration` into the service's field names."""
    reject_unsupported(payload, CUSTOMER_FIELDS)
    if isinstance(payload.get("billing_configuration"), dict):
        reject_unsupported(payload["billing_configuration"], BILLING_CONFIGURATION_FIELDS)
    serializer = serializer_class(data=payload)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    data.update(data.pop("billing_configuration", None) or {})
    if data.get("metadata") is not None:
        data["metadata"] = [dict(row) for row in data["metadata"]]
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


class CustomerOutput(serializers.Serializer):
    lago_id = serializers.UUIDField(source="id")
    external_id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
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
    billing_configuration = BillingConfigurationOutput(source="*")
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


def _customer_response(customer) -> Response:
    return Response({"customer": CustomerOutput(customer).data})


def _written_customer_response(organization, customer) -> Response:
    """Re-read a customer just written, with its metadata, exactly as GET shows it."""
    return _customer_response(get_customer_by_external_id(organization=organization, external_id=customer.external_id))


# Views ----------------------------------------------------------------------------------------


class CustomersApi(LagoApiView):
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
        return Response({"customers": CustomerOutput(page.items, many=True).data, "meta": page.meta})

    @extend_schema(
        operation_id="upsert_customer",
        request=CustomerUpsertBody,
        responses={200: CustomerEnvelope, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = _service_data(self.root_payload("customer"), CustomerInput)
        customer, _ = upsert_customer(organization=self.organization, data=data)
        return _customer_response(load_metadata(customer))


class CustomerApi(LagoApiView):
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
        customer = update_customer(customer=customer, data=_service_data(payload, CustomerUpdateInput))
        return _written_customer_response(self.organization, customer)

    @extend_schema(operation_id="delete_customer", responses={200: CustomerEnvelope, **errors(401, 404)})
    def delete(self, request, external_id: str):
        customer = get_customer_by_external_id(organization=self.organization, external_id=external_id)
        delete_customer(customer=customer)
        # Lago answers with the customer as it was, through the same serializer as GET.
        return _customer_response(customer)
