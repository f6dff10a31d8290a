from celery import shared_task
from django.db import OperationalError

from plans.services import activate_due_subscriptions


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def activate_due_subscriptions_task() -> int:
    """Start pending subscriptions whose start has come (each row is re-checked under a lock)."""
    return activate_due_subscriptions()
