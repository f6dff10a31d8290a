"""Deleting a customer end to end with a real Celery worker against Redis (not eager mode), issue 12.

A customer that has everything is deleted through `delete_customer`, committed; the cascade runs in
`celery -A billing worker` subprocesses on the test database (as in tests/test_celery_worker.py,
whose helpers this reuses), consuming a queue of their own on a Redis database of their own. Three
runs of the same scenario, each in an organization of its own:

a. undisturbed: the final state, recorded as a canonical snapshot (ids mapped to stable labels);
b. the worker killed with SIGKILL half-way through step 2 (deterministically: a worker started for
   this test stalls right after the cascade has finalized its first draft; nothing in the app knows),
   a new worker started, the clock's resume finishing the job;
c. the broker down when the deletion commits: the deletion stands, nothing happens until the clock
   sends the cascade again with the broker back.

b and c must end in the snapshot of a, and nothing may exist twice. Every wait polls the database
(or the worker's log) with a deadline; no fixed sleep decides anything.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.db.models import Sum
from django.utils import timezone

from billing.celery import app
from coupons.models import AppliedCoupon
from coupons.services import apply_coupon, create_coupon
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from events.tests.factories import send_events
from invoicing.credit_notes import create_credit_note
from invoicing.customer_deletion import RESUME_AFTER, delete_customer, resume_customer_deletions
from invoicing.lifecycle import update_invoice
from invoicing.models import (
    CouponCredit,
    CreditNote,
    CreditNoteApplication,
    CustomerDeletion,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    InvoiceSubscription,
    InvoiceType,
)
from invoicing.numbering import invoice_prefix
from invoicing.prepaid_credits import TopUp, create_wallet
from invoicing.services import bill_subscription, finalize_invoice
from invoicing.subscriptions import create_subscription
from invoicing.tasks import resume_customer_deletions_task
from organizations.tests.factories import OrganizationFactory
from plans.models import Subscription
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory
from tests.test_celery_worker import BROKER_URL as CONFIGURED_BROKER_URL
from tests.test_celery_worker import CELERY, PROJECT_ROOT, worker_database_url
from wallets.models import Wallet, WalletTransaction

PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
# Database 11 of the configured Redis: this file's own, nothing else consumes or flushes it.
BROKER_URL = urlunsplit(urlsplit(CONFIGURED_BROKER_URL)._replace(path="/11"))
TIMEOUT = 30.0

pytestmark = pytest.mark.django_db(transaction=True)

# The worker of run b: the app's own worker, except that the cascade's step 2 stalls once it has
# finalized (and committed) its first draft, so that the SIGKILL lands at a known point: step 1
# recorded done, step 2 half-done, nothing recorded after. The app is not changed: this replaces
# `finalize_invoice` as `invoicing.customer_deletion` sees it, in this worker process only.
STALLING_WORKER = """
import signal
import sys

import django

django.setup()
from invoicing import customer_deletion

finalize = customer_deletion.finalize_invoice


def finalize_then_stall(**kwargs):
    invoice = finalize(**kwargs)
    print(f"stalled after finalizing draft {invoice.pk}", flush=True)
    signal.pause()  # until the test kills this worker: the cascade stops here
    return invoice


customer_deletion.finalize_invoice = finalize_then_stall
from billing.celery import app

app.worker_main(sys.argv[1:])
"""


# Workers ------------------------------------------------------------------------------------------


class Worker:
    """`celery -A billing worker -c 1` in a session (process group) of its own, so that SIGKILL can
    take the main process and its pool child at once, as a killed container would."""

    def __init__(self, queue: str, *, stalling: bool = False):
        self.log = tempfile.NamedTemporaryFile(prefix="deletion_worker_", suffix=".log", delete=False)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=worker_database_url(),
            CELERY_BROKER_URL=BROKER_URL,
            REDIS_URL=BROKER_URL,
            CELERY_TASK_ALWAYS_EAGER="false",
            DJANGO_SETTINGS_MODULE="billing.settings",
            SECRET_KEY=os.environ.get("SECRET_KEY") or "celery-worker-test",
            DEBUG="false",
            PYTHONUNBUFFERED="1",
        )
        env.pop("TEST_DATABASE_NAME", None)  # the worker uses DATABASE_URL's database as it is
        command = [str(PYTHON), "-c", STALLING_WORKER] if stalling else [str(CELERY), "-A", "billing"]
        self.process = subprocess.Popen(
            [
                *command,
                "worker",
                "--pool=prefork",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                queue,
                "-n",
                f"{queue}-{uuid.uuid4().hex[:4]}@%h",
                "-l",
                "info",  # each task's "succeeded" line: the broker-down run waits on one
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def check_alive(self, what: str) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"the worker exited ({self.process.returncode}) before {what}:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL to the worker's whole process group: no warm shutdown, no ack, no cleanup."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the running task
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class Workers:
    """The workers one test starts; all stopped at its end, their output shown if it failed."""

    def __init__(self, queue: str):
        self.queue = queue
        self.started: list[Worker] = []

    def start(self, *, stalling: bool = False) -> Worker:
        worker = Worker(self.queue, stalling=stalling)
        self.started.append(worker)
        return worker

    def output(self) -> str:
        return "\n".join(f"--- worker {index} ---\n{worker.output()}" for index, worker in enumerate(self.started))

    def wait_for(self, condition: Callable[[], bool], what: str, worker: Worker) -> None:
        """Poll until `condition` holds, with a deadline; fail with the workers' output otherwise."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if condition():
                return
            worker.check_alive(what)
            time.sleep(0.1)
        pytest.fail(f"timed out after {TIMEOUT:.0f} s waiting for {what}; workers' output:\n{self.output()}")


