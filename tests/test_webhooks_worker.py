"""Webhook deliveries on real Celery workers against Redis (not eager mode), issue 13.

Two `celery -A billing worker` subprocesses on the test database (the tests are `transaction=True`,
so what they create is committed and visible to them), as the README's "Running in production"
lays them out, each on a queue named for this run in a Redis database of this file's own (10):

- the webhooks worker consumes the webhooks queue only (`CELERY_WEBHOOKS_QUEUE`): `--pool=prefork
  -c 2`, the production command's pool with two processes, so one delivery stuck on a silent
  receiver leaves the other process to the other endpoints (test b);
- the billing worker consumes the default queue (`CELERY_TASK_DEFAULT_QUEUE`): the clock's
  `resend_lost_webhooks_task` (test d) and the deletion cascade (test e) run there.

Both get `WEBHOOKS_ALLOW_PRIVATE_URLS=true`, as the test process does: the receivers are on
loopback (`webhooks/tests/receiver.py`, a real HTTP server started by each test).

Time. The app has no setting that shortens the retry schedule (`webhooks.delivery.RETRY_DELAYS`,
30 s then 2 min, ...), and the workers run the app unchanged. So test a checks the schedule the
worker wrote (the message's `next_attempt_at`, and the countdown task the worker itself holds in
the broker, due at that time), then lets the time pass by moving `next_attempt_at` to now in the
database and sending the task the countdown would send; the countdown tasks still held fire later
and find nothing due. Test d moves a lost message's times two minutes back and runs the clock's own
task on the worker. Every wait polls a state (the database, the receiver, the worker's log, the
broker) with a deadline; no fixed sleep decides anything.
"""

import base64
import hashlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.celery import app
from customers.models import Customer
from customers.services import create_customer, update_customer
from invoicing.customer_deletion import delete_customer
from invoicing.models import CreditNote, CustomerDeletion, Invoice, InvoiceStatus, InvoiceType
from invoicing.services import FINALIZED_MESSAGES
from organizations.tests.factories import OrganizationFactory
from plans.models import Subscription, SubscriptionStatus
from tests.test_celery_worker import BROKER_URL as CONFIGURED_BROKER_URL
from tests.test_celery_worker import CELERY, PROJECT_ROOT, worker_database_url
from tests.test_customer_deletion_worker import customer_with_everything, use_broker
from wallets.models import Wallet, WalletStatus, WalletTransaction
from webhooks.delivery import RETRY_DELAYS, TIMEOUT
from webhooks.models import MessageStatus, WebhookAttempt, WebhookMessage
from webhooks.services import DELIVER_TASK, create_endpoint, keys_of, messages_due
from webhooks.tasks import deliver_webhook_task, resend_lost_webhooks_task
from webhooks.tests.receiver import Answer, Receiver, Request

# Database 10 of the configured Redis: this file's own (the other worker tests use 11, 14 and 15).
BROKER_URL = urlunsplit(urlsplit(CONFIGURED_BROKER_URL)._replace(path="/10"))
TIMEOUT_SECONDS = 30.0

pytestmark = pytest.mark.django_db(transaction=True)


# Workers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queues:
    default: str  # the billing worker's: the clock, the deletion cascade
    webhooks: str  # the webhooks worker's: deliveries only


