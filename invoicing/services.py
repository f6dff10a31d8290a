"""Billing: invoices for subscription periods, their finalization, and the billing clock.

The usage part of an invoice is computed by `invoicing.usage.compute_usage`, the same code as the
current usage, so the Usage tab and the invoice never disagree.
"""

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from customers.models import Customer
from invoicing.credit_notes import apply_credit_notes, create_termination_credit_note
from invoicing.models import (
    Fee,
    FeeType,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    InvoiceSubscription,
    InvoicingReason,
)
from invoicing.usage import compute_usage, with_usage_relations
from plans.billing_periods import BillingPeriod, BillingTime, Interval, next_period, period_containing
from plans.models import Subscription, SubscriptionStatus

# Periodic and termination invoices close a period; they are the ones the clock looks for.
CLOSING_REASONS = (InvoicingReason.SUBSCRIPTION_PERIODIC, InvoicingReason.SUBSCRIPTION_TERMINATING)


def invoice_prefix(organization) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", organization.name).upper()
    return letters[:4] or "INV"


def draft_number(organization) -> str:
    """The provisional number a draft shows (Lago's clients require one)."""
    return f"{invoice_prefix(organization)}-DRAFT"


# Periods and proration --------------------------------------------------------------------------


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
    return next_period(
        period,
        interval=Interval(subscription.plan.interval),
        billing_time=BillingTime(subscription.billing_time),
        anchor=_anchor(subscription),
        timezone=subscription.customer.applicable_timezone,
    )


def prorated_fee_cents(*, amount_cents: int, period: BillingPeriod, start: datetime, end: datetime, tz: str) -> int:
    """The base fee for the days of `period` from `start` to `end`, counted in the customer's
    timezone: a day started counts whole, as Lago prorates by days."""
    zone = ZoneInfo(tz)
    period_days = (period.end.astimezone(zone).date() - period.start.astimezone(zone).date()).days
    first_day = max(start, period.start).astimezone(zone).date()
    last_day = (min(end, period.end) - timedelta(microseconds=1)).astimezone(zone).date()
    covered_days = (last_day - first_day).days + 1
    if covered_days >= period_days:
        return amount_cents
    share = Decimal(amount_cents) * Decimal(max(covered_days, 0)) / Decimal(period_days)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Building invoices --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Billing:
    """What one invoice bills for one subscription."""

    reason: str
    period: BillingPeriod  # the period closed (arrears) or opened (advance)
    usage_start: datetime | None = None  # usage billed for [usage_start, usage_end)
    usage_end: datetime | None = None
    fee_start: datetime | None = None  # base fee billed for [fee_start, fee_end) of fee_period
    fee_end: datetime | None = None
    fee_period: BillingPeriod | None = None


def _fees(subscription: Subscription, billing: _Billing) -> list[Fee]:
    plan = subscription.plan
    currency = plan.amount_currency
    fees = []
    if billing.fee_period is not None:
        amount = prorated_fee_cents(
            amount_cents=plan.amount_cents,
            period=billing.fee_period,
            start=billing.fee_start,
            end=billing.fee_end,
            tz=subscription.customer.applicable_timezone,
        )
        fees.append(
            Fee(
                subscription=subscription,
                fee_type=FeeType.SUBSCRIPTION,
                description=plan.invoice_display_name or plan.name,
                amount_cents=amount,
                currency=currency,
                units=Decimal(1),
                from_datetime=max(billing.fee_start, billing.fee_period.start),
                to_datetime=min(billing.fee_end, billing.fee_period.end),
            )
        )
    if billing.usage_start is not None and billing.usage_start < billing.usage_end:
        usage = compute_usage(
            subscription=subscription, period=BillingPeriod(start=billing.usage_start, end=billing.usage_end)
        )
        for item in usage.charges:
            fees.append(
                Fee(
                    subscription=subscription,
                    charge=item.charge,
                    fee_type=FeeType.CHARGE,
                    description=item.charge.invoice_display_name or item.charge.billable_metric.name,
                    amount_cents=item.amount_cents,
                    currency=currency,
                    units=item.units,
                    events_count=item.events_count,
                    from_datetime=billing.usage_start,
                    to_datetime=billing.usage_end,
                )
            )
    return fees


def _write_fees(invoice: Invoice, fees: list[Fee]) -> None:
    for fee in fees:
        fee.invoice = invoice
    Fee.objects.bulk_create(fees)
    invoice.fees_amount_cents = sum(fee.amount_cents for fee in fees)
    # Coupons, prepaid credits, credit notes and taxes come with their own issues; until then they are 0.
    invoice.total_amount_cents = (
        invoice.fees_amount_cents
        - invoice.coupons_amount_cents
        + invoice.taxes_amount_cents
        - invoice.prepaid_credit_amount_cents
        - invoice.credit_notes_amount_cents
    )


def _grace_period_days(customer: Customer) -> int:
    if customer.invoice_grace_period is not None:
        return customer.invoice_grace_period
    return customer.organization.invoice_grace_period_days


