"""Serializers that only document shared API shapes (errors, pagination) in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorBody(serializers.Serializer):
    status = serializers.IntegerField()
    error = serializers.CharField()
    code = serializers.CharField(required=False)


class ValidationErrorBody(ErrorBody):
    # Codes per field; a batch of events keys them by the event's index first.
    error_details = serializers.DictField(child=serializers.JSONField())


class PaginationMeta(serializers.Serializer):
    current_page = serializers.IntegerField()
    next_page = serializers.IntegerField(allow_null=True)
    prev_page = serializers.IntegerField(allow_null=True)
    total_pages = serializers.IntegerField()
    total_count = serializers.IntegerField()


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorBody, description="The body is not JSON or lacks its root key."),
    401: OpenApiResponse(ErrorBody, description="Missing or unknown API key."),
    404: OpenApiResponse(ErrorBody, description="No such resource in this organization."),
    405: OpenApiResponse(ErrorBody, description="Not allowed in the resource's current state."),
    422: OpenApiResponse(ValidationErrorBody, description="Validation errors, per field."),
}

PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int, description="1-based page number."),
    OpenApiParameter("per_page", int, description="Items per page (default 100, at most 1000)."),
]


# Every list's `external_customer_id` filter (customers.selectors.customers_named_by).
EXTERNAL_CUSTOMER_ID_FILTER = OpenApiParameter(
    "external_customer_id",
    str,
    description=(
        "The live customer with this external id; while no live customer holds it, the deleted customers that "
        "did. Once a new customer has taken the id, a deleted customer's records are found by their own ids."
    ),
)


def errors(*codes: int) -> dict:
    return {code: ERROR_RESPONSES[code] for code in codes}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how our API key authentication looks in the schema."""

    target_class = "organizations.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}
