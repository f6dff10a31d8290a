"""Usage of a subscription over a billing period, priced by its plan's charges.

The one computation behind the current usage (API and Usage tab) and, later, the usage part of
invoices: they can never disagree.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Sum
from django.utils import timezone

from billing.errors import NotAllowed
from events.aggregation import aggregate_usage, event_units
from events.models import UsageRollup
from plans.billing_periods import BillingPeriod
from plans.charge_models import needs_event_units, price
from plans.models import Charge, Subscription, SubscriptionStatus
from plans.subscription_periods import current_period


@dataclass(frozen=True)
class ChargeUsage:
    charge: Charge
    units: Decimal
    events_count: int
    amount_cents: int


@dataclass(frozen=True)
class Usage:
    subscription: Subscription
    from_datetime: datetime
    to_datetime: datetime
    issuing_date: date
    currency: str
    charges: list[ChargeUsage]
    timezone: str

    @property
    def amount_cents(self) -> int:
        return sum(charge.amount_cents for charge in self.charges)

    @property
    def taxes_amount_cents(self) -> int:
        # Taxes are not modelled yet; Lago reports 0 when none apply.
        return 0

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


def live_charges(subscription: Subscription) -> list[Charge]:
    """The plan's charges, sorted as Lago sorts them: by metric name, case-insensitively."""
    charges = [charge for charge in subscription.plan.charges.all() if charge.deleted_at is None]
    return sorted(charges, key=lambda charge: (charge.billable_metric.name.lower(), str(charge.pk)))


def compute_usage(*, subscription: Subscription, period: BillingPeriod) -> Usage:
    """Price the subscription's usage for events with period.start <= timestamp < period.end."""
    charges = live_charges(subscription)
    metrics = list({charge.billable_metric_id: charge.billable_metric for charge in charges}.values())
    usage = aggregate_usage(subscription=subscription, metrics=metrics, start=period.start, end=period.end)
    currency = subscription.plan.amount_currency
    priced = []
    for charge in charges:
        metric_usage = usage[charge.billable_metric_id]
        per_event = None
        if needs_event_units(charge.charge_model, charge.properties):
            per_event = event_units(
                subscription=subscription, metric=charge.billable_metric, start=period.start, end=period.end
            )
        amount = price(
            charge_model=charge.charge_model,
            properties=charge.properties,
            units=metric_usage.units,
            currency=currency,
            events_count=metric_usage.events_count,
            event_units=per_event,
        )
        priced.append(
            ChargeUsage(
                charge=charge,
                units=metric_usage.units,
                events_count=metric_usage.events_count,
                amount_cents=amount.amount_cents,
            )
        )
    return Usage(
        subscription=subscription,
        from_datetime=period.start,
        to_datetime=period.to_datetime,
        issuing_date=period.issuing_date,
        currency=currency,
        charges=priced,
        timezone=subscription.customer.applicable_timezone,
    )


def current_usage(*, subscription: Subscription, at: datetime | None = None) -> Usage:
    """Usage of the running billing period of an active subscription."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise NotAllowed("no_active_subscription")
    at = at or timezone.now()
    return compute_usage(subscription=subscription, period=current_period(subscription, at))


def with_usage_relations(queryset):
    """What computing usage touches, fetched up front: customer, organization, plan, charges, metrics."""
    return queryset.select_related("customer__organization", "plan").prefetch_related(
        Prefetch("plan__charges", queryset=Charge.objects.select_related("billable_metric"))
    )


def daily_events(usage: Usage) -> list[tuple[date, int]]:
    """Events per local day of the period, from the rollups (one query), for the Usage tab chart."""
    tz = ZoneInfo(usage.timezone)
    rows = (
        UsageRollup.objects.filter(
            subscription=usage.subscription,
            bucket_start__gte=usage.from_datetime - timedelta(minutes=15),
            bucket_start__lte=usage.to_datetime,
        )
        .values("bucket_start")
        .annotate(count=Sum("events_count"))
        .order_by()
    )
    per_day: dict[date, int] = {}
    for row in rows:
        day = row["bucket_start"].astimezone(tz).date()
        per_day[day] = per_day.get(day, 0) + row["count"]
    first = usage.from_datetime.astimezone(tz).date()
    last = usage.to_datetime.astimezone(tz).date()
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    return [(day, per_day.get(day, 0)) for day in days]


def current_usage_amount_cents(*, customer_id, currency: str, at: datetime | None = None) -> int:
    """What the customer's active subscriptions in `currency` have used so far in their running
    billing periods (the wallet's ongoing balance deducts it)."""
    at = at or timezone.now()
    subscriptions = with_usage_relations(
        Subscription.objects.filter(
            customer_id=customer_id, status=SubscriptionStatus.ACTIVE, plan__amount_currency=currency
        )
    )
    return sum(current_usage(subscription=subscription, at=at).amount_cents for subscription in subscriptions)
