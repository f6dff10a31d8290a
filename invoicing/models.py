import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from billing.money import from_minor_units
from coupons.models import AppliedCoupon
from customers.models import Customer
from organizations.models import Organization
from plans.models import AddOn, Charge, Subscription
from wallets.models import WalletTransaction


class InvoiceType(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription"
    ADD_ON = "add_on", "Add-on"
    CREDIT = "credit", "Credit"
    ONE_OFF = "one_off", "One-off"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINALIZED = "finalized", "Finalized"
    VOIDED = "voided", "Voided"
    # Lago's: an invoice with nothing billed (its fees add up to zero) of a customer who skips
    # those. It keeps its fees and provisional number, takes no number, and nothing is due.
    CLOSED = "closed", "Closed"


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
    # Fixed when the invoice is made (`invoicing.payment_terms`): a later change of the term keeps them.
    net_payment_term = models.PositiveIntegerField(default=0)
    payment_due_date = models.DateField()
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
                condition=Q(status__in=["draft", "closed"]) | Q(sequential_id__isnull=False),
                name="invoice_numbered_unless_draft",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="invoice_org_newest"),
            models.Index(fields=["status", "grace_period_ends_at"], name="invoice_status_grace"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.pk}"

    def is_overdue(self, today) -> bool:
        """Finalized, not paid, and its payment due date passed (Lago's `payment_overdue`)."""
        return (
            self.status == InvoiceStatus.FINALIZED
            and self.payment_status != PaymentStatus.SUCCEEDED
            and self.payment_due_date < today
        )


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
    add_on = models.ForeignKey(AddOn, null=True, blank=True, on_delete=models.PROTECT, related_name="fees")
    # The purchase a credit fee sells (Lago's credit invoice for paid credits).
    wallet_transaction = models.ForeignKey(
        WalletTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="fees"
    )
    fee_type = models.CharField(max_length=20, choices=FeeType.choices)
    description = models.CharField(max_length=255)
    # The name printed for this fee when the request gave one (a one-off fee), else its item's.
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    amount_cents = models.BigIntegerField()
    # This fee's share of the invoice's coupons (the invoice's coupons_amount_cents is their sum).
    coupons_amount_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    unit_amount_cents = models.BigIntegerField(null=True, blank=True)
    units = models.DecimalField(max_digits=40, decimal_places=15, default=0)
    events_count = models.BigIntegerField(default=0)
    from_datetime = models.DateTimeField(null=True, blank=True)
    to_datetime = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "fee_type", "description"]

    def __str__(self) -> str:
        return f"{self.description}: {from_minor_units(self.amount_cents, self.currency)} {self.currency}"


class InvoiceSequence(models.Model):
    """The last invoice number used by an organization, locked while a number is taken."""

    organization = models.OneToOneField(Organization, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_sequential_id = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.last_sequential_id}"


# Credit notes ---------------------------------------------------------------------------------


class CreditNoteReason(models.TextChoices):
    DUPLICATED_CHARGE = "duplicated_charge", "Duplicated charge"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory", "Product unsatisfactory"
    ORDER_CHANGE = "order_change", "Order change"
    ORDER_CANCELLATION = "order_cancellation", "Order cancellation"
    FRAUDULENT_CHARGE = "fraudulent_charge", "Fraudulent charge"
    OTHER = "other", "Other"


class CreditNoteStatus(models.TextChoices):
    FINALIZED = "finalized", "Finalized"
    VOIDED = "voided", "Voided"


class CreditStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    CONSUMED = "consumed", "Consumed"
    VOIDED = "voided", "Voided"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CreditNote(models.Model):
    """Money given back on a finalized invoice: a credit (reduces the customer's next invoices, through
    `balance_amount_cents`) and/or a refund (to pay back). The original invoice's totals never change.

    Amounts are integer minor units of `currency`; taxes are not modelled yet and are always 0.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    # Numbered per invoice, as Lago does: `<invoice number>-CN001`.
    sequential_id = models.PositiveIntegerField()
    number = models.CharField(max_length=80)
    issuing_date = models.DateField()
    reason = models.CharField(max_length=30, choices=CreditNoteReason.choices)
    description = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=CreditNoteStatus.choices, default=CreditNoteStatus.FINALIZED)
    # None when nothing was credited (a refund only), as in Lago.
    credit_status = models.CharField(max_length=20, choices=CreditStatus.choices, null=True, blank=True)
    # None when nothing is refunded.
    refund_status = models.CharField(max_length=20, choices=RefundStatus.choices, null=True, blank=True)
    currency = models.CharField(max_length=3)
    credit_amount_cents = models.BigIntegerField(default=0)
    refund_amount_cents = models.BigIntegerField(default=0)
    # The part of the credit not used yet by later invoices.
    balance_amount_cents = models.BigIntegerField(default=0)
    # The balance that was left when the note was voided (0 unless voided).
    voided_amount_cents = models.BigIntegerField(default=0)
    taxes_amount_cents = models.BigIntegerField(default=0)
    total_amount_cents = models.BigIntegerField()
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invoice", "sequential_id"], name="credit_note_number_per_invoice"),
            models.CheckConstraint(
                condition=Q(credit_amount_cents__gte=0, refund_amount_cents__gte=0, taxes_amount_cents=0),
                name="credit_note_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_amount_cents__gt=0)
                & Q(total_amount_cents=models.F("credit_amount_cents") + models.F("refund_amount_cents")),
                name="credit_note_total_is_credit_plus_refund",
            ),
            models.CheckConstraint(
                condition=Q(balance_amount_cents__gte=0, balance_amount_cents__lte=models.F("credit_amount_cents")),
                name="credit_note_balance_within_credit",
            ),
            models.CheckConstraint(
                condition=Q(credit_status="available") | Q(balance_amount_cents=0),
                name="credit_note_balance_only_when_available",
            ),
            models.CheckConstraint(
                condition=Q(credit_amount_cents=0, credit_status__isnull=True)
                | Q(credit_amount_cents__gt=0, credit_status__isnull=False),
                name="credit_note_credit_status_iff_credit",
            ),
            models.CheckConstraint(
                condition=Q(refund_amount_cents=0, refund_status__isnull=True)
                | Q(refund_amount_cents__gt=0, refund_status__isnull=False),
                name="credit_note_refund_status_iff_refund",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="credit_note_org_newest"),
            models.Index(
                fields=["customer", "created_at"],
                condition=Q(credit_status="available"),
                name="credit_note_available_oldest",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteItem(models.Model):
    """The part of one fee that a credit note gives back."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="items")
    fee = models.ForeignKey(Fee, on_delete=models.PROTECT, related_name="credit_note_items")
    amount_cents = models.BigIntegerField()
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gte=0), name="credit_note_item_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.fee_id}: {self.amount_cents}"


class CreditNoteApplication(models.Model):
    """Credit of a note used by a later invoice (Lago's `credits` of type credit note)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="applications")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="credit_note_applications")
    amount_cents = models.BigIntegerField()
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="credit_note_application_positive"),
            models.UniqueConstraint(fields=["credit_note", "invoice"], name="credit_note_applied_once_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.credit_note_id} → {self.invoice_id}: {self.amount_cents}"


class CouponCredit(models.Model):
    """What an applied coupon took off one invoice (Lago's `credits` of type coupon).

    `period_start` is the billing period the invoice belongs to: a recurring coupon counts periods,
    so a period billed by two invoices (a fee in advance and usage in arrears) counts once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="coupon_credits")
    applied_coupon = models.ForeignKey(AppliedCoupon, on_delete=models.PROTECT, related_name="credits")
    amount_cents = models.BigIntegerField()
    period_start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="coupon_credit_positive"),
            models.UniqueConstraint(fields=["applied_coupon", "invoice"], name="coupon_credit_once_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.applied_coupon_id} → {self.invoice_id}: {self.amount_cents}"


class CustomerDeletion(models.Model):
    """The record of a customer's deletion and of the cascade it starts (the seed's "Deleting a
    customer"). Written in the same transaction as the soft delete; each step's time is set once its
    work is done, so the record, not the broker, tells what is left to do."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="deletion")
    created_at = models.DateTimeField(default=now, editable=False)
    # 1. active subscriptions terminated (and billed), pending ones canceled
    subscriptions_done_at = models.DateTimeField(null=True, blank=True)
    # 2. draft invoices finalized, with what the customer is entitled to
    drafts_done_at = models.DateTimeField(null=True, blank=True)
    # 3. applied coupons terminated
    coupons_done_at = models.DateTimeField(null=True, blank=True)
    # 4. the active wallet terminated, its credits voided
    wallet_done_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["last_attempt_at"], condition=Q(finished_at__isnull=True), name="customer_deletion_unfinished"
            )
        ]

    def __str__(self) -> str:
        return f"deletion of {self.customer_id}"
