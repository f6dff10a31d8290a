"""Celery tasks of the billing clock and the subscription lifecycle. Each takes ids, calls one
service and is idempotent; services enqueue them by name after their transaction commits
(`billing.jobs`)."""

from datetime import datetime

from celery import shared_task
from django.db import OperationalError

from invoicing.customer_deletion import resume_customer_deletions, run_customer_deletion
from invoicing.prepaid_credits import sync_ongoing_balances
from invoicing.services import bill_due_period, finalize_due_draft, start_billing_clock
from invoicing.subscriptions import activate_due_subscriptions

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def run_billing_clock_task() -> dict:
    """Hourly: enqueue the invoicing of every ended period, and the finalization of due drafts."""
    return start_billing_clock()


@shared_task(**RETRY)
def bill_period_task(subscription_id: str, period_start: str) -> str | None:
    invoice = bill_due_period(subscription_id=subscription_id, period_start=datetime.fromisoformat(period_start))
    return str(invoice.pk) if invoice else None


@shared_task(**RETRY)
def finalize_invoice_task(invoice_id: str) -> str:
    return finalize_due_draft(invoice_id=invoice_id).status


@shared_task(**RETRY)
def sync_wallet_balances_task() -> int:
    """Every five minutes: what each active wallet's customer owes in usage and drafts, for lists."""
    return sync_ongoing_balances()


@shared_task(**RETRY)
def activate_due_subscriptions_task() -> int:
    """Start pending subscriptions whose start has come (each row is re-checked under a lock)."""
    return activate_due_subscriptions()


@shared_task(**RETRY)
def run_customer_deletion_task(deletion_id: str) -> str:
    """The cascade of a deleted customer; what is done already is skipped (the record says)."""
    deletion = run_customer_deletion(deletion_id=deletion_id)
    return "finished" if deletion.finished_at else "pending"


@shared_task(**RETRY)
def resume_customer_deletions_task() -> int:
    """Every minute: cascades left unfinished (a lost message, a killed worker) are started again."""
    return resume_customer_deletions()
