"""Billing: invoices for subscription periods, their finalization, and the billing clock.

The usage part of an invoice is computed by `invoicing.usage.compute_usage`, the same code as the
current usage, so the Usage tab and the invoice never disagree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from billing.jobs import enqueue_on_commit
from customers.models import Customer
from invoicing.billing_windows import BillingWindows, billing_windows
from invoicing.coupon_discounts import apply_coupons
from invoicing.credit_notes import apply_credit_notes
from invoicing.models import Fee, FeeType, Invoice, InvoiceStatus, InvoiceSubscription, InvoiceType, InvoicingReason
from invoicing.numbering import final_number, next_sequential_id
from invoicing.payment_terms import payment_terms
from invoicing.proration import prorated_fee_cents
from invoicing.selectors import customer_billing_details
from invoicing.usage import compute_usage, with_usage_relations
from invoicing.wallet_payments import apply_prepaid_credits
from plans.billing_periods import BillingPeriod
from plans.models import Subscription, SubscriptionStatus
from plans.subscription_periods import following_period, period_of
from webhooks.services import emit

# Periodic and termination invoices close a period; they are the ones the clock looks for.
CLOSING_REASONS = (InvoicingReason.SUBSCRIPTION_PERIODIC, InvoicingReason.SUBSCRIPTION_TERMINATING)


# Building invoices --------------------------------------------------------------------------


def _fees(subscription: Subscription, windows: BillingWindows) -> list[Fee]:
    plan = subscription.plan
    currency = plan.amount_currency
    fees = []
    fee = windows.billed_fee
    if fee is not None:
        amount = prorated_fee_cents(
            amount_cents=plan.amount_cents,
            period=windows.fee_period,
            start=fee.start,
            end=fee.end,
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
                from_datetime=max(fee.start, windows.fee_period.start),
                to_datetime=min(fee.end, windows.fee_period.end),
            )
        )
    charges = windows.billed_charges
    if charges is not None:
        usage = compute_usage(subscription=subscription, period=BillingPeriod(start=charges.start, end=charges.end))
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
                    from_datetime=charges.start,
                    to_datetime=charges.end,
                )
            )
    return fees


def _write_fees(invoice: Invoice, fees: list[Fee]) -> None:
    _attach_fees(invoice, fees)
    Fee.objects.bulk_create(fees)


def _attach_fees(invoice: Invoice, fees: list[Fee]) -> None:
    """The fees belong to the invoice and make its amounts (they are inserted by the caller)."""
    for fee in fees:
        fee.invoice = invoice
    invoice.fees_amount_cents = sum(fee.amount_cents for fee in fees)
    # Coupons, credit notes and prepaid credits are taken at finalization; taxes are not modelled yet.
    invoice.total_amount_cents = (
        invoice.fees_amount_cents
        - invoice.coupons_amount_cents
        + invoice.taxes_amount_cents
        - invoice.prepaid_credit_amount_cents
        - invoice.credit_notes_amount_cents
    )


def estimated_fees(*, subscription: Subscription, reason: str, period: BillingPeriod, at: datetime) -> list[Fee]:
    """The fees an invoice of this subscription would bill at `at`, unsaved (previews)."""
    subscription = _with_charges(subscription)
    return _fees(subscription, billing_windows(subscription, reason, period, at))


def _grace_period_days(customer: Customer) -> int:
    if customer.invoice_grace_period is not None:
        return customer.invoice_grace_period
    return customer.organization.invoice_grace_period_days


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
    windows = billing_windows(subscription, reason, period, at)
    grace_days = _grace_period_days(customer)
    try:
        # One transaction: an invoice finalized at once is never seen as a draft. The only
        # constraint a new invoice can break is its period's (billed already): nothing is left then.
        with transaction.atomic():
            issuing_date = (
                (at if reason != InvoicingReason.SUBSCRIPTION_PERIODIC else period.end)
                .astimezone(ZoneInfo(customer.applicable_timezone))
                .date()
            )
            invoice = Invoice.objects.create(
                organization=customer.organization,
                customer=customer,
                issuing_date=issuing_date,
                **payment_terms(customer, issuing_date),
                currency=subscription.plan.amount_currency,
            )
            InvoiceSubscription.objects.create(
                invoice=invoice,
                subscription=subscription,
                invoicing_reason=reason,
                period_start=period.start,
                period_end=period.end,
            )
            fees = _fees(subscription, windows)
            invoice.grace_period_ends_at = at + timedelta(days=grace_days)
            if grace_days == 0:
                # Computed just now: finalized without being read again; the fees are inserted
                # with their coupon shares.
                _attach_fees(invoice, fees)
                return finalize_invoice(invoice=invoice, at=at, refresh=False, fees=fees)
            _write_fees(invoice, fees)
            invoice.save()
            emit_invoice(invoice, "invoice.drafted")
    except IntegrityError:
        return None
    return invoice


# The message each kind of invoice sends when it is finalized (Lago's names).
FINALIZED_MESSAGES = {
    InvoiceType.SUBSCRIPTION: "invoice.created",
    InvoiceType.ONE_OFF: "invoice.one_off_created",
    InvoiceType.CREDIT: "invoice.paid_credit_added",
}


def emit_invoice(invoice: Invoice, webhook_type: str) -> None:
    emit(
        organization_id=invoice.organization_id, webhook_type=webhook_type, object_type="invoice", object_id=invoice.pk
    )


def _with_charges(subscription: Subscription) -> Subscription:
    """The subscription with what billing reads (customer, organization, plan, charges, metrics)."""
    if "charges" in getattr(subscription.plan, "_prefetched_objects_cache", {}):
        return subscription
    return with_usage_relations(Subscription.objects.filter(pk=subscription.pk)).get()


# Finalization -------------------------------------------------------------------------------


@transaction.atomic
def refresh_invoice(*, invoice: Invoice, at: datetime | None = None) -> Invoice:
    """Recompute a draft's fees from the current events."""
    return _refreshed(invoice, at)[0]


