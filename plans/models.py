import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from customers.models import Customer
from organizations.models import Organization


class AggregationType(models.TextChoices):
    COUNT = "count_agg", "Count"
    SUM = "sum_agg", "Sum"
    MAX = "max_agg", "Max"
    UNIQUE_COUNT = "unique_count_agg", "Unique count"
    LATEST = "latest_agg", "Latest"


# Aggregations that read a property of the event (all but count).
AGGREGATIONS_WITH_FIELD = {
    AggregationType.SUM,
    AggregationType.MAX,
    AggregationType.UNIQUE_COUNT,
    AggregationType.LATEST,
}


class BillableMetric(models.Model):
    """What is measured: events of one `code`, aggregated one way."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="billable_metrics")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    aggregation_type = models.CharField(max_length=20, choices=AggregationType.choices)
    field_name = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"],
                condition=Q(deleted_at__isnull=True),
                name="billable_metric_code_unique_live",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PlanInterval(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    YEARLY = "yearly", "Yearly"


class Plan(models.Model):
    """A price list: a base amount per billing period and usage-based charges."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="plans")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    interval = models.CharField(max_length=20, choices=PlanInterval.choices)
    amount_cents = models.BigIntegerField()
    amount_currency = models.CharField(max_length=3)
    pay_in_advance = models.BooleanField(default=False)
    trial_period = models.PositiveIntegerField(default=0, help_text="Trial period in days.")
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], condition=Q(deleted_at__isnull=True), name="plan_code_unique_live"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gte=0), name="plan_amount_cents_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Charge(models.Model):
    """A billable metric priced by a charge model inside a plan."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="charges")
    billable_metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="charges")
    charge_model = models.CharField(max_length=20)
    properties = models.JSONField(default=dict)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.billable_metric.code} ({self.charge_model})"


class AddOn(models.Model):
    """A catalogue item billed once, on a one-off invoice (Lago's add-on)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="add_ons")
    code = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    invoice_display_name = models.CharField(max_length=255, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    amount_cents = models.BigIntegerField()
    amount_currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], condition=Q(deleted_at__isnull=True), name="add_on_code_unique_live"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gte=0), name="add_on_amount_cents_not_negative"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="add_on_org_newest")]
        verbose_name = "add-on"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    TERMINATED = "terminated", "Terminated"
    CANCELED = "canceled", "Canceled"


LIVE_SUBSCRIPTION_STATUSES = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE)


class BillingTime(models.TextChoices):
    CALENDAR = "calendar", "Calendar"
    ANNIVERSARY = "anniversary", "Anniversary"


class Subscription(models.Model):
    """A plan assigned to a customer. Usage monitoring and billing start here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="subscriptions")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices)
    billing_time = models.CharField(max_length=20, choices=BillingTime.choices, default=BillingTime.CALENDAR)
    subscription_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ending_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One live subscription per external_id: events name it, so it must be unambiguous.
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(status__in=["pending", "active"]),
                name="subscription_external_id_unique_live",
            )
        ]
        indexes = [models.Index(fields=["customer", "status"], name="subscription_customer_status")]

    def __str__(self) -> str:
        return self.external_id
