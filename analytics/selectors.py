"""The figures of the home dashboard and of Lago's analytics endpoints: amounts per month and currency.

One selector per figure, scoped to an organization. Each one is a fixed number of SQL aggregations
(GROUP BY month and currency in the database, whatever the number of invoices); Python only folds
the grouped rows, whose number depends on months, currencies and plan intervals, never on invoices.

What counts, after Lago's analytics (`app/models/analytics/*.rb`), and where we chose otherwise:
- Only finalized invoices count: drafts, voided and closed invoices are left out everywhere.
- A month is a calendar month of a date (`issuing_date`, or `payment_due_date` for the overdue
  balance), so it needs no timezone. `today` is the caller's (the API and the pages pass the UTC
  date, as the invoices' `payment_overdue` does, and as Lago's `CURRENT_DATE`); nothing after its
  month is shown.
- `months=N` keeps the N months up to and including the current one; none keeps every month.
- Amounts never mix currencies: each row has one, and `currency` keeps one.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Aggregate, Count, F, Q, QuerySet, Sum, TextField
from django.db.models.functions import TruncMonth

from billing.currencies import is_currency
from billing.errors import NotFound, ValidationFailed
from customers.models import Customer
from customers.selectors import customers_named_by
from invoicing.models import CreditNote, Fee, FeeType, Invoice, InvoiceStatus, PaymentStatus, RefundStatus
from invoicing.selectors import list_invoices
from organizations.models import Organization
from plans.models import PlanInterval

# Lago's average number of weeks in a month is 4.33; this is the exact one.
WEEKS_PER_MONTH = Decimal(52) / Decimal(12)
# The months a billing period of each interval covers (weekly plans are normalised apart).
INTERVAL_MONTHS = {PlanInterval.MONTHLY: 1, PlanInterval.QUARTERLY: 3, PlanInterval.YEARLY: 12}
LONGEST_INTERVAL_MONTHS = max(INTERVAL_MONTHS.values())


# Months -----------------------------------------------------------------------------------------


def month_of(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date | None:
    """The first day of the month `count` months after `month` (before it when negative); None
    before year 1, which no date reaches."""
    index = month.year * 12 + month.month - 1 + count
    if index < 12:
        return None
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def last_months(today: date, count: int) -> list[date]:
    """The first days of the `count` months up to and including today's, oldest first."""
    current = month_of(today)
    return [add_months(current, offset) for offset in range(1 - count, 1)]


@dataclass(frozen=True)
class Window:
    """The months a figure covers: from `start` (None: since the beginning) up to `end`, the first
    day of the month after today's (excluded)."""

    start: date | None
    end: date

    def contains(self, month: date) -> bool:
        return month < self.end and (self.start is None or month >= self.start)

    def dates(self, field: str) -> Q:
        """The rows whose date `field` falls in the window."""
        condition = Q(**{f"{field}__lt": self.end})
        if self.start is not None:
            condition &= Q(**{f"{field}__gte": self.start})
        return condition


def month_window(today: date, months: int | None) -> Window:
    """Lago's `months` filter: the last `months` months, the current one included."""
    if months is not None and months < 1:
        raise ValidationFailed({"months": ["value_is_out_of_range"]})
    current = month_of(today)
    start = add_months(current, 1 - months) if months is not None else None
    return Window(start=start, end=add_months(current, 1))


# Filters ----------------------------------------------------------------------------------------


def clean_currency(currency: str | None) -> str | None:
    """An ISO 4217 code, or None for every currency. Lago upper-cases the filter; so do we."""
    if currency is None or currency == "":
        return None
    code = currency.upper()
    if not is_currency(code):
        raise ValidationFailed({"currency": ["value_is_invalid"]})
    return code


def _named_customers(organization: Organization, external_customer_id: str) -> QuerySet:
    """The customers an `external_customer_id` filter means (`customers_named_by`: the live one, or
    while none holds the id the deleted ones that did, whose invoices still count); NotFound when
    no customer of the organization ever held it."""
    external_id = external_customer_id.replace("\x00", "")
    if not Customer.objects.filter(organization=organization, external_id=external_id).exists():
        raise NotFound("customer")
    return customers_named_by(organization=organization, external_id=external_id)


def _finalized_invoices(
    organization: Organization, *, currency: str | None, external_customer_id: str | None = None
) -> QuerySet[Invoice]:
    invoices = Invoice.objects.filter(organization=organization, status=InvoiceStatus.FINALIZED)
    if currency is not None:
        invoices = invoices.filter(currency=currency)
    if external_customer_id is not None:
        invoices = invoices.filter(customer__in=_named_customers(organization, external_customer_id))
    return invoices