def forget_unacked(queue: str) -> None:
    """Drop what a killed worker left unacknowledged for `queue` in the broker (kombu keeps it in
    `unacked` and restores it after the visibility timeout, an hour, into a queue nobody reads)."""
    broker = redis.Redis.from_url(BROKER_URL)
    try:
        for tag, entry in broker.hscan_iter("unacked"):
            if queue.encode() in entry:
                broker.hdel("unacked", tag)
                broker.zrem("unacked_index", tag)
    finally:
        broker.close()


def use_broker(url: str) -> None:
    """Send this process's tasks to `url`. Celery reads the CELERY_BROKER_URL variable before its
    `broker_url` setting, so both change; and since `app.close()` drops the connection pool but not
    the producer pool bound to the former broker (Celery 5.7), that one is dropped too, as Celery
    itself does after a fork."""
    app.close()
    app.amqp._producer_pool = None
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url


@pytest.fixture(scope="module")
def queue(django_db_setup):
    """The test process enqueues to the workers' broker and queue; the app's settings come back after."""
    name = f"test-deletion-{uuid.uuid4().hex[:12]}"
    saved_variable = os.environ.get("CELERY_BROKER_URL")
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_default_queue")}
    use_broker(BROKER_URL)
    app.conf.update(task_always_eager=False, task_default_queue=name)
    yield name
    forget_unacked(name)
    broker = redis.Redis.from_url(BROKER_URL)
    broker.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    broker.close()
    app.close()
    app.amqp._producer_pool = None
    if saved_variable is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = saved_variable
    app.conf.update(saved)


@pytest.fixture
def workers(queue, request):
    failures_before = request.session.testsfailed
    started = Workers(queue)
    try:
        yield started
    finally:
        if request.session.testsfailed > failures_before:
            sys.stderr.write(f"celery workers' output:\n{started.output()}\n")
        for worker in started.started:
            worker.stop()
            Path(worker.log.name).unlink(missing_ok=True)


# The customer that has everything ---------------------------------------------------------------


