"""Committed messages reach the delivery workers through one list in the broker's Redis and one
drain task at a time, so that a transaction pays one round trip, not a Celery task per message."""

import logging
from datetime import timedelta

import pytest
from celery import current_app
from django.db import transaction
from django.utils import timezone

from billing.jobs import task_named
from customers.services import update_customer
from customers.tests.factories import CustomerFactory
from webhooks import dispatch
from webhooks.dispatch import COMMITTED, DELIVER_TASK, DRAIN_SCHEDULED, DRAIN_TASK, drain, hand_over
from webhooks.models import WebhookMessage
from webhooks.services import create_endpoint, messages_due


@pytest.fixture
def tasks(monkeypatch, broker_lists):
    """Every task sent, in order, as (task name, args); none runs."""
    calls: list[tuple[str, tuple]] = []
    for name in (DELIVER_TASK, DRAIN_TASK):
        monkeypatch.setattr(task_named(name), "delay", lambda *args, name=name: calls.append((name, args)))
    return calls


def test_commits_queue_their_messages_and_schedule_one_drain_while_one_is_pending(tasks, broker_lists):
    hand_over({"endpoint-a": ["m1", "m2"]})
    hand_over({"endpoint-a": ["m3"], "endpoint-b": ["m4"]})
    assert tasks == [(DRAIN_TASK, ())]  # the second commit found the drain scheduled: no task
    assert [item.decode() for item in broker_lists.lrange(COMMITTED, 0, -1)] == [
        "endpoint-a:m1",
        "endpoint-a:m2",
        "endpoint-a:m3",
        "endpoint-b:m4",
    ]


def test_a_drain_sends_one_delivery_task_per_endpoint_then_the_next_commit_schedules_a_new_drain(tasks, broker_lists):
    hand_over({"endpoint-a": ["m1", "m2"]})
    hand_over({"endpoint-b": ["m3"], "endpoint-a": ["m4"]})
    tasks.clear()
    assert drain() == 4
    assert sorted(tasks) == [(DELIVER_TASK, ("m1", "m2", "m4")), (DELIVER_TASK, ("m3",))]
    assert broker_lists.llen(COMMITTED) == 0 and not broker_lists.exists(DRAIN_SCHEDULED)
    tasks.clear()
    hand_over({"endpoint-a": ["m5"]})
    assert tasks == [(DRAIN_TASK, ())]


def test_messages_committed_while_a_drain_runs_get_a_drain_of_their_own(tasks, broker_lists, monkeypatch):
    """A commit between the drain taking the list and clearing its flag finds the flag set and sends
    no drain: the drain sees its messages left and schedules the next one."""
    hand_over({"endpoint-a": ["m1"]})
    real_send = dispatch.send_deliveries

    def send_while_a_commit_lands(by_endpoint):
        real_send(by_endpoint)
        hand_over({"endpoint-a": ["late"]})

    monkeypatch.setattr(dispatch, "send_deliveries", send_while_a_commit_lands)
    tasks.clear()
    drain()
    assert tasks == [(DELIVER_TASK, ("m1",)), (DRAIN_TASK, ())]
    monkeypatch.setattr(dispatch, "send_deliveries", real_send)
    tasks.clear()
    drain()
    assert tasks == [(DELIVER_TASK, ("late",))]


def test_a_large_backlog_is_drained_in_slices_of_bounded_size(tasks, broker_lists, monkeypatch):
    monkeypatch.setattr(dispatch, "DRAINED_AT_ONCE", 3)
    hand_over({"endpoint-a": [f"m{number}" for number in range(5)]})
    tasks.clear()
    assert drain() == 3
    assert tasks == [(DELIVER_TASK, ("m0", "m1", "m2")), (DRAIN_TASK, ())]
    tasks.clear()
    assert drain() == 2
    assert tasks == [(DELIVER_TASK, ("m3", "m4"))]


def test_with_tasks_run_in_process_the_delivery_tasks_are_sent_at_once(tasks, monkeypatch):
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)
    hand_over({"endpoint-a": ["m1"], "endpoint-b": ["m2"]})
    assert sorted(tasks) == [(DELIVER_TASK, ("m1",)), (DELIVER_TASK, ("m2",))]


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_commit_stands_and_the_clock_sends_the_message(
    organization, settings, tasks, monkeypatch, caplog
):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    create_endpoint(organization=organization, data={"webhook_url": "http://127.0.0.1:9/hooks"})
    customer = CustomerFactory(organization=organization)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there (Celery reads it first)
    with caplog.at_level(logging.ERROR, logger="webhooks.dispatch"), transaction.atomic():
        update_customer(customer=customer, data={"name": "Renamed while Redis is down"})
    [message] = WebhookMessage.objects.all()
    assert tasks == [] and "the clock will send them" in caplog.text
    assert messages_due(at=timezone.now() + timedelta(seconds=90)) == [str(message.pk)]
