import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from organizations.models import Organization

# One set of limits, shared by the API, the staff form and the database.
NAME_MAX_LENGTH = 255
EXTERNAL_ID_MAX_LENGTH = 255
METADATA_MAX_ROWS = 5
METADATA_KEY_MAX_LENGTH = 20
METADATA_VALUE_MAX_LENGTH = 100


class PaymentProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    GOCARDLESS = "gocardless", "GoCardless"
    ADYEN = "adyen", "Adyen"


class LiveCustomerManager(models.Manager):
    """Customers that are not deleted: the only ones the API and the staff list ever show."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Customer(models.Model):
    """A customer of an organization, known by the organization's own `external_id`.

    Optional text fields hold NULL when not set, so that the API can tell "never sent" from "".
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    name = models.CharField(max_length=NAME_MAX_LENGTH, null=True, blank=True)
    timezone = models.CharField(max_length=64, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)

    legal_name = models.CharField(max_length=255, null=True, blank=True)
    legal_number = models.CharField(max_length=255, null=True, blank=True)
    tax_identification_number = models.CharField(max_length=255, null=True, blank=True)
    email = models.CharField(max_length=255, null=True, blank=True)
    phone = models.CharField(max_length=255, null=True, blank=True)
    url = models.CharField(max_length=255, null=True, blank=True)
    address_line1 = models.CharField(max_length=255, null=True, blank=True)
    address_line2 = models.CharField(max_length=255, null=True, blank=True)
    zipcode = models.CharField(max_length=255, null=True, blank=True)
    city = models.CharField(max_length=255, null=True, blank=True)
    state = models.CharField(max_length=255, null=True, blank=True)
    country = models.CharField(max_length=2, null=True, blank=True)

    payment_provider = models.CharField(max_length=20, choices=PaymentProvider.choices, null=True, blank=True)
    provider_customer_id = models.CharField(max_length=255, null=True, blank=True)
    invoice_grace_period = models.PositiveIntegerField(null=True, blank=True)
    net_payment_term = models.PositiveIntegerField(null=True, blank=True)  # None: the organization's

    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = models.Manager()
    live = LiveCustomerManager()

    class Meta:
        constraints = [
            # Unique only among live customers: a deleted customer's external_id can be reused.
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(deleted_at__isnull=True),
                name="customer_external_id_unique_live",
            ),
        ]
        indexes = [
            # The list: newest first within an organization, live customers only.
            models.Index(
                fields=["organization", "-created_at", "id"],
                condition=Q(deleted_at__isnull=True),
                name="customer_live_newest_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    @property
    def applicable_timezone(self) -> str:
        return self.timezone or self.organization.default_timezone or "UTC"

    @property
    def applicable_net_payment_term(self) -> int:
        if self.net_payment_term is not None:
            return self.net_payment_term
        return self.organization.net_payment_term

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class LiveCustomerCount(models.Model):
    """How many live customers an organization has, kept by the services that create and delete.

    Counting 100,000 rows on every list request costs tens of milliseconds; reading this row does not.
    """

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="live_customer_count"
    )
    live_count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.live_count}"


class CustomerMetadata(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="metadata")
    key = models.CharField(max_length=METADATA_KEY_MAX_LENGTH)
    value = models.CharField(max_length=METADATA_VALUE_MAX_LENGTH)
    display_in_invoice = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "key"]
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="customer_metadata_key_unique")]
        verbose_name_plural = "customer metadata"

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
