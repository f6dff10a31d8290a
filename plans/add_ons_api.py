"""Lago's v1 endpoints for add-ons (reference/lago-api.md §2.7): catalogue items billed once, on a
one-off invoice. Bodies are read by billing.api.input.read_input; the rules live in plans.services.
`add_on_payload` is the add-on's one writer; the serializer only documents it."""

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, EmptyList
from billing.api.input import Integer, LagoInput, read_input
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from plans.models import AddOn
from plans.selectors import get_add_on, list_add_ons
from plans.services import create_add_on, delete_add_on, update_add_on


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT)


def add_on_payload(add_on: AddOn) -> dict[str, Any]:
    """Lago's add-on object (`V1::AddOnSerializer`). Taxes are not modelled: always none."""
    return {
        "lago_id": str(add_on.pk),
        "name": add_on.name,
        "invoice_display_name": add_on.invoice_display_name,
        "code": add_on.code,
        "amount_cents": add_on.amount_cents,
        "amount_currency": add_on.amount_currency,
        "created_at": _timestamp(add_on.created_at),
        "description": add_on.description,
        "taxes": [],
    }


# Documents `add_on_payload`; a test holds them to each other.
class AddOnOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    name = serializers.CharField()
    invoice_display_name = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    amount_cents = serializers.IntegerField()
    amount_currency = serializers.CharField()
    created_at = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    taxes = EmptyList()


class AddOnInput(LagoInput):
    # Taxes are not modelled: an add-on takes none.
    unsupported = {"tax_codes": []}

    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    invoice_display_name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    amount_cents = Integer(required=False, allow_null=True)
    amount_currency = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)


AddOnEnvelope = inline_serializer("AddOnEnvelope", {"add_on": AddOnOutput()})
AddOnBody = inline_serializer("AddOnBody", {"add_on": AddOnInput()})
AddOnListEnvelope = inline_serializer(
    "AddOnListEnvelope", {"add_ons": AddOnOutput(many=True), "meta": PaginationMeta()}
)


def _add_on_response(add_on: AddOn) -> Response:
    return Response({"add_on": add_on_payload(add_on)})


class AddOnsApi(LagoApiView):
    @extend_schema(
        operation_id="list_add_ons",
        parameters=PAGINATION_PARAMETERS,
        responses={200: AddOnListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        page = paginate(list_add_ons(organization=self.organization), request.query_params)
        return Response({"add_ons": [add_on_payload(add_on) for add_on in page.items], "meta": page.meta})

    @extend_schema(
        operation_id="create_add_on",
        request=AddOnBody,
        responses={200: AddOnEnvelope, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("add_on"), AddOnInput)
        return _add_on_response(create_add_on(organization=self.organization, data=data))


class AddOnApi(LagoApiView):
    resource = "add_on"

    @extend_schema(operation_id="get_add_on", responses={200: AddOnEnvelope, **errors(401, 404)})
    def get(self, request, code: str):
        return _add_on_response(get_add_on(organization=self.organization, code=code))

    @extend_schema(
        operation_id="update_add_on",
        description="Invoices already issued keep their fees as billed.",
        request=AddOnBody,
        responses={200: AddOnEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, code: str):
        add_on = get_add_on(organization=self.organization, code=code)
        data = read_input(self.root_payload("add_on"), AddOnInput)
        return _add_on_response(update_add_on(add_on=add_on, data=data))

    @extend_schema(operation_id="delete_add_on", responses={200: AddOnEnvelope, **errors(401, 404)})
    def delete(self, request, code: str):
        add_on = get_add_on(organization=self.organization, code=code)
        return _add_on_response(delete_add_on(add_on=add_on))