def _billing_for(subscription: Subscription, reason: str, period: BillingPeriod, at: datetime) -> _Billing:
    billing = _billing_without_trial(subscription, reason, period, at)
    trial_days = subscription.plan.trial_period
    if not trial_days or billing.fee_period is None:
        return billing
    # No base fee during the trial: the fee starts when the trial ends (usage is billed as usual).
    trial_end = subscription.started_at + timedelta(days=trial_days)
    if trial_end >= billing.fee_end:
        return dataclasses.replace(billing, fee_period=None)
    return dataclasses.replace(billing, fee_start=max(billing.fee_start, trial_end))


def _billing_without_trial(subscription: Subscription, reason: str, period: BillingPeriod, at: datetime) -> _Billing:
    started = subscription.started_at
    in_advance = subscription.plan.pay_in_advance
    if reason == InvoicingReason.SUBSCRIPTION_STARTING:
        # Only plans paid in advance are invoiced at the start: the base fee of the first period.
        return _Billing(reason, period, fee_start=started, fee_end=period.end, fee_period=period)
    usage_start = max(period.start, started)
    if reason == InvoicingReason.SUBSCRIPTION_TERMINATING:
        if in_advance:
            return _Billing(reason, period, usage_start=usage_start, usage_end=at)
        return _Billing(
            reason, period, usage_start=usage_start, usage_end=at, fee_start=usage_start, fee_end=at, fee_period=period
        )
    if in_advance:
        upcoming = following_period(subscription, period)
        return _Billing(
            reason,
            period,
            usage_start=usage_start,
            usage_end=period.end,
            fee_start=upcoming.start,
            fee_end=upcoming.end,
            fee_period=upcoming,
        )
    return _Billing(
        reason,
        period,
        usage_start=usage_start,
        usage_end=period.end,
        fee_start=usage_start,
        fee_end=period.end,
        fee_period=period,
    )


def bill_subscription(
    *, subscription: Subscription, reason: str, period: BillingPeriod, at: datetime | None = None
) -> Invoice | None:
    """Invoice one subscription for one period; None when that invoice already exists.

    The InvoiceSubscription constraints decide, in the database: a retried task or a second clock
    run never makes a second invoice for the same subscription and period.
    """
    at = at or timezone.now()
    subscription = _with_charges(subscription)
    customer = subscription.customer
    billing = _billing_for(subscription, reason, period, at)
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                organization=customer.organization,
                customer=customer,
                issuing_date=(at if reason != InvoicingReason.SUBSCRIPTION_PERIODIC else period.end)
                .astimezone(ZoneInfo(customer.applicable_timezone))
                .date(),
                currency=subscription.plan.amount_currency,
            )
            InvoiceSubscription.objects.create(
                invoice=invoice,
                subscription=subscription,
                invoicing_reason=reason,
                period_start=period.start,
                period_end=period.end,
            )
            _write_fees(invoice, _fees(subscription, billing))
            grace_days = _grace_period_days(customer)
            invoice.grace_period_ends_at = at + timedelta(days=grace_days)
            invoice.save()
    except IntegrityError:
        return None
    if grace_days == 0:
        return finalize_invoice(invoice=invoice, at=at, refresh=False)  # its fees were computed just now
    return invoice


def _with_charges(subscription: Subscription) -> Subscription:
    """The subscription with what billing reads (customer, organization, plan, charges, metrics)."""
    if "charges" in getattr(subscription.plan, "_prefetched_objects_cache", {}):
        return subscription
    return with_usage_relations(Subscription.objects.filter(pk=subscription.pk)).get()


def bill_subscription_start(*, subscription: Subscription) -> Invoice | None:
    """A plan paid in advance is invoiced for its first period's base fee when it starts."""
    subscription = with_usage_relations(Subscription.objects.filter(pk=subscription.pk)).get()
    if not subscription.plan.pay_in_advance or subscription.status != SubscriptionStatus.ACTIVE:
        return None
    return bill_subscription(
        subscription=subscription,
        reason=InvoicingReason.SUBSCRIPTION_STARTING,
        period=period_of(subscription, subscription.started_at),
        at=subscription.started_at,
    )


def bill_termination(*, subscription: Subscription, at: datetime) -> Invoice | None:
    """What is due in arrears when a subscription ends: base fee prorated, usage up to now."""
    subscription = with_usage_relations(Subscription.objects.filter(pk=subscription.pk)).get()
    if subscription.started_at is None or subscription.started_at >= at:
        return None
    # Credit notes: a plan paid in advance gets the unused part of its period back as credit, first,
    # so that this termination invoice already uses it (as Lago does).
    create_termination_credit_note(subscription=subscription, at=at)
    return bill_subscription(
        subscription=subscription,
        reason=InvoicingReason.SUBSCRIPTION_TERMINATING,
        period=period_of(subscription, at - timedelta(microseconds=1)),
        at=at,
    )


# Finalization -------------------------------------------------------------------------------


