"""Plumbing shared by the API views."""

from rest_framework.views import APIView

from billing.api.errors import MissingRootKey


class LagoApiView(APIView):
    """An API view scoped to the organization of the request's API key."""

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
