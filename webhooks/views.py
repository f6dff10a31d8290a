"""Staff pages of Developers → Webhooks: the organization's endpoints (add, edit, delete), its signing
keys (the HMAC key revealed on demand and rotatable, the public key of JWT signatures) and the delivery
log, with each message's attempts and a Resend button. Every write goes through webhooks.services;
every query is limited to the staff member's organization, so another organization's rows are a 404."""

import json
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff import staff_page
from billing.staff_errors import sentence
from webhooks.delivery import MAX_ATTEMPTS
from webhooks.forms import LISTENS_TO_SOME, WebhookEndpointForm
from webhooks.models import (
    MAX_ENDPOINTS_PER_ORGANIZATION,
    MessageStatus,
    SignatureAlgorithm,
    WebhookEndpoint,
    WebhookMessage,
)
from webhooks.services import create_endpoint, delete_endpoint, keys_of, resend, rotate_hmac_key, update_endpoint

PER_PAGE = 20
STATUS_FILTERS = [
    ("", "All"),
    (MessageStatus.PENDING, "Pending"),
    (MessageStatus.SUCCEEDED, "Succeeded"),
    (MessageStatus.FAILED, "Failed"),
]
# What delivery writes as an attempt's error when it refuses the URL itself: a code, worded here.
URL_ERROR_CODES = ("invalid_url", "url_not_allowed")


def _endpoints(organization):
    return WebhookEndpoint.objects.filter(organization=organization).order_by("created_at", "id")


def _get_endpoint(request, endpoint_id) -> WebhookEndpoint:
    endpoint = _endpoints(request.organization).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("webhook_endpoint_not_found")
    return endpoint


def _get_message(request, message_id) -> WebhookMessage:
    message = (
        WebhookMessage.objects.filter(organization=request.organization, pk=message_id)
        .select_related("endpoint")
        .first()
    )
    if message is None:
        raise Http404("webhook_message_not_found")
    return message


def _limit_reason(count: int) -> str | None:
    """Why no endpoint can be added (the service's limit, in its words), or None."""
    if count < MAX_ENDPOINTS_PER_ORGANIZATION:
        return None
    return sentence("webhook_endpoints_limit_reached", resource="webhook_endpoint")


# Endpoints and keys -------------------------------------------------------------------------------


def _index_page(request, *, reveal: bool = False):
    endpoints = list(_endpoints(request.organization))
    keys = keys_of(organization_id=request.organization.pk)
    context = {
        "endpoints": endpoints,
        "max_endpoints": MAX_ENDPOINTS_PER_ORGANIZATION,
        "limit_reason": _limit_reason(len(endpoints)),
        "public_key_pem": keys.public_key_pem,
        "rotated_at": keys.rotated_at,
        "hmac_key": keys.hmac_key if reveal else None,
    }
    return render(request, "webhooks/index.html", context)


@require_GET
@staff_page
def webhook_index(request):
    if request.htmx and request.htmx.target == "hmac-key":
        # "Hide" puts the masked key back.
        return render(request, "webhooks/index.html#hmac-key", {"hmac_key": None})
    return _index_page(request)


@never_cache
@require_GET
@staff_page
def hmac_key(request):
    """The HMAC key, only when asked for: a fragment swapped into the page (the whole page, key shown,
    without JavaScript). Never cached."""
    if request.htmx:
        keys = keys_of(organization_id=request.organization.pk)
        return render(request, "webhooks/index.html#hmac-key", {"hmac_key": keys.hmac_key})
    return _index_page(request, reveal=True)


@require_http_methods(["GET", "POST"])
@staff_page
def hmac_key_rotate(request):
    if request.method == "POST":
        rotate_hmac_key(organization=request.organization)
        messages.success(request, "HMAC key rotated: messages are signed with the new key from now on.")
        return redirect(reverse("webhooks:index") + "#signing-keys")
    hmac_endpoints = [
        endpoint
        for endpoint in _endpoints(request.organization).only("webhook_url", "signature_algo")
        if endpoint.signature_algo == SignatureAlgorithm.HMAC
    ]
    return render(request, "webhooks/hmac_rotate.html", {"hmac_endpoints": hmac_endpoints})


