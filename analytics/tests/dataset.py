"""A known data set for the analytics figures, dated relative to `today` (m0 is today's month, m1
the month before...), and the figures it should give, computed here from the rows themselves by
plain Python: other code than the selectors' SQL (Fractions, one fee or invoice at a time).

Acme bills in EUR and USD:
- alpha (EUR): monthly plan 100.00 in arrears with two usage charges; weekly plan 10.00.
- beta (EUR): quarterly plan 300.00 paid in advance; weekly plan 20.00.
- gamma (USD): yearly plan 1,200.00 in arrears with a usage charge.
Invoices: A paid (m2, a coupon, a failed refund), B unpaid and not due yet (m0), C overdue (m2,
quarterly in advance), D voided (m1), E a draft (m0), F paid in USD (m1, refunded 100.00 of it),
four weekly invoices (m1; one payment failed, past due), H paid but 13 months old. Another
organization has invoices and a customer named "alpha" too: none of it may ever show.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from analytics.selectors import add_months, month_of
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from invoicing.models import CreditNote, Fee, FeeType, Invoice, InvoiceStatus, PaymentStatus, RefundStatus
from invoicing.tests.factories import ChargeFeeFactory, CreditNoteFactory, FeeFactory, InvoiceFactory
from organizations.models import Organization
from organizations.tests.factories import OrganizationFactory
from plans.models import Charge, Subscription
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory


@dataclass
class DataSet:
    organization: Organization
    today: date
    customers: dict[str, Customer] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    fees: list[Fee] = field(default_factory=list)
    credit_notes: list[CreditNote] = field(default_factory=list)

    def month(self, back: int) -> date:
        """The first day of the month `back` months before today's."""
        return add_months(month_of(self.today), -back)


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def build(organization: Organization, today: date, other: Organization | None = None) -> DataSet:
    """The data set in `organization`, and a little of `other`'s (a new organization by default)."""
    data = DataSet(organization=organization, today=today)
    m = data.month
    alpha = CustomerFactory(organization=organization, external_id="alpha", name="Alpha Corp", currency="EUR")
    beta = CustomerFactory(organization=organization, external_id="beta", name="Beta Ltd", currency="EUR")
    gamma = CustomerFactory(organization=organization, external_id="gamma", name="Gamma Inc", currency="USD")
    data.customers = {"alpha": alpha, "beta": beta, "gamma": gamma}

    api_calls = BillableMetricFactory(organization=organization, code="api_calls", name="API calls")
    storage = BillableMetricFactory(organization=organization, code="storage", name="Storage")
    monthly = PlanFactory(organization=organization, code="monthly", interval="monthly", amount_cents=10000)
    quarterly = PlanFactory(
        organization=organization, code="quarterly", interval="quarterly", amount_cents=30000, pay_in_advance=True
    )
    yearly = PlanFactory(
        organization=organization, code="yearly", interval="yearly", amount_cents=120000, amount_currency="USD"
    )
    weekly = PlanFactory(organization=organization, code="weekly", interval="weekly", amount_cents=1000)
    calls_eur = ChargeFactory(plan=monthly, billable_metric=api_calls)
    storage_eur = ChargeFactory(plan=monthly, billable_metric=storage)
    calls_usd = ChargeFactory(plan=yearly, billable_metric=api_calls)
    s_monthly = SubscriptionFactory(customer=alpha, plan=monthly, external_id="sub_alpha_monthly")
    s_quarterly = SubscriptionFactory(customer=beta, plan=quarterly, external_id="sub_beta_quarterly")
    s_yearly = SubscriptionFactory(customer=gamma, plan=yearly, external_id="sub_gamma_yearly")
    s_weekly_alpha = SubscriptionFactory(customer=alpha, plan=weekly, external_id="sub_alpha_weekly")
    s_weekly_beta = SubscriptionFactory(customer=beta, plan=weekly, external_id="sub_beta_weekly")

    def invoice(name, customer, issued, fees, *, status=InvoiceStatus.FINALIZED, paid=PaymentStatus.PENDING, net=0):
        made = InvoiceFactory(
            organization=organization,
            customer=customer,
            status=status,
            payment_status=paid,
            issuing_date=issued,
            net_payment_term=net,
            payment_due_date=issued + timedelta(days=net),
            currency=customer.currency,
        )
        for item in fees:
            data.fees.append(_fee(made, *item))
        made.fees_amount_cents = sum(fee.amount_cents for fee in made.fees.all())
        made.coupons_amount_cents = sum(fee.coupons_amount_cents for fee in made.fees.all())
        made.total_amount_cents = made.fees_amount_cents - made.coupons_amount_cents
        made.save()
        data.invoices[name] = made
        return made

    # (subscription or charge, amount, coupons, period start, period end)
    a = invoice(
        "A",
        alpha,
        m(2),
        [(s_monthly, 10000, 1000, m(3), m(2)), (calls_eur, 2500), (storage_eur, 500)],
        paid=PaymentStatus.SUCCEEDED,
    )
    invoice("B", alpha, m(0), [(s_monthly, 10000, 0, m(1), m(0)), (calls_eur, 1500)], net=30)
    invoice("C", beta, m(2), [(s_quarterly, 30000, 0, m(2), m(-1))], net=15)
    invoice("D", alpha, m(1), [(s_monthly, 10000, 0, m(2), m(1)), (calls_eur, 99900)], status=InvoiceStatus.VOIDED)
    invoice("E", beta, today, [(s_quarterly, 5000, 0, m(0), m(-3))], status=InvoiceStatus.DRAFT)
    f = invoice("F", gamma, m(1), [(s_yearly, 120000, 0, m(13), m(1)), (calls_usd, 4000)], paid=PaymentStatus.SUCCEEDED)
    for name, subscription, day, amount, paid in [
        ("W1", s_weekly_alpha, 2, 1000, PaymentStatus.SUCCEEDED),
        ("W2", s_weekly_alpha, 9, 1000, PaymentStatus.SUCCEEDED),
        ("W3", s_weekly_beta, 2, 2000, PaymentStatus.SUCCEEDED),
        ("W4", s_weekly_beta, 9, 2000, PaymentStatus.FAILED),
    ]:
        issued = m(1).replace(day=day)
        customer = subscription.customer
        invoice(name, customer, issued, [(subscription, amount, 0, issued, issued + timedelta(days=7))], paid=paid)
    invoice("H", alpha, m(13), [(s_monthly, 10000, 0, m(14), m(13))], paid=PaymentStatus.SUCCEEDED)

    data.credit_notes = [
        CreditNoteFactory(
            invoice=f, credit_amount_cents=0, refund_amount_cents=10000, refund_status=RefundStatus.SUCCEEDED
        ),
        CreditNoteFactory(invoice=a, credit_amount_cents=0, refund_amount_cents=500, refund_status=RefundStatus.FAILED),
    ]

    # Someone else's business, in the same months and currencies, with a customer named "alpha".
    other = other or OrganizationFactory(name="Other Business")
    other_alpha = CustomerFactory(organization=other, external_id="alpha", currency="EUR")
    other_plan = PlanFactory(organization=other, interval="monthly")
    other_sub = SubscriptionFactory(customer=other_alpha, plan=other_plan)
    other_invoice = InvoiceFactory(
        organization=other, customer=other_alpha, status=InvoiceStatus.FINALIZED, issuing_date=m(1), currency="EUR"
    )
    FeeFactory(invoice=other_invoice, subscription=other_sub, amount_cents=70000)
    ChargeFeeFactory(invoice=other_invoice, amount_cents=7000)
    other_invoice.fees_amount_cents = other_invoice.total_amount_cents = 77000
    other_invoice.save()
    return data


