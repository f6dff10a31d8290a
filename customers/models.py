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
# The keys of Lago's `shipping_address` object, in its order; each is stored as `shipping_<key>`.
SHIPPING_ADDRESS_KEYS = ("address_line1", "address_line2", "city", "zipcode", "state", "country")


class PaymentProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    GOCARDLESS = "gocardless", "GoCardless"
    ADYEN = "adyen", "Adyen"


class CustomerType(models.TextChoices):
    COMPANY = "company", "Company"
    INDIVIDUAL = "individual", "Individual"


class FinalizeZeroAmountInvoice(models.TextChoices):
    """What happens to an invoice of the customer whose fees add up to zero (Lago's values)."""

    INHERIT = "inherit", "As the organization does (finalize)"
    FINALIZE = "finalize", "Finalize"
    SKIP = "skip", "Skip: close it without a number"


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
    firstname = models.CharField(max_length=NAME_MAX_LENGTH, null=True, blank=True)
    lastname = models.CharField(max_length=NAME_MAX_LENGTH, null=True, blank=True)
    customer_type = models.CharField(max_length=20, choices=CustomerType.choices, null=True, blank=True)
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
    # Lago's `shipping_address` object, one column per key (Lago's column names).
    shipping_address_line1 = models.CharField(max_length=255, null=True, blank=True)
    shipping_address_line2 = models.CharField(max_length=255, null=True, blank=True)
    shipping_zipcode = models.CharField(max_length=255, null=True, blank=True)
    shipping_city = models.CharField(max_length=255, null=True, blank=True)
    shipping_state = models.CharField(max_length=255, null=True, blank=True)
    shipping_country = models.CharField(max_length=2, null=True, blank=True)

    payment_provider = models.CharField(max_length=20, choices=PaymentProvider.choices, null=True, blank=True)
    provider_customer_id = models.CharField(max_length=255, null=True, blank=True)
    invoice_grace_period = models.PositiveIntegerField(null=True, blank=True)
    net_payment_term = models.PositiveIntegerField(null=True, blank=True)  # None: the organization's
    document_locale = models.CharField(max_length=2, null=True, blank=True)  # ISO 639-1; None: not chosen
    # The database default too: rows written by bulk loads (the benchmarks' COPY) get it.
    finalize_zero_amount_invoice = models.CharField(
        max_length=10,
        choices=FinalizeZeroAmountInvoice.choices,
        default=FinalizeZeroAmountInvoice.INHERIT,
        db_default=FinalizeZeroAmountInvoice.INHERIT,
    )

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
    def shipping_address(self) -> dict[str, str | None]:
        return {key: getattr(self, f"shipping_{key}") for key in SHIPPING_ADDRESS_KEYS}

    @property
    def has_shipping_address(self) -> bool:
        return any(self.shipping_address.values())

    @property
    def finalizes_zero_amount_invoices(self) -> bool:
        """Whether an invoice whose fees add up to zero is finalized (else it is closed, as Lago
        does). `inherit` follows the organization, and organizations always finalize them."""
        return self.finalize_zero_amount_invoice != FinalizeZeroAmountInvoice.SKIP

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
