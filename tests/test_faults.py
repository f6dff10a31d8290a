"""Faults with real services (issue 15): PostgreSQL restarted under event traffic, Redis stopped while
staff and API work, a Celery worker killed with SIGKILL in the middle of a billing run.

The shared servers on 5432 and 6379 are never touched: this module starts a PostgreSQL cluster and a
Redis of its own on free loopback ports (tests/private_services.py), migrates a database there, and
runs the app as in production, in subprocesses configured by environment variables: gunicorn and
Celery workers. The data each scenario needs is written by the app's services in a subprocess on the
private database (`call`); what the scenario proves is read back with plain SQL. Every wait polls
state (answers, rows, the worker's log) with a deadline; no fixed sleep decides anything.
"""

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis
import time_machine
from django.conf import settings
from django.utils import timezone
from psycopg.rows import namedtuple_row

from benchmarks.common import Gunicorn, free_port
from billing.jobs import task_named
from customers.models import Customer
from customers.services import create_customer, recount_live_customers
from events.services import ingest_events
from invoicing.subscriptions import create_subscription
from organizations.models import Organization
from organizations.services import create_api_key, create_organization, create_staff_user
from plans.models import Plan, Subscription, SubscriptionStatus
from plans.services import create_billable_metric, create_plan
from tests.private_services import (
    PrivatePostgres,
    PrivateRedis,
    TaskSender,
    Worker,
    app_env,
    call,
    manage,
    wait_until,
)

DATABASE = "billing"
STAFF_PASSWORD = "faults-staff-password-1"
PLAN_AMOUNT_CENTS = 1000


# Private servers, shared by the module's scenarios -------------------------------------------------


@pytest.fixture(scope="module")
def redis_server():
    """The private Redis: the app's broker and the rate limiter's counters."""
    server = PrivateRedis()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def postgres(redis_server):
    """The private cluster with the app's database migrated (once per module: about 6 s)."""
    server = PrivatePostgres()
    try:
        server.pg_ctl("start")
        server.create_database(DATABASE)
        manage(app_env(server, DATABASE, redis_server), "migrate", "--no-input", "-v", "0")
        yield server
    finally:
        server.destroy()


@pytest.fixture
def gunicorn_factory(request):
    """Starts gunicorn on the private servers; stops every one started, showing its log on failure."""
    started: list[Gunicorn] = []
    failures_before = request.session.testsfailed

    def start(env: dict[str, str], workers: int = 2) -> Gunicorn:
        server = Gunicorn(label="faults", env=env, port=free_port(), workers=workers)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()
        log = Path(server.log.name)
        if request.session.testsfailed > failures_before:
            print(f"--- gunicorn log ---\n{log.read_text(errors='replace')}")
        log.unlink(missing_ok=True)


@pytest.fixture
def workers(request):
    """Starts Celery workers; stops every one started, showing their logs on failure."""
    started: list[Worker] = []
    failures_before = request.session.testsfailed

    def start(env: dict[str, str], *, queues: str = "celery", concurrency: int = 2) -> Worker:
        worker = Worker(env, queues=queues, concurrency=concurrency, label="faults")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if request.session.testsfailed > failures_before:
            print(f"--- worker {worker.name} ---\n{worker.output()}")
        worker.stop()


# Data, written by the services in a subprocess on the private database ----------------------------


