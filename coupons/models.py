import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from customers.models import Customer
from organizations.models import Organization
from plans.models import BillableMetric, Plan


class CouponType(models.TextChoices):
    FIXED_AMOUNT = "fixed_amount", "Fixed amount"
    PERCENTAGE = "percentage", "Percentage"


class CouponFrequency(models.TextChoices):
    ONCE = "once", "Once"
    RECURRING = "recurring", "Recurring"
    FOREVER = "forever", "Forever"


class CouponExpiration(models.TextChoices):
    NO_EXPIRATION = "no_expiration", "No expiration"
    TIME_LIMIT = "time_limit", "Time limit"


class CouponStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TERMINATED = "terminated", "Terminated"


class Coupon(models.Model):
    """A discount an organization offers; it reduces invoices once applied to a customer.

    A terminated coupon can no longer be applied, but its applications keep working; a deleted one
    (`deleted_at`) is terminated and so are its applications.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="coupons")
    name = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    coupon_type = models.CharField(max_length=20, choices=CouponType.choices)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    amount_currency = models.CharField(max_length=3, null=True, blank=True)
    percentage_rate = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    frequency = models.CharField(max_length=20, choices=CouponFrequency.choices)
    frequency_duration = models.PositiveIntegerField(null=True, blank=True)
    expiration = models.CharField(max_length=20, choices=CouponExpiration.choices)
    expiration_at = models.DateTimeField(null=True, blank=True)
    reusable = models.BooleanField(default=True)
    # At most one of the two is non-empty: a coupon is limited to plans or to metrics, never both.
    plans = models.ManyToManyField(Plan, blank=True, related_name="+")
    billable_metrics = models.ManyToManyField(BillableMetric, blank=True, related_name="+")
    # Whether `plans` / `billable_metrics` are set (Lago's flags), kept by the services so that
    # billing reads the limits only of coupons that have some.
    limited_plans = models.BooleanField(default=False)
    limited_billable_metrics = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=CouponStatus.choices, default=CouponStatus.ACTIVE)
    terminated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], condition=Q(deleted_at__isnull=True), name="coupon_code_unique_live"
            ),
            models.CheckConstraint(
                condition=Q(coupon_type="fixed_amount", amount_cents__gt=0, amount_currency__isnull=False)
                | Q(coupon_type="percentage", percentage_rate__gt=0, percentage_rate__lte=100),
                name="coupon_amount_fits_type",
            ),
            models.CheckConstraint(
                condition=~Q(frequency="recurring") | Q(frequency_duration__gt=0),
                name="coupon_recurring_has_duration",
            ),
            models.CheckConstraint(
                condition=~Q(expiration="time_limit") | Q(expiration_at__isnull=False),
                name="coupon_time_limit_has_date",
            ),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="coupon_org_newest")]

    def __str__(self) -> str:
        return self.code


class AppliedCouponStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TERMINATED = "terminated", "Terminated"


class AppliedCoupon(models.Model):
    """A coupon given to one customer, with the terms it was given on (the coupon's, or overridden
    when applied) and what is left of it.

    `amount_cents_remaining` is set for a `once` fixed amount only; `frequency_duration_remaining`
    for a `recurring` coupon only: it counts billing periods, not invoices.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="applied_coupons")
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="applications")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="applied_coupons")
    status = models.CharField(max_length=20, choices=AppliedCouponStatus.choices, default=AppliedCouponStatus.ACTIVE)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    amount_cents_remaining = models.BigIntegerField(null=True, blank=True)
    amount_currency = models.CharField(max_length=3, null=True, blank=True)
    percentage_rate = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    frequency = models.CharField(max_length=20, choices=CouponFrequency.choices)
    frequency_duration = models.PositiveIntegerField(null=True, blank=True)
    frequency_duration_remaining = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents_remaining__isnull=True) | Q(amount_cents_remaining__gte=0),
                name="applied_coupon_remaining_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_cents__isnull=True, percentage_rate__gt=0, percentage_rate__lte=100)
                | Q(amount_cents__gt=0, amount_currency__isnull=False, percentage_rate__isnull=True),
                name="applied_coupon_amount_or_rate",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="applied_coupon_customer_oldest"),
            models.Index(fields=["organization", "-created_at"], name="applied_coupon_org_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} → {self.customer_id}"

    @property
    def is_percentage(self) -> bool:
        return self.percentage_rate is not None