class Worker:
    """`celery -A billing worker` on one queue, its output kept in a file for failure reports."""

    def __init__(self, *, role: str, queue: str, concurrency: int, queues: Queues):
        self.role = role
        self.name = f"{role}-{uuid.uuid4().hex[:6]}@test"
        self.log = tempfile.NamedTemporaryFile(prefix=f"webhooks_{role}_worker_", suffix=".log", delete=False)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=worker_database_url(),
            CELERY_BROKER_URL=BROKER_URL,
            REDIS_URL=BROKER_URL,
            CELERY_TASK_ALWAYS_EAGER="false",
            # The app's own settings route the tasks to this run's queues (README, "Running in production").
            CELERY_TASK_DEFAULT_QUEUE=queues.default,
            CELERY_WEBHOOKS_QUEUE=queues.webhooks,
            WEBHOOKS_ALLOW_PRIVATE_URLS="true",
            DJANGO_SETTINGS_MODULE="billing.settings",
            SECRET_KEY=os.environ.get("SECRET_KEY") or "celery-worker-test",
            DEBUG="false",
            PYTHONUNBUFFERED="1",
        )
        env.pop("TEST_DATABASE_NAME", None)  # the worker uses DATABASE_URL's database as it is
        self.process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "billing",
                "worker",
                "--pool=prefork",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queue,
                "-n",
                self.name,
                "-l",
                "info",  # each task's "succeeded" line, with its result: test d reads the clock's
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: the countdowns it holds go back to the queue
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class Workers:
    def __init__(self, queues: Queues):
        self.queues = queues
        self.billing = Worker(role="billing", queue=queues.default, concurrency=1, queues=queues)
        self.webhooks = Worker(role="webhooks", queue=queues.webhooks, concurrency=2, queues=queues)

    def output(self) -> str:
        return "\n".join(f"--- {worker.role} worker ---\n{worker.output()}" for worker in (self.billing, self.webhooks))

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = TIMEOUT_SECONDS):
        """Poll until `condition` returns something true (returned); fail with the workers' output."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            for worker in (self.billing, self.webhooks):
                if not worker.alive():
                    pytest.fail(f"the {worker.role} worker exited before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; workers' output:\n{self.output()}")
            time.sleep(0.05)

    def wait_ready(self) -> None:
        """Until both answer a ping: started, tasks imported, consuming."""
        for worker in (self.billing, self.webhooks):
            self.wait_for(
                lambda worker=worker: app.control.ping(destination=[worker.name], timeout=0.5),
                f"the {worker.role} worker to answer a ping",
                timeout=60,
            )

    def run_clock(self) -> int:
        """The clock's `resend_lost_webhooks_task`, sent as the beat sends it (to the default queue),
        run by the billing worker; its result (messages sent again) read from the worker's log."""
        sent = resend_lost_webhooks_task.delay()
        done = f"resend_lost_webhooks_task[{sent.id}] succeeded"

        def line() -> str | None:
            return next((text for text in self.billing.output().splitlines() if done in text), None)

        found = self.wait_for(line, "the clock's task to run on the billing worker")
        return int(found.rsplit(":", 1)[1])

    def stop(self) -> None:
        for worker in (self.billing, self.webhooks):
            worker.stop()


def broker_tasks(queue: str) -> list[tuple[dict, str]]:
    """The task messages in `queue` or held by a worker (kombu's `unacked`): (headers, routing key)."""
    broker = redis.Redis.from_url(BROKER_URL)
    try:
        found = []
        for raw in broker.lrange(queue, 0, -1):
            found.append((json.loads(raw)["headers"], queue))
        for raw in broker.hvals("unacked"):
            payload, _exchange, routing_key = json.loads(raw)
            found.append((payload["headers"], routing_key))
        return found
    finally:
        broker.close()


def forget(queues: Queues) -> None:
    """Drop this run's queues, bindings and held messages from the broker."""
    broker = redis.Redis.from_url(BROKER_URL)
    try:
        for name in (queues.default, queues.webhooks):
            broker.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
        for tag, entry in broker.hscan_iter("unacked"):
            if queues.default.encode() in entry or queues.webhooks.encode() in entry:
                broker.hdel("unacked", tag)
                broker.zrem("unacked_index", tag)
    finally:
        broker.close()


@pytest.fixture(scope="module")
def queues(django_db_setup):
    """The test process sends to the workers' broker and queues; the app's settings come back after."""
    suffix = uuid.uuid4().hex[:10]
    names = Queues(default=f"test-wh-billing-{suffix}", webhooks=f"test-wh-webhooks-{suffix}")
    saved_variable = os.environ.get("CELERY_BROKER_URL")
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes")
    saved = {key: app.conf[key] for key in keys}
    use_broker(BROKER_URL)
    app.conf.update(
        task_always_eager=False,
        task_default_queue=names.default,
        task_routes={DELIVER_TASK: {"queue": names.webhooks}},
    )
    app.amqp.router = app.amqp.Router()
    assert app.amqp.router.route({}, DELIVER_TASK)["queue"].name == names.webhooks
    yield names
    forget(names)
    app.close()
    app.amqp._producer_pool = None
    if saved_variable is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = saved_variable
    app.conf.update(saved)
    app.amqp.router = app.amqp.Router()