def customer_billing_details(customer: Customer) -> dict:
    """The customer's billing details as an invoice records them at finalization; `metadata` holds
    only the rows marked to be displayed on invoices."""
    fields = [
        "external_id",
        "name",
        "legal_name",
        "legal_number",
        "tax_identification_number",
        "email",
        "phone",
        "url",
        "address_line1",
        "address_line2",
        "zipcode",
        "city",
        "state",
        "country",
        "currency",
        "timezone",
    ]
    snapshot = {field: getattr(customer, field) for field in fields}
    snapshot["applicable_timezone"] = customer.applicable_timezone
    snapshot["metadata"] = [
        {"key": item.key, "value": item.value} for item in customer.metadata.all() if item.display_in_invoice
    ]
    return snapshot


@transaction.atomic
def refresh_invoice(*, invoice: Invoice, at: datetime | None = None) -> Invoice:
    """Recompute a draft's fees from the current events."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    at = at or timezone.now()
    fees: list[Fee] = []
    for link in invoice.invoice_subscriptions.all():
        subscription = with_usage_relations(Subscription.objects.filter(pk=link.subscription_id)).get()
        period = BillingPeriod(start=link.period_start, end=link.period_end)
        when = subscription.terminated_at if link.invoicing_reason == InvoicingReason.SUBSCRIPTION_TERMINATING else at
        fees += _fees(subscription, _billing_for(subscription, link.invoicing_reason, period, when or at))
    invoice.fees.all().delete()
    _write_fees(invoice, fees)
    invoice.save()
    return invoice


@transaction.atomic(savepoint=False)
def finalize_invoice(*, invoice: Invoice, at: datetime | None = None, refresh: bool = True) -> Invoice:
    """Refresh a draft, give it the organization's next number and freeze it. Idempotent: a
    finalized invoice is returned as it is, so a retried task never takes a second number.

    `refresh=False` is for an invoice built a moment ago in the caller's transaction: its fees are
    current and no one else can see the row yet, so it is neither recomputed nor read again.
    """
    if refresh:
        invoice = refresh_invoice(invoice=invoice, at=at)
        customer = Customer.objects.select_related("organization").get(pk=invoice.customer_id)
    else:
        customer = invoice.customer
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    # Credit notes: the customer's available credit-note balances reduce this invoice (oldest first).
    apply_credit_notes(invoice)
    invoice.sequential_id = _next_sequential_id(invoice.organization_id)
    invoice.number = f"{invoice_prefix(customer.organization)}-{invoice.sequential_id:06d}"
    invoice.customer_snapshot = customer_billing_details(customer)
    invoice.status = InvoiceStatus.FINALIZED
    invoice.finalized_at = at or timezone.now()
    invoice.save()
    return invoice


def _next_sequential_id(organization_id) -> int:
    """Take the organization's next invoice number in one statement. The row stays locked until the
    finalization commits, so concurrent finalizations take turns: no gap, no duplicate."""
    table = InvoiceSequence._meta.db_table
    organization_pk = InvoiceSequence._meta.pk.get_db_prep_value(organization_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_sequential_id = last_sequential_id + 1 "
            "WHERE organization_id = %s RETURNING last_sequential_id",
            [organization_pk],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    try:
        with transaction.atomic():
            InvoiceSequence.objects.create(organization_id=organization_id, last_sequential_id=1)
            return 1
    except IntegrityError:
        return _next_sequential_id(organization_id)  # created meanwhile by a concurrent finalization


# The billing clock --------------------------------------------------------------------------


@dataclass(frozen=True)
class DuePeriod:
    subscription_id: str
    period_start: datetime


def due_periods(*, at: datetime) -> list[DuePeriod]:
    """Every ended period of an active subscription that no invoice has closed yet."""
    closed = dict(
        InvoiceSubscription.objects.filter(invoicing_reason__in=CLOSING_REASONS)
        .values("subscription_id")
        .annotate(last=Max("period_start"))
        .values_list("subscription_id", "last")
    )
    due = []
    subscriptions = Subscription.objects.filter(status=SubscriptionStatus.ACTIVE, started_at__lt=at).select_related(
        "customer__organization", "plan"
    )
    for subscription in subscriptions.iterator(chunk_size=2000):
        last_closed = closed.get(subscription.pk)
        # From the last closed period on: older ones are billed, whatever the subscription's age.
        period = period_of(subscription, last_closed or subscription.started_at)
        while period.end <= at:
            if last_closed is None or period.start > last_closed:
                due.append(DuePeriod(str(subscription.pk), period.start))
            period = following_period(subscription, period)
    return due


def bill_due_period(*, subscription_id, period_start: datetime, at: datetime | None = None) -> Invoice | None:
    subscription = with_usage_relations(Subscription.objects.filter(pk=subscription_id)).get()
    if subscription.status != SubscriptionStatus.ACTIVE:
        return None
    return bill_subscription(
        subscription=subscription,
        reason=InvoicingReason.SUBSCRIPTION_PERIODIC,
        period=period_of(subscription, period_start),
        at=at,
    )


def drafts_due_for_finalization(*, at: datetime) -> list[str]:
    return [
        str(pk)
        for pk in Invoice.objects.filter(
            Q(grace_period_ends_at__lte=at) | Q(grace_period_ends_at__isnull=True), status=InvoiceStatus.DRAFT
        ).values_list("pk", flat=True)
    ]
