"""Celery tasks of wallets: each calls one service and is idempotent."""

from celery import shared_task
from django.db import OperationalError

from wallets.services import terminate_expired_wallets

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def terminate_expired_wallets_task() -> int:
    """Every few minutes: wallets past their expiration end, what is left of them voided."""
    return terminate_expired_wallets()
