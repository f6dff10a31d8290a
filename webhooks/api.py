"""Lago's v1 endpoints for webhook endpoints and the public key of JWT signatures (reference/lago-api.md
§2.12). Bodies are read by billing.api.input.read_input; every rule (a URL we may send to, the signature
algorithm, known event types, ten endpoints per organization, each URL once) is webhooks.services'.
`webhook_endpoint_payload` is the endpoint's one writer; the serializer only documents it."""

import base64
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT
from billing.api.input import Choice, LagoInput, read_input
from billing.api.pagination import paginate
from billing.api.schema import PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import NotFound
from billing.ids import as_uuid
from organizations.models import Organization
from webhooks.models import WEBHOOK_TYPES, SignatureAlgorithm, WebhookEndpoint
from webhooks.services import create_endpoint, delete_endpoint, keys_of, update_endpoint


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT)


# Output ---------------------------------------------------------------------------------------


def webhook_endpoint_payload(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """Lago's webhook endpoint object (`V1::WebhookEndpointSerializer`). `event_types` null: every type."""
    return {
        "lago_id": str(endpoint.pk),
        "lago_organization_id": str(endpoint.organization_id),
        "webhook_url": endpoint.webhook_url,
        "signature_algo": endpoint.signature_algo,
        "name": endpoint.name,
        "event_types": list(endpoint.event_types) if endpoint.event_types is not None else None,
        "created_at": _timestamp(endpoint.created_at),
    }


def public_key_base64(organization: Organization) -> str:
    """The organization's RSA public key (PEM), base64-encoded as Lago serves it. Lago's Ruby
    `Base64.encode64` breaks lines every 60 characters; every decoder of that text (Lago's clients
    included) also reads the single-line form written here, which stricter decoders require."""
    pem = keys_of(organization_id=organization.pk).public_key_pem
    return base64.b64encode(pem.encode()).decode()


# Document the writer above; a test holds them to each other. (Comments rather than docstrings:
# drf-spectacular publishes a docstring as the schema's description.)
class WebhookEndpointOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_organization_id = serializers.UUIDField()
    webhook_url = serializers.CharField()
    signature_algo = serializers.ChoiceField(choices=SignatureAlgorithm.values)
    name = serializers.CharField(allow_null=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_TYPES),
        allow_null=True,
        help_text="The message types the endpoint receives; null: every type.",
    )
    created_at = serializers.CharField()


class PublicKeyOutput(serializers.Serializer):
    public_key = serializers.CharField(help_text="The RSA public key (PEM) of JWT signatures, base64-encoded.")


# Input ----------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "uri"})
class UrlText(serializers.CharField):
    """Text the schema publishes as a URI; whether we may send to it is the service's rule
    (`invalid_url`, `url_not_allowed`)."""


