"""Every API error leaves through here, in Lago's JSON shapes (reference/lago-api.md §1.4)."""

import logging
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response

from billing.errors import NotAllowed, NotFound, ValidationFailed

# DRF's validation codes, translated into Lago's.
_LAGO_CODES = {
    "required": "value_is_mandatory",
    "null": "value_is_mandatory",
    "blank": "value_is_mandatory",
    "max_length": "value_is_too_long",
    "min_length": "value_is_too_short",
    "max_value": "value_is_out_of_range",
    "min_value": "value_is_out_of_range",
    "max_string_length": "value_is_too_long",
    "invalid_date": "invalid_date",  # billing.api.input.DateTime
}


logger = logging.getLogger(__name__)

RATE_LIMITED_BODY = {"status": 429, "error": "Rate limit exceeded", "code": "rate_limit_exceeded"}
# The database could not be reached, or dropped the connection (a restart, a failover): a transient
# failure, which the client meets by sending the request again a moment later.
UNAVAILABLE_BODY = {"status": 503, "error": "Service Unavailable", "code": "service_unavailable"}
UNAVAILABLE_RETRY_AFTER_SECONDS = 1


class MissingRootKey(exceptions.APIException):
    """The body lacks Lago's root key (`{"customer": {...}}`): Lago answers a 400 without code."""

    status_code = 400

    def __init__(self, root_key: str):
        super().__init__(f"BadRequest: param is missing or the value is empty or invalid: {root_key}")


def _lago_code(code: str | None) -> str:
    return _LAGO_CODES.get(code or "", "value_is_invalid")


def _flatten(errors, into: dict[str, list[str]], key: str | None = None) -> None:
    """Flatten DRF's nested errors onto Lago's flat `{field: [codes]}`; nested fields keep their own name.
    An error of a whole list item (DRF keys it by the item's index) is the list field's."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            name = (key or "base") if field == "non_field_errors" or isinstance(field, int) else str(field)
            _flatten(value, into, name)
        return
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, exceptions.ErrorDetail):
                codes = into.setdefault(key or "base", [])
                code = _lago_code(item.code)
                if code not in codes:
                    codes.append(code)
            else:
                _flatten(item, into, key)
        return
    if isinstance(errors, exceptions.ErrorDetail):
        _flatten([errors], into, key)


def validation_error_response(details: dict[str, list[str]]) -> Response:
    return Response(
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        },
        status=422,
    )


def not_found_body(code: str) -> dict:
    return {"status": 404, "error": "Not Found", "code": code}


def lago_exception_handler(exc, context):
    if isinstance(exc, ValidationFailed):
        return validation_error_response(exc.details)
    if isinstance(exc, NotFound):
        return Response(not_found_body(exc.code), status=404)
    if isinstance(exc, NotAllowed):
        return Response({"status": 405, "error": "Method Not Allowed", "code": exc.code}, status=405)
    if isinstance(exc, Http404):
        return Response(not_found_body("resource_not_found"), status=404)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = Response({"status": 401, "error": "Unauthorized"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, exceptions.ValidationError):
        details: dict[str, list[str]] = {}
        _flatten(exc.detail, details)
        return validation_error_response(details)
    if isinstance(exc, MissingRootKey):
        return Response({"status": 400, "error": str(exc.detail)}, status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response({"status": 400, "error": f"BadRequest: {exc.detail}"}, status=400)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response({"status": 405, "error": "Method Not Allowed", "code": "method_not_allowed"}, status=405)
    if isinstance(exc, exceptions.Throttled):
        return rate_limited_response(exc)
    if isinstance(exc, exceptions.APIException):
        code = exc.status_code
        return Response({"status": code, "error": status_phrase(code), "code": exc.default_code}, status=code)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_unavailable_response(exc)
    return None


def database_unavailable_response(exc: Exception) -> Response:
    """A 503 in Lago's error shape with `Retry-After`, rather than a 500: the request failed on the
    database's availability, not on its content. (Django logs the 503 itself; this says why.)"""
    logger.warning("database unavailable: %s", str(exc).strip())
    response = Response(dict(UNAVAILABLE_BODY), status=503)
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def rate_limited_response(exc: exceptions.Throttled) -> Response:
    """Lago's body for a request over its organization's rate limit (lago-api's Rack::Attack
    responder, config/initializers/rack_attack.rb), with `Retry-After`; the `X-RateLimit-*` headers
    come from the throttle (billing/api/throttling.py)."""
    response = Response(dict(RATE_LIMITED_BODY), status=429)
    response["Retry-After"] = str(exc.wait if exc.wait is not None else 1)
    return response


def status_phrase(code: int) -> str:
    return HTTPStatus(code).phrase


def unknown_api_route(request, *args, **kwargs) -> JsonResponse:
    """Lago's catch-all: any path under /api/ that names no endpoint."""
    return JsonResponse(not_found_body("resource_not_found"), status=404)


# Django's own error pages (handler400 and handler500 in billing/urls.py): the staff pages keep
# Django's, while under /api/ a client gets JSON, the shape Rails gives Lago's (`{"status": 500,
# "error": "Internal Server Error"}`); an HTML body would make Lago's clients report a decode error.


def _under_api(request) -> bool:
    return request.path_info == "/api" or request.path_info.startswith("/api/")


def bad_request(request, exception):
    if _under_api(request):
        return JsonResponse({"status": 400, "error": status_phrase(400)}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _under_api(request):
        return JsonResponse({"status": 500, "error": status_phrase(500)}, status=500)
    return defaults.server_error(request)