@pytest.fixture(scope="module")
def workers(queues, request):
    failures_before = request.session.testsfailed
    started = Workers(queues)
    try:
        started.wait_ready()
        yield started
    finally:
        if request.session.testsfailed > failures_before:
            sys.stderr.write(f"celery workers' output:\n{started.output()}\n")
        started.stop()


@pytest.fixture(autouse=True)
def allow_private(settings):
    """Loopback receivers (the workers get the same variable)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


# Helpers ------------------------------------------------------------------------------------------


def endpoint_for(organization, url: str, **data):
    return create_endpoint(organization=organization, data={"webhook_url": url, "signature_algo": "hmac", **data})


def hmac_of(organization_id, body: bytes) -> str:
    key = keys_of(organization_id=organization_id).hmac_key.encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def delivered(message: WebhookMessage) -> Callable[[], bool]:
    return lambda: WebhookMessage.objects.filter(pk=message.pk, status=MessageStatus.SUCCEEDED).exists()


def about(first: datetime, second: datetime, seconds: float = 2.0) -> bool:
    return abs((first - second).total_seconds()) < seconds


def object_of(request: Request) -> tuple[str, str]:
    body = json.loads(request.body)
    return body["webhook_type"], body[body["object_type"]]["lago_id"]


# a. Retries --------------------------------------------------------------------------------------


def test_a_receiver_failing_twice_gets_the_message_three_times_with_one_unique_key(workers, queues):
    organization = OrganizationFactory(name="Webhooks a")
    answers = (Answer(500, b"down", delay=0.05), Answer(503, b"still down", delay=0.05), Answer(200, b"ok", delay=0.05))
    with Receiver(*answers) as receiver:
        endpoint = endpoint_for(organization, receiver.url("/flaky"))
        customer = create_customer(organization=organization, data={"external_id": "cust_a", "name": "Flaky"})
        message = WebhookMessage.objects.get(endpoint=endpoint)
        attempts = WebhookAttempt.objects.filter(message=message)

        for number, delay in enumerate(RETRY_DELAYS[:2], start=1):
            workers.wait_for(lambda number=number: attempts.count() == number, f"attempt {number} to be logged")
            message.refresh_from_db()
            last = attempts.last()
            assert (message.status, message.attempts) == (MessageStatus.PENDING, number)
            # The schedule: the next attempt RETRY_DELAYS[n - 1] after this one (30 s, then 2 min),
            # and the worker itself holds the countdown task, on the webhooks queue, due then.
            assert message.next_attempt_at == last.attempted_at + delay

            def countdown(at=message.next_attempt_at) -> list[tuple[dict, str]]:
                return [
                    (headers, routing_key)
                    for headers, routing_key in broker_tasks(queues.webhooks)
                    if headers["task"] == DELIVER_TASK
                    and str(message.pk) in headers["argsrepr"]
                    and headers.get("eta")
                    and about(datetime.fromisoformat(headers["eta"]), at)
                ]

            [(_, routing_key)] = workers.wait_for(countdown, f"the worker's countdown for attempt {number + 1}")
            assert routing_key == queues.webhooks
            # The time passes: the retry is due now, and its task arrives (as the countdown's would).
            WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
            deliver_webhook_task.delay(str(message.pk))

        workers.wait_for(delivered(message), "the third attempt to succeed")
        requests = receiver.wait_for(3, path="/flaky")

    assert len(receiver.requests) == 3
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SUCCEEDED, 3)
    assert message.delivered_at == attempts.last().attempted_at
    # One unique key, the same bytes each time (rendered once), each signed as documented.
    assert {request.headers["X-Lago-Unique-Key"] for request in requests} == {str(message.pk)}
    assert len({request.body for request in requests}) == 1
    assert requests[0].body == message.body.encode()
    for request in requests:
        assert request.method == "POST"
        assert request.headers["X-Lago-Signature-Algorithm"] == "hmac"
        assert request.headers["X-Lago-Signature"] == hmac_of(organization.pk, request.body)
    assert object_of(requests[0]) == ("customer.created", str(customer.pk))
    # The attempt log: all three, with the receiver's answers and how long each took (the receiver
    # waited 50 ms before answering).
    log = list(attempts.order_by("attempted_at"))
    assert [(row.status_code, row.response_excerpt, row.error) for row in log] == [
        (500, "down", ""),
        (503, "still down", ""),
        (200, "ok", ""),
    ]
    assert all(50 <= row.duration_ms < 10_000 for row in log), [row.duration_ms for row in log]
    assert log[0].attempted_at < log[1].attempted_at < log[2].attempted_at


# b. A silent receiver ---------------------------------------------------------------------------


def test_b_a_receiver_that_never_answers_does_not_hold_up_another_endpoint(workers):
    organization = OrganizationFactory(name="Webhooks b")
    with Receiver() as receiver:
        receiver.answer_path("/silent", Answer(200, delay=120))  # past the 10 s read timeout
        silent = endpoint_for(organization, receiver.url("/silent"), event_types=["customer.created"])
        prompt = endpoint_for(organization, receiver.url("/prompt"), event_types=["customer.updated"])
        customer = create_customer(organization=organization, data={"external_id": "cust_b", "name": "Before"})
        silent_message = WebhookMessage.objects.get(endpoint=silent)
        # One worker process now waits on the silent receiver...
        receiver.wait_for(1, path="/silent", timeout=TIMEOUT_SECONDS)
        update_customer(customer=customer, data={"name": "After"})
        prompt_message = WebhookMessage.objects.get(endpoint=prompt)
        # ...and the other delivers the second endpoint's message meanwhile.
        workers.wait_for(delivered(prompt_message), "the prompt endpoint's message")
        silent_message.refresh_from_db()
        assert (silent_message.status, silent_message.attempts) == (MessageStatus.PENDING, 1)
        assert not WebhookAttempt.objects.filter(message=silent_message).exists()  # still in flight
        [request] = receiver.requests_to("/prompt")
        assert object_of(request) == ("customer.updated", str(customer.pk))
        assert request.headers["X-Lago-Unique-Key"] == str(prompt_message.pk)
        # Nor does it hold up the clock, on its own worker; and the message in flight is leased, so
        # the clock does not send it a second time.
        assert workers.run_clock() == 0

        # The silent one is given up at the timeout, logged as a network error, and retried later.
        silent_attempts = WebhookAttempt.objects.filter(message=silent_message)
        workers.wait_for(silent_attempts.exists, "the silent receiver's attempt to time out")
    [attempt] = silent_attempts
    assert attempt.status_code is None and attempt.error.startswith("ReadTimeout"), attempt.error
    assert TIMEOUT.read * 1000 <= attempt.duration_ms < (TIMEOUT.read + 5) * 1000
    prompt_message.refresh_from_db()
    assert prompt_message.delivered_at < attempt.attempted_at
    silent_message.refresh_from_db()
    assert silent_message.status == MessageStatus.PENDING
    assert silent_message.next_attempt_at == attempt.attempted_at + RETRY_DELAYS[0]
    assert len(receiver.requests_to("/silent")) == 1


# c. Rolled back -----------------------------------------------------------------------------------


class RolledBack(Exception):
    pass


def test_c_a_rolled_back_change_sends_nothing(workers, queues):
    organization = OrganizationFactory(name="Webhooks c")
    with Receiver() as receiver:
        endpoint_for(organization, receiver.url("/hooks"))
        with pytest.raises(RolledBack), transaction.atomic():
            create_customer(organization=organization, data={"external_id": "cust_rolled_back"})
            # The message is written in the change's transaction...
            [lost_id] = WebhookMessage.objects.filter(organization=organization).values_list("pk", flat=True)
            raise RolledBack
        # ...and goes with it: no row, no task.
        assert not Customer.objects.filter(organization=organization).exists()
        assert not WebhookMessage.objects.filter(organization=organization).exists()
        assert not [headers for headers, _ in broker_tasks(queues.webhooks) if str(lost_id) in headers["argsrepr"]]

        # A change committed afterwards is delivered: the receiver's only request.
        kept = create_customer(organization=organization, data={"external_id": "cust_kept"})
        message = WebhookMessage.objects.get(organization=organization)
        workers.wait_for(delivered(message), "the committed change's message")
        [request] = receiver.wait_for(1)
    assert len(receiver.requests) == 1
    assert request.headers["X-Lago-Unique-Key"] == str(message.pk) != str(lost_id)
    assert object_of(request) == ("customer.created", str(kept.pk))


# d. A lost task -----------------------------------------------------------------------------------


def test_d_a_message_whose_task_was_lost_is_delivered_by_the_clock_once(workers, caplog):
    organization = OrganizationFactory(name="Webhooks d")
    with Receiver() as receiver:
        endpoint_for(organization, receiver.url("/hooks"))
        with socket.socket() as probe:  # a port where nothing listens
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        use_broker(f"redis://127.0.0.1:{dead_port}/10")  # connection refused
        try:
            with caplog.at_level(logging.ERROR, logger="webhooks.dispatch"):
                customer = create_customer(organization=organization, data={"external_id": "cust_d"})
        finally:
            use_broker(BROKER_URL)
        assert "could not queue 1 webhook messages; the clock will send them" in caplog.text
        message = WebhookMessage.objects.get(organization=organization)
        assert (message.status, message.attempts) == (MessageStatus.PENDING, 0)

        # The clock leaves a message alone until it is more than a minute late...
        assert workers.run_clock() == 0
        # ...two minutes pass (the message was written two minutes ago)...
        WebhookMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=F("next_attempt_at") - timedelta(minutes=2),
            created_at=F("created_at") - timedelta(minutes=2),
        )
        assert messages_due(at=timezone.now()) == [str(message.pk)]
        # ...and the clock, on the worker, sends it again: delivered once.
        assert workers.run_clock() == 1
        workers.wait_for(delivered(message), "the lost message to be delivered")
        assert workers.run_clock() == 0  # nothing left for the clock
        [request] = receiver.wait_for(1)
    assert len(receiver.requests) == 1
    assert request.headers["X-Lago-Unique-Key"] == str(message.pk)
    assert object_of(request) == ("customer.created", str(customer.pk))
    message.refresh_from_db()
    assert message.attempts == 1 and WebhookAttempt.objects.filter(message=message).count() == 1


# e. The deletion cascade --------------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """The customer's state just before its deletion: what existed, what was a draft, what was live."""

    invoices: frozenset
    drafts: frozenset
    credit_notes: frozenset
    wallet_transactions: frozenset
    live_subscriptions: frozenset
    active_wallets: frozenset

    @classmethod
    def of(cls, customer: Customer) -> "Before":
        invoices = Invoice.objects.filter(customer=customer)
        return cls(
            invoices=frozenset(invoices.values_list("pk", flat=True)),
            drafts=frozenset(invoices.filter(status=InvoiceStatus.DRAFT).values_list("pk", flat=True)),
            credit_notes=frozenset(CreditNote.objects.filter(customer=customer).values_list("pk", flat=True)),
            wallet_transactions=frozenset(
                WalletTransaction.objects.filter(wallet__customer=customer).values_list("pk", flat=True)
            ),
            live_subscriptions=frozenset(
                Subscription.objects.filter(
                    customer=customer, status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
                ).values_list("pk", flat=True)
            ),
            active_wallets=frozenset(
                Wallet.objects.filter(customer=customer, status=WalletStatus.ACTIVE).values_list("pk", flat=True)
            ),
        )


