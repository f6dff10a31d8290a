import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from customers.models import Customer
from organizations.models import Organization
from plans.models import Charge, Subscription


class InvoiceType(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    ADD_ON = "add_on", "Add-on"
    CREDIT = "credit", "Credit"
    ONE_OFF = "one_off", "One-off"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized"
    VOIDED = "voided", "Voided"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Invoice(models.Model):
    """What a customer owes. Amounts are integer minor units of `currency`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    invoice_type = models.CharField(max_length=20, choices=InvoiceType.choices, default=InvoiceType.SUBSCRIPTION)
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    # Assigned at finalization from a gap-free sequence per organization; drafts have none.
    sequential_id = models.PositiveIntegerField(null=True, blank=True)
    number = models.CharField(max_length=64, null=True, blank=True)
    issuing_date = models.DateField()
    currency = models.CharField(max_length=3)
    fees_amount_cents = models.BigIntegerField(default=0)
    coupons_amount_cents = models.BigIntegerField(default=0)
    prepaid_credit_amount_cents = models.BigIntegerField(default=0)
    credit_notes_amount_cents = models.BigIntegerField(default=0)
    taxes_amount_cents = models.BigIntegerField(default=0)
    total_amount_cents = models.BigIntegerField(default=0)
    # The customer's billing details as they were at finalization (a later edit changes nothing).
    customer_snapshot = models.JSONField(default=dict, blank=True)
    grace_period_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sequential_id"],
                condition=Q(sequential_id__isnull=False),
                name="invoice_sequential_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(sequential_id__isnull=False), name="invoice_numbered_unless_draft"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="invoice_org_newest"),
            models.Index(fields=["status", "grace_period_ends_at"], name="invoice_status_grace"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.pk}"


class InvoicingReason(models.TextChoices):
    SUBSCRIPTION_STARTING = "subscription_starting", "Subscription starting"
    SUBSCRIPTION_PERIODIC = "subscription_periodic", "End of billing period"
    SUBSCRIPTION_TERMINATING = "subscription_terminating", "Subscription terminating"


class InvoiceSubscription(models.Model):
    """One subscription billed by an invoice, for one billing period.

    The unique constraints are what make the billing clock idempotent: a period of a subscription
    is closed once, and a subscription starts once, whatever retries or concurrent runs do.
    """

    id = models.BigAutoField(primary_key=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="invoice_subscriptions")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="invoice_subscriptions")
    invoicing_reason = models.CharField(max_length=30, choices=InvoicingReason.choices)
    # The billing period the invoice closes (usage and fee in arrears) or opens (fee in advance).
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=~Q(invoicing_reason="subscription_starting"),
                name="invoice_subscription_period_billed_once",
            ),
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(invoicing_reason="subscription_starting"),
                name="invoice_subscription_started_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.invoicing_reason} {self.period_start:%Y-%m-%d}"


class FeeType(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    CHARGE = "charge", "Charge"
    ADD_ON = "add_on", "Add-on"
    CREDIT = "credit", "Credit"


class Fee(models.Model):
    """One line of an invoice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="fees")
    subscription = models.ForeignKey(Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    charge = models.ForeignKey(Charge, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    fee_type = models.CharField(max_length=20, choices=FeeType.choices)
    description = models.CharField(max_length=255)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    units = models.DecimalField(max_digits=40, decimal_places=15, default=0)
    events_count = models.BigIntegerField(default=0)
    from_datetime = models.DateTimeField(null=True, blank=True)
    to_datetime = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "fee_type", "description"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_cents} {self.currency}"


class InvoiceSequence(models.Model):
    """The last invoice number used by an organization, locked while a number is taken."""

    organization = models.OneToOneField(Organization, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_sequential_id = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.last_sequential_id}"
