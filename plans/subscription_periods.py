"""The billing periods of one subscription: its plan's interval and billing time, anchored on its
subscription date, in its customer's timezone.

The only place that turns a subscription into `plans.billing_periods` arguments: invoicing, current
usage, credit notes, the API and the staff pages all ask here.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from plans.billing_periods import BillingPeriod, BillingTime, Interval, next_period, period_containing
from plans.models import Subscription


def _anchor(subscription: Subscription):
    return subscription.subscription_at.astimezone(ZoneInfo(subscription.customer.applicable_timezone)).date()


def period_of(subscription: Subscription, at: datetime) -> BillingPeriod:
    """The whole billing period containing `at` (not clamped to the subscription's start)."""
    return period_containing(
        interval=Interval(subscription.plan.interval),
        billing_time=BillingTime(subscription.billing_time),
        anchor=_anchor(subscription),
        timezone=subscription.customer.applicable_timezone,
        at=at,
    )


def following_period(subscription: Subscription, period: BillingPeriod) -> BillingPeriod:
    """The period after `period`."""
    return next_period(
        period,
        interval=Interval(subscription.plan.interval),
        billing_time=BillingTime(subscription.billing_time),
        anchor=_anchor(subscription),
        timezone=subscription.customer.applicable_timezone,
    )


def current_period(subscription: Subscription, at: datetime) -> BillingPeriod:
    """The period running at `at` as Lago reports it: from the subscription's start when it started
    inside the period (current usage, `current_billing_period_*` of the API)."""
    period = period_of(subscription, at)
    if subscription.started_at and subscription.started_at > period.start:
        period = period.clamped_to_start(subscription.started_at)
    return period
