"""Each figure equals what the invoices themselves add up to (dataset.py's plain Python, other code than
the selectors' SQL), on a known data set with several months and currencies, a voided invoice, a draft,
a paid, an unpaid and an overdue invoice; the clock is pinned."""

from datetime import date

import pytest
import time_machine

from analytics import selectors
from analytics.tests import dataset
from billing.errors import NotFound, ValidationFailed
from customers.models import Customer
from invoicing.models import InvoiceStatus

TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def pinned_clock():
    with time_machine.travel(date(2026, 3, 20), tick=False):
        yield


@pytest.fixture
def data(organization) -> dataset.DataSet:
    return dataset.build(organization, TODAY)


MARCH, FEBRUARY, JANUARY = date(2026, 3, 1), date(2026, 2, 1), date(2026, 1, 1)


def test_gross_revenue_is_the_finalized_totals_less_refunds(data):
    rows = selectors.gross_revenue(organization=data.organization, today=TODAY, months=12)
    assert {(row.month, row.currency): (row.amount_cents, row.invoices_count) for row in rows} == (
        dataset.expected_gross_revenue(data, months=12)
    )
    # The same, by hand: A 120.00 + C 300.00 in January; the weekly invoices in February (D is
    # voided); B in March (E is a draft); F 1,240.00 USD less its 100.00 refund (A's refund failed).
    assert [(row.month, row.currency, row.amount_cents, row.invoices_count) for row in rows] == [
        (JANUARY, "EUR", 42000, 2),
        (FEBRUARY, "EUR", 6000, 4),
        (FEBRUARY, "USD", 114000, 1),
        (MARCH, "EUR", 11500, 1),
    ]


def test_gross_revenue_filters(data):
    everything = selectors.gross_revenue(organization=data.organization, today=TODAY)
    assert {(row.month, row.currency): (row.amount_cents, row.invoices_count) for row in everything} == (
        dataset.expected_gross_revenue(data)
    )
    assert (date(2025, 2, 1), "EUR", 10000) in {(row.month, row.currency, row.amount_cents) for row in everything}

    one_month = selectors.gross_revenue(organization=data.organization, today=TODAY, months=1)
    assert [(row.month, row.amount_cents) for row in one_month] == [(MARCH, 11500)]

    in_usd = selectors.gross_revenue(organization=data.organization, today=TODAY, currency="usd")
    assert [(row.month, row.currency, row.amount_cents) for row in in_usd] == [(FEBRUARY, "USD", 114000)]

    alpha = selectors.gross_revenue(organization=data.organization, today=TODAY, external_customer_id="alpha")
    assert {(row.month, row.currency): (row.amount_cents, row.invoices_count) for row in alpha} == (
        dataset.expected_gross_revenue(data, customer="alpha")
    )


def test_a_deleted_customers_invoices_still_count_under_its_external_id(data):
    Customer.objects.filter(pk=data.customers["gamma"].pk).update(deleted_at=data.invoices["F"].created_at)
    rows = selectors.gross_revenue(organization=data.organization, today=TODAY, external_customer_id="gamma")
    assert [(row.month, row.amount_cents) for row in rows] == [(FEBRUARY, 114000)]


def test_mrr_normalises_subscription_fees_per_month(data):
    rows = selectors.mrr(organization=data.organization, today=TODAY, months=12)
    assert {(row.month, row.currency): row.amount_cents for row in rows} == dataset.expected_mrr(data, months=12)
    by_month = {(row.month, row.currency): row.amount_cents for row in rows}
    # January: A's monthly fee less its coupon (90.00) and a third of C's quarterly fee paid in advance.
    assert by_month[(JANUARY, "EUR")] == 9000 + 10000
    # February: C's second third, and the weekly plans: (10.00 + 20.00) a week, 52/12 weeks a month.
    assert by_month[(FEBRUARY, "EUR")] == 10000 + 13000
    # March: C's last third and B's monthly fee.
    assert by_month[(MARCH, "EUR")] == 10000 + 10000
    # F's yearly fee in arrears, spread back over the 12 months it covers from February; 11 are shown.
    usd = [(row.month, row.amount_cents) for row in rows if row.currency == "USD"]
    assert usd == [(date(2025, month, 1), 10000) for month in range(4, 13)] + [(JANUARY, 10000), (FEBRUARY, 10000)]


def test_mrr_without_months_and_in_one_currency(data):
    rows = selectors.mrr(organization=data.organization, today=TODAY, currency="EUR")
    assert {(row.month, row.currency): row.amount_cents for row in rows} == {
        key: amount for key, amount in dataset.expected_mrr(data).items() if key[1] == "EUR"
    }
    assert (date(2025, 2, 1), "EUR", 10000) in {(row.month, row.currency, row.amount_cents) for row in rows}


def test_invoiced_usage_per_month_and_metric(data):
    rows = selectors.invoiced_usage(organization=data.organization, today=TODAY, months=12)
    assert {(row.month, row.currency, row.code): row.amount_cents for row in rows} == (
        dataset.expected_invoiced_usage(data, months=12)
    )
    # Lago's order: the newest month first, then the largest amount.
    assert [(row.month, row.code, row.amount_cents) for row in rows] == [
        (MARCH, "api_calls", 1500),
        (FEBRUARY, "api_calls", 4000),
        (JANUARY, "api_calls", 2500),
        (JANUARY, "storage", 500),
    ]