def month_start(offset: int) -> datetime:
    """Midnight UTC on the first day of the month `offset` months from this one."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 + offset
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def seed_tenant(*, name: str, api_key: str, subscriptions: int) -> dict:
    """An organization with an API key and a staff member, a count metric priced 0.01 EUR a call on a
    monthly 10 EUR plan in arrears, and `subscriptions` customers `cust-NNNN`, each with a subscription
    `sub-NNNN` that starts now. No grace period: an invoice is finalized when made. All through the
    services. Runs in a subprocess (`call`)."""
    organization, _ = create_organization(name=name, default_currency="EUR")
    create_api_key(organization=organization, raw_key=api_key)
    staff_email = f"staff-{organization.pk}@faults.test"
    create_staff_user(organization=organization, email=staff_email, password=STAFF_PASSWORD)
    metric = create_billable_metric(
        organization=organization, data={"code": "calls", "name": "Calls", "aggregation_type": "count_agg"}
    )
    plan = {"code": "monthly", "name": "Monthly", "interval": "monthly", "amount_cents": PLAN_AMOUNT_CENTS}
    charge = {"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "0.01"}}
    create_plan(organization=organization, data=plan | {"amount_currency": "EUR", "charges": [charge]})
    for number in range(subscriptions):
        create_customer(organization=organization, data={"external_id": f"cust-{number:04d}", "currency": "EUR"})
        data = {
            "external_customer_id": f"cust-{number:04d}",
            "plan_code": "monthly",
            "external_id": f"sub-{number:04d}",
        }
        create_subscription(organization=organization, data=data)
    return {"organization_id": str(organization.pk), "staff_email": staff_email}


def seed_billing_run(*, name: str, subscriptions: int, started: str) -> dict:
    """`seed_tenant`'s organization with `subscriptions` customers and subscriptions that started at
    `started` (rows written in bulk, as benchmarks/billing_bench.py does: the run is under test, not
    their creation); subscription n has n % 3 + 1 calls, sent through ingestion, the day after it
    started. Runs in a subprocess (`call`)."""
    tenant = seed_tenant(name=name, api_key=f"faults-run-{uuid.uuid4().hex}", subscriptions=0)
    organization = Organization.objects.get(pk=tenant["organization_id"])
    plan = Plan.objects.get(organization=organization, code="monthly")
    at = datetime.fromisoformat(started)
    customers = Customer.objects.bulk_create(
        Customer(organization=organization, external_id=f"cust-{number:04d}", currency="EUR")
        for number in range(subscriptions)
    )
    recount_live_customers(organization=organization)
    Subscription.objects.bulk_create(
        Subscription(
            organization=organization,
            customer=customer,
            plan=plan,
            external_id=f"sub-{number:04d}",
            status=SubscriptionStatus.ACTIVE,
            billing_time="calendar",
            subscription_at=at,
            started_at=at,
        )
        for number, customer in enumerate(customers)
    )
    timestamp = (at + timedelta(days=1)).timestamp()
    calls = [
        {"transaction_id": f"seed-{number}-{call}", "external_subscription_id": f"sub-{number:04d}"}
        | {"code": "calls", "timestamp": timestamp}
        for number in range(subscriptions)
        for call in range(number % 3 + 1)
    ]
    for first in range(0, len(calls), 100):
        ingest_events(organization=organization, raw_events=calls[first : first + 100], batch=True)
    return tenant


def run_beat_later(*, minutes: int) -> dict:
    """Every task of the beat's schedule, run once as the beat would send it `minutes` from now (the
    clock pinned there): what each returned. Runs in a subprocess (`call`)."""
    with time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=True):
        return {name: task_named(entry["task"]).apply().get() for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def api_client(server: Gunicorn, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0)


def event_body(transaction_ids: list[str], subscription: str) -> tuple[str, dict]:
    """The path and body of one event (one id) or of a batch."""
    events = [
        {"transaction_id": tid, "external_subscription_id": subscription, "code": "calls"} for tid in transaction_ids
    ]
    if len(events) == 1:
        return "/api/v1/events", {"event": events[0]}
    return "/api/v1/events/batch", {"events": events}


# 1. PostgreSQL restarted while events are sent -----------------------------------------------------

SENDER_THREADS = 3
BATCH_SIZE = 5
ANSWERS_AFTER_RESTART = 12  # per sender thread


@dataclass
class Answer:
    """One events request: what it carried, when it left, and what came back (status None: no answer)."""

    transaction_ids: list[str]
    started: float
    status: int | None
    body: bytes
    content_type: str = ""
    retry_after: str | None = None


class EventSenders:
    """Threads sending single events and batches of BATCH_SIZE in turn, each with unique transaction_ids,
    recording every answer, until stopped."""

    def __init__(self, server: Gunicorn, api_key: str, subscription: str) -> None:
        self.server, self.api_key, self.subscription = server, api_key, subscription
        self.answers: list[list[Answer]] = [[] for _ in range(SENDER_THREADS)]
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(number,)) for number in range(SENDER_THREADS)]

    def __enter__(self) -> "EventSenders":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _send(self, number: int) -> None:
        with api_client(self.server, self.api_key) as client:
            count = 0
            while not self.stopping.is_set():
                count += 1
                size = 1 if count % 2 else BATCH_SIZE
                ids = [f"restart-{number}-{count}-{index}" for index in range(size)]
                path, body = event_body(ids, self.subscription)
                started = time.monotonic()
                try:
                    response = client.post(path, json=body)
                except httpx.TransportError as error:
                    self.answers[number].append(Answer(ids, started, None, str(error).encode()))
                    continue
                answer = Answer(
                    ids,
                    started,
                    response.status_code,
                    response.content,
                    content_type=response.headers.get("content-type", ""),
                    retry_after=response.headers.get("retry-after"),
                )
                self.answers[number].append(answer)

    def each_has(self, count: int, condition: Callable[[Answer], bool]) -> bool:
        """Whether every thread has at least `count` answers that meet `condition`."""
        return all(sum(1 for answer in list(answers) if condition(answer)) >= count for answers in self.answers)

    def all(self) -> list[Answer]:
        return [answer for answers in self.answers for answer in answers]


def stored_events(postgres: PrivatePostgres, organization_id: str) -> dict[str, int]:
    with postgres.connect(DATABASE) as conn:
        rows = conn.execute(
            "SELECT transaction_id, count(*) FROM events_event WHERE organization_id = %s GROUP BY 1",
            (organization_id,),
        ).fetchall()
    return dict(rows)


def rolled_up_count(postgres: PrivatePostgres, organization_id: str) -> int:
    with postgres.connect(DATABASE) as conn:
        return conn.execute(
            "SELECT coalesce(sum(r.events_count), 0) FROM events_usagerollup r "
            "JOIN plans_subscription s ON s.id = r.subscription_id WHERE s.organization_id = %s",
            (organization_id,),
        ).fetchone()[0]


def describe(answer: Answer) -> str:
    return f"{answer.status} {answer.content_type} {answer.body[:300]!r}"


def test_postgres_restart_loses_no_acknowledged_event_and_the_first_request_after_succeeds(
    postgres, redis_server, gunicorn_factory
):
    api_key = f"faults-restart-{uuid.uuid4().hex}"
    tenant = call(
        app_env(postgres, DATABASE, redis_server),
        seed_tenant,
        name=f"Restart {uuid.uuid4().hex[:6]}",
        api_key=api_key,
        subscriptions=1,
    )
    server = gunicorn_factory(app_env(postgres, DATABASE, redis_server, API_RATE_LIMITS="false"))

    with EventSenders(server, api_key, "sub-0000") as senders:
        wait_until(lambda: senders.each_has(3, lambda answer: answer.status == 200), "every sender's first events")
        postgres.pg_ctl("restart")
        back = time.monotonic()
        wait_until(
            lambda: senders.each_has(ANSWERS_AFTER_RESTART, lambda answer: answer.started >= back),
            "answers to requests sent after the restart",
        )
    answers = senders.all()

    # Every request sent once PostgreSQL accepted connections again was acknowledged.
    after = [answer for answer in answers if answer.started >= back]
    assert [describe(answer) for answer in after if answer.status != 200] == []
    # Every other answer is a clean JSON error of Lago's shape: 503, retry later.
    failed = [answer for answer in answers if answer.status != 200]
    for answer in failed:
        assert answer.status == 503, describe(answer)
        assert answer.content_type.startswith("application/json"), describe(answer)
        assert json.loads(answer.body) == {"status": 503, "error": "Service Unavailable", "code": "service_unavailable"}
        assert answer.retry_after == "1"

    # Every acknowledged event is stored once, and counted once in usage.
    acknowledged = {tid for answer in answers if answer.status == 200 for tid in answer.transaction_ids}
    stored = stored_events(postgres, tenant["organization_id"])
    assert acknowledged - set(stored) == set()
    assert {tid: count for tid, count in stored.items() if count != 1} == {}
    assert rolled_up_count(postgres, tenant["organization_id"]) == len(stored)
    # A refused request stored all of its events or none of them (a commit whose answer was lost).
    for answer in failed:
        assert len({tid in stored for tid in answer.transaction_ids}) == 1, describe(answer)
    print(f"restart: {len(answers)} requests, {len(failed)} refused during the outage")

    # A quiet server. One request at a time is served by the same gunicorn worker (the first idle one),
    # whose connection, released a moment before the restart, is trusted without a ping
    # (billing/postgresql/base.py): it is dead, and the request after the restart must not fail on it.
    with api_client(server, api_key) as client:
        for attempt in range(3):
            path, body = event_body([f"quiet-{attempt}-before"], "sub-0000")
            assert client.post(path, json=body).status_code == 200
            postgres.pg_ctl("restart")
            path, body = event_body([f"quiet-{attempt}-after"], "sub-0000")
            first = client.post(path, json=body)
            assert first.status_code == 200, (first.status_code, first.text[:300])


# 2. Redis stopped while staff and API work -----------------------------------------------------------

# Without Redis no request may hang on it: the limiter gives up within RATE_LIMIT_REDIS_TIMEOUT (0.25 s)
# and a refused connection fails an enqueue at once. 5 s leaves room for a loaded machine.
ANSWERED_WITHIN_SECONDS = 5.0
USAGE_PATH = "/api/v1/customers/cust-0000/current_usage?external_subscription_id=sub-0000"


class WebhookReceiver:
    """An HTTP server on loopback that records every webhook body it is sent and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self, webhook_type: str, key: str, value: str) -> bool:
        """Whether a `webhook_type` message whose object has `key` == `value` has arrived."""
        return any(
            body["webhook_type"] == webhook_type and body[body["object_type"]].get(key) == value for body in self.bodies
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def timed(send: Callable[..., httpx.Response], *args, **kwargs) -> httpx.Response:
    """`send(*args, **kwargs)`, which must be answered within ANSWERED_WITHIN_SECONDS."""
    started = time.monotonic()
    response = send(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < ANSWERED_WITHIN_SECONDS, f"{response.request.method} {response.request.url}: {elapsed:.1f} s"
    return response


def staff_login(client: httpx.Client, email: str) -> httpx.Response:
    page = timed(client.get, "/login/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {"csrfmiddlewaretoken": token, "username": email, "password": STAFF_PASSWORD, "next": "/customers/"}
    return timed(client.post, "/login/", data=form)


def outbox(postgres: PrivatePostgres, organization_id: str) -> list[tuple[str, str, str]]:
    """The organization's webhook messages: (type, object id, status)."""
    with postgres.connect(DATABASE) as conn:
        return conn.execute(
            "SELECT webhook_type, object_id, status FROM webhooks_webhookmessage WHERE organization_id = %s "
            "ORDER BY created_at",
            (organization_id,),
        ).fetchall()


def deletion_of(postgres: PrivatePostgres, organization_id: str, external_id: str) -> tuple | None:
    """(attempts, finished) of the deletion of the customer `external_id`."""
    with postgres.connect(DATABASE) as conn:
        return conn.execute(
            "SELECT d.attempts, d.finished_at IS NOT NULL FROM invoicing_customerdeletion d "
            "JOIN customers_customer c ON c.id = d.customer_id WHERE c.organization_id = %s AND c.external_id = %s",
            (organization_id, external_id),
        ).fetchone()


def termination_invoices(postgres: PrivatePostgres, organization_id: str, external_id: str) -> list[tuple]:
    with postgres.connect(DATABASE) as conn:
        return conn.execute(
            "SELECT i.status, i.sequential_id FROM invoicing_invoice i JOIN invoicing_invoicesubscription l "
            "ON l.invoice_id = i.id JOIN plans_subscription s ON s.id = l.subscription_id "
            "WHERE s.organization_id = %s AND s.external_id = %s AND l.invoicing_reason = 'subscription_terminating'",
            (organization_id, external_id),
        ).fetchall()


def test_redis_stopped_staff_and_api_keep_working_and_the_clock_does_the_queued_work_after(
    postgres, redis_server, gunicorn_factory, workers, webhook_receiver
):
    api_key = f"faults-redis-{uuid.uuid4().hex}"
    # The limits on (they count in Redis, and must let requests through without it); checked again soon.
    env = app_env(postgres, DATABASE, redis_server, API_RATE_LIMITS="true", RATE_LIMIT_REDIS_RETRY_SECONDS="1")
    tenant = call(env, seed_tenant, name=f"Redis {uuid.uuid4().hex[:6]}", api_key=api_key, subscriptions=2)
    organization_id = tenant["organization_id"]
    server = gunicorn_factory(env)
    worker = workers(env, queues="celery,webhooks")
    worker.wait_ready()  # connected, so that it loses the broker and must find it again
    api = api_client(server, api_key)
    endpoint = api.post("/api/v1/webhook_endpoints", json={"webhook_endpoint": {"webhook_url": webhook_receiver.url}})
    assert endpoint.status_code == 200, endpoint.text
    listed = api.get("/api/v1/customers")
    assert listed.status_code == 200 and listed.headers["x-ratelimit-limit"] == "50"  # counted in Redis

    redis_server.stop()
    try:
        # Reads, and writes that need no broker, answered at once; the limiter lets them through.
        listed = timed(api.get, "/api/v1/customers")
        assert listed.status_code == 200 and "x-ratelimit-limit" not in listed.headers
        usage = timed(api.get, USAGE_PATH)
        assert usage.status_code == 200, usage.text
        for ids in (["redis-down-1"], ["redis-down-2", "redis-down-3"]):
            path, body = event_body(ids, "sub-0000")
            assert timed(api.post, path, json=body).status_code == 200
        # Writes whose follow-up needs the broker: committed, their messages recorded in the outbox.
        customer = {"customer": {"external_id": "cust-new", "name": "Created while Redis was down", "currency": "EUR"}}
        created = timed(api.post, "/api/v1/customers", json=customer)
        assert created.status_code == 200, created.text
        deleted = timed(api.delete, "/api/v1/customers/cust-0001")
        assert deleted.status_code == 200, deleted.text
        # The staff log in (the login guard counts nothing, and lets them in) and see the new customer.
        with httpx.Client(base_url=server.url, timeout=30.0) as staff:
            logged_in = staff_login(staff, tenant["staff_email"])
            assert logged_in.status_code == 302 and logged_in.headers["location"] == "/customers/"
            page = timed(staff.get, "/customers/")
            assert page.status_code == 200 and "Created while Redis was down" in page.text
    finally:
        redis_server.start()

    # The work is recorded and waits: the cascade not attempted, the messages pending.
    assert deletion_of(postgres, organization_id, "cust-0001") == (0, False)
    pending = {(kind, status) for kind, _, status in outbox(postgres, organization_id)}
    assert {("customer.created", "pending"), ("customer.deleted", "pending")} <= pending

    # Minutes later the clock finds what was lost, whatever the broker lost with it.
    beat = call(env, run_beat_later, minutes=3)
    assert beat["customer-deletions"] == 1
    assert beat["lost-webhooks"] == 2
    wait_until(lambda: deletion_of(postgres, organization_id, "cust-0001") == (1, True), "the deletion's cascade")
    wait_until(
        lambda: {status for *_, status in outbox(postgres, organization_id)} == {"succeeded"},
        "every webhook message delivered",
    )
    assert webhook_receiver.received("customer.created", "external_id", "cust-new")
    assert webhook_receiver.received("customer.deleted", "external_id", "cust-0001")
    assert [status for status, _ in termination_invoices(postgres, organization_id, "sub-0001")] == ["finalized"]
    # The limits count again once Redis answers.
    wait_until(lambda: "x-ratelimit-limit" in api.get("/api/v1/customers").headers, "the rate limits to count again")
    usage = api.get(USAGE_PATH).json()
    assert usage["customer_usage"]["charges_usage"][0]["events_count"] == 3
    # A web process's own broker connection comes back too: a deletion now is carried out without the clock.
    assert api.delete("/api/v1/customers/cust-0000").status_code == 200
    wait_until(lambda: deletion_of(postgres, organization_id, "cust-0000") == (1, True), "a deletion sent by the web")
    api.close()
    # The worker lost the broker and said so; no task of its failed.
    assert "Connection to broker lost" in worker.output()
    assert [line for line in worker.output().splitlines() if " raised " in line or "Traceback" in line] == []


# 3. A worker killed with SIGKILL in the middle of a billing run -----------------------------------

RUN_SUBSCRIPTIONS = 200
KILL_AFTER_INVOICES = 20
BILL_TASK = "invoicing.tasks.bill_period_task"
CLOCK_TASK = "invoicing.tasks.run_billing_clock_task"


def invoice_count(postgres: PrivatePostgres, organization_id: str) -> int:
    with postgres.connect(DATABASE) as conn:
        return conn.execute(
            "SELECT count(*) FROM invoicing_invoice WHERE organization_id = %s", (organization_id,)
        ).fetchone()[0]


def redeliver_unacked(broker: redis.Redis) -> int:
    """What the killed worker had taken and not acknowledged, put back in its queue, as kombu does once
    the visibility timeout (an hour) has passed: those tasks run a second time. Returns how many."""
    restored = 0
    for tag, entry in broker.hgetall("unacked").items():
        payload, _exchange, routing_key = json.loads(entry)
        broker.rpush(routing_key or "celery", json.dumps(payload))
        broker.hdel("unacked", tag)
        broker.zrem("unacked_index", tag)
        restored += 1
    return restored


def billing_run_state(postgres: PrivatePostgres, organization_id: str) -> dict:
    """The organization's invoices with their subscription and period, by subscription; each invoice's
    fees; the sequence's last number."""
    with postgres.connect(DATABASE) as conn, conn.cursor(row_factory=namedtuple_row) as cursor:
        invoices = cursor.execute(
            "SELECT s.external_id, l.invoicing_reason, l.period_start, i.id, i.status, i.sequential_id, i.number, "
            "i.total_amount_cents FROM invoicing_invoicesubscription l "
            "JOIN plans_subscription s ON s.id = l.subscription_id JOIN invoicing_invoice i ON i.id = l.invoice_id "
            "WHERE s.organization_id = %s ORDER BY s.external_id",
            (organization_id,),
        ).fetchall()
        fees: dict = {}
        for fee in cursor.execute(
            "SELECT f.invoice_id, f.fee_type, f.charge_id IS NOT NULL AS of_charge, f.amount_cents "
            "FROM invoicing_fee f JOIN invoicing_invoice i ON i.id = f.invoice_id WHERE i.organization_id = %s",
            (organization_id,),
        ):
            fees.setdefault(fee.invoice_id, []).append((fee.fee_type, fee.of_charge, fee.amount_cents))
        sequence = cursor.execute(
            "SELECT last_sequential_id FROM invoicing_invoicesequence WHERE organization_id = %s", (organization_id,)
        ).fetchone()
    return {
        "invoices": invoices,
        "fees": fees,
        "last_sequential_id": sequence.last_sequential_id if sequence else None,
    }


def test_a_worker_killed_during_a_billing_run_leaves_every_invoice_once_and_every_number_once(
    postgres, redis_server, workers
):
    env = app_env(postgres, DATABASE, redis_server)
    period_start = month_start(-1)
    name = f"Killed {uuid.uuid4().hex[:6]}"
    tenant = call(env, seed_billing_run, name=name, subscriptions=RUN_SUBSCRIPTIONS, started=period_start.isoformat())
    organization_id = tenant["organization_id"]
    broker = redis.Redis.from_url(redis_server.url(0))
    beat = TaskSender(redis_server)

    first = workers(env)
    clock = first.result(CLOCK_TASK, beat.send(CLOCK_TASK))
    assert clock["periods"] >= RUN_SUBSCRIPTIONS  # ours, and whatever else is due on this database
    wait_until(lambda: invoice_count(postgres, organization_id) >= KILL_AFTER_INVOICES, "the run's first invoices")
    first.kill()
    at_kill = invoice_count(postgres, organization_id)
    assert at_kill < RUN_SUBSCRIPTIONS, "the run ended before the kill: raise RUN_SUBSCRIPTIONS"
    queued = broker.llen("celery")  # the killed worker's own tasks wait, unacknowledged, for an hour

    second = workers(env)
    wait_until(lambda: len(second.finished(BILL_TASK)) >= queued, "the tasks left in the queue")
    lost = RUN_SUBSCRIPTIONS - invoice_count(postgres, organization_id)
    again = second.result(CLOCK_TASK, beat.send(CLOCK_TASK))  # the next hour's clock finds them
    assert again == {"periods": lost, "drafts": 0}
    # An hour later, Redis hands the killed worker's tasks out again: they find their work done.
    redelivered = redeliver_unacked(broker)
    assert redelivered >= 1  # the task the worker was running, at least
    sent = queued + lost + redelivered
    wait_until(lambda: len(second.finished(BILL_TASK)) >= sent, f"the {sent} billing tasks sent since the kill")
    assert [task for task in second.finished(BILL_TASK) if task[1] == "raised"] == []
    assert broker.llen("celery") == 0

    state = billing_run_state(postgres, organization_id)
    invoices = state["invoices"]
    # Every subscription's ended period invoiced exactly once, and nothing else.
    periods = [(invoice.external_id, invoice.invoicing_reason, invoice.period_start) for invoice in invoices]
    assert periods == [(f"sub-{n:04d}", "subscription_periodic", period_start) for n in range(RUN_SUBSCRIPTIONS)]
    assert invoice_count(postgres, organization_id) == RUN_SUBSCRIPTIONS
    # Every number used once, without a gap, the sequence at the last one.
    assert {invoice.status for invoice in invoices} == {"finalized"}
    assert sorted(invoice.sequential_id for invoice in invoices) == list(range(1, RUN_SUBSCRIPTIONS + 1))
    assert len({invoice.number for invoice in invoices}) == RUN_SUBSCRIPTIONS
    assert state["last_sequential_id"] == RUN_SUBSCRIPTIONS
    # One subscription fee and one charge fee per invoice, each billed once: 10 EUR + 1 cent per call.
    for number, invoice in enumerate(invoices):
        calls = number % 3 + 1
        expected = [("charge", True, calls), ("subscription", False, PLAN_AMOUNT_CENTS)]
        assert sorted(state["fees"][invoice.id]) == expected, invoice.external_id
        assert invoice.total_amount_cents == PLAN_AMOUNT_CENTS + calls, invoice.external_id
    # Nothing is left for the clock.
    assert second.result(CLOCK_TASK, beat.send(CLOCK_TASK)) == {"periods": 0, "drafts": 0}
    print(f"billing run: killed at {at_kill} invoices; {lost} periods lost and billed again, {redelivered} redelivered")