def expected_messages(customer: Customer, before: Before) -> list[tuple[str, str]]:
    """The messages the deletion and its cascade must send, from the database before and after:
    (type, object id), one per change."""
    customer.refresh_from_db()
    expected = [("customer.deleted", str(customer.pk))]
    for subscription in Subscription.objects.filter(pk__in=before.live_subscriptions):
        ended = {
            SubscriptionStatus.TERMINATED: "subscription.terminated",
            SubscriptionStatus.CANCELED: "subscription.canceled",
        }
        expected.append((ended[subscription.status], str(subscription.pk)))
    grace_days = customer.invoice_grace_period
    if grace_days is None:
        grace_days = customer.organization.invoice_grace_period_days
    for invoice in Invoice.objects.filter(customer=customer):
        new = invoice.pk not in before.invoices
        if new and invoice.invoice_type == InvoiceType.SUBSCRIPTION and grace_days > 0:
            expected.append(("invoice.drafted", str(invoice.pk)))  # made a draft, within the grace period
        if (new or invoice.pk in before.drafts) and invoice.status == InvoiceStatus.FINALIZED:
            expected.append((FINALIZED_MESSAGES[invoice.invoice_type], str(invoice.pk)))
    for note in CreditNote.objects.filter(customer=customer).exclude(pk__in=before.credit_notes):
        expected.append(("credit_note.created", str(note.pk)))
    for record in WalletTransaction.objects.filter(wallet__customer=customer).exclude(
        pk__in=before.wallet_transactions
    ):
        expected.append(("wallet_transaction.created", str(record.pk)))
    for wallet in Wallet.objects.filter(pk__in=before.active_wallets, status=WalletStatus.TERMINATED):
        expected.append(("wallet.terminated", str(wallet.pk)))
    return sorted(expected)


