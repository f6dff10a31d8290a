"""What one invoice bills for one subscription (`invoicing.billing_windows`): the one rule behind an
invoice's fees, the refresh of a draft and the billing periods an invoice shows."""

from datetime import UTC, datetime

import pytest

from invoicing.billing_windows import Window, billing_windows
from invoicing.models import InvoicingReason
from plans.subscription_periods import period_of
from plans.tests.factories import PlanFactory, SubscriptionFactory

JAN_10 = datetime(2026, 1, 10, 10, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC)


def subscription(organization, *, pay_in_advance=False, trial_period=0):
    plan = PlanFactory(organization=organization, pay_in_advance=pay_in_advance, trial_period=trial_period)
    return SubscriptionFactory(
        customer__organization=organization,
        customer__timezone="UTC",
        plan=plan,
        subscription_at=JAN_10,
        started_at=JAN_10,
    )


@pytest.mark.django_db
def test_a_period_in_arrears_bills_its_fee_and_usage_from_the_start(organization):
    sub = subscription(organization)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_PERIODIC, period_of(sub, JAN_10))
    assert windows.billed_charges == Window(JAN_10, FEB_1)
    assert windows.billed_fee == windows.subscription == Window(JAN_10, FEB_1)


@pytest.mark.django_db
def test_a_plan_paid_in_advance_bills_the_next_periods_fee_with_this_periods_usage(organization):
    sub = subscription(organization, pay_in_advance=True)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_PERIODIC, period_of(sub, JAN_10))
    assert windows.billed_charges == Window(JAN_10, FEB_1)
    assert windows.billed_fee == Window(FEB_1, MARCH_1)
    assert (windows.fee_period.start, windows.fee_period.end) == (FEB_1, MARCH_1)


@pytest.mark.django_db
def test_a_start_bills_only_the_first_fee(organization):
    sub = subscription(organization, pay_in_advance=True)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_STARTING, period_of(sub, JAN_10), JAN_10)
    assert windows.billed_charges is None
    assert windows.billed_fee == Window(JAN_10, FEB_1)


@pytest.mark.django_db
def test_a_termination_stops_both_windows_and_bills_no_fee_already_paid_in_advance(organization):
    ended = datetime(2026, 1, 20, 15, tzinfo=UTC)
    sub = subscription(organization, pay_in_advance=True)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_TERMINATING, period_of(sub, ended), ended)
    assert windows.billed_charges == Window(JAN_10, ended)
    assert windows.subscription == Window(JAN_10, ended)  # shown on the invoice
    assert windows.billed_fee is None  # paid at the start; the credit note gives the unused part back


@pytest.mark.django_db
def test_the_trial_moves_the_billed_fee_not_the_window_the_invoice_shows(organization):
    sub = subscription(organization, trial_period=5)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_PERIODIC, period_of(sub, JAN_10))
    trial_end = datetime(2026, 1, 15, 10, tzinfo=UTC)
    assert windows.billed_fee == Window(trial_end, FEB_1)
    assert windows.subscription == Window(JAN_10, FEB_1)
    assert windows.billed_charges == Window(JAN_10, FEB_1)  # usage is billed during a trial


@pytest.mark.django_db
def test_a_trial_covering_the_whole_window_bills_no_fee(organization):
    sub = subscription(organization, trial_period=40)
    windows = billing_windows(sub, InvoicingReason.SUBSCRIPTION_PERIODIC, period_of(sub, JAN_10))
    assert windows.billed_fee is None
    assert windows.billed_charges == Window(JAN_10, FEB_1)