class WebhookEndpointInput(LagoInput):
    webhook_url = UrlText(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=(
            "http or https. Unless the server allows private addresses, a URL that resolves to a loopback, "
            "private, link-local or reserved address is refused (`url_not_allowed`)."
        ),
    )
    signature_algo = Choice(choices=SignatureAlgorithm.values, required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    event_types = serializers.ListField(
        child=Choice(choices=WEBHOOK_TYPES),
        required=False,
        allow_null=True,
        help_text="The message types the endpoint receives; null (or absent at creation): every type.",
    )


WebhookEndpointEnvelope = inline_serializer("WebhookEndpointEnvelope", {"webhook_endpoint": WebhookEndpointOutput()})
WebhookEndpointBody = inline_serializer("WebhookEndpointBody", {"webhook_endpoint": WebhookEndpointInput()})
WebhookEndpointListEnvelope = inline_serializer(
    "WebhookEndpointListEnvelope",
    {"webhook_endpoints": WebhookEndpointOutput(many=True), "meta": PaginationMeta()},
)
PublicKeyEnvelope = inline_serializer("WebhookPublicKeyEnvelope", {"webhook": PublicKeyOutput()})


# Views ----------------------------------------------------------------------------------------


def _endpoints(organization: Organization):
    # Newest first, as Lago's lists (reference/lago-api.md §1.3).
    return WebhookEndpoint.objects.filter(organization=organization).order_by("-created_at", "id")


def _endpoint(organization: Organization, lago_id: Any) -> WebhookEndpoint:
    endpoint_id = as_uuid(lago_id)
    endpoint = _endpoints(organization).filter(pk=endpoint_id).first() if endpoint_id else None
    if endpoint is None:
        raise NotFound("webhook_endpoint")
    return endpoint


def _endpoint_response(endpoint: WebhookEndpoint) -> Response:
    return Response({"webhook_endpoint": webhook_endpoint_payload(endpoint)})


class WebhookEndpointsApi(LagoApiView):
    resource = "webhook_endpoint"

    @extend_schema(
        operation_id="list_webhook_endpoints",
        parameters=PAGINATION_PARAMETERS,
        responses={200: WebhookEndpointListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        page = paginate(_endpoints(self.organization), request.query_params)
        return Response(
            {"webhook_endpoints": [webhook_endpoint_payload(endpoint) for endpoint in page.items], "meta": page.meta}
        )

    @extend_schema(
        operation_id="create_webhook_endpoint",
        description="At most 10 endpoints per organization (405 `webhook_endpoints_limit_reached`), each URL once.",
        request=WebhookEndpointBody,
        responses={200: WebhookEndpointEnvelope, **errors(400, 401, 405, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("webhook_endpoint"), WebhookEndpointInput)
        return _endpoint_response(create_endpoint(organization=self.organization, data=data))


class WebhookEndpointApi(LagoApiView):
    resource = "webhook_endpoint"

    @extend_schema(operation_id="get_webhook_endpoint", responses={200: WebhookEndpointEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return _endpoint_response(_endpoint(self.organization, lago_id))

    @extend_schema(
        operation_id="update_webhook_endpoint",
        description="Changes only the fields it is sent. Messages already written keep their URL.",
        request=WebhookEndpointBody,
        responses={200: WebhookEndpointEnvelope, **errors(400, 401, 404, 422)},
    )
    def put(self, request, lago_id: str):
        endpoint = _endpoint(self.organization, lago_id)
        data = read_input(self.root_payload("webhook_endpoint"), WebhookEndpointInput)
        return _endpoint_response(update_endpoint(endpoint=endpoint, data=data))

    @extend_schema(
        operation_id="delete_webhook_endpoint",
        description="Messages already written are still delivered; no new ones are written for it.",
        responses={200: WebhookEndpointEnvelope, **errors(401, 404)},
    )
    def delete(self, request, lago_id: str):
        endpoint = _endpoint(self.organization, lago_id)
        payload = webhook_endpoint_payload(endpoint)  # written before the row goes (and its pk with it)
        delete_endpoint(endpoint=endpoint)
        return Response({"webhook_endpoint": payload})


class JsonAnswers(BaseContentNegotiation):
    """Whatever the request accepts: the answer is text of its own, and an error is Lago's JSON (DRF
    would otherwise refuse `Accept: text/plain` with a 406 before even checking the key)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class WebhookPublicKeyApi(LagoApiView):
    content_negotiation_class = JsonAnswers

    @extend_schema(
        operation_id="get_webhook_public_key",
        description=(
            "The RSA public key (PEM) that verifies JWT-signed webhooks, base64-encoded, as plain text. "
            "Lago marks it deprecated in favour of `/webhooks/json_public_key`."
        ),
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR), **errors(401)},
    )
    def get(self, request):
        return HttpResponse(public_key_base64(self.organization), content_type="text/plain; charset=utf-8")


class WebhookJsonPublicKeyApi(LagoApiView):
    @extend_schema(
        operation_id="get_webhook_json_public_key",
        description=(
            "The RSA public key (PEM) that verifies JWT-signed webhooks, base64-encoded "
            "(what `lago-python-client`'s `webhooks.public_key()` reads and decodes)."
        ),
        responses={200: PublicKeyEnvelope, **errors(401)},
    )
    def get(self, request):
        return Response({"webhook": {"public_key": public_key_base64(self.organization)}})