def test_e_the_deletion_cascade_sends_exactly_the_expected_messages_once_each(workers):
    customer = customer_with_everything("webhooks")
    organization = customer.organization
    messages = WebhookMessage.objects.filter(organization=organization)
    with Receiver() as receiver:
        endpoint_for(organization, receiver.url("/everything"))  # every type (event_types null)
        before = Before.of(customer)
        delete_customer(customer=customer)  # committed: the cascade's task goes to the billing worker
        deletion = CustomerDeletion.objects.get(customer=customer)
        workers.wait_for(
            lambda: CustomerDeletion.objects.filter(pk=deletion.pk, finished_at__isnull=False).exists(),
            "the cascade to finish",
        )
        expected = expected_messages(customer, before)
        workers.wait_for(
            lambda: not messages.exclude(status=MessageStatus.SUCCEEDED).exists(), "every message to be delivered"
        )
        received = receiver.wait_for(len(expected), timeout=TIMEOUT_SECONDS)

    assert sorted(object_of(request) for request in received) == expected
    keys = [request.headers["X-Lago-Unique-Key"] for request in received]
    assert len(set(keys)) == len(keys) == len(expected)  # no unique key arrived twice
    assert set(keys) == {str(pk) for pk in messages.values_list("pk", flat=True)}
    assert set(messages.values_list("attempts", flat=True)) == {1}
    for request in received:
        assert request.headers["X-Lago-Signature"] == hmac_of(organization.pk, request.body)
    # What the scenario makes of it (tests/test_customer_deletion_worker.py): the customer; two
    # subscriptions terminated and the pending one canceled; two termination drafts, then four
    # invoices finalized (last month's two drafts and the two termination invoices); the credit
    # note for the unused part of sub_advance's fee; the wallet's payments and the voided rest; the
    # wallet. Coupons have no message type.
    counts = Counter(webhook_type for webhook_type, _ in expected)
    payments = WalletTransaction.objects.filter(wallet__customer=customer, transaction_status="invoiced").exclude(
        pk__in=before.wallet_transactions
    )
    assert payments.exists()
    assert counts == {
        "customer.deleted": 1,
        "subscription.terminated": 2,
        "subscription.canceled": 1,
        "invoice.drafted": 2,
        "invoice.created": 4,
        "credit_note.created": 1,
        "wallet_transaction.created": payments.count() + 1,  # the payments and the voided rest
        "wallet.terminated": 1,
    }
