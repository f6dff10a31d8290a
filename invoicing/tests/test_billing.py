"""Billing: period invoices, proration, grace period, numbering, the clock's idempotency, termination."""

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from customers.services import update_customer
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from events.tests.factories import send_events
from invoicing.models import Fee, Invoice, InvoiceSubscription
from invoicing.services import (
    bill_due_period,
    bill_subscription,
    drafts_due_for_finalization,
    due_periods,
    finalize_invoice,
    refresh_invoice,
)
from invoicing.subscriptions import terminate_subscription
from invoicing.tests.factories import InvoiceSubscriptionFactory
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

JAN_10 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


def run_clock(at: datetime) -> list[Invoice]:
    """What the hourly task does, in this process."""
    invoices = [
        bill_due_period(subscription_id=item.subscription_id, period_start=item.period_start, at=at)
        for item in due_periods(at=at)
    ]
    for invoice_id in drafts_due_for_finalization(at=at):
        finalize_invoice(invoice=Invoice.objects.get(pk=invoice_id), at=at)
    return [invoice for invoice in invoices if invoice]


@pytest.fixture
def plan(organization):
    plan = PlanFactory(organization=organization, code="startup", amount_cents=10000, amount_currency="EUR")
    metric = BillableMetricFactory(
        organization=organization, code="api_calls", aggregation_type="count_agg", field_name=None
    )
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "0.5"})
    return plan


@pytest.fixture
def subscription(organization, plan):
    customer = CustomerFactory(organization=organization, external_id="cust_1", name="Acme", timezone="UTC")
    return SubscriptionFactory(
        customer=customer, plan=plan, external_id="sub_1", subscription_at=JAN_10, started_at=JAN_10
    )


def api_calls(count, at):
    """`count` api_calls events, a minute apart from `at`."""
    return [("api_calls", at + timedelta(minutes=i), {}) for i in range(count)]


