"""Webhooks: endpoints, signing keys, and the outbox every change writes its messages to.

`emit` is called by the services that change things, in their transaction: one statement writes
one message per endpoint that listens to the type, so a change that commits always has its
messages and one that rolls back never does. Delivery (`webhooks.delivery`) is Celery's, started on
commit; the clock sends again what a lost task left behind.
"""

import secrets
import threading
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.errors import NotAllowed, ValidationFailed
from billing.jobs import enqueue_on_commit
from billing.text import add_error, clean_text
from organizations.models import Organization
from webhooks.addresses import unsafe_url_reason
from webhooks.dispatch import DELIVER_TASK, hand_over
from webhooks.models import (
    MAX_ENDPOINTS_PER_ORGANIZATION,
    WEBHOOK_TYPES,
    MessageStatus,
    SignatureAlgorithm,
    WebhookEndpoint,
    WebhookKeys,
    WebhookMessage,
)

# Keys ---------------------------------------------------------------------------------------------


def _new_hmac_key() -> str:
    return secrets.token_urlsafe(32)


def keys_of(*, organization_id) -> WebhookKeys:
    """The organization's signing keys, made on first use (an RSA pair of 2,048 bits, as Lago's)."""
    keys = WebhookKeys.objects.filter(organization_id=organization_id).first()
    if keys is not None:
        return keys
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    try:
        with transaction.atomic():
            return WebhookKeys.objects.create(
                organization_id=organization_id,
                hmac_key=_new_hmac_key(),
                private_key_pem=private_pem,
                public_key_pem=public_pem,
            )
    except IntegrityError:  # made meanwhile by another request: that one is the organization's
        return WebhookKeys.objects.get(organization_id=organization_id)


@transaction.atomic
def rotate_hmac_key(*, organization: Organization) -> WebhookKeys:
    """A new HMAC secret; messages signed from now on use it (retries of older ones too)."""
    keys = keys_of(organization_id=organization.pk)
    keys = WebhookKeys.objects.select_for_update().get(pk=keys.pk)
    keys.hmac_key = _new_hmac_key()
    keys.rotated_at = timezone.now()
    keys.save(update_fields=["hmac_key", "rotated_at"])
    return keys


# Endpoints ----------------------------------------------------------------------------------------