def _fee(invoice: Invoice, item, amount: int, coupons: int = 0, start: date | None = None, end: date | None = None):
    if isinstance(item, Charge):
        return ChargeFeeFactory(invoice=invoice, charge=item, amount_cents=amount, coupons_amount_cents=coupons)
    assert isinstance(item, Subscription)
    return FeeFactory(
        invoice=invoice,
        subscription=item,
        amount_cents=amount,
        coupons_amount_cents=coupons,
        from_datetime=_instant(start),
        to_datetime=_instant(end),
    )


# The figures, computed one row at a time ---------------------------------------------------------


def _in_window(data: DataSet, month: date, months: int | None) -> bool:
    return month <= data.month(0) and (months is None or month >= data.month(months - 1))


def _half_up(value: Fraction) -> int:
    whole, rest = divmod(value, 1)
    return int(whole) + (1 if rest >= Fraction(1, 2) else 0)


def _finalized(data: DataSet) -> list[Invoice]:
    return [invoice for invoice in data.invoices.values() if invoice.status == InvoiceStatus.FINALIZED]


def expected_gross_revenue(data: DataSet, months: int | None = None, customer: str | None = None) -> dict:
    """{(month, currency): (amount_cents, invoices_count)}"""
    figures: dict = defaultdict(lambda: (0, 0))
    for invoice in _finalized(data):
        month = invoice.issuing_date.replace(day=1)
        if not _in_window(data, month, months) or (customer and invoice.customer.external_id != customer):
            continue
        refunded = sum(
            note.refund_amount_cents
            for note in data.credit_notes
            if note.invoice_id == invoice.pk and note.refund_status != RefundStatus.FAILED
        )
        amount, count = figures[(month, invoice.currency)]
        figures[(month, invoice.currency)] = (amount + invoice.total_amount_cents - refunded, count + 1)
    return dict(figures)