def test_invoiced_usage_per_metric_sums_the_months_of_one_currency(data):
    rows = selectors.invoiced_usage_per_metric(organization=data.organization, today=TODAY, currency="EUR", months=12)
    expected: dict = {}
    for (_, currency, code), amount in dataset.expected_invoiced_usage(data, months=12).items():
        if currency == "EUR":
            expected[code] = expected.get(code, 0) + amount
    assert {row.code: row.amount_cents for row in rows} == expected
    assert [(row.name, row.amount_cents) for row in rows] == [("API calls", 4000), ("Storage", 500)]


def test_overdue_balance_is_what_is_overdue(data):
    rows = selectors.overdue_balance(organization=data.organization, today=TODAY, months=12)
    assert {(row.month, row.currency): (row.amount_cents, row.lago_invoice_ids) for row in rows} == (
        dataset.expected_overdue_balance(data, months=12)
    )
    assert [(row.month, row.amount_cents, row.lago_invoice_ids) for row in rows] == [
        (JANUARY, 30000, [str(data.invoices["C"].pk)]),
        (FEBRUARY, 2000, [str(data.invoices["W4"].pk)]),
    ]
    beta = selectors.overdue_balance(organization=data.organization, today=TODAY, external_customer_id="beta")
    assert {(row.month, row.currency): (row.amount_cents, row.lago_invoice_ids) for row in beta} == (
        dataset.expected_overdue_balance(data, customer="beta")
    )
    assert selectors.overdue_balance(organization=data.organization, today=TODAY, external_customer_id="gamma") == []


def test_an_invoice_becomes_overdue_the_day_after_its_due_date(data):
    unpaid = str(data.invoices["B"].pk)  # due on March 31

    def overdue_on(day: date) -> dict:
        rows = selectors.overdue_balance(organization=data.organization, today=day)
        return {invoice_id: row.month for row in rows for invoice_id in row.lago_invoice_ids}

    assert unpaid not in overdue_on(date(2026, 3, 31))
    assert overdue_on(date(2026, 4, 1))[unpaid] == MARCH


def test_invoice_collection_per_payment_status(data):
    rows = selectors.invoice_collection(organization=data.organization, today=TODAY, months=12)
    assert {(row.month, row.currency, row.payment_status): (row.invoices_count, row.amount_cents) for row in rows} == (
        dataset.expected_invoice_collection(data, months=12)
    )
    assert [(row.month, row.payment_status, row.currency, row.invoices_count) for row in rows][:3] == [
        (JANUARY, "pending", "EUR", 1),
        (JANUARY, "succeeded", "EUR", 1),
        (FEBRUARY, "failed", "EUR", 1),
    ]


@pytest.mark.parametrize("currency", ["EUR", "USD"])
def test_receivables(data, currency):
    figures = selectors.receivables(organization=data.organization, today=TODAY, currency=currency)
    assert (
        figures.outstanding_amount_cents,
        figures.outstanding_count,
        figures.overdue_amount_cents,
        figures.overdue_count,
    ) == dataset.expected_receivables(data, currency)


def test_receivables_by_hand(data):
    figures = selectors.receivables(organization=data.organization, today=TODAY, currency="EUR")
    # B (115.00, not due yet), C (300.00, overdue) and W4 (20.00, payment failed, overdue).
    assert (figures.outstanding_amount_cents, figures.outstanding_count) == (43500, 3)
    assert (figures.overdue_amount_cents, figures.overdue_count) == (32000, 2)


def test_voided_and_draft_invoices_never_count(data):
    for name in ("D", "E"):
        assert data.invoices[name].status in (InvoiceStatus.VOIDED, InvoiceStatus.DRAFT)
    voided = data.invoices["D"]
    voided.status = InvoiceStatus.FINALIZED
    voided.save()
    # Finalized, D would add its 1,099.00 to February: so its absence above is the status' doing.
    rows = selectors.gross_revenue(organization=data.organization, today=TODAY, months=12, currency="EUR")
    assert (FEBRUARY, 6000 + 109900) in [(row.month, row.amount_cents) for row in rows]


def test_billed_currencies_start_with_the_default(data):
    assert selectors.billed_currencies(organization=data.organization) == ["EUR", "USD"]
    data.organization.default_currency = "GBP"
    assert selectors.billed_currencies(organization=data.organization) == ["GBP", "EUR", "USD"]


@pytest.mark.parametrize(
    "kwargs, details",
    [
        ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
        ({"currency": "XYZ"}, {"currency": ["value_is_invalid"]}),
        ({"months": 0}, {"months": ["value_is_out_of_range"]}),
        ({"months": -3}, {"months": ["value_is_out_of_range"]}),
    ],
)
def test_bad_filters_are_refused(organization, kwargs, details):
    for figure in (selectors.gross_revenue, selectors.mrr, selectors.invoiced_usage, selectors.invoice_collection):
        with pytest.raises(ValidationFailed) as refused:
            figure(organization=organization, today=TODAY, **kwargs)
        assert refused.value.details == details


def test_an_unknown_customer_is_not_found(data):
    for figure in (selectors.gross_revenue, selectors.overdue_balance):
        with pytest.raises(NotFound) as missing:
            figure(organization=data.organization, today=TODAY, external_customer_id="nobody")
        assert missing.value.code == "customer_not_found"


def test_more_months_than_the_calendar_has_means_every_month(data):
    rows = selectors.gross_revenue(organization=data.organization, today=TODAY, months=10**12)
    assert {(row.month, row.currency) for row in rows} == set(dataset.expected_gross_revenue(data))


def test_month_window():
    window = selectors.month_window(TODAY, 3)
    assert (window.start, window.end) == (JANUARY, date(2026, 4, 1))
    assert selectors.month_window(date(2026, 12, 31), 1).end == date(2027, 1, 1)
    assert selectors.last_months(date(2026, 2, 14), 3) == [date(2025, 12, 1), JANUARY, FEBRUARY]