def month_start(offset: int) -> datetime:
    """Midnight UTC on the first day of the month `offset` months from this one."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 + offset
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def customer_with_everything(run: str) -> Customer:
    """Built through the services, in an organization of its own (numbers start at 1 in each run):

    - `sub_arrears`: 100.00 a month in arrears + 0.50 per API call, since last month; 10 calls last
      month, 6 this month; last month's invoice is a draft (the customer's grace period is 3 days);
    - `sub_advance`: 30.00 a month paid in advance, since last month: its start invoice finalized,
      with a credit note of 5.00; this month's fee invoiced in advance on a second draft;
    - `sub_pending`: starts next month;
    - a 10 % forever coupon and a 15.00 once coupon;
    - a wallet of 300 granted credits and 100 paid ones (a credit invoice, paid, so settled).
    """
    organization = OrganizationFactory(name=f"Deletion {run} {uuid.uuid4().hex[:6]}", invoice_grace_period_days=0)
    customer = CustomerFactory(
        organization=organization,
        external_id="cust_everything",
        timezone="UTC",
        currency="EUR",
        invoice_grace_period=3,
    )
    calls = BillableMetricFactory(
        organization=organization, code="api_calls", name="API calls", aggregation_type="count_agg", field_name=None
    )
    arrears = PlanFactory(
        organization=organization, code="arrears", name="Arrears", amount_cents=10000, amount_currency="EUR"
    )
    ChargeFactory(plan=arrears, billable_metric=calls, properties={"amount": "0.5"})
    PlanFactory(
        organization=organization,
        code="advance",
        name="Advance",
        amount_cents=3000,
        amount_currency="EUR",
        pay_in_advance=True,
    )
    previous, current, following = month_start(-1), month_start(0), month_start(1)

    def subscribe(plan_code: str, external_id: str, at: datetime) -> Subscription:
        subscription, created = create_subscription(
            organization=organization,
            data={
                "external_customer_id": customer.external_id,
                "plan_code": plan_code,
                "external_id": external_id,
                "subscription_at": at,
                "billing_time": "calendar",
            },
        )
        assert created
        return subscription

    in_arrears = subscribe("arrears", "sub_arrears", previous)
    in_advance = subscribe("advance", "sub_advance", previous)
    pending = subscribe("arrears", "sub_pending", following)
    assert (in_arrears.status, in_advance.status, pending.status) == ("active", "active", "pending")

    # sub_advance's start invoice was a draft (grace period): finalized as the clock would have, then
    # given a credit note, still available.
    start = Invoice.objects.get(invoice_subscriptions__subscription=in_advance)
    start = finalize_invoice(invoice=start, at=previous + timedelta(days=3))
    assert (start.status, start.total_amount_cents) == ("finalized", 3000)
    create_credit_note(
        invoice=start,
        reason="other",
        items=[{"fee_id": str(start.fees.get().pk), "amount_cents": 500}],
        credit_amount_cents=500,
    )

    now = timezone.now()
    recent = max(current, now - timedelta(hours=1))
    send_events(in_arrears, [("api_calls", previous + timedelta(hours=hour + 1), {}) for hour in range(10)])
    send_events(
        in_arrears,
        [("api_calls", recent + (now - recent) * (number + 1) / 8, {}) for number in range(6)],
        first_index=10,
    )

    # Last month closed: two drafts, waiting for the end of the customer's grace period.
    for subscription in (in_arrears, in_advance):
        draft = bill_subscription(
            subscription=subscription,
            reason="subscription_periodic",
            period=period_of(subscription, previous),
            at=current,
        )
        assert draft is not None and draft.status == "draft"

    wallet = create_wallet(
        customer=customer,
        rate_amount=Decimal(1),
        name="Prepaid",
        top_up=TopUp(granted_credits=Decimal(300), paid_credits=Decimal(100)),
    )
    update_invoice(
        invoice=Invoice.objects.get(invoice_type=InvoiceType.CREDIT, customer=customer), payment_status="succeeded"
    )
    wallet.refresh_from_db()
    assert wallet.balance_cents == 40000

    common = {"frequency": "forever", "expiration": "no_expiration"}
    percent = create_coupon(
        organization=organization,
        data={"name": "Ten percent", "code": "ten_percent", "coupon_type": "percentage", "percentage_rate": 10}
        | common,
    )
    once = create_coupon(
        organization=organization,
        data={"name": "Welcome", "code": "welcome", "coupon_type": "fixed_amount", "amount_cents": 1500}
        | {"amount_currency": "EUR", **common, "frequency": "once"},
    )
    apply_coupon(customer=customer, coupon=percent)
    apply_coupon(customer=customer, coupon=once)

    assert Invoice.objects.filter(customer=customer, status=InvoiceStatus.DRAFT).count() == 2
    assert CreditNote.objects.filter(customer=customer).count() == 1
    return customer


# The final state, canonical ----------------------------------------------------------------------


def snapshot(customer: Customer) -> dict:
    """Everything the cascade wrote or changed for `customer`, ids replaced by stable labels
    (subscriptions and coupons by their codes, invoices by reason, subscription and period) and
    numbers by their organization-free form."""
    prefix = invoice_prefix(customer.organization)

    def number(value: str | None) -> str | None:
        return value.replace(prefix, "ORG", 1) if value else value

    invoices = list(Invoice.objects.filter(customer=customer).order_by("sequential_id", "created_at", "pk"))
    links = {link.invoice_id: link for link in InvoiceSubscription.objects.filter(invoice__customer=customer)}
    externals = dict(Subscription.objects.filter(customer=customer).values_list("pk", "external_id"))

    def label_of(invoice: Invoice) -> str:
        link = links.get(invoice.pk)
        if link is None:
            return invoice.invoice_type
        return f"{link.invoicing_reason}:{externals[link.subscription_id]}:{link.period_start:%Y-%m}"

    labels = {invoice.pk: label_of(invoice) for invoice in invoices}
    assert len(set(labels.values())) == len(labels), labels
    notes = list(CreditNote.objects.filter(customer=customer).order_by("created_at", "pk"))
    note_labels = {note.pk: number(note.number) for note in notes}
    coupon_codes = dict(AppliedCoupon.objects.filter(customer=customer).values_list("pk", "coupon__code"))
    wallet = Wallet.objects.get(customer=customer)
    return {
        "subscriptions": {
            subscription.external_id: (
                subscription.status,
                subscription.terminated_at is not None,
                subscription.canceled_at is not None,
            )
            for subscription in Subscription.objects.filter(customer=customer)
        },
        "invoices": [
            {
                "label": labels[invoice.pk],
                "type": invoice.invoice_type,
                "status": invoice.status,
                "payment_status": invoice.payment_status,
                "sequential_id": invoice.sequential_id,
                "number": number(invoice.number),
                "fees": invoice.fees_amount_cents,
                "coupons": invoice.coupons_amount_cents,
                "credit_notes": invoice.credit_notes_amount_cents,
                "prepaid_credits": invoice.prepaid_credit_amount_cents,
                "total": invoice.total_amount_cents,
                "fee_rows": sorted(
                    (fee.fee_type, fee.description, fee.amount_cents, fee.coupons_amount_cents, format(fee.units, "f"))
                    for fee in invoice.fees.all()
                ),
            }
            for invoice in invoices
        ],
        "credit_notes": [
            {
                "number": note_labels[note.pk],
                "invoice": labels[note.invoice_id],
                "reason": note.reason,
                "status": note.status,
                "credit_status": note.credit_status,
                "credit": note.credit_amount_cents,
                "refund": note.refund_amount_cents,
                "balance": note.balance_amount_cents,
                "total": note.total_amount_cents,
                "items": sorted(item.amount_cents for item in note.items.all()),
            }
            for note in notes
        ],
        "credit_note_applications": sorted(
            (note_labels[application.credit_note_id], labels[application.invoice_id], application.amount_cents)
            for application in CreditNoteApplication.objects.filter(invoice__customer=customer)
        ),
        "coupon_credits": sorted(
            (coupon_codes[credit.applied_coupon_id], labels[credit.invoice_id], credit.amount_cents)
            for credit in CouponCredit.objects.filter(invoice__customer=customer)
        ),
        "applied_coupons": {
            coupon_codes[applied.pk]: (
                applied.status,
                applied.amount_cents_remaining,
                applied.terminated_at is not None,
            )
            for applied in AppliedCoupon.objects.filter(customer=customer)
        },
        "wallet": {
            "status": wallet.status,
            "balance_cents": wallet.balance_cents,
            "credits_balance": format(wallet.credits_balance, "f"),
            "consumed_amount_cents": wallet.consumed_amount_cents,
            "consumed_credits": format(wallet.consumed_credits, "f"),
        },
        "wallet_transactions": [
            (
                row.transaction_type,
                row.transaction_status,
                row.status,
                row.amount_cents,
                format(row.credit_amount, "f"),
                labels.get(row.invoice_id),
            )
            # A purchase and a grant made together share their time: ordered by kind among equals.
            for row in WalletTransaction.objects.filter(wallet=wallet).order_by(
                "created_at", "transaction_type", "transaction_status", "amount_cents"
            )
        ],
        "last_sequential_id": InvoiceSequence.objects.get(organization=customer.organization).last_sequential_id,
    }


def assert_done_once(customer: Customer, final: dict) -> None:
    """The cascade finished, and nothing exists twice."""
    deletion = CustomerDeletion.objects.get(customer=customer)
    assert deletion.finished_at is not None and deletion.last_error is None
    assert None not in (deletion.subscriptions_done_at, deletion.drafts_done_at)
    assert None not in (deletion.coupons_done_at, deletion.wallet_done_at)
    assert final["subscriptions"] == {
        "sub_arrears": ("terminated", True, False),
        "sub_advance": ("terminated", True, False),
        "sub_pending": ("canceled", False, True),
    }
    # Every invoice finalized, numbered 1..N without a gap or a repeat, the sequence at N.
    invoices = final["invoices"]
    assert {invoice["status"] for invoice in invoices} == {"finalized"}
    assert [invoice["sequential_id"] for invoice in invoices] == list(range(1, len(invoices) + 1))
    assert len({invoice["number"] for invoice in invoices}) == len(invoices)
    assert final["last_sequential_id"] == len(invoices)
    # One termination invoice per terminated subscription, none for the canceled one; the start, the
    # two closed periods and the credit invoice, once each.
    month, last_month = f"{month_start(0):%Y-%m}", f"{month_start(-1):%Y-%m}"
    assert sorted(invoice["label"] for invoice in invoices) == sorted(
        [
            "credit",
            f"subscription_starting:sub_advance:{last_month}",
            f"subscription_periodic:sub_advance:{last_month}",
            f"subscription_periodic:sub_arrears:{last_month}",
            f"subscription_terminating:sub_advance:{month}",
            f"subscription_terminating:sub_arrears:{month}",
        ]
    )
    terminating = InvoiceSubscription.objects.filter(
        subscription__customer=customer, invoicing_reason="subscription_terminating"
    )
    assert sorted(terminating.values_list("subscription__external_id", flat=True)) == ["sub_advance", "sub_arrears"]
    # The credit note given by hand, and one for the unused part of sub_advance's fee paid in advance.
    notes = final["credit_notes"]
    assert sorted(note["reason"] for note in notes) == ["order_cancellation", "other"]
    assert [note["invoice"] for note in notes if note["reason"] == "order_cancellation"] == [
        f"subscription_periodic:sub_advance:{last_month}"
    ]
    assert len({note["number"] for note in notes}) == len(notes)
    # Every coupon ended; the wallet terminated, what was left voided once, the books balanced.
    assert {status for status, _, ended in final["applied_coupons"].values()} == {"terminated"}
    assert all(ended for _, _, ended in final["applied_coupons"].values())
    assert final["wallet"]["status"] == "terminated" and final["wallet"]["balance_cents"] == 0
    voided = [row for row in final["wallet_transactions"] if row[1] == "voided"]
    assert len(voided) == 1 and voided[0][3] > 0
    spent = [row for row in final["wallet_transactions"] if row[1] == "invoiced"]
    assert len({row[5] for row in spent}) == len(spent)  # one payment per invoice at most
    wallet = Wallet.objects.get(customer=customer)
    settled = WalletTransaction.objects.filter(wallet=wallet, status="settled")
    inbound = settled.filter(transaction_type="inbound").aggregate(total=Sum("amount_cents"))["total"]
    outbound = settled.filter(transaction_type="outbound").aggregate(total=Sum("amount_cents"))["total"]
    assert inbound == outbound == 40000


# Runs ----------------------------------------------------------------------------------------------

_undisturbed: dict[date, dict] = {}  # the undisturbed run's snapshot, per day (proration counts days)


def finished(deletion: CustomerDeletion) -> Callable[[], bool]:
    return lambda: CustomerDeletion.objects.filter(pk=deletion.pk, finished_at__isnull=False).exists()


def undisturbed_run(workers: Workers) -> tuple[Customer, dict]:
    worker = workers.start()
    customer = customer_with_everything("a")
    day = timezone.now().date()
    delete_customer(customer=customer)  # committed: the cascade's task is sent now
    deletion = CustomerDeletion.objects.get(customer=customer)
    workers.wait_for(finished(deletion), "the cascade to finish", worker)
    worker.stop()  # the queue is the next run's
    final = snapshot(customer)
    if timezone.now().date() == day:
        _undisturbed[day] = final
    return customer, final


def undisturbed_snapshot(workers: Workers) -> dict:
    """Run a's snapshot for today: run a again if it has not run today (alone, or across midnight)."""
    day = timezone.now().date()
    if day not in _undisturbed:
        undisturbed_run(workers)
    return _undisturbed[day]


