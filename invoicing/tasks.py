"""Celery tasks of the billing clock. Each loads ids and calls a service; each is idempotent."""

from datetime import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.services import (
    bill_due_period,
    drafts_due_for_finalization,
    due_periods,
    finalize_invoice,
)

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def run_billing_clock_task() -> dict:
    """Hourly: enqueue the invoicing of every ended period, and the finalization of due drafts."""
    now = timezone.now()
    due = due_periods(at=now)
    drafts = drafts_due_for_finalization(at=now)
    for item in due:
        bill_period_task.delay(item.subscription_id, item.period_start.isoformat())
    for invoice_id in drafts:
        finalize_invoice_task.delay(invoice_id)
    return {"periods": len(due), "drafts": len(drafts)}


@shared_task(**RETRY)
def bill_period_task(subscription_id: str, period_start: str) -> str | None:
    invoice = bill_due_period(subscription_id=subscription_id, period_start=datetime.fromisoformat(period_start))
    return str(invoice.pk) if invoice else None


@shared_task(**RETRY)
def finalize_invoice_task(invoice_id: str) -> str:
    return finalize_invoice(invoice=Invoice.objects.get(pk=invoice_id)).status
