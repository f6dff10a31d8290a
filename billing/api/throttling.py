"""Per-organization API rate limits, as Lago Cloud's (its docs, "Rate limits"): event ingestion
500 requests/s, current usage 200 requests/s, every other endpoint 50 requests/s, shared by all the
keys of an organization. Counted in Redis (billing/ratelimit.py), so every server process shares the
count; a request over the limit gets Lago's 429 (billing/api/errors.py).

Every counted response carries Lago's headers, which lago-python-client reads: `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the window resets; the client waits
that long before it retries a 429).
"""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from billing.ratelimit import RESET_SECONDS, WindowCount, count_in_window

EVENTS = "events"
CURRENT_USAGE = "current_usage"
OTHER = "other"

EVENT_INGESTION_PATHS = frozenset({"/api/v1/events", "/api/v1/events/batch"})
CUSTOMERS_PREFIX = "/api/v1/customers/"
CURRENT_USAGE_SUFFIX = "/current_usage"


def limit_category(method: str, path: str) -> str:
    """Which of Lago's three limits a request counts against. Decided on the path, as Lago does: the
    routes in billing/urls.py send exactly these paths to the ingestion and current usage views."""
    if method == "POST" and path in EVENT_INGESTION_PATHS:
        return EVENTS
    if method == "GET" and path.startswith(CUSTOMERS_PREFIX) and path.endswith(CURRENT_USAGE_SUFFIX):
        return CURRENT_USAGE
    return OTHER


def category_limit(category: str) -> int:
    """Requests per second allowed in the category; 0 or less: not limited."""
    if category == EVENTS:
        return settings.API_RATE_LIMIT_EVENTS
    if category == CURRENT_USAGE:
        return settings.API_RATE_LIMIT_CURRENT_USAGE
    return settings.API_RATE_LIMIT_OTHER


def rate_limit_headers(window: WindowCount) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(RESET_SECONDS),
    }


class OrganizationRateThrottle(BaseThrottle):
    """DRF runs it after authentication, so an unauthenticated request (401) is never counted."""

    def allow_request(self, request, view) -> bool:
        if not settings.API_RATE_LIMITS_ENABLED:
            return True
        # An ApiClient (organizations/authentication.py); None on the public schema and docs pages.
        organization = getattr(request.user, "organization", None)
        if organization is None:
            return True
        category = limit_category(request.method, request.path_info)
        limit = category_limit(category)
        if limit <= 0:
            return True
        window = count_in_window(key=f"api:{organization.pk}:{category}", limit=limit)
        if window is None:  # Redis is away: the request goes through
            return True
        # DRF copies the view's headers onto the response, the 429 included.
        view.headers.update(rate_limit_headers(window))
        return not window.exceeded

    def wait(self) -> int:
        return RESET_SECONDS