def test_period_in_arrears_bills_prorated_fee_and_usage_then_finalizes_at_once(organization, subscription):
    send_events(subscription, api_calls(7, datetime(2026, 1, 20, tzinfo=UTC)))
    [invoice] = run_clock(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    fees = {fee.fee_type: fee for fee in invoice.fees.all()}
    assert fees["subscription"].amount_cents == 7097
    assert (fees["charge"].units, fees["charge"].events_count, fees["charge"].amount_cents) == (7, 7, 350)
    assert (invoice.fees_amount_cents, invoice.total_amount_cents) == (7447, 7447)
    assert invoice.status == "finalized" and invoice.number.endswith("-000001")
    assert invoice.issuing_date.isoformat() == "2026-02-01"
    link = invoice.invoice_subscriptions.get()
    assert (link.period_start, link.period_end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


def test_invoice_usage_equals_the_current_usage_of_that_period(organization, subscription, api):
    send_events(subscription, api_calls(12, datetime(2026, 1, 15, tzinfo=UTC)))
    with time_machine.travel(datetime(2026, 1, 31, 23, 0, tzinfo=UTC), tick=False):
        usage = api.get("/api/v1/customers/cust_1/current_usage", external_subscription_id="sub_1").json()
    [invoice] = run_clock(datetime(2026, 2, 1, 1, 0, tzinfo=UTC))
    charge_fee = invoice.fees.get(fee_type="charge")
    assert charge_fee.amount_cents == usage["customer_usage"]["amount_cents"] == 600


def test_running_the_clock_twice_bills_each_period_once(organization, subscription):
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    first = run_clock(at)
    second = run_clock(at)
    assert len(first) == 3 and second == []  # January, February, March
    assert InvoiceSubscription.objects.filter(subscription=subscription).count() == 3
    assert sorted(Invoice.objects.values_list("sequential_id", flat=True)) == [1, 2, 3]


def test_a_retried_task_never_makes_a_second_invoice(subscription):
    period = period_of(subscription, datetime(2026, 1, 15, tzinfo=UTC))
    at = datetime(2026, 2, 1, 1, 0, tzinfo=UTC)
    assert bill_subscription(subscription=subscription, reason="subscription_periodic", period=period, at=at)
    assert bill_subscription(subscription=subscription, reason="subscription_periodic", period=period, at=at) is None
    assert Invoice.objects.count() == 1


def test_the_database_refuses_a_second_invoice_for_a_period(subscription):
    period = period_of(subscription, datetime(2026, 1, 15, tzinfo=UTC))
    invoice = bill_subscription(
        subscription=subscription, reason="subscription_periodic", period=period, at=datetime(2026, 2, 1, tzinfo=UTC)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceSubscriptionFactory(
            invoice=invoice, subscription=subscription, invoicing_reason="subscription_terminating", period=period
        )


def test_grace_period_keeps_a_draft_that_can_be_refreshed_then_the_clock_finalizes_it(organization, subscription):
    organization.invoice_grace_period_days = 3
    organization.save()
    send_events(subscription, api_calls(2, datetime(2026, 1, 20, tzinfo=UTC)))
    billed_at = datetime(2026, 2, 1, 0, 30, tzinfo=UTC)
    [invoice] = run_clock(billed_at)
    assert invoice.status == "draft" and invoice.number is None and invoice.sequential_id is None
    assert invoice.grace_period_ends_at == billed_at + timedelta(days=3)
    # A late event for January arrives during the grace period; refreshing picks it up.
    send_events(subscription, api_calls(1, datetime(2026, 1, 31, 12, tzinfo=UTC)))
    refreshed = refresh_invoice(invoice=invoice)
    assert refreshed.fees.get(fee_type="charge").events_count == 3
    assert run_clock(billed_at + timedelta(days=2)) == [] and Invoice.objects.get().status == "draft"
    run_clock(billed_at + timedelta(days=3))
    finalized = Invoice.objects.get()
    assert finalized.status == "finalized" and finalized.sequential_id == 1


def test_customer_grace_period_wins_over_the_organizations(organization, subscription):
    organization.invoice_grace_period_days = 5
    organization.save()
    update_customer(customer=subscription.customer, data={"invoice_grace_period": 0})
    [invoice] = run_clock(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    assert invoice.status == "finalized"


def test_finalized_invoice_keeps_the_customers_details_as_they_were(organization, subscription):
    CustomerMetadataFactory(customer=subscription.customer, key="po", value="PO-42", display_in_invoice=True)
    CustomerMetadataFactory(customer=subscription.customer, key="internal", value="x", display_in_invoice=False)
    [invoice] = run_clock(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    update_customer(customer=subscription.customer, data={"name": "Renamed", "metadata": []})
    invoice.refresh_from_db()
    assert invoice.customer_snapshot["name"] == "Acme"
    assert invoice.customer_snapshot["metadata"] == [{"key": "po", "value": "PO-42"}]
    assert finalize_invoice(invoice=invoice).sequential_id == invoice.sequential_id  # idempotent


@pytest.mark.django_db(transaction=True)
def test_numbering_has_no_gap_under_concurrent_finalization(organization):
    assert connection.vendor == "postgresql"
    organization.invoice_grace_period_days = 1
    organization.save()
    plan = PlanFactory(organization=organization, amount_cents=100)
    subscriptions = [
        SubscriptionFactory(customer__organization=organization, plan=plan, subscription_at=JAN_10, started_at=JAN_10)
        for _ in range(8)
    ]
    at = datetime(2026, 2, 1, 1, 0, tzinfo=UTC)
    for subscription in subscriptions:
        bill_subscription(
            subscription=subscription, reason="subscription_periodic", period=period_of(subscription, JAN_10), at=at
        )
    drafts = list(Invoice.objects.all())
    barrier = threading.Barrier(len(drafts) * 2)
    failures: list[BaseException] = []

    def finalize(invoice):
        try:
            barrier.wait()
            finalize_invoice(invoice=invoice)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    # Each draft finalized twice at once: a retry must not take a second number either.
    threads = [threading.Thread(target=finalize, args=(invoice,)) for invoice in drafts for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(Invoice.objects.values_list("sequential_id", flat=True)) == list(range(1, len(drafts) + 1))


def test_termination_bills_the_prorated_fee_and_usage_up_to_now(organization, subscription):
    send_events(subscription, api_calls(4, datetime(2026, 3, 5, tzinfo=UTC)))
    run_clock(datetime(2026, 3, 1, 0, 30, tzinfo=UTC))  # January and February
    with time_machine.travel(datetime(2026, 3, 10, 10, 0, tzinfo=UTC), tick=False):
        terminate_subscription(subscription=subscription)
    invoice = Invoice.objects.get(invoice_subscriptions__invoicing_reason="subscription_terminating")
    fees = {fee.fee_type: fee for fee in invoice.fees.all()}
    assert fees["subscription"].amount_cents == 3226  # 10 of 31 March days
    assert fees["charge"].events_count == 4 and fees["charge"].amount_cents == 200
    assert invoice.status == "finalized"
    # The clock no longer bills the terminated subscription.
    assert run_clock(datetime(2026, 4, 1, 1, 0, tzinfo=UTC)) == []


def test_pay_in_advance_bills_the_first_fee_at_start_then_the_next_period_in_advance(organization, api):
    plan = PlanFactory(
        organization=organization, code="pro", amount_cents=3100, amount_currency="EUR", pay_in_advance=True
    )
    CustomerFactory(organization=organization, external_id="cust_2", currency="EUR", timezone="UTC")
    with time_machine.travel(datetime(2026, 1, 10, 10, 0, tzinfo=UTC), tick=False):
        response = api.post(
            "/api/v1/subscriptions",
            {"subscription": {"external_customer_id": "cust_2", "plan_code": plan.code, "external_id": "adv"}},
        )
    assert response.status_code == 200
    start = Invoice.objects.get(invoice_subscriptions__invoicing_reason="subscription_starting")
    assert start.fees.get().amount_cents == 2200  # 22 of 31 January days of 31.00
    [periodic] = run_clock(datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    fee = periodic.fees.get(fee_type="subscription")
    assert fee.amount_cents == 3100 and fee.from_datetime == datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "billing_time", "expected"),
    [
        ("weekly", "calendar", 52),
        ("monthly", "calendar", 12),
        ("monthly", "anniversary", 12),
        ("quarterly", "calendar", 4),
        ("quarterly", "anniversary", 4),
        ("yearly", "anniversary", 1),
    ],
)
def test_a_year_of_every_interval_is_billed_once_per_period(organization, interval, billing_time, expected):
    plan = PlanFactory(organization=organization, interval=interval, amount_cents=1000)
    start = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
    subscription = SubscriptionFactory(
        customer__organization=organization,
        customer__timezone="UTC",
        plan=plan,
        billing_time=billing_time,
        subscription_at=start,
        started_at=start,
    )
    year_later = datetime(2026, 1, 6, 0, 0, 1, tzinfo=UTC)
    invoices = run_clock(year_later)
    assert len(invoices) == expected
    periods = sorted(
        InvoiceSubscription.objects.filter(subscription=subscription).values_list("period_start", "period_end")
    )
    assert all(previous[1] == following[0] for previous, following in zip(periods, periods[1:], strict=False))


def test_a_utc_plus_customer_is_billed_once_whatever_the_hour(organization, plan):
    customer = CustomerFactory(organization=organization, external_id="tokyo", timezone="Asia/Tokyo")
    subscription = SubscriptionFactory(
        customer=customer, plan=plan, external_id="sub_tokyo", subscription_at=JAN_10, started_at=JAN_10
    )
    # Tokyo's February starts on January 31 at 15:00 UTC; the clock runs every hour around it.
    hour = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    for _ in range(30):
        run_clock(hour)
        hour += timedelta(hours=1)
    [link] = InvoiceSubscription.objects.filter(subscription=subscription)
    assert link.period_end == datetime(2026, 1, 31, 15, 0, tzinfo=UTC)


def test_bill_command_catches_up(organization, subscription):
    out = StringIO()
    call_command("bill", "--until", "2026-03-01T00:30:00", stdout=out)
    assert "2 invoiced" in out.getvalue()
    call_command("bill", "--until", "2026-03-01T00:30:00", stdout=out)
    assert Invoice.objects.count() == 2 and Fee.objects.filter(fee_type="subscription").count() == 2


def test_no_base_fee_during_the_trial(organization):
    plan = PlanFactory(organization=organization, amount_cents=3100, trial_period=14)
    subscription = SubscriptionFactory(
        customer__organization=organization,
        customer__timezone="UTC",
        plan=plan,
        subscription_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    run_clock(datetime(2026, 3, 1, 1, 0, tzinfo=UTC))
    fees = dict(
        Fee.objects.filter(subscription=subscription, fee_type="subscription").values_list(
            "from_datetime", "amount_cents"
        )
    )
    # January: trial until Jan 15 00:00, so Jan 15-31 is billed: 17 of 31 days of 31.00 = 17.00.
    assert fees == {datetime(2026, 1, 15, tzinfo=UTC): 1700, datetime(2026, 2, 1, tzinfo=UTC): 3100}
