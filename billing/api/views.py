"""Plumbing shared by the API views."""

from rest_framework.views import APIView

from billing.api.errors import MissingRootKey
from billing.errors import NotFound, ValidationFailed


class LagoApiView(APIView):
    """An API view scoped to the organization of the request's API key."""

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
