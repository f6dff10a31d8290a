"""A real Celery worker process against Redis (not eager mode) runs the billing clock's tasks.

The worker is `celery -A billing worker` in a subprocess, on the test database (the tests are
`transaction=True`, so what they create is committed and visible to it), consuming a queue of its
own so that parallel runs on the same Redis never take each other's tasks. The test process
enqueues to the same broker.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from billing.celery import app
from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.models import Invoice, InvoiceSequence, InvoiceStatus, InvoiceSubscription
from invoicing.tasks import bill_period_task, finalize_invoice_task, run_billing_clock_task
from organizations.tests.factories import OrganizationFactory
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CELERY = PROJECT_ROOT / ".venv" / "bin" / "celery"
BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
TIMEOUT = 30.0

pytestmark = pytest.mark.django_db(transaction=True)


def months_ago(months: int) -> datetime:
    """Midnight UTC on the first day of the month `months` before this one: periods clearly ended."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def worker_database_url() -> str:
    """The test database, as the worker's DATABASE_URL."""
    settings = connection.settings_dict
    user = quote(settings["USER"] or "postgres")
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


class Worker:
    """`celery -A billing worker` in a subprocess, its output kept in a file for failure reports."""

    def __init__(self, queue: str):
        self.queue = queue
        self.log = tempfile.NamedTemporaryFile(prefix="celery_worker_", suffix=".log", delete=False)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=worker_database_url(),
            CELERY_BROKER_URL=BROKER_URL,
            REDIS_URL=BROKER_URL,
            CELERY_TASK_ALWAYS_EAGER="false",
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
                "2",  # two processes: the duplicate tasks below really can run at the same time
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "-l",
                "info",  # each task's "succeeded" line: the tests wait for the duplicates to have run
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the running task
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def finished(self, task_name: str) -> list[str]:
        """The ids of the tasks named `task_name` the worker has finished, as its log reports them."""
        return re.findall(rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] (?:succeeded|raised)", self.output())

    def wait_until_run(self, task_name: str, count: int, *, before: int = 0) -> None:
        """Wait until the worker has finished `count` more tasks named `task_name` than the `before` it
        had finished (duplicates included): a test of "once" then checks the state after the
        duplicates did, or did not do, their damage."""
        self.wait_for(lambda: len(self.finished(task_name)) >= before + count, f"{count} runs of {task_name}")
        raised = re.findall(rf"Task {re.escape(task_name)}\[[0-9a-f-]+\] raised[^\n]*", self.output())
        assert not raised, raised

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Poll the database until `condition` holds; fail with the worker's output otherwise."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited ({self.process.returncode}) before {what}:\n{self.output()}")
            time.sleep(0.2)
        pytest.fail(f"timed out after {TIMEOUT:.0f} s waiting for {what}; worker output:\n{self.output()}")


@pytest.fixture(scope="module")
def queue(django_db_setup):
    """The test process enqueues to the worker's broker and queue; the app's settings come back after."""
    name = f"test-billing-{uuid.uuid4().hex[:12]}"
    changes = {
        "broker_url": BROKER_URL,
        "task_always_eager": False,
        # run_billing_clock_task enqueues with .delay(): from this process, to the worker's queue.
        "task_default_queue": name,
    }
    saved = {key: app.conf[key] for key in changes}
    app.close()  # a producer pool made for another broker must not be reused
    app.conf.update(changes)
    yield name
    # The queue and its bindings (and leftovers of a failed run) must not pile up in Redis.
    broker = redis.Redis.from_url(BROKER_URL)
    broker.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    broker.close()
    app.close()
    app.conf.update(saved)


@pytest.fixture(scope="module")
def worker(queue, request):
    failures_before = request.session.testsfailed
    process = Worker(queue)
    try:
        yield process
    finally:
        if request.session.testsfailed > failures_before:
            sys.stderr.write(f"celery worker output:\n{process.output()}\n")
        process.stop()