def _refreshed(invoice: Invoice, at: datetime | None) -> tuple[Invoice, list[Fee] | None]:
    """The invoice locked and, if it is a subscription draft, with its fees recomputed (returned
    too, so that finalization reads them from memory)."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.DRAFT or invoice.invoice_type != InvoiceType.SUBSCRIPTION:
        return invoice, None  # one-off and credit invoices are finalized when made: nothing to recompute
    at = at or timezone.now()
    fees: list[Fee] = []
    for link in invoice.invoice_subscriptions.all():
        subscription = with_usage_relations(Subscription.objects.filter(pk=link.subscription_id)).get()
        period = BillingPeriod(start=link.period_start, end=link.period_end)
        when = subscription.terminated_at if link.invoicing_reason == InvoicingReason.SUBSCRIPTION_TERMINATING else at
        fees += _fees(subscription, billing_windows(subscription, link.invoicing_reason, period, when or at))
    invoice.fees.all().delete()
    _write_fees(invoice, fees)
    invoice.save()
    return invoice, fees


@transaction.atomic(savepoint=False)
def finalize_invoice(
    *, invoice: Invoice, at: datetime | None = None, refresh: bool = True, fees: list[Fee] | None = None
) -> Invoice:
    """Refresh a draft, give it the organization's next number and freeze it. Idempotent: a
    finalized invoice is returned as it is, so a retried task never takes a second number.

    An invoice whose fees add up to zero, of a customer who skips those
    (`finalize_zero_amount_invoice`), is closed instead, as Lago does: no number, no message.

    `refresh=False` is for an invoice built a moment ago in the caller's transaction: its fees are
    current and no one else can see the row yet, so it is neither recomputed nor read again; the
    caller may pass its `fees` (with their charges and subscriptions) for the same reason, and those
    not inserted yet are inserted here, once coupons have taken their share.
    """
    if refresh:
        invoice, fees = _refreshed(invoice, at)
        customer = Customer.objects.select_related("organization").get(pk=invoice.customer_id)
    else:
        customer = invoice.customer
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    at = at or timezone.now()
    # What the customer is entitled to reduces the invoice in this order: coupons, then credit-note
    # balances, then prepaid credits pay what is left. Each locks its rows, in this same order.
    apply_coupons(invoice, fees=fees, at=at)
    if fees and any(fee._state.adding for fee in fees):
        Fee.objects.bulk_create([fee for fee in fees if fee._state.adding])
    apply_credit_notes(invoice)
    apply_prepaid_credits(invoice, at=at)
    invoice.customer_snapshot = customer_billing_details(customer)
    if invoice.fees_amount_cents == 0 and not customer.finalizes_zero_amount_invoices:
        # Nothing was billed, so coupons, credit notes and the wallet took nothing above. The
        # closed invoice keeps its fees and still closes its period: the clock never bills it again.
        invoice.status = InvoiceStatus.CLOSED
        invoice.save()
        return invoice
    invoice.sequential_id = next_sequential_id(invoice.organization_id)
    invoice.number = final_number(customer.organization, invoice.sequential_id)
    invoice.status = InvoiceStatus.FINALIZED
    invoice.finalized_at = at
    invoice.save()
    if invoice.invoice_type in FINALIZED_MESSAGES:
        emit_invoice(invoice, FINALIZED_MESSAGES[invoice.invoice_type])
    return invoice


# The billing clock --------------------------------------------------------------------------


@dataclass(frozen=True)
class DuePeriod:
    subscription_id: str
    period_start: datetime


def due_periods(*, at: datetime) -> list[DuePeriod]:
    """Every ended period of an active subscription that no invoice has closed yet. A deleted
    customer's subscriptions are left to its deletion's cascade (`due_periods_of`), which bills
    them up to the deletion time, whenever it runs."""
    return _due_periods(Subscription.objects.filter(customer__deleted_at__isnull=True), at)


def due_periods_of(*, subscription: Subscription, at: datetime) -> list[DuePeriod]:
    """The ended periods of one subscription that no invoice has closed yet, as of `at`."""
    return _due_periods(Subscription.objects.filter(pk=subscription.pk), at)


def _due_periods(subscriptions, at: datetime) -> list[DuePeriod]:
    closed = dict(
        InvoiceSubscription.objects.filter(invoicing_reason__in=CLOSING_REASONS, subscription__in=subscriptions)
        .values("subscription_id")
        .annotate(last=Max("period_start"))
        .values_list("subscription_id", "last")
    )
    due = []
    subscriptions = subscriptions.filter(status=SubscriptionStatus.ACTIVE, started_at__lt=at).select_related(
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


def start_billing_clock(*, at: datetime | None = None) -> dict[str, int]:
    """The hourly clock: find every ended period not yet invoiced and every draft whose grace period
    is over, and enqueue one task for each, after the caller's transaction commits.

    Nothing is lost when a task is: the invoices are the record of what was billed, so the next
    clock run finds the same periods and drafts again.
    """
    at = at or timezone.now()
    due = due_periods(at=at)
    drafts = drafts_due_for_finalization(at=at)
    for item in due:
        enqueue_on_commit("invoicing.tasks.bill_period_task", item.subscription_id, item.period_start.isoformat())
    for invoice_id in drafts:
        enqueue_on_commit("invoicing.tasks.finalize_invoice_task", invoice_id)
    return {"periods": len(due), "drafts": len(drafts)}


def finalize_due_draft(*, invoice_id) -> Invoice:
    """Finalize a draft the clock found due (a finalized one is returned as it is)."""
    return finalize_invoice(invoice=Invoice.objects.get(pk=invoice_id))