def test_undisturbed_cascade_on_a_real_worker(workers):
    customer, final = undisturbed_run(workers)
    assert CustomerDeletion.objects.get(customer=customer).attempts == 1
    assert_done_once(customer, final)
    # The figures of the scenario (see customer_with_everything), whatever day it runs.
    by_label = {invoice["label"]: invoice for invoice in final["invoices"]}
    last_month = f"{month_start(-1):%Y-%m}"
    advance = by_label[f"subscription_periodic:sub_advance:{last_month}"]
    # Finalized first, at sub_advance's termination: both coupons, then the 5.00 credit note.
    assert (advance["fees"], advance["coupons"], advance["credit_notes"]) == (3000, 1800, 500)
    arrears = by_label[f"subscription_periodic:sub_arrears:{last_month}"]
    assert (arrears["fees"], arrears["coupons"]) == (10500, 1050)  # 100.00 + 10 calls; 10 % only
    assert final["applied_coupons"]["welcome"] == ("terminated", 0, True)  # used up on the first invoice
    for invoice in final["invoices"]:
        if invoice["label"].split(":")[0] in ("subscription_periodic", "subscription_terminating"):
            assert invoice["total"] == 0  # the wallet pays all that coupons and credit notes leave
    for problem in ("ERROR", "Traceback"):
        assert problem not in workers.output()