def _finalized_fees(organization: Organization, *, fee_type: str, currency: str | None) -> QuerySet[Fee]:
    fees = Fee.objects.filter(
        invoice__organization=organization, invoice__status=InvoiceStatus.FINALIZED, fee_type=fee_type
    )
    if currency is not None:
        fees = fees.filter(currency=currency)
    return fees


# What a fee brings in: its amount less its share of the invoice's coupons (taxes are not modelled).
NET_FEE_AMOUNT = F("amount_cents") - F("coupons_amount_cents")


def _cents(amount: Decimal) -> int:
    """Rounded once, half up, to whole minor units."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _by_month(rows) -> list:
    return sorted(rows, key=lambda row: (row.month, row.currency))


# Gross revenue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrossRevenue:
    month: date
    currency: str
    amount_cents: int
    invoices_count: int


def gross_revenue(
    *,
    organization: Organization,
    today: date,
    currency: str | None = None,
    external_customer_id: str | None = None,
    months: int | None = None,
) -> list[GrossRevenue]:
    """Lago's gross revenue: the totals of the finalized invoices issued each month (after coupons,
    credit notes and prepaid credits, as `total_amount_cents` is), less what their credit notes
    refund (a failed refund gave nothing back, so it is not taken off; Lago takes off every refund),
    with the number of those invoices. Months without an invoice are left out, as in Lago.

    Two queries (three with `external_customer_id`, whose customer is looked up first)."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    invoices = _finalized_invoices(organization, currency=currency, external_customer_id=external_customer_id)
    invoices = invoices.filter(window.dates("issuing_date"))
    totals = (
        invoices.values("currency", month=TruncMonth("issuing_date"))
        .annotate(amount=Sum("total_amount_cents"), count=Count("id"))
        .order_by()
    )
    refunds = (
        CreditNote.objects.filter(invoice__in=invoices.values("pk"), refund_amount_cents__gt=0)
        .exclude(refund_status=RefundStatus.FAILED)
        .values(month=TruncMonth("invoice__issuing_date"), invoice_currency=F("invoice__currency"))
        .annotate(amount=Sum("refund_amount_cents"))
        .order_by()
    )
    refunded = {(row["month"], row["invoice_currency"]): row["amount"] for row in refunds}
    return _by_month(
        GrossRevenue(
            month=row["month"],
            currency=row["currency"],
            amount_cents=row["amount"] - refunded.get((row["month"], row["currency"]), 0),
            invoices_count=row["count"],
        )
        for row in totals
    )


# MRR --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mrr:
    month: date
    currency: str
    amount_cents: int


def mrr(
    *, organization: Organization, today: date, currency: str | None = None, months: int | None = None
) -> list[Mrr]:
    """Lago's monthly recurring revenue: the subscription fees of finalized invoices (less their
    coupons), normalised to one month by the interval of their plan.

    - monthly: in the month the invoice was issued;
    - quarterly and yearly: spread evenly over the months the fee covers (3 or 12; fewer for a
      prorated period, counted from its dates), from the issuing month on for a plan paid in
      advance, and back from it for one paid in arrears, as Lago does;
    - weekly: the average weekly fee issued in the month times 52/12 weeks, times the number of
      weekly subscriptions billed that month. (Lago takes the average over every weekly fee of the
      organization times 4.33, which is right for one subscription only.)
    A subscription fee without a subscription counts as monthly. Each month and currency is
    rounded once, half up. Months without a subscription fee are left out.

    Two queries: the weekly fees, and the others grouped by month, interval and covered months."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    fees = _finalized_fees(organization, fee_type=FeeType.SUBSCRIPTION, currency=currency)
    # A fee issued up to a year before the window can still be spread into it.
    reach = Window(
        start=add_months(window.start, 1 - LONGEST_INTERVAL_MONTHS) if window.start else None, end=window.end
    )
    fees = fees.filter(reach.dates("invoice__issuing_date"))
    month = TruncMonth("invoice__issuing_date")
    weekly = Q(subscription__plan__interval=PlanInterval.WEEKLY)
    weekly_rows = (
        fees.filter(weekly)
        .values("currency", month=month)
        .annotate(amount=Sum(NET_FEE_AMOUNT), fees=Count("id"), subscriptions=Count("subscription_id", distinct=True))
        .order_by()
    )
    other_rows = (
        fees.exclude(weekly)
        .values(
            "currency",
            month=month,
            interval=F("subscription__plan__interval"),
            in_advance=F("subscription__plan__pay_in_advance"),
            # The covered months, from the fee's dates (UTC: both ends shift alike, the count stays).
            period_start=TruncMonth("from_datetime", tzinfo=UTC),
            period_end=TruncMonth("to_datetime", tzinfo=UTC),
        )
        .annotate(amount=Sum(NET_FEE_AMOUNT))
        .order_by()
    )

    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in other_rows:
        for covered, share in _spread(row):
            if window.contains(covered):
                totals[(covered, row["currency"])] += share
    for row in weekly_rows:
        if window.contains(row["month"]):
            average = Decimal(row["amount"]) / row["fees"]
            totals[(row["month"], row["currency"])] += average * row["subscriptions"] * WEEKS_PER_MONTH
    return _by_month(
        Mrr(month=month, currency=code, amount_cents=_cents(amount)) for (month, code), amount in totals.items()
    )


def _spread(row: dict) -> list[tuple[date, Decimal]]:
    """The months a group of fees of one interval counts in, with each month's share."""
    interval_months = INTERVAL_MONTHS.get(row["interval"], 1)
    covered = interval_months
    if interval_months > 1 and row["period_start"] is not None and row["period_end"] is not None:
        period_months = months_between(_as_date(row["period_start"]), _as_date(row["period_end"]))
        covered = min(max(period_months, 1), interval_months)
    first = row["month"] if row["in_advance"] else add_months(row["month"], 1 - covered)
    if first is None:
        return []
    share = Decimal(row["amount"]) / covered
    return [(month, share) for offset in range(covered) if (month := add_months(first, offset)) is not None]


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# Invoiced usage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoicedUsage:
    month: date
    currency: str
    code: str | None
    amount_cents: int


