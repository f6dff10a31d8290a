import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from organizations.models import Organization

MAX_ENDPOINTS_PER_ORGANIZATION = 10

# The messages we produce (Lago's names; `customer.deleted` is ours: Lago sends none).
WEBHOOK_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "subscription.started",
    "subscription.terminated",
    "subscription.canceled",
    "invoice.created",
    "invoice.drafted",
    "invoice.one_off_created",
    "invoice.paid_credit_added",
    "invoice.voided",
    "invoice.payment_status_updated",
    "credit_note.created",
    "wallet.created",
    "wallet.updated",
    "wallet.terminated",
    "wallet_transaction.created",
    "wallet_transaction.updated",
)


class SignatureAlgorithm(models.TextChoices):
    JWT = "jwt", "JWT (RS256)"
    HMAC = "hmac", "HMAC-SHA256"


class WebhookEndpoint(models.Model):
    """Where an organization wants its messages: a URL, how they are signed, which types (None: all)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    webhook_url = models.CharField(max_length=1024)
    name = models.CharField(max_length=255, null=True, blank=True)
    signature_algo = models.CharField(max_length=10, choices=SignatureAlgorithm.choices, default=SignatureAlgorithm.JWT)
    # A list of types (JSON, so that the SQLite demo runs too), or None for all of them.
    event_types = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "webhook_url"], name="webhook_endpoint_url_unique"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.webhook_url


class WebhookKeys(models.Model):
    """An organization's signing keys: the HMAC secret and the RSA pair of JWT signatures."""

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="webhook_keys"
    )
    hmac_key = models.CharField(max_length=128)
    private_key_pem = models.TextField()
    public_key_pem = models.TextField()
    created_at = models.DateTimeField(default=now, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"keys of {self.organization_id}"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # no attempt left


class WebhookMessage(models.Model):
    """One message for one endpoint: an outbox row written in the transaction of the change that
    causes it. Its id is the `X-Lago-Unique-Key`; its body is rendered once, at the first attempt,
    and sent unchanged on every retry (the signature covers the exact bytes)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.SET_NULL, null=True, related_name="messages")
    # Where it went last (each attempt goes to the endpoint's URL of the moment, as Lago's do).
    webhook_url = models.CharField(max_length=1024)
    webhook_type = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    body = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    created_at = models.DateTimeField(default=now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_message_due"),
            models.Index(fields=["organization", "-created_at"], name="webhook_message_org_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_type} → {self.webhook_url}"


class WebhookAttempt(models.Model):
    """One try at delivering a message: when, the answer's status (None on a network error), how
    long it took, and the first bytes of the answer or the error."""

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="delivery_attempts")
    attempted_at = models.DateTimeField(default=now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.status_code or self.error}"
