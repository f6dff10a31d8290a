"""Plumbing shared by the API views."""

from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.errors import MissingRootKey
from billing.errors import NotFound, ValidationFailed


# An API view scoped to the organization of the request's API key. (A comment, not a docstring:
# drf-spectacular would publish a docstring as the description of every operation.)
class LagoApiView(APIView):
    # What a path identifier names, for the 404 code (`customer_not_found`).
    resource = "resource"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL: no stored id has one, and no filter may carry one.
        if any("\x00" in str(value) for value in kwargs.values()):
            raise NotFound(self.resource)
        bad = {key: ["value_is_invalid"] for key, value in request.query_params.items() if "\x00" in value}
        if bad:
            raise ValidationFailed(bad)

    @property
    def organization(self):
        return self.request.user.organization

    def root_payload(self, root_key: str) -> dict:
        """The object under Lago's root key, e.g. `{"customer": {...}}`, or a 400 as Lago answers."""
        data = self.request.data
        payload = data.get(root_key) if isinstance(data, dict) else None
        if not isinstance(payload, dict) or not payload:
            raise MissingRootKey(root_key)
        return payload


class JsonErrors:
    """For the views under /api/ that answer something else than JSON (the schema in YAML, the docs
    page in HTML): their errors, a wrong method for one, still answer Lago's JSON body."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(JsonErrors, SpectacularAPIView):
    """The OpenAPI schema (YAML, or JSON with `?format=json`)."""


# What the docs page may load: only this server's files and schema. Redoc's own scripts and styles
# are inline (styled-components), and its search runs in a worker made from a blob. The template
# (templates/drf_spectacular/redoc.html) already asks for nothing else; this makes the browser
# refuse anything that would slip through, so the page stays whole offline.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


class DocsView(JsonErrors, SpectacularRedocView):
    """The API's documentation page, rendered from the schema by Redoc, served from here (the
    sidecar package) with the template in templates/drf_spectacular/redoc.html."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response