def subscription_with_usage(*, grace_period_days: int, started: datetime):
    """A calendar subscription on a 10 EUR plan with one 1-cent-per-unit sum charge, and usage."""
    organization = OrganizationFactory(name=f"Worker {uuid.uuid4().hex[:6]}", invoice_grace_period_days=0)
    customer = CustomerFactory(organization=organization, invoice_grace_period=grace_period_days)
    plan = PlanFactory(organization=organization, amount_cents=1000, amount_currency="EUR")
    metric = BillableMetricFactory(organization=organization, code="units", aggregation_type="sum_agg")
    ChargeFactory(plan=plan, billable_metric=metric, charge_model="standard", properties={"amount": "0.01"})
    subscription = SubscriptionFactory(customer=customer, plan=plan, subscription_at=started, started_at=started)
    send_events(subscription, [("units", started + timedelta(days=number + 1), {"units": 25}) for number in range(4)])
    return subscription


def test_a_draft_is_billed_then_finalized_by_the_worker_once(worker, queue):
    started = months_ago(2)
    subscription = subscription_with_usage(grace_period_days=3, started=started)
    period_start = started.isoformat()
    billed_before = len(worker.finished(bill_period_task.name))
    finalized_before = len(worker.finished(finalize_invoice_task.name))

    # The same period twice: a retried task, or a second clock run, at the same time.
    for _ in range(2):
        bill_period_task.apply_async((str(subscription.pk), period_start), queue=queue)
    links = InvoiceSubscription.objects.filter(subscription=subscription)
    worker.wait_for(lambda: links.exists(), "the invoice of the ended period")
    worker.wait_until_run(bill_period_task.name, 2, before=billed_before)  # the duplicate has run too
    assert links.count() == 1
    invoice = Invoice.objects.get(invoice_subscriptions__subscription=subscription)
    assert invoice.status == InvoiceStatus.DRAFT  # a grace period of 3 days keeps it a draft
    assert invoice.sequential_id is None
    assert links.get().period_start == started
    fees = sorted((fee.fee_type, fee.amount_cents) for fee in invoice.fees.all())
    assert fees == [("charge", 100), ("subscription", 1000)]  # 4 events x 25 units x 1 cent + the base fee

    for _ in range(2):
        finalize_invoice_task.apply_async((str(invoice.pk),), queue=queue)
    worker.wait_for(
        lambda: Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.FINALIZED).exists(),
        "the invoice to be finalized",
    )
    worker.wait_until_run(finalize_invoice_task.name, 2, before=finalized_before)
    invoice.refresh_from_db()
    assert invoice.sequential_id == 1
    assert invoice.number.endswith("-000001")
    assert invoice.total_amount_cents == 1100
    assert InvoiceSequence.objects.get(organization_id=invoice.organization_id).last_sequential_id == 1
    assert Invoice.objects.filter(organization_id=invoice.organization_id).count() == 1


def test_the_billing_clock_invoices_every_ended_period_once(worker, queue):
    started = months_ago(2)
    subscription = subscription_with_usage(grace_period_days=0, started=started)

    billed_before = len(worker.finished(bill_period_task.name))
    # Two clock runs in a row: the second one may enqueue the same periods again before the
    # worker has billed them.
    first = run_billing_clock_task.apply().get()
    second = run_billing_clock_task.apply().get()
    assert first == {"periods": 2, "drafts": 0}
    assert second["periods"] <= 2

    links = InvoiceSubscription.objects.filter(subscription=subscription)
    finalized = Invoice.objects.filter(invoice_subscriptions__subscription=subscription, status=InvoiceStatus.FINALIZED)
    worker.wait_for(lambda: finalized.count() >= 2, "both ended periods to be invoiced and finalized")
    # Every task the two runs sent has run, duplicates included.
    worker.wait_until_run(bill_period_task.name, first["periods"] + second["periods"], before=billed_before)
    assert sorted(link.period_start for link in links) == [started, months_ago(1)]
    invoices = Invoice.objects.filter(organization_id=subscription.organization_id)
    assert invoices.count() == 2
    assert sorted(invoices.values_list("sequential_id", flat=True)) == [1, 2]  # no gap, no duplicate
    # The clock has nothing left to do.
    assert run_billing_clock_task.apply().get() == {"periods": 0, "drafts": 0}
