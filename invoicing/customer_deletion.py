"""Deleting a customer (the seed's "Deleting a customer"): the soft delete and the record of its
cascade in one transaction, then, in a Celery task started on commit:

1. every active subscription terminated through the one termination service (its termination
   invoice, and for a fee paid in advance the credit note for the unused part), pending ones canceled;
2. every draft invoice finalized, those of step 1 included, with coupons, credit notes and prepaid
   credits applied as at any finalization;
3. every applied coupon terminated;
4. the active wallet terminated, what is left of its credits voided.

Steps 3 and 4 come after 2 on purpose: the final invoices take what the customer was entitled to,
and only what is left ends. Each step is idempotent and its completion is recorded, so a retried
task or the clock (`resume_customer_deletions`) finishes a cascade that a lost message or a killed
worker left half-done, without billing, numbering or voiding anything twice.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.errors import NotFound
from billing.jobs import enqueue_on_commit
from coupons.models import AppliedCoupon, AppliedCouponStatus
from coupons.services import terminate_applied_coupon
from customers.models import Customer
from customers.services import soft_delete_customer
from invoicing.models import CustomerDeletion, Invoice, InvoiceStatus, InvoicingReason
from invoicing.services import bill_due_period, due_periods_of, estimated_fees, finalize_invoice
from invoicing.subscriptions import terminate_subscription, termination_credit_estimate
from plans.models import Subscription, SubscriptionStatus
from plans.subscription_periods import period_of
from wallets.models import Wallet, WalletStatus
from wallets.services import terminate_wallet

logger = logging.getLogger(__name__)

TASK = "invoicing.tasks.run_customer_deletion_task"
# A cascade not finished this long after its last attempt is started again by the clock: long
# enough for a running task to finish, short enough that a lost one is picked up within minutes.
RESUME_AFTER = timedelta(minutes=2)
STEPS = ("subscriptions_done_at", "drafts_done_at", "coupons_done_at", "wallet_done_at")


@transaction.atomic
def delete_customer(*, customer: Customer, at: datetime | None = None) -> Customer:
    """Soft-delete the customer and record its cascade, in one transaction; the cascade's task is
    sent once it commits. From this moment the customer is gone for the API, the staff lists and
    event ingestion; its external_id is free again."""
    customer = soft_delete_customer(customer=customer, at=at)
    deletion = CustomerDeletion.objects.create(
        organization_id=customer.organization_id, customer=customer, created_at=customer.deleted_at
    )
    enqueue_on_commit(TASK, str(deletion.pk))
    return customer


def run_customer_deletion(*, deletion_id, at: datetime | None = None) -> CustomerDeletion:
    """Carry out what is left of a cascade. Each step commits on its own and is recorded once done;
    a step done already is skipped, one interrupted is done again (its work is idempotent)."""
    deletion = CustomerDeletion.objects.select_related("customer").get(pk=deletion_id)
    if deletion.finished_at is not None:
        return deletion
    at = at or timezone.now()
    CustomerDeletion.objects.filter(pk=deletion.pk).update(
        attempts=F("attempts") + 1, last_attempt_at=at, last_error=None
    )
    deletion.refresh_from_db(fields=["attempts", "last_attempt_at", "last_error"])
    customer = deletion.customer
    try:
        for step, work in zip(STEPS, (_end_subscriptions, _finalize_drafts, _end_coupons, _end_wallet), strict=True):
            if getattr(deletion, step) is None:
                work(customer, at)
                setattr(deletion, step, timezone.now())
                CustomerDeletion.objects.filter(pk=deletion.pk).update(**{step: getattr(deletion, step)})
    except Exception as error:  # recorded for staff and support, then raised for the task's retry
        CustomerDeletion.objects.filter(pk=deletion.pk).update(last_error=f"{type(error).__name__}: {error}"[:2000])
        raise
    deletion.finished_at = timezone.now()
    CustomerDeletion.objects.filter(pk=deletion.pk).update(finished_at=deletion.finished_at)
    return deletion


def _end_subscriptions(customer: Customer, at: datetime) -> None:
    live = Subscription.objects.filter(
        customer=customer, status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
    ).order_by("created_at", "pk")
    for subscription in live:
        # At the deletion's time, whenever the cascade runs: nothing is billed past it, and the
        # periods that ended before it and the clock had not billed yet are billed first.
        for item in due_periods_of(subscription=subscription, at=customer.deleted_at):
            bill_due_period(
                subscription_id=item.subscription_id, period_start=item.period_start, at=customer.deleted_at
            )
        try:
            terminate_subscription(subscription=subscription, at=customer.deleted_at)
        except NotFound:
            pass  # ended meanwhile (another attempt of this cascade): nothing left to do for it


def _finalize_drafts(customer: Customer, at: datetime) -> None:
    drafts = Invoice.objects.filter(customer=customer, status=InvoiceStatus.DRAFT).order_by("created_at", "pk")
    for invoice in drafts:
        finalize_invoice(invoice=invoice)  # a finalized one is returned as it is


def _end_coupons(customer: Customer, at: datetime) -> None:
    for applied_coupon in AppliedCoupon.objects.filter(customer=customer, status=AppliedCouponStatus.ACTIVE):
        terminate_applied_coupon(applied_coupon=applied_coupon)


def _end_wallet(customer: Customer, at: datetime) -> None:
    for wallet in Wallet.objects.filter(customer=customer, status=WalletStatus.ACTIVE):
        terminate_wallet(wallet=wallet)


def resume_customer_deletions(*, at: datetime | None = None) -> int:
    """The clock: send again the task of every cascade not finished and not attempted recently (its
    message lost, its worker killed). Returns how many."""
    at = at or timezone.now()
    stale = CustomerDeletion.objects.filter(finished_at__isnull=True).filter(
        Q(last_attempt_at__isnull=True, created_at__lte=at - RESUME_AFTER) | Q(last_attempt_at__lte=at - RESUME_AFTER)
    )
    ids = [str(pk) for pk in stale.values_list("pk", flat=True)]
    for deletion_id in ids:
        enqueue_on_commit(TASK, deletion_id)
    return len(ids)


def deletion_steps(deletion: CustomerDeletion) -> list[tuple[str, datetime | None]]:
    """Each step of a cascade with the time it was done (None while pending), for the pages."""
    labels = (
        "Subscriptions terminated or canceled",
        "Draft invoices finalized",
        "Coupons terminated",
        "Wallet terminated and its credits voided",
    )
    return [(label, getattr(deletion, step)) for label, step in zip(labels, STEPS, strict=True)]


# Before the click ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionOutcome:
    subscription: Subscription
    action: str  # "terminate" or "cancel"
    invoice_amount_cents: int  # the termination invoice's fees (before coupons, credit notes, credits)
    # The unused part of a fee paid in advance, given back as credit (at most: when that fee's invoice
    # is still a draft, coupons taken at its finalization reduce it).
    credit_note_amount_cents: int
    currency: str


@dataclass(frozen=True)
class DeletionPreview:
    """What deleting the customer would do now. Amounts are estimates: usage keeps coming until the
    deletion, and coupons, credit notes and credits are taken when each invoice is finalized."""

    customer: Customer
    subscriptions: list[SubscriptionOutcome] = field(default_factory=list)
    drafts: list[Invoice] = field(default_factory=list)
    applied_coupons: list[AppliedCoupon] = field(default_factory=list)
    wallet: Wallet | None = None

    @property
    def credits_voided_at_most(self):
        """The wallet's balance: what the final invoices do not take of it is voided."""
        return self.wallet.credits_balance if self.wallet else 0