def test_a_worker_killed_half_way_then_the_clock_finishes_the_same_cascade(workers):
    expected = undisturbed_snapshot(workers)
    stalling = workers.start(stalling=True)
    customer = customer_with_everything("b")
    delete_customer(customer=customer)
    deletion = CustomerDeletion.objects.get(customer=customer)
    drafts = Invoice.objects.filter(customer=customer, status=InvoiceStatus.DRAFT)

    # Step 1 leaves three drafts (last month's in arrears and the two termination invoices): the
    # cascade is in the middle of step 2 once one of them is finalized.
    def half_way() -> bool:
        deletion.refresh_from_db()
        return deletion.subscriptions_done_at is not None and drafts.count() == 2

    workers.wait_for(half_way, "step 1 recorded done and the first draft of step 2 finalized", stalling)
    workers.wait_for(lambda: "stalled after finalizing" in stalling.output(), "the worker to stall", stalling)
    stalling.kill()
    deletion.refresh_from_db()
    assert deletion.drafts_done_at is None and deletion.finished_at is None
    assert (deletion.attempts, drafts.count()) == (1, 2)

    worker = workers.start()  # the replacement; the killed worker's message stays unacknowledged
    now = timezone.now()
    # The clock leaves a cascade alone while its last attempt may still be running...
    assert resume_customer_deletions(at=now) == 0
    # ...and sends it again once that attempt is older than RESUME_AFTER.
    assert resume_customer_deletions(at=now + RESUME_AFTER + timedelta(minutes=1)) == 1
    workers.wait_for(finished(deletion), "the resumed cascade to finish", worker)
    final = snapshot(customer)
    assert CustomerDeletion.objects.get(pk=deletion.pk).attempts == 2
    assert_done_once(customer, final)
    assert final == expected


