"""API authentication: `Authorization: Bearer <key>` resolves to one organization (its API keys live here)."""

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from organizations.models import Organization
from organizations.services import organization_for_api_key


@dataclass(frozen=True)
class ApiClient:
    """The caller behind an API key. `request.user` in API views; `organization` scopes every query."""

    organization: Organization
    is_authenticated: bool = True


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        # Like Lago, the key is the second word; the scheme word is not checked.
        parts = header.split()
        if len(parts) != 2:
            raise exceptions.NotAuthenticated()
        organization = organization_for_api_key(parts[1])
        if organization is None:
            raise exceptions.AuthenticationFailed()
        client = ApiClient(organization=organization)
        return client, client

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