def invoiced_usage(
    *, organization: Organization, today: date, currency: str | None = None, months: int | None = None
) -> list[InvoicedUsage]:
    """Lago's invoiced usage: the charge (usage) fees of finalized invoices, less their coupons, per
    month of issue, billable metric code and currency; the newest month first, then the largest
    amount, as Lago orders them. (Lago dates them by the fee's creation and also counts the fees of
    drafts and voided invoices: we count what was invoiced, by the invoice's issuing date.)

    One query."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    rows = (
        _finalized_fees(organization, fee_type=FeeType.CHARGE, currency=currency)
        .filter(window.dates("invoice__issuing_date"))
        .values("currency", month=TruncMonth("invoice__issuing_date"), code=F("charge__billable_metric__code"))
        .annotate(amount=Sum(NET_FEE_AMOUNT))
        .order_by()
    )
    usages = [
        InvoicedUsage(month=row["month"], currency=row["currency"], code=row["code"], amount_cents=row["amount"])
        for row in rows
    ]
    return sorted(usages, key=lambda usage: (-usage.month.toordinal(), -usage.amount_cents, usage.code or ""))


@dataclass(frozen=True)
class MetricUsage:
    code: str | None
    name: str | None
    currency: str
    amount_cents: int


def invoiced_usage_per_metric(
    *, organization: Organization, today: date, currency: str, months: int
) -> list[MetricUsage]:
    """What each billable metric brought in over the last `months` months in one currency (the
    fees `invoiced_usage` counts, summed over the months), the largest first. One query."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    rows = (
        _finalized_fees(organization, fee_type=FeeType.CHARGE, currency=currency)
        .filter(window.dates("invoice__issuing_date"))
        .values(
            "currency",
            metric=F("charge__billable_metric_id"),
            code=F("charge__billable_metric__code"),
            name=F("charge__billable_metric__name"),
        )
        .annotate(amount=Sum(NET_FEE_AMOUNT))
        .order_by()
    )
    usages = [
        MetricUsage(code=row["code"], name=row["name"], currency=row["currency"], amount_cents=row["amount"])
        for row in rows
    ]
    return sorted(usages, key=lambda usage: (-usage.amount_cents, usage.name or "", usage.code or ""))


# Overdue balance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueBalance:
    month: date
    currency: str
    amount_cents: int
    lago_invoice_ids: list[str]


class InvoiceIds(Aggregate):
    """The ids of a group's invoices in one comma-separated text, listed by the database with the
    group's sums (STRING_AGG on PostgreSQL, GROUP_CONCAT on SQLite)."""

    function = "STRING_AGG"
    template = "%(function)s(CAST(%(expressions)s AS text), ',' ORDER BY %(expressions)s)"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, function="GROUP_CONCAT", template="%(function)s(%(expressions)s, ',')"
        )


