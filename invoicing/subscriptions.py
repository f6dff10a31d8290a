"""The subscription lifecycle and everything it bills: a plan assigned to a customer (created,
activated, terminated or canceled), the invoices a start or a termination makes at once, the credit
a termination gives back on a fee paid in advance, and the deletion of a plan, which ends its
subscriptions.

Above the catalogue (`plans`), customers and billing (`invoicing.services`), which it calls; below
nothing but the edges (views, API, tasks, commands) that call it.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.errors import NotFound, ValidationFailed
from billing.text import add_error, clean_text
from customers.models import Customer
from customers.services import create_customer
from invoicing.credit_notes import remaining_on, write_credit_note
from invoicing.models import CreditNote, CreditNoteReason, Fee, FeeType, Invoice, InvoiceStatus, InvoicingReason
from invoicing.proration import unused_fee_cents
from invoicing.services import bill_subscription, finalize_invoice
from invoicing.usage import with_usage_relations
from organizations.models import Organization
from plans.models import LIVE_SUBSCRIPTION_STATUSES, BillingTime, Plan, Subscription, SubscriptionStatus
from plans.services import retire_plan
from plans.subscription_periods import period_of
from webhooks.services import emit

# Creating -------------------------------------------------------------------------------------


def _clean_subscription(data: dict, now: datetime) -> dict:
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for field, required in (
        ("external_customer_id", True),
        ("plan_code", True),
        ("external_id", True),
        ("name", False),
    ):
        value, error = clean_text(data.get(field), required=required)
        add_error(errors, field, error)
        cleaned[field] = value.strip() if value and field == "external_id" else value
    billing_time = data.get("billing_time") or BillingTime.CALENDAR
    if billing_time not in BillingTime.values:
        add_error(errors, "billing_time", "value_is_invalid")
    cleaned["billing_time"] = billing_time
    subscription_at = data.get("subscription_at")
    if subscription_at is None:
        # To the second: an event stamped with the same Unix second as the start must count.
        subscription_at = now.replace(microsecond=0)
    elif not isinstance(subscription_at, datetime) or timezone.is_naive(subscription_at):
        add_error(errors, "subscription_at", "invalid_date")
    cleaned["subscription_at"] = subscription_at
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@transaction.atomic
def create_subscription(*, organization: Organization, data: dict) -> tuple[Subscription, bool]:
    """Assign a plan to a customer (Lago's POST /subscriptions); return (subscription, created).

    An unknown customer is created on the fly, as Lago does. Posting the same subscription again
    returns the existing one. A subscription that starts now is active at once and, on a plan paid
    in advance, invoiced for its first period in this transaction.
    """
    now = timezone.now()
    fields = _clean_subscription(data, now)
    plan = Plan.objects.filter(organization=organization, code=fields["plan_code"], deleted_at__isnull=True).first()
    if plan is None:
        raise NotFound("plan")
    customer = (
        Customer.live.select_for_update(of=("self",), no_key=True)
        .filter(organization=organization, external_id=fields["external_customer_id"])
        .first()
    )
    if customer is None:
        customer = create_customer(organization=organization, data={"external_id": fields["external_customer_id"]})
    live = Subscription.objects.filter(
        organization=organization, external_id=fields["external_id"], status__in=LIVE_SUBSCRIPTION_STATUSES
    ).first()
    if live is not None:
        if live.customer_id == customer.pk and live.plan_id == plan.pk:
            return live, False
        # Lago treats a new plan on the same id as an upgrade or downgrade; we don't offer it yet.
        raise ValidationFailed({"external_id": ["value_already_exist"]})
    if customer.currency is None:
        customer.currency = plan.amount_currency
        customer.save(update_fields=["currency", "updated_at"])
    elif customer.currency != plan.amount_currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    starts_now = fields["subscription_at"] <= now
    subscription = Subscription(
        organization=organization,
        customer=customer,
        plan=plan,
        external_id=fields["external_id"],
        name=fields["name"],
        billing_time=fields["billing_time"],
        subscription_at=fields["subscription_at"],
        status=SubscriptionStatus.ACTIVE if starts_now else SubscriptionStatus.PENDING,
        started_at=fields["subscription_at"] if starts_now else None,
    )
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        raise ValidationFailed({"external_id": ["value_already_exist"]}) from None
    if starts_now:
        _emit(subscription, "subscription.started")
        bill_subscription_start(subscription=subscription)
    return subscription, True


def _emit(subscription: Subscription, webhook_type: str) -> None:
    emit(
        organization_id=subscription.organization_id,
        webhook_type=webhook_type,
        object_type="subscription",
        object_id=subscription.pk,
    )


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


def activate_due_subscriptions(*, now: datetime | None = None) -> int:
    """Start the pending subscriptions whose start has come; return how many were started."""
    now = now or timezone.now()
    started = 0
    for subscription_id in Subscription.objects.filter(
        status=SubscriptionStatus.PENDING, subscription_at__lte=now, customer__deleted_at__isnull=True
    ).values_list("pk", flat=True):
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
            if subscription.status != SubscriptionStatus.PENDING:
                continue
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.started_at = subscription.subscription_at
            subscription.save(update_fields=["status", "started_at", "updated_at"])
            _emit(subscription, "subscription.started")
            bill_subscription_start(subscription=subscription)
            started += 1
    return started


# Ending -----------------------------------------------------------------------------------------


@transaction.atomic
def terminate_subscription(*, subscription: Subscription, at: datetime | None = None) -> Subscription:
    """End a subscription now (or at `at`, a moment already past: a customer's deletion): an active
    one is terminated and billed at once, a pending one canceled."""
    subscription = Subscription.objects.select_for_update(of=("self",)).get(pk=subscription.pk)
    now = at or timezone.now()
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.TERMINATED
        subscription.terminated_at = now
    elif subscription.status == SubscriptionStatus.PENDING:
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = now
    else:
        raise NotFound("subscription")
    subscription.save(update_fields=["status", "terminated_at", "canceled_at", "updated_at"])
    if subscription.status == SubscriptionStatus.TERMINATED:
        _emit(subscription, "subscription.terminated")
        bill_termination(subscription=subscription, at=now)
    else:
        _emit(subscription, "subscription.canceled")
    return subscription


def bill_termination(*, subscription: Subscription, at: datetime) -> Invoice | None:
    """What is due in arrears when a subscription ends: base fee prorated, usage up to now."""
    subscription = with_usage_relations(Subscription.objects.filter(pk=subscription.pk)).get()
    if subscription.started_at is None or subscription.started_at >= at:
        return None
    # A plan paid in advance gets the unused part of its period back as credit, first, so that this
    # termination invoice already uses it (as Lago does).
    create_termination_credit_note(subscription=subscription, at=at)
    return bill_subscription(
        subscription=subscription,
        reason=InvoicingReason.SUBSCRIPTION_TERMINATING,
        period=period_of(subscription, at - timedelta(microseconds=1)),
        at=at,
    )


def _fee_covering(subscription: Subscription, at: datetime) -> Fee | None:
    return (
        Fee.objects.filter(
            subscription=subscription,
            fee_type=FeeType.SUBSCRIPTION,
            from_datetime__lte=at,
            to_datetime__gt=at,
        )
        .exclude(invoice__status=InvoiceStatus.VOIDED)
        .select_related("invoice")
        .order_by("-from_datetime", "-created_at")
        .first()
    )


def _credit_left_for_unused_part(fee: Fee, invoice: Invoice, at: datetime) -> int:
    """The unused part of a fee paid in advance (of what was paid for it: its amount less its coupon
    share, as Lago prorates it), less what credit notes already gave back of it, within what is left
    on its finalized invoice."""
    remaining = remaining_on(invoice)
    paid = fee.amount_cents - fee.coupons_amount_cents
    unused = unused_fee_cents(
        amount_cents=paid,
        fee_start=fee.from_datetime,
        fee_end=fee.to_datetime,
        at=at,
        tz=invoice.customer.applicable_timezone,
    )
    already = paid - remaining.per_fee.get(fee.pk, 0)
    return min(unused - already, remaining.per_fee.get(fee.pk, 0), remaining.creditable)


def termination_credit_estimate(*, subscription: Subscription, at: datetime) -> int:
    """What `create_termination_credit_note` would credit if the subscription ended at `at`; writes
    nothing (the deletion preview)."""
    fee = _fee_covering(subscription, at)
    if fee is None or fee.amount_cents <= 0:
        return 0
    if fee.invoice.status == InvoiceStatus.DRAFT:
        # Finalized first at termination, then credited: its unused part, nothing given back yet
        # (at most: coupons taken at that finalization reduce what was paid for it).
        return unused_fee_cents(
            amount_cents=fee.amount_cents,
            fee_start=fee.from_datetime,
            fee_end=fee.to_datetime,
            at=at,
            tz=subscription.customer.applicable_timezone,
        )
    invoice = Invoice.objects.select_related("customer").get(pk=fee.invoice_id)
    return max(_credit_left_for_unused_part(fee, invoice, at), 0)


def create_termination_credit_note(*, subscription: Subscription, at: datetime) -> CreditNote | None:
    """A subscription paid in advance and ended before its period ends gets back, as credit, the
    unused part of the base fee already invoiced for that period (Lago's CreateFromTermination).

    Only a fee covering `at` qualifies, i.e. one paid in advance. If its invoice is still a draft, it
    is finalized first: a credit note needs a finalized, numbered invoice, and reducing the draft's
    fee would not last, since refreshing a draft recomputes its fees from the billing period.
    Idempotent: what earlier credit notes took from the fee is deducted, so a retry credits nothing.
    """
    fee = _fee_covering(subscription, at)
    if fee is None or fee.amount_cents <= 0:
        return None
    if fee.invoice.status == InvoiceStatus.DRAFT:
        finalize_invoice(invoice=fee.invoice, at=at)
        fee = _fee_covering(subscription, at)  # refreshing the draft rewrote its fees
        if fee is None or fee.invoice.status != InvoiceStatus.FINALIZED:
            return None
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("customer__organization").get(pk=fee.invoice_id)
        amount = _credit_left_for_unused_part(fee, invoice, at)
        if amount <= 0:
            return None
        return write_credit_note(
            invoice=invoice,
            reason=CreditNoteReason.ORDER_CANCELLATION,
            description=None,
            asked={fee.pk: amount},
            credit=amount,
            refund=0,
            at=at,
        )


# The catalogue ----------------------------------------------------------------------------------


@transaction.atomic
def delete_plan(*, plan: Plan) -> Plan:
    """Soft-delete a plan and end its live subscriptions first (each billed as any termination), as
    Lago does."""
    for subscription in plan.subscriptions.filter(status__in=LIVE_SUBSCRIPTION_STATUSES):
        terminate_subscription(subscription=subscription)
    return retire_plan(plan=plan)
