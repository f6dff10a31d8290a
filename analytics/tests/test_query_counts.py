"""Every figure costs the same number of queries at 10 invoices as at 1,000: the sums are the
database's (GROUP BY month and currency), never a Python loop over invoices."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from analytics import selectors
from analytics.selectors import add_months, month_of
from customers.tests.factories import CustomerFactory
from invoicing.models import Fee, FeeType, Invoice, InvoiceStatus, PaymentStatus
from plans.tests.factories import ChargeFactory, PlanFactory, SubscriptionFactory

TODAY = date(2026, 3, 20)
INTERVALS = [("monthly", False), ("quarterly", True), ("yearly", False), ("weekly", False)]


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False):
        yield


def bulk_invoices(organization, count: int) -> None:
    """`count` invoices over the last 15 months in EUR and USD, in every status and payment status,
    each with a subscription fee (of every plan interval) and a usage fee, written with bulk_create."""
    customers = [CustomerFactory(organization=organization, currency=currency) for currency in ("EUR", "USD")]
    subscriptions = []
    for interval, in_advance in INTERVALS:
        plan = PlanFactory(organization=organization, interval=interval, pay_in_advance=in_advance)
        subscriptions += [SubscriptionFactory(customer=customer, plan=plan) for customer in customers]
    charge = ChargeFactory(plan=subscriptions[0].plan)
    statuses = [InvoiceStatus.FINALIZED] * 5 + [InvoiceStatus.VOIDED, InvoiceStatus.DRAFT]
    payments = [PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED]
    invoices, fees = [], []
    for index in range(count):
        subscription = subscriptions[index % len(subscriptions)]
        status = statuses[index % len(statuses)]
        issued = add_months(month_of(TODAY), -(index % 15)) + timedelta(days=index % 20)
        invoice = Invoice(
            organization=organization,
            customer=subscription.customer,
            status=status,
            payment_status=payments[index % len(payments)],
            sequential_id=None if status == InvoiceStatus.DRAFT else index + 1,
            number=None if status == InvoiceStatus.DRAFT else f"BULK-{index:06d}",
            issuing_date=issued,
            net_payment_term=15,
            payment_due_date=issued + timedelta(days=15),
            currency=subscription.customer.currency,
            fees_amount_cents=15000,
            total_amount_cents=15000,
        )
        invoices.append(invoice)
        start = datetime.combine(issued, time(), tzinfo=UTC)
        fees += [
            Fee(
                invoice=invoice,
                subscription=subscription,
                fee_type=FeeType.SUBSCRIPTION,
                description="Plan",
                amount_cents=10000,
                currency=invoice.currency,
                from_datetime=start,
                to_datetime=start + timedelta(days=90),
            ),
            Fee(
                invoice=invoice,
                subscription=subscription,
                charge=charge,
                fee_type=FeeType.CHARGE,
                description="Usage",
                amount_cents=5000,
                currency=invoice.currency,
            ),
        ]
    Invoice.objects.bulk_create(invoices)
    Fee.objects.bulk_create(fees)


# The queries each figure takes, whatever the number of invoices.
FIGURES = [
    (selectors.gross_revenue, {}, 2),
    (selectors.gross_revenue, {"external_customer_id": "bulk"}, 3),  # + the customer's existence
    (selectors.mrr, {}, 2),  # weekly fees apart from the others
    (selectors.invoiced_usage, {}, 1),
    (selectors.invoiced_usage_per_metric, {"currency": "EUR"}, 1),
    (selectors.overdue_balance, {}, 1),
    (selectors.overdue_balance, {"external_customer_id": "bulk"}, 2),
    (selectors.invoice_collection, {}, 1),
]


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize("figure, filters, queries", FIGURES, ids=lambda value: getattr(value, "__name__", None))
def test_each_figure_takes_a_fixed_number_of_queries(
    organization, django_assert_num_queries, count, figure, filters, queries
):
    bulk_invoices(organization, count)
    CustomerFactory(organization=organization, external_id="bulk")
    assert Invoice.objects.filter(organization=organization).count() == count
    with django_assert_num_queries(queries):
        rows = figure(organization=organization, today=TODAY, months=12, **filters)
    # Not an empty answer: the figures read the rows built above.
    assert rows or "external_customer_id" in filters


@pytest.mark.parametrize("count", [10, 1000])
def test_receivables_take_one_query(organization, django_assert_num_queries, count):
    bulk_invoices(organization, count)
    with django_assert_num_queries(1):
        figures = selectors.receivables(organization=organization, today=TODAY, currency="EUR")
    assert figures.outstanding_count > 0 and figures.overdue_count > 0


# The session, the user and their organization, then: billed currencies, gross revenue (2), MRR (2),
# invoiced usage per metric, receivables, newest invoices.
DASHBOARD_QUERIES = 11


@pytest.mark.parametrize("count", [10, 1000])
def test_the_dashboard_takes_a_fixed_number_of_queries(organization, staff_client, django_assert_num_queries, count):
    bulk_invoices(organization, count)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = staff_client.get(reverse("analytics:dashboard"))
    assert response.status_code == 200
    assert 'data-testid="revenue-chart"' in response.content.decode()


@pytest.mark.parametrize("count", [10, 1000])
def test_each_endpoint_takes_a_fixed_number_of_queries(organization, api, django_assert_num_queries, count):
    bulk_invoices(organization, count)
    # The API key's lookup, then the figure's own queries.
    for path, queries in [
        ("gross_revenue", 3),
        ("mrr", 3),
        ("invoiced_usage", 2),
        ("overdue_balance", 2),
        ("invoice_collection", 2),
    ]:
        with django_assert_num_queries(queries):
            response = api.get(f"/api/v1/analytics/{path}", currency="EUR", months=12)
        assert response.status_code == 200, response.content