def _overdue(invoices: QuerySet[Invoice], today: date) -> QuerySet[Invoice]:
    """`Invoice.is_overdue` in SQL: finalized (the caller's), not paid, past its payment due date."""
    return invoices.filter(payment_due_date__lt=today).exclude(payment_status=PaymentStatus.SUCCEEDED)


def overdue_balance(
    *,
    organization: Organization,
    today: date,
    currency: str | None = None,
    external_customer_id: str | None = None,
    months: int | None = None,
) -> list[OverdueBalance]:
    """Lago's overdue balance: what the overdue invoices (finalized, payment pending or failed, due
    date passed) still ask for, per month of their payment due date and currency, with their ids.
    An unpaid invoice still asks for its whole total here (`total_due_amount_cents`); Lago also
    takes off partial payments and credit-note offsets, which we do not have.

    One query (two with `external_customer_id`)."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    invoices = _finalized_invoices(organization, currency=currency, external_customer_id=external_customer_id)
    rows = (
        _overdue(invoices, today)
        .filter(window.dates("payment_due_date"))
        .values("currency", month=TruncMonth("payment_due_date"))
        .annotate(amount=Sum("total_amount_cents"), ids=InvoiceIds("id"))
        .order_by()
    )
    return _by_month(
        OverdueBalance(
            month=row["month"],
            currency=row["currency"],
            amount_cents=row["amount"],
            lago_invoice_ids=sorted(str(uuid.UUID(text)) for text in row["ids"].split(",")),
        )
        for row in rows
    )


# Invoice collection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceCollection:
    month: date
    currency: str
    payment_status: str
    invoices_count: int
    amount_cents: int


def invoice_collection(
    *, organization: Organization, today: date, currency: str | None = None, months: int | None = None
) -> list[InvoiceCollection]:
    """Lago's invoice collection: the finalized invoices issued each month, counted and summed per
    payment status and currency. Months without an invoice are left out (Lago lists them with no
    status). One query."""
    currency = clean_currency(currency)
    window = month_window(today, months)
    rows = (
        _finalized_invoices(organization, currency=currency)
        .filter(window.dates("issuing_date"))
        .values("currency", "payment_status", month=TruncMonth("issuing_date"))
        .annotate(count=Count("id"), amount=Sum("total_amount_cents"))
        .order_by()
    )
    collections = [
        InvoiceCollection(
            month=row["month"],
            currency=row["currency"],
            payment_status=row["payment_status"],
            invoices_count=row["count"],
            amount_cents=row["amount"],
        )
        for row in rows
    ]
    return sorted(collections, key=lambda row: (row.month, row.payment_status, row.currency))


# Receivables (the dashboard's outstanding and overdue amounts) ----------------------------------


@dataclass(frozen=True)
class Receivables:
    currency: str
    outstanding_amount_cents: int
    outstanding_count: int
    overdue_amount_cents: int
    overdue_count: int


def receivables(*, organization: Organization, today: date, currency: str) -> Receivables:
    """What customers owe in one currency today: the finalized invoices not paid yet (outstanding),
    and among them those past their payment due date (overdue, as `overdue_balance` counts them).
    One query."""
    currency = clean_currency(currency)
    overdue = Q(payment_due_date__lt=today)
    row = (
        _finalized_invoices(organization, currency=currency)
        .exclude(payment_status=PaymentStatus.SUCCEEDED)
        .aggregate(
            outstanding_amount=Sum("total_amount_cents", default=0),
            outstanding_count=Count("id"),
            overdue_amount=Sum("total_amount_cents", filter=overdue, default=0),
            overdue_count=Count("id", filter=overdue),
        )
    )
    return Receivables(
        currency=currency,
        outstanding_amount_cents=row["outstanding_amount"],
        outstanding_count=row["outstanding_count"],
        overdue_amount_cents=row["overdue_amount"],
        overdue_count=row["overdue_count"],
    )


# What the dashboard lists -----------------------------------------------------------------------


def billed_currencies(*, organization: Organization) -> list[str]:
    """The currencies the organization has finalized invoices in, its default currency first. One query."""
    billed = set(
        Invoice.objects.filter(organization=organization, status=InvoiceStatus.FINALIZED)
        .values_list("currency", flat=True)
        .distinct()
        .order_by()
    )
    default = organization.default_currency
    return [default, *sorted(billed - {default})]


def newest_invoices(*, organization: Organization, count: int) -> list[Invoice]:
    """The organization's `count` newest invoices, with their customers, as the invoice list shows
    them (every status). One query."""
    return list(list_invoices(organization=organization)[:count])