def _endpoint_form_page(request, *, endpoint: WebhookEndpoint | None = None):
    creating = endpoint is None
    limit_reason = _limit_reason(_endpoints(request.organization).count()) if creating else None
    shown_url = None if creating else endpoint.webhook_url  # the stored one, whatever the form holds
    form = WebhookEndpointForm(request.POST or None, endpoint=endpoint)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            if creating:
                create_endpoint(organization=request.organization, data=form.service_data())
            else:
                update_endpoint(endpoint=endpoint, data=form.service_data())
        except (ValidationFailed, NotFound, NotAllowed) as exc:
            form.add_service_errors(exc)
            status = 409 if isinstance(exc, NotAllowed) else 200
        else:
            messages.success(request, "Webhook endpoint added." if creating else "Webhook endpoint saved.")
            return redirect(reverse("webhooks:index"))
    context = {
        "form": form,
        "endpoint": endpoint,
        "shown_url": shown_url,
        "limit_reason": limit_reason,
        "listens_to_some": LISTENS_TO_SOME,
    }
    return render(request, "webhooks/endpoint_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@staff_page
def endpoint_create(request):
    return _endpoint_form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def endpoint_edit(request, endpoint_id):
    return _endpoint_form_page(request, endpoint=_get_endpoint(request, endpoint_id))


@require_http_methods(["GET", "POST"])
@staff_page
def endpoint_delete(request, endpoint_id):
    endpoint = _get_endpoint(request, endpoint_id)
    if request.method == "POST":
        delete_endpoint(endpoint=endpoint)
        messages.success(request, f"Webhook endpoint {endpoint.webhook_url} deleted.")
        return redirect(reverse("webhooks:index"))
    pending = WebhookMessage.objects.filter(endpoint=endpoint, status=MessageStatus.PENDING).count()
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint, "pending": pending})


# The delivery log ---------------------------------------------------------------------------------


def _endpoint_filter(value: str | None, endpoints: list[WebhookEndpoint]) -> str:
    """The chosen endpoint's id as text when it is one of the organization's, else "" (all)."""
    try:
        chosen = uuid.UUID(value or "")
    except ValueError:
        return ""
    return str(chosen) if any(endpoint.pk == chosen for endpoint in endpoints) else ""


@require_GET
@staff_page
def message_list(request):
    status = request.GET.get("status", "")
    if status not in MessageStatus.values:
        status = ""
    endpoints = list(_endpoints(request.organization).only("webhook_url", "name"))
    endpoint = _endpoint_filter(request.GET.get("endpoint"), endpoints)
    log = WebhookMessage.objects.filter(organization=request.organization)
    if status:
        log = log.filter(status=status)
    if endpoint:
        log = log.filter(endpoint_id=endpoint)
    log = log.defer("body").order_by("-created_at", "-id")
    page = Paginator(log, PER_PAGE).get_page(request.GET.get("page"))
    query = {"status": status, "endpoint": endpoint}
    context = {
        "page": page,
        "status": status,
        "endpoint": endpoint,
        "endpoints": endpoints,
        "status_filters": STATUS_FILTERS,
        "query": "&".join(f"{key}={value}" for key, value in query.items()),
        "max_attempts": MAX_ATTEMPTS,
    }
    template = "webhooks/message_list.html"
    if request.htmx and request.htmx.target == "webhook-log":
        template += "#webhook-log"
    return render(request, template, context)


def _pretty_body(body: str | None) -> str | None:
    if body is None:
        return None
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@require_GET
@staff_page
def message_detail(request, message_id):
    message = _get_message(request, message_id)
    attempts = list(message.delivery_attempts.order_by("-attempted_at", "-id"))
    for number, attempt in zip(range(len(attempts), 0, -1), attempts, strict=True):
        attempt.number = number
        attempt.succeeded = attempt.status_code is not None and 200 <= attempt.status_code < 300
        attempt.error_display = (
            sentence(attempt.error, resource="webhook_attempt") if attempt.error in URL_ERROR_CODES else attempt.error
        )
    context = {
        "message": message,
        "attempts": attempts,
        "body": _pretty_body(message.body),
        "max_attempts": MAX_ATTEMPTS,
        "can_resend": message.status != MessageStatus.PENDING,
    }
    return render(request, "webhooks/message_detail.html", context)


@require_POST
@staff_page
def message_resend(request, message_id):
    message = _get_message(request, message_id)
    try:
        resend(message=message)
    except NotAllowed:
        # Already on its way: its next attempt comes on schedule, and sending it now could cross an
        # attempt in flight.
        messages.info(request, "This message is already waiting for delivery: it was not sent again.")
    else:
        messages.success(request, "Message sent again, with the same unique key.")
    return redirect(reverse("webhooks:message_detail", args=[message.pk]))
