"""What one invoice bills for one subscription: the windows of its base fee and of its usage.

One rule for building an invoice's fees, refreshing a draft, and showing what an invoice covers
(the API's `billing_periods`, the invoice page): they cannot disagree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from invoicing.models import InvoicingReason
from plans.billing_periods import BillingPeriod
from plans.models import Subscription
from plans.subscription_periods import following_period


@dataclass(frozen=True)
class Window:
    """A half-open range [start, end) of UTC instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class BillingWindows:
    reason: str
    period: BillingPeriod  # the period the invoice closes (arrears) or opens (a start in advance)
    charges: Window  # the usage the invoice covers
    subscription: Window  # the base fee's window, as Lago shows it (whether or not a fee is due)
    fee_period: BillingPeriod  # the whole period the base fee belongs to: proration counts its days
    bills_charges: bool
    billed_fee: Window | None  # the part of `subscription` billed: none in a trial or already paid

    @property
    def billed_charges(self) -> Window | None:
        if not self.bills_charges or self.charges.start >= self.charges.end:
            return None
        return self.charges


def billing_windows(
    subscription: Subscription, reason: str, period: BillingPeriod, at: datetime | None = None
) -> BillingWindows:
    """The windows of an invoice for `subscription` and `period`; `at` is the end of a termination.

    Usage never starts before the subscription did. A plan paid in advance bills a period's usage
    with the next period's fee; a start bills only the first fee (in advance); a termination stops
    both at `at`, and bills no fee when it was paid in advance. No fee is billed during the trial.
    """
    started = subscription.started_at or period.start
    usage_start = max(period.start, started)
    in_advance = subscription.plan.pay_in_advance
    charges = Window(usage_start, period.end)
    fee = charges
    fee_period = period
    bills_charges = reason != InvoicingReason.SUBSCRIPTION_STARTING
    bills_fee = True
    if reason == InvoicingReason.SUBSCRIPTION_TERMINATING:
        end = min(max(at or period.end, usage_start), period.end)
        charges = fee = Window(usage_start, end)
        bills_fee = not in_advance
    elif reason == InvoicingReason.SUBSCRIPTION_PERIODIC and in_advance:
        upcoming = following_period(subscription, period)
        fee = Window(upcoming.start, upcoming.end)
        fee_period = upcoming
    billed_fee = _after_trial(subscription, fee) if bills_fee else None
    return BillingWindows(
        reason=reason,
        period=period,
        charges=charges,
        subscription=fee,
        fee_period=fee_period,
        bills_charges=bills_charges,
        billed_fee=billed_fee,
    )


def _after_trial(subscription: Subscription, fee: Window) -> Window | None:
    """The part of the fee window after the plan's trial; None when the trial covers all of it."""
    trial_days = subscription.plan.trial_period
    if not trial_days or subscription.started_at is None:
        return fee
    trial_end = subscription.started_at + timedelta(days=trial_days)
    if trial_end >= fee.end:
        return None
    return Window(max(fee.start, trial_end), fee.end)
