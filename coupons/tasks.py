"""Celery tasks of coupons: each calls one service and is idempotent."""

from celery import shared_task
from django.db import OperationalError

from coupons.services import terminate_expired_coupons

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def terminate_expired_coupons_task() -> int:
    """Every few minutes: coupons past their expiration can no longer be applied."""
    return terminate_expired_coupons()