def _clean_endpoint(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "webhook_url" in data or creating:
        url, error = clean_text(data.get("webhook_url"), required=True, max_length=1024)
        add_error(errors, "webhook_url", error)
        if url and not error:
            add_error(errors, "webhook_url", unsafe_url_reason(url))
        cleaned["webhook_url"] = url
    if "name" in data:
        cleaned["name"], error = clean_text(data["name"], required=False)
        add_error(errors, "name", error)
    if "signature_algo" in data or creating:
        algorithm = data.get("signature_algo") or SignatureAlgorithm.JWT
        if algorithm not in SignatureAlgorithm.values:
            add_error(errors, "signature_algo", "value_is_invalid")
        cleaned["signature_algo"] = algorithm
    if "event_types" in data:
        types = data["event_types"]
        if types is not None:
            if not isinstance(types, list) or not all(isinstance(item, str) for item in types):
                add_error(errors, "event_types", "value_is_invalid")
            elif set(types) - set(WEBHOOK_TYPES):
                add_error(errors, "event_types", "value_is_invalid")
            else:
                types = sorted(set(types))
        cleaned["event_types"] = types
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _save(endpoint: WebhookEndpoint) -> None:
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        raise ValidationFailed({"webhook_url": ["value_already_exist"]}) from None


@transaction.atomic
def create_endpoint(*, organization: Organization, data: dict[str, Any]) -> WebhookEndpoint:
    """At most 10 endpoints per organization (Lago's limit), each URL once."""
    cleaned = _clean_endpoint(data, creating=True)  # its address lookup before any lock
    # One creation at a time, so the limit holds. NO KEY: the rows that point at the organization
    # (customers, events, invoices) keep being inserted meanwhile.
    Organization.objects.select_for_update(no_key=True).get(pk=organization.pk)
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS_PER_ORGANIZATION:
        raise NotAllowed("webhook_endpoints_limit_reached")
    endpoint = WebhookEndpoint(organization=organization, **cleaned)
    _save(endpoint)
    return endpoint


def update_endpoint(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    for field, value in _clean_endpoint(data, creating=False).items():
        setattr(endpoint, field, value)
    _save(endpoint)
    return endpoint


def delete_endpoint(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """No message is written for it any more, and those still pending are not sent (they end
    `failed`, kept in the log), as Lago drops an endpoint's webhooks with it."""
    endpoint_id = endpoint.pk
    endpoint.delete()
    endpoint.pk = endpoint_id  # Django clears it; callers still name what they deleted
    return endpoint


# The outbox ---------------------------------------------------------------------------------------

# One statement, whatever the number of endpoints (none, usually): the hot paths that emit (the
# customer upsert, billing) pay one round trip and no Python per endpoint.
_EMIT_SQL = """
INSERT INTO webhooks_webhookmessage
    (id, organization_id, endpoint_id, webhook_url, webhook_type, object_type, object_id, status,
     attempts, next_attempt_at, created_at)
SELECT gen_random_uuid(), e.organization_id, e.id, e.webhook_url, %(type)s::varchar,
       %(object_type)s::varchar,
       %(object_id)s::varchar, 'pending', 0, %(now)s, %(now)s
FROM webhooks_webhookendpoint e
WHERE e.organization_id = %(organization_id)s
  AND (e.event_types IS NULL OR e.event_types @> jsonb_build_array(%(type)s::text))
RETURNING id, endpoint_id
"""


def emit(*, organization_id, webhook_type: str, object_type: str, object_id) -> int:
    """Write the messages of a change, in the caller's transaction; their delivery starts once it
    commits. Returns how many were written."""
    assert webhook_type in WEBHOOK_TYPES, webhook_type
    if connection.vendor != "postgresql":
        return _emit_portably(organization_id, webhook_type, object_type, object_id)
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_SQL,
            {
                "type": webhook_type,
                "object_type": object_type,
                "object_id": str(object_id),
                "organization_id": organization_id,
                "now": timezone.now(),
            },
        )
        written = cursor.fetchall()
    sent_on_commit(written)
    return len(written)


def _emit_portably(organization_id, webhook_type: str, object_type: str, object_id) -> int:
    """`emit` for the SQLite demo: the same rows through the ORM."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(organization_id=organization_id)
        if endpoint.event_types is None or webhook_type in endpoint.event_types
    ]
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            organization_id=organization_id,
            endpoint=endpoint,
            webhook_url=endpoint.webhook_url,
            webhook_type=webhook_type,
            object_type=object_type,
            object_id=str(object_id),
        )
        for endpoint in endpoints
    )
    sent_on_commit([(message.pk, message.endpoint_id) for message in messages])
    return len(messages)


def outbox_cte(*, source: str, webhook_type_sql: str, object_type: str, object_id_sql: str) -> str:
    """A data-modifying WITH query that writes a change's messages inside the very statement that
    makes the change (the customer upsert, a hot path of one statement). `source` is the CTE of
    the changed row; the SQL expressions read it as `w`. Its placeholders, in order: those of
    `webhook_type_sql`, the time twice, the organization id, those of `webhook_type_sql` again.
    It returns the (id, endpoint id) pairs to hand to `sent_on_commit`."""
    return (
        "INSERT INTO webhooks_webhookmessage (id, organization_id, endpoint_id, webhook_url, "
        "webhook_type, object_type, object_id, status, attempts, next_attempt_at, created_at) "
        f"SELECT gen_random_uuid(), e.organization_id, e.id, e.webhook_url, {webhook_type_sql}, "
        f"'{object_type}', "
        f"{object_id_sql}, 'pending', 0, %s, %s FROM webhooks_webhookendpoint e, {source} w "
        "WHERE e.organization_id = %s "
        f"AND (e.event_types IS NULL OR e.event_types @> jsonb_build_array({webhook_type_sql})) "
        "RETURNING id, endpoint_id"
    )


class _Batch:
    """The messages written in one transaction, handed to the workers together once it commits
    (`webhooks.dispatch`): an invoice with a coupon and credits costs one trip to the broker."""

    def __init__(self) -> None:
        self.by_endpoint: dict[str, list[str]] = {}
        self.sent = False

    def add(self, messages) -> None:
        for message_id, endpoint_id in messages:
            self.by_endpoint.setdefault(str(endpoint_id), []).append(str(message_id))

    def __call__(self) -> None:
        self.sent = True
        hand_over(self.by_endpoint)


_current = threading.local()


def sent_on_commit(messages) -> None:
    """Deliver messages — (id, endpoint id) pairs, as `emit` and `outbox_cte` return them — once the
    caller's transaction commits, together with the transaction's other messages."""
    messages = list(messages)
    if not messages:  # no endpoint listens (most organizations): nothing to wait for
        return
    batch = _Batch()
    if not connection.in_atomic_block:  # autocommit: the rows are committed already
        batch.add(messages)
        batch()
        return
    pending = getattr(_current, "batch", None)
    # The transaction's batch is the one still waiting among its on-commit callbacks. Gone from
    # them, it ran (an earlier transaction) or was dropped with a rollback (with its messages). A
    # savepoint rolled back after the batch was made leaves its ids in it: their task finds no row.
    waiting = connection.run_on_commit
    if pending is not None and not pending.sent and any(callback is pending for _, callback, _ in waiting):
        batch = pending
    else:
        _current.batch = batch
        transaction.on_commit(batch)
    batch.add(messages)


@transaction.atomic
def resend(*, message: WebhookMessage) -> WebhookMessage:
    """Staff send a delivered or failed message again, with the same body and unique key (receivers
    can deduplicate), and a fresh retry schedule. A pending one is refused: it may be in flight, and
    it will be tried again anyway."""
    message = WebhookMessage.objects.select_for_update().get(pk=message.pk)
    if message.status == MessageStatus.PENDING:
        raise NotAllowed("message_is_pending")
    WebhookMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.PENDING, next_attempt_at=timezone.now(), delivered_at=None, attempts=0
    )
    enqueue_on_commit(DELIVER_TASK, str(message.pk))
    message.refresh_from_db()
    return message


def messages_due(*, at: datetime, overdue_seconds: int = 60) -> list[str]:
    """Pending messages whose attempt is more than a minute late: their task was lost (a broker
    down at commit, a worker that died). The clock sends them again."""
    late = at - timedelta(seconds=overdue_seconds)
    return [
        str(pk)
        for pk in WebhookMessage.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=late)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:10_000]
    ]