def expected_mrr(data: DataSet, months: int | None = None) -> dict:
    """{(month, currency): amount_cents}: each subscription fee spread over the months it counts in."""
    totals: dict = defaultdict(Fraction)
    weekly_fees: dict = defaultdict(lambda: defaultdict(list))
    for fee in data.fees:
        if fee.fee_type != FeeType.SUBSCRIPTION or fee.invoice.status != InvoiceStatus.FINALIZED:
            continue
        plan = fee.subscription.plan
        net = fee.amount_cents - fee.coupons_amount_cents
        issued = fee.invoice.issuing_date.replace(day=1)
        if plan.interval == "weekly":
            weekly_fees[(issued, fee.currency)][fee.subscription_id].append(net)
            continue
        if plan.interval == "monthly":
            counted = [issued]
        else:
            length = {"quarterly": 3, "yearly": 12}[plan.interval]
            start, end = fee.from_datetime.date(), fee.to_datetime.date()
            covered = min(max((end.year - start.year) * 12 + end.month - start.month, 1), length)
            step = 1 if plan.pay_in_advance else -1
            counted = [add_months(issued, step * offset) for offset in range(covered)]
        for month in counted:
            totals[(month, fee.currency)] += Fraction(net, len(counted))
    for key, per_subscription in weekly_fees.items():
        for amounts in per_subscription.values():
            totals[key] += Fraction(sum(amounts), len(amounts)) * Fraction(52, 12)
    return {key: _half_up(value) for key, value in totals.items() if _in_window(data, key[0], months)}


def expected_invoiced_usage(data: DataSet, months: int | None = None) -> dict:
    """{(month, currency, metric code): amount_cents}"""
    figures: dict = defaultdict(int)
    for fee in data.fees:
        month = fee.invoice.issuing_date.replace(day=1)
        if fee.fee_type == FeeType.CHARGE and fee.invoice.status == InvoiceStatus.FINALIZED:
            if _in_window(data, month, months):
                key = (month, fee.currency, fee.charge.billable_metric.code)
                figures[key] += fee.amount_cents - fee.coupons_amount_cents
    return dict(figures)


def expected_overdue_balance(data: DataSet, months: int | None = None, customer: str | None = None) -> dict:
    """{(month of the due date, currency): (amount_cents, sorted invoice ids)}, by `Invoice.is_overdue`."""
    figures: dict = defaultdict(lambda: (0, []))
    for invoice in data.invoices.values():
        month = invoice.payment_due_date.replace(day=1)
        if not invoice.is_overdue(data.today) or not _in_window(data, month, months):
            continue
        if customer and invoice.customer.external_id != customer:
            continue
        amount, ids = figures[(month, invoice.currency)]
        figures[(month, invoice.currency)] = (amount + invoice.total_amount_cents, sorted([*ids, str(invoice.pk)]))
    return dict(figures)


def expected_invoice_collection(data: DataSet, months: int | None = None) -> dict:
    """{(month, currency, payment status): (invoices_count, amount_cents)}"""
    figures: dict = defaultdict(lambda: (0, 0))
    for invoice in _finalized(data):
        month = invoice.issuing_date.replace(day=1)
        if _in_window(data, month, months):
            key = (month, invoice.currency, invoice.payment_status)
            count, amount = figures[key]
            figures[key] = (count + 1, amount + invoice.total_amount_cents)
    return dict(figures)


def expected_receivables(data: DataSet, currency: str) -> tuple[int, int, int, int]:
    """(outstanding amount, outstanding count, overdue amount, overdue count)"""
    unpaid = [
        invoice
        for invoice in _finalized(data)
        if invoice.currency == currency and invoice.payment_status != PaymentStatus.SUCCEEDED
    ]
    overdue = [invoice for invoice in unpaid if invoice.is_overdue(data.today)]
    return (
        sum(invoice.total_amount_cents for invoice in unpaid),
        len(unpaid),
        sum(invoice.total_amount_cents for invoice in overdue),
        len(overdue),
    )
