import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from customers.models import Customer
from organizations.models import Organization

# Credits are decimals (Lago prints them as "10.5"); what they are worth is integer minor units.
CREDIT_DIGITS = {"max_digits": 30, "decimal_places": 5}


class WalletStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TERMINATED = "terminated", "Terminated"


class Wallet(models.Model):
    """A customer's prepaid credits. One credit is worth `rate_amount` units of `currency`.

    `balance_cents` is the truth; `credits_balance` is the same balance in credits. The books
    balance at all times: settled inbound transactions = settled outbound transactions + balance.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="wallets")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallets")
    name = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=20, choices=WalletStatus.choices, default=WalletStatus.ACTIVE)
    currency = models.CharField(max_length=3)
    rate_amount = models.DecimalField(max_digits=30, decimal_places=15)
    credits_balance = models.DecimalField(default=0, **CREDIT_DIGITS)
    balance_cents = models.BigIntegerField(default=0)
    consumed_credits = models.DecimalField(default=0, **CREDIT_DIGITS)
    consumed_amount_cents = models.BigIntegerField(default=0)
    expiration_at = models.DateTimeField(null=True, blank=True)
    last_consumed_credit_at = models.DateTimeField(null=True, blank=True)
    # What current usage and unpaid drafts owe, as of `last_balance_sync_at` (Lago's ongoing usage
    # balance): lists read it, so that a page of wallets does not price every customer's usage.
    ongoing_usage_balance_cents = models.BigIntegerField(default=0)
    last_balance_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(status="active"), name="wallet_one_active_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(balance_cents__gte=0, credits_balance__gte=0), name="wallet_balance_not_negative"
            ),
            models.CheckConstraint(condition=Q(rate_amount__gt=0), name="wallet_rate_positive"),
            models.CheckConstraint(
                condition=Q(status="active") | Q(balance_cents=0), name="wallet_terminated_is_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="wallet_org_newest"),
            models.Index(fields=["status", "expiration_at"], name="wallet_status_expiration"),
        ]

    def __str__(self) -> str:
        return self.name or f"wallet {self.pk}"


class TransactionType(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class TransactionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SETTLED = "settled", "Settled"
    FAILED = "failed", "Failed"


class TransactionReason(models.TextChoices):
    """Lago's `transaction_status`: why credits came in or went out."""

    PURCHASED = "purchased", "Purchased"
    GRANTED = "granted", "Granted"
    VOIDED = "voided", "Voided"
    INVOICED = "invoiced", "Invoiced"


class TransactionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    INTERVAL = "interval", "Interval"
    THRESHOLD = "threshold", "Threshold"


class WalletTransaction(models.Model):
    """Credits in or out of a wallet. A purchase is `pending` until its invoice is paid.

    `invoice_id` names the invoice that sells (purchase) or consumes (invoiced) the credits: a plain
    id, because invoicing sits above wallets and a wallet never reads an invoice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions")
    transaction_type = models.CharField(max_length=20, choices=TransactionType.choices)
    status = models.CharField(max_length=20, choices=TransactionStatus.choices)
    transaction_status = models.CharField(max_length=20, choices=TransactionReason.choices)
    source = models.CharField(max_length=20, choices=TransactionSource.choices, default=TransactionSource.MANUAL)
    credit_amount = models.DecimalField(**CREDIT_DIGITS)
    amount_cents = models.BigIntegerField()
    invoice_id = models.UUIDField(null=True, blank=True, db_index=True)
    # Credits given back because the invoice that had consumed them was voided.
    voided_invoice_id = models.UUIDField(null=True, blank=True)
    name = models.CharField(max_length=255, null=True, blank=True)
    metadata = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    settled_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0, credit_amount__gte=0), name="wallet_transaction_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(transaction_type="inbound", transaction_status__in=["purchased", "granted"])
                | Q(transaction_type="outbound", transaction_status__in=["voided", "invoiced"]),
                name="wallet_transaction_reason_fits_type",
            ),
            models.UniqueConstraint(
                fields=["invoice_id"],
                condition=Q(transaction_status="invoiced"),
                name="wallet_transaction_invoiced_once",
            ),
            models.UniqueConstraint(
                fields=["voided_invoice_id"],
                condition=Q(voided_invoice_id__isnull=False),
                name="wallet_transaction_returned_once",
            ),
        ]
        indexes = [models.Index(fields=["wallet", "created_at"], name="wallet_transaction_oldest")]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.transaction_status} {self.credit_amount}"