def test_broker_down_at_the_deletion_then_the_clock_finishes_the_same_cascade(workers, queue, caplog):
    expected = undisturbed_snapshot(workers)
    worker = workers.start()
    customer = customer_with_everything("c")
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    use_broker(f"redis://127.0.0.1:{dead_port}/11")  # connection refused
    try:
        with caplog.at_level(logging.ERROR, logger="billing.jobs"):
            delete_customer(customer=customer)  # commits; the send fails and is logged, not raised
    finally:
        use_broker(BROKER_URL)
    assert "could not enqueue invoicing.tasks.run_customer_deletion_task" in caplog.text
    # The deletion stands (the API answers 200 on it).
    assert Customer.objects.get(pk=customer.pk).deleted_at is not None
    assert not Customer.live.filter(pk=customer.pk).exists()
    deletion = CustomerDeletion.objects.get(customer=customer)

    # Nothing happens: the worker, alive and consuming, runs the clock's own task (the beat's), which
    # leaves a cascade younger than RESUME_AFTER alone; by then nothing of the cascade has been done.
    sentinel = resume_customer_deletions_task.delay()
    done = f"resume_customer_deletions_task[{sentinel.id}] succeeded"
    workers.wait_for(lambda: done in worker.output(), "the clock task to run on the worker", worker)
    line = next(line for line in worker.output().splitlines() if done in line)
    assert line.rstrip().endswith(": 0"), line
    deletion.refresh_from_db()
    assert (deletion.attempts, deletion.last_attempt_at, deletion.subscriptions_done_at) == (0, None, None)
    assert Subscription.objects.filter(customer=customer, status="active").count() == 2
    assert Invoice.objects.filter(customer=customer, status=InvoiceStatus.DRAFT).count() == 2
    assert redis.Redis.from_url(BROKER_URL).llen(queue) == 0

    # The clock, minutes later, with the broker back.
    assert resume_customer_deletions(at=timezone.now() + RESUME_AFTER + timedelta(minutes=1)) == 1
    workers.wait_for(finished(deletion), "the resumed cascade to finish", worker)
    final = snapshot(customer)
    assert CustomerDeletion.objects.get(pk=deletion.pk).attempts == 1
    assert_done_once(customer, final)
    assert final == expected
