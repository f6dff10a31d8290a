"""The billing clock follows the house rule for Celery work (README, "Architecture"): a service
enqueues by task name, and only once the caller's transaction has committed; a task takes ids and
calls one service."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.db import transaction

from billing.jobs import task_named
from coupons.services import create_coupon
from customers.tests.factories import CustomerFactory
from invoicing.models import Invoice
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import due_periods, start_billing_clock
from plans.tests.factories import PlanFactory, SubscriptionFactory

JAN_10 = datetime(2026, 1, 10, tzinfo=UTC)
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def due_subscription(organization):
    """A calendar subscription started on January 10: January and February have ended by March 2."""
    customer = CustomerFactory(organization=organization, timezone="UTC")
    plan = PlanFactory(organization=organization, amount_cents=1000, amount_currency="EUR")
    return SubscriptionFactory(customer=customer, plan=plan, subscription_at=JAN_10, started_at=JAN_10)


def test_the_clock_enqueues_one_task_per_ended_period_only_after_its_transaction_commits(
    due_subscription, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    for name in ("invoicing.tasks.bill_period_task", "invoicing.tasks.finalize_invoice_task"):
        task = task_named(name)
        monkeypatch.setattr(task, "delay", lambda *args, name=name: sent.append((name, args)))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            counts = start_billing_clock(at=MARCH_2)
            assert sent == []  # nothing leaves before the commit

    assert counts == {"periods": 2, "drafts": 0}
    assert len(callbacks) == 2
    assert sent == [
        ("invoicing.tasks.bill_period_task", (str(due_subscription.pk), "2026-01-01T00:00:00+00:00")),
        ("invoicing.tasks.bill_period_task", (str(due_subscription.pk), "2026-02-01T00:00:00+00:00")),
    ]
    assert not Invoice.objects.exists()  # the clock only finds work; the tasks do it


def test_a_rolled_back_clock_run_enqueues_nothing(due_subscription, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    task = task_named("invoicing.tasks.bill_period_task")
    monkeypatch.setattr(task, "delay", lambda *args: sent.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                start_billing_clock(at=MARCH_2)
                raise RuntimeError("the caller failed after the clock ran")

    assert sent == []


def test_every_task_name_the_services_enqueue_is_a_registered_task():
    for name in ("invoicing.tasks.bill_period_task", "invoicing.tasks.finalize_invoice_task"):
        assert task_named(name).name == name


def test_a_broker_that_refuses_the_message_does_not_fail_the_committed_caller(
    due_subscription, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(*args):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(task_named("invoicing.tasks.bill_period_task"), "delay", broker_down)
    assert not current_app.conf.task_always_eager  # a broker is configured, as in production
    with time_machine.travel(MARCH_2, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            counts = start_billing_clock()

    assert counts["periods"] == 2
    assert "the clock will find the work again" in caplog.text
    # Nothing was billed, so the next clock run finds the same periods again.
    assert len(due_periods(at=MARCH_2)) == 2


def test_every_task_of_the_beat_schedule_is_registered():
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert task_named(entry["task"]).name == entry["task"]


def test_the_expiry_tasks_end_expired_coupons_and_wallets(organization):
    customer = CustomerFactory(organization=organization, currency="EUR")
    with time_machine.travel(JAN_10, tick=False):
        coupon = create_coupon(
            organization=organization,
            data={
                "name": "Winter",
                "code": "winter",
                "coupon_type": "percentage",
                "percentage_rate": 10,
                "frequency": "forever",
                "expiration": "time_limit",
                "expiration_at": MARCH_2,
            },
        )
        wallet = create_wallet(
            customer=customer, rate_amount=1, expiration_at=MARCH_2, top_up=TopUp(granted_credits=Decimal(3))
        )
    with time_machine.travel(MARCH_2 + timedelta(minutes=5), tick=False):
        assert task_named("coupons.tasks.terminate_expired_coupons_task").apply().get() == 1
        assert task_named("wallets.tasks.terminate_expired_wallets_task").apply().get() == 1
    coupon.refresh_from_db()
    wallet.refresh_from_db()
    assert (coupon.status, wallet.status, wallet.balance_cents) == ("terminated", "terminated", 0)
