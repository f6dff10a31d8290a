from django.db import models
from django.utils.timezone import now

from organizations.models import Organization
from plans.models import BillableMetric, Subscription

# Usage is pre-aggregated per quarter hour: every timezone in use today sits on a multiple of 15
# minutes from UTC, so a billing period boundary (local midnight) is always a bucket boundary.
ROLLUP_BUCKET_SECONDS = 15 * 60


class Event(models.Model):
    """One usage event, tied at ingestion to the subscription it names."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, db_index=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events", db_index=False)
    transaction_id = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # Idempotency lives in the database: a transaction_id counts once per organization.
            models.UniqueConstraint(fields=["organization", "transaction_id"], name="event_transaction_id_unique")
        ]
        indexes = [models.Index(fields=["subscription", "code", "timestamp"], name="event_subscription_code_ts")]

    def __str__(self) -> str:
        return self.transaction_id


class UsageRollup(models.Model):
    """Aggregates of a subscription's events for one billable metric and one quarter hour.

    Kept up to date in the same transaction as the events they sum, only for events actually
    inserted, so duplicates never count twice and late events land in their own bucket.
    """

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, db_index=False)
    billable_metric = models.ForeignKey(BillableMetric, on_delete=models.CASCADE, db_index=False)
    bucket_start = models.DateTimeField()
    events_count = models.BigIntegerField(default=0)
    units_sum = models.DecimalField(max_digits=40, decimal_places=15, default=0)
    units_max = models.DecimalField(max_digits=40, decimal_places=15, null=True)
    latest_value = models.DecimalField(max_digits=40, decimal_places=15, null=True)
    latest_timestamp = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "billable_metric", "bucket_start"], name="usage_rollup_bucket_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.billable_metric_id} {self.bucket_start:%Y-%m-%d %H:%M}"