def deletion_preview(*, customer: Customer, at: datetime | None = None) -> DeletionPreview:
    """What `delete_customer` would do to this customer now. Writes nothing."""
    at = at or timezone.now()
    outcomes = []
    live = (
        Subscription.objects.filter(
            customer=customer, status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        )
        .select_related("plan", "customer__organization")
        .order_by("created_at", "pk")
    )
    for subscription in live:
        if subscription.status == SubscriptionStatus.PENDING or subscription.started_at is None:
            outcomes.append(SubscriptionOutcome(subscription, "cancel", 0, 0, subscription.plan.amount_currency))
            continue
        fees = []
        if subscription.started_at < at:
            fees = estimated_fees(
                subscription=subscription,
                reason=InvoicingReason.SUBSCRIPTION_TERMINATING,
                period=period_of(subscription, at - timedelta(microseconds=1)),
                at=at,
            )
        outcomes.append(
            SubscriptionOutcome(
                subscription=subscription,
                action="terminate",
                invoice_amount_cents=sum(fee.amount_cents for fee in fees),
                credit_note_amount_cents=termination_credit_estimate(subscription=subscription, at=at),
                currency=subscription.plan.amount_currency,
            )
        )
    return DeletionPreview(
        customer=customer,
        subscriptions=outcomes,
        drafts=list(Invoice.objects.filter(customer=customer, status=InvoiceStatus.DRAFT).order_by("created_at", "pk")),
        applied_coupons=list(
            AppliedCoupon.objects.filter(customer=customer, status=AppliedCouponStatus.ACTIVE)
            .select_related("coupon")
            .order_by("created_at", "pk")
        ),
        wallet=Wallet.objects.filter(customer=customer, status=WalletStatus.ACTIVE).first(),
    )
