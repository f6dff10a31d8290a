"""Celery tasks of webhooks, on a queue of their own (`webhooks`), so that a slow or dead receiver
only ever holds up webhook workers, never the billing clock."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from billing.jobs import task_named
from webhooks.bodies import render
from webhooks.delivery import deliver
from webhooks.dispatch import drain
from webhooks.services import messages_due

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def deliver_webhook_task(*message_ids: str) -> list[str | None]:
    """The messages one transaction wrote for one endpoint, one after the other."""
    delivered = [deliver(message_id=message_id, render=render) for message_id in message_ids]
    return [message.status if message else None for message in delivered]


@shared_task(**RETRY)
def drain_committed_webhooks_task() -> int:
    """The messages committed since the last drain: their delivery tasks, one per endpoint."""
    return drain()


@shared_task(**RETRY)
def resend_lost_webhooks_task() -> int:
    """Every minute: pending messages more than a minute late (their task lost) are sent again."""
    due = messages_due(at=timezone.now())
    task = task_named("webhooks.tasks.deliver_webhook_task")
    for message_id in due:
        task.delay(message_id)
    return len(due)
