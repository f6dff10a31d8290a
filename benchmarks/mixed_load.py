"""Mixed load held for minutes: single and batch events, customer upserts, current-usage reads, invoice
and customer lists and new subscriptions at once, with the billing clock running, on loopback.

Run from the project root: `.venv/bin/python benchmarks/mixed_load.py --duration 600`. PostgreSQL on
127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379. See benchmarks/README.md.

It serves the app with gunicorn as in production (plus the anchor route of benchmarks/anchor_urls.py),
runs a Celery worker on a queue of its own and sends the billing clock's task through the broker every
few seconds. Client threads draw each request's kind from a weighted mix until `--duration` or
`--max-requests` is reached; every request's kind, status and latency is recorded.

It prints, per kind, the count, requests per second (also as a ratio to the anchor: the minimal
single-event view, measured with the same clients just before and just after the load), p50/p95/p99
and the non-2xx answers; then the checks, each PASS or FAIL, and exits 1 if any fails:

- no 5xx, no other non-2xx and no broken connection: every request sent is valid;
- every event acknowledged with a 2xx is in the database, and no other event of the run is (counts
  reconciled), and the usage rollups of the run's quarter hours equal what their events give;
- every period of the run's new subscriptions that ended before the last clock tick is invoiced once;
- the memory of the gunicorn processes and of the Celery worker does not keep growing.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery
from common import (
    PROJECT_ROOT,
    CeleryWorker,
    Gunicorn,
    RawHttpClient,
    cpu_model,
    database_url,
    ensure_database,
    free_port,
    memory_gib,
    progress,
    rollup_select,
    server_env,
    verdict,
)

ORGANIZATION_NAME = "Mixed Load Org"
# A fixed key, so that reruns on the same database reuse it instead of piling up new ones.
API_KEY = "mixed-load-api-key-0123456789abcdef"
PLAN_CODE = "load_weekly"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"
CLOCK_TASK = "invoicing.tasks.run_billing_clock_task"

KINDS = (
    "single_event",
    "batch_events",
    "customer_upsert",
    "current_usage",
    "invoice_list",
    "customer_list",
    "subscription",
)
# Weights per request. Reads and single events dominate, as with Lago's clients; a few new
# subscriptions, each started one to three weeks ago, give the clock ended periods to bill all along.
DEFAULT_MIX = (
    "single_event=40,batch_events=8,customer_upsert=10,current_usage=20,invoice_list=10,customer_list=10,subscription=2"
)

# (code, name, aggregation, property)
METRICS = (
    ("load_calls", "Load API calls", "count_agg", None),
    ("load_storage", "Load storage", "sum_agg", "gb"),
    ("load_seats", "Load seats", "max_agg", "seats"),
)
CHARGES = {
    "load_calls": {
        "charge_model": "graduated",
        "properties": {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 100, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 101, "to_value": None, "per_unit_amount": "0.002", "flat_amount": "1"},
            ]
        },
    },
    "load_storage": {"charge_model": "standard", "properties": {"amount": "0.01"}},
    "load_seats": {"charge_model": "standard", "properties": {"amount": "2"}},
}

# Memory that keeps growing: the median of the last third of the samples against the median of the
# middle third. The first third is left out: workers import code, fill caches and grow their heaps
# while they meet their first requests of each kind. Medians, so that one large response held for a
# moment (a batch, a long list) does not decide. The allowance, the larger of 20 MiB and 10 % of the
# group, absorbs the allocator settling at a plateau; a leak of even 200 bytes per request at a few
# hundred requests per second crosses it within a ten-minute run.
MEMORY_ALLOWANCE_MIB = 20.0
MEMORY_ALLOWANCE_SHARE = 0.10
MEMORY_MIN_SAMPLES = 6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="hard bound on the requests of the load")
    parser.add_argument("--clients", type=int, default=8, help="client threads, each one request at a time")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"weights per kind (default {DEFAULT_MIX})")
    parser.add_argument("--batch-size", type=int, default=50, help="events per batch request (at most 100)")
    parser.add_argument("--customers", type=int, default=200, help="customers with a subscription receiving events")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=1, help="the Celery worker's processes")
    parser.add_argument("--clock-seconds", type=float, default=15.0, help="between two ticks of the billing clock")
    parser.add_argument("--anchor-seconds", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=0.0, help="memory sampling (default: duration/30, ≤5)")
    parser.add_argument(
        "--analyze-seconds", type=float, default=60.0, help="between two ANALYZEs when the server has autovacuum off"
    )
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the billing to finish")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="a request taking longer is a failure")
    parser.add_argument("--db", default="billing_load")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Redis for Celery (the run uses a queue of its own)")
    args = parser.parse_args()
    args.weights = parse_mix(parser, args.mix)
    if not 1 <= args.batch_size <= 100:
        parser.error("--batch-size must be between 1 and 100 (the API's limit)")
    if args.sample_seconds <= 0:
        args.sample_seconds = max(0.5, min(5.0, args.duration / 30))
    return args


def parse_mix(parser: argparse.ArgumentParser, text: str) -> list[float]:
    weights = dict.fromkeys(KINDS, 0.0)
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name.strip() not in weights:
            parser.error(f"--mix: unknown kind {name!r}; kinds: {', '.join(KINDS)}")
        weights[name.strip()] = float(value)
    if min(weights.values()) < 0 or not any(weights.values()):
        parser.error("--mix: weights must be >= 0, one at least > 0")
    return [weights[kind] for kind in KINDS]


# Set-up --------------------------------------------------------------------------------------------


def run_env(args: argparse.Namespace, queue: str) -> dict[str, str]:
    """The app's environment (common.server_env) with a real broker and this run's queues."""
    env = server_env(args.db)
    # Without REDIS_URL the rate limits and the login guard have no Redis to count in (and the API
    # limits are off anyway): the run measures the app, not Lago's per-organization limits.
    env.pop("REDIS_URL", None)
    env.update(
        CELERY_BROKER_URL=args.broker,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_WEBHOOKS_QUEUE=f"{queue}-webhooks",
        PYTHONUNBUFFERED="1",
    )
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


@dataclass(frozen=True)
class Fixtures:
    organization_id: str
    traffic: list[tuple[str, str]]  # (customer external id, subscription external id) receiving events


def seed(customers: int) -> Fixtures:
    """The organization, its key, metrics and a weekly plan, and the customers receiving events, each
    with an anniversary subscription started two days ago; through the services, once per database."""
    from django.db import transaction

    from invoicing.subscriptions import create_subscription
    from organizations.services import create_api_key, create_organization
    from plans.models import BillableMetric, Plan, Subscription
    from plans.services import create_billable_metric, create_plan
    from webhooks.models import WebhookEndpoint

    with transaction.atomic():
        organization, _ = create_organization(name=ORGANIZATION_NAME, default_timezone="UTC")
        create_api_key(organization=organization, raw_key=API_KEY)
        # No endpoint: the run measures the API and billing, not deliveries (webhooks_bench.py does).
        WebhookEndpoint.objects.filter(organization=organization).delete()
        if not Plan.objects.filter(organization=organization, code=PLAN_CODE).exists():
            metrics = {
                code: BillableMetric.objects.filter(organization=organization, code=code).first()
                or create_billable_metric(
                    organization=organization,
                    data={"code": code, "name": name, "aggregation_type": aggregation, "field_name": field_name},
                )
                for code, name, aggregation, field_name in METRICS
            }
            create_plan(
                organization=organization,
                data={
                    "code": PLAN_CODE,
                    "name": "Mixed load weekly",
                    "interval": "weekly",
                    "amount_cents": 500,
                    "amount_currency": "USD",
                    "charges": [
                        {"billable_metric_id": str(metrics[code].pk), **charge} for code, charge in CHARGES.items()
                    ],
                },
            )
        existing = set(
            Subscription.objects.filter(organization=organization, external_id__startswith="load-sub-").values_list(
                "external_id", flat=True
            )
        )
        wanted = [(f"load-cust-{number:05d}", f"load-sub-{number:05d}") for number in range(customers)]
        missing = [pair for pair in wanted if pair[1] not in existing]
        if missing:
            progress(f"creating {len(missing)} customers with a weekly subscription through the services")
        started = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
        for customer_id, subscription_id in missing:
            create_subscription(
                organization=organization,
                data={
                    "external_customer_id": customer_id,
                    "plan_code": PLAN_CODE,
                    "external_id": subscription_id,
                    "billing_time": "anniversary",
                    "subscription_at": started,
                },
            )
    return Fixtures(organization_id=str(organization.pk), traffic=wanted)


# Requests ------------------------------------------------------------------------------------------


def event_json(rng: random.Random, transaction_id: str, subscription_id: str) -> str:
    code = rng.choice(METRICS)[0]
    if code == "load_storage":
        properties = f'{{"gb": {rng.randint(1, 100_000) / 1000}}}'
    elif code == "load_seats":
        properties = f'{{"seats": {rng.randint(1, 50)}}}'
    else:
        properties = '{"path": "/v1/items"}'
    return (
        f'{{"transaction_id": "{transaction_id}", "external_subscription_id": "{subscription_id}", '
        f'"code": "{code}", "timestamp": {time.time():.3f}, "properties": {properties}}}'
    )


@dataclass
class Records:
    """What one client thread saw: per request its kind, status (0: no answer) and latency."""

    kinds: array = field(default_factory=lambda: array("B"))
    statuses: array = field(default_factory=lambda: array("H"))
    latencies_ms: array = field(default_factory=lambda: array("d"))
    acked: array = field(default_factory=lambda: array("Q"))  # sequence numbers of the events acknowledged
    first_errors: dict[str, str] = field(default_factory=dict)


class LoadClient:
    """One connection's worth of traffic: builds each kind of request and records what came back."""

    def __init__(self, *, index: int, url: str, run: str, fixtures: Fixtures, batch_size: int) -> None:
        self.index = index
        self.run = run
        self.fixtures = fixtures
        self.batch_size = batch_size
        self.rng = random.Random(f"{run}-{index}")
        self.http = RawHttpClient(url, {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        self.sequence = itertools.count()
        self.created = itertools.count()
        self.records = Records()

    def transaction_id(self, sequence: int) -> str:
        return f"ml-{self.run}-{self.index}-{sequence}"

    def build(self, kind: str) -> tuple[str, str, bytes, list[int]]:
        """(method, path, body, sequence numbers of the events it carries)."""
        rng = self.rng
        customer_id, subscription_id = rng.choice(self.fixtures.traffic)
        if kind in ("single_event", "batch_events"):
            size = 1 if kind == "single_event" else self.batch_size
            sequences = [next(self.sequence) for _ in range(size)]
            events = [event_json(rng, self.transaction_id(number), subscription_id) for number in sequences]
            if kind == "single_event":
                return "POST", "/api/v1/events", f'{{"event": {events[0]}}}'.encode(), sequences
            return "POST", "/api/v1/events/batch", f'{{"events": [{", ".join(events)}]}}'.encode(), sequences
        if kind == "customer_upsert":
            # Mostly updates of the customers receiving events, some new customers.
            if rng.random() < 0.25:
                customer_id = f"ml-{self.run}-c{self.index}-{next(self.created)}"
            body = {
                "customer": {
                    "external_id": customer_id,
                    "name": f"Load customer {rng.randint(1, 10**6)}",
                    "email": f"load{rng.randint(1, 10**6)}@example.test",
                    "city": rng.choice(("Paris", "Lyon", "Berlin", "Austin")),
                }
            }
            return "POST", "/api/v1/customers", json.dumps(body).encode(), []
        if kind == "current_usage":
            path = f"/api/v1/customers/{customer_id}/current_usage?external_subscription_id={subscription_id}"
            return "GET", path, b"", []
        if kind == "invoice_list":
            return "GET", f"/api/v1/invoices?page={rng.randint(1, 3)}&per_page=20", b"", []
        if kind == "customer_list":
            return "GET", f"/api/v1/customers?page={rng.randint(1, 5)}&per_page=20", b"", []
        # A new customer's subscription started one to three weeks (and some hours) ago: each of its
        # ended weekly periods is due, and the clock bills them while the load goes on.
        number = next(self.created)
        started = datetime.now(UTC) - timedelta(days=7 * rng.randint(1, 3), seconds=rng.randint(0, 6 * 86400))
        body = {
            "subscription": {
                "external_customer_id": f"ml-{self.run}-sc{self.index}-{number}",
                "plan_code": PLAN_CODE,
                "external_id": f"ml-{self.run}-s{self.index}-{number}",
                "billing_time": "anniversary",
                "subscription_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        }
        return "POST", "/api/v1/subscriptions", json.dumps(body).encode(), []

    def send(self, kind_index: int) -> None:
        kind = KINDS[kind_index]
        method, path, body, sequences = self.build(kind)
        started = time.perf_counter()
        try:
            status, content = self.http.request(method, path, body)
        except (OSError, ValueError, IndexError) as exc:  # a reset, a timeout or a malformed answer
            self.http.close()
            status, content = 0, f"{type(exc).__name__}: {exc}".encode()
        elapsed_ms = (time.perf_counter() - started) * 1000
        records = self.records
        records.kinds.append(kind_index)
        records.statuses.append(status)
        records.latencies_ms.append(elapsed_ms)
        if 200 <= status < 300:
            records.acked.extend(sequences)
        elif kind not in records.first_errors:
            records.first_errors[kind] = f"{status} {content[:300].decode(errors='replace')}"

    def close(self) -> None:
        self.http.close()


def drive(clients: list[LoadClient], weights: list[float], seconds: float, max_requests: int) -> float:
    """All clients at once until `seconds` have passed or `max_requests` are sent; the elapsed time.

    Each client first sends one request of every kind (in an order of its own), so that a short run
    still measures each; then each request's kind is drawn by weight.
    """
    issued = itertools.count()
    deadline = time.monotonic() + seconds
    kinds = [index for index, weight in enumerate(weights) if weight > 0]

    def loop(client: LoadClient) -> None:
        first = kinds[client.index % len(kinds) :] + kinds[: client.index % len(kinds)]
        while time.monotonic() < deadline and next(issued) < max_requests:
            kind_index = first.pop(0) if first else client.rng.choices(range(len(KINDS)), weights)[0]
            client.send(kind_index)

    started = time.monotonic()
    run_threads(loop, clients)
    return time.monotonic() - started


def run_threads(target: Callable[[Any], None], items: list) -> None:
    """`target(item)` in a thread per item, all at once. An exception (or sys.exit) in one of them is
    raised here once all have ended: in the thread alone it would only end that thread, silently."""
    failures: list[BaseException] = []

    def guarded(item: Any) -> None:
        try:
            target(item)
        except BaseException as exc:  # handed to the main thread as it is
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def warm_up(clients: list[LoadClient]) -> None:
    """One request of each kind per client: every server worker loads its code before the anchor."""

    def loop(client: LoadClient) -> None:
        for kind_index in range(len(KINDS)):
            client.send(kind_index)

    run_threads(loop, clients)
    statuses = Counter(status for client in clients for status in client.records.statuses)
    if set(statuses) != {200}:
        errors = {kind: text for client in clients for kind, text in client.records.first_errors.items()}
        sys.exit(f"the warm-up requests did not all succeed: {dict(statuses)}; {errors}")


def measure_anchor(url: str, run: str, label: str, fixtures: Fixtures, clients: int, seconds: float) -> float:
    """Requests per second of the minimal single-event view (one INSERT) with the same clients."""
    from benchmarks.anchor_urls import EVENT_PATH

    counts = [0] * clients
    deadline = time.monotonic() + seconds

    def loop(index: int) -> None:
        rng = random.Random(f"anchor-{run}-{label}-{index}")
        http = RawHttpClient(url, {"Content-Type": "application/json"})
        number = 0
        while time.monotonic() < deadline:
            _, subscription_id = rng.choice(fixtures.traffic)
            event = event_json(rng, f"anchor-{run}-{label}-{index}-{number}", subscription_id)
            status, content = http.post(EVENT_PATH, f'{{"event": {event}}}'.encode())
            if status != 200:
                sys.exit(f"the anchor answered {status}: {content[:300]!r}")
            number += 1
        counts[index] = number
        http.close()

    started = time.monotonic()
    run_threads(loop, list(range(clients)))
    return sum(counts) / (time.monotonic() - started)


def delete_anchor_events(dsn: str, organization_id: str, run: str) -> int:
    """The anchor's rows have no rollups: they must not stay to skew usage or the rollup check."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "DELETE FROM events_event WHERE organization_id = %s AND transaction_id LIKE %s",
            (organization_id, f"anchor-{run}-%"),
        ).rowcount


# The billing clock ---------------------------------------------------------------------------------


class Clock(threading.Thread):
    """Sends the billing clock's task through the broker every `interval` seconds, from the start."""

    def __init__(self, app: Celery, queue: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.queue = queue
        self.interval = interval
        self.stopped = threading.Event()
        self.ticks: list[datetime] = []

    def tick(self) -> datetime:
        at = datetime.now(UTC)
        self.app.send_task(CLOCK_TASK, queue=self.queue)
        self.ticks.append(at)
        return at

    def run(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def billing_left(organization_id: str, at: datetime) -> tuple[int, int]:
    """(ended periods not invoiced as of `at`, draft invoices) of the organization."""
    from invoicing.models import Invoice, InvoiceStatus
    from invoicing.services import due_periods
    from plans.models import Subscription

    ours = {str(pk) for pk in Subscription.objects.filter(organization_id=organization_id).values_list("pk", flat=True)}
    due = sum(1 for item in due_periods(at=at) if item.subscription_id in ours)
    drafts = Invoice.objects.filter(organization_id=organization_id, status=InvoiceStatus.DRAFT).count()
    return due, drafts


def wait_for_billing(
    organization_id: str, at: datetime, broker: redis.Redis, queue: str, worker: CeleryWorker, timeout: float
) -> tuple[bool, float, str]:
    """Until every period ended by `at` is invoiced, no draft is left and the queue is empty."""
    started = time.monotonic()
    while True:
        worker.check_alive()
        due, drafts = billing_left(organization_id, at)
        queued = broker.llen(queue)
        state = f"{due} periods due, {drafts} drafts, {queued} tasks queued"
        if due == drafts == queued == 0:
            return True, time.monotonic() - started, state
        if time.monotonic() - started > timeout:
            return False, time.monotonic() - started, state
        time.sleep(0.5)


def weeks_ended(subscription_at: datetime, at: datetime) -> int:
    """Weekly anniversary periods (UTC customers) that have ended by `at`: they start at midnight of
    the subscription's date, every seven days."""
    first = datetime(subscription_at.year, subscription_at.month, subscription_at.day, tzinfo=UTC)
    return (at - first) // timedelta(days=7)


def check_invoiced_once(organization_id: str, run: str, last_tick: datetime, done: datetime) -> tuple[bool, str]:
    """Each subscription the run created has one periodic invoice per week ended before the last tick
    (or before the billing was seen finished, if a week ended in between), never more."""
    from django.db.models import Count

    from invoicing.models import InvoiceSubscription, InvoicingReason
    from plans.models import Subscription

    subscriptions = list(
        Subscription.objects.filter(organization_id=organization_id, external_id__startswith=f"ml-{run}-").values_list(
            "pk", "subscription_at"
        )
    )
    billed = dict(
        InvoiceSubscription.objects.filter(
            subscription__in=[pk for pk, _ in subscriptions], invoicing_reason=InvoicingReason.SUBSCRIPTION_PERIODIC
        )
        .values("subscription_id")
        .annotate(count=Count("id"))
        .values_list("subscription_id", "count")
    )
    wrong = [
        (pk, billed.get(pk, 0), weeks_ended(at, last_tick))
        for pk, at in subscriptions
        if not weeks_ended(at, last_tick) <= billed.get(pk, 0) <= weeks_ended(at, done)
    ]
    invoices = sum(billed.values())
    detail = f"{len(subscriptions)} subscriptions created, {invoices} periodic invoices"
    if wrong:
        detail += f"; {len(wrong)} wrong, e.g. (subscription, invoices, expected) {wrong[:3]}"
    return not wrong, detail


# Statistics ----------------------------------------------------------------------------------------

# The tables the load writes to. Their statistics go stale within minutes (the customers and invoices
# grow several times over), and a stale plan is not what production would run.
WRITTEN_TABLES = (
    "events_event",
    "events_usagerollup",
    "customers_customer",
    "customers_customermetadata",
    "plans_subscription",
    "invoicing_invoice",
    "invoicing_invoicesubscription",
    "invoicing_fee",
)


def autovacuum_on(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0] == "on"


def analyze(dsn: str) -> float:
    """ANALYZE the written tables; the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in WRITTEN_TABLES:
            conn.execute(f"ANALYZE {table}")
    return time.monotonic() - started


class Analyzer(threading.Thread):
    """What autovacuum's ANALYZE does in production, where the server has autovacuum off (the test
    machines do, for speed): without it, the invoice list was planned as a loop over every customer
    (23 ms instead of 1 ms at 1,200 customers) after a few minutes of load."""

    def __init__(self, dsn: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.interval = interval
        self.stopped = threading.Event()
        self.seconds: list[float] = []

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.seconds.append(analyze(self.dsn))

    def stop(self) -> None:
        self.stopped.set()
        self.join()


# Memory --------------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0  # gone between the listing and the read


class MemorySampler(threading.Thread):
    """The total RSS of each process group (a root and its descendants) every `interval` seconds."""

    def __init__(self, groups: dict[str, int], interval: float) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.interval = interval
        self.stopped = threading.Event()
        self.samples: dict[str, list[float]] = {label: [] for label in groups}
        # pid -> (first, last) RSS: which process grew, and whether one was replaced.
        self.processes: dict[str, dict[int, tuple[float, float]]] = {label: {} for label in groups}

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            for label, root in self.groups.items():
                sizes = {pid: rss_mib(pid) for pid in process_tree(root)}
                self.samples[label].append(sum(sizes.values()))
                seen = self.processes[label]
                for pid, size in sizes.items():
                    seen[pid] = (seen.get(pid, (size, size))[0], size)

    def per_process(self, label: str) -> str:
        return ", ".join(f"{first:.0f}->{last:.0f}" for first, last in self.processes[label].values())

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def memory_verdict(samples: list[float]) -> tuple[bool, str]:
    """Whether the group's memory kept growing (see MEMORY_ALLOWANCE_MIB), and the figures."""
    if len(samples) < MEMORY_MIN_SAMPLES:
        return True, f"{len(samples)} samples, too few to judge (at least {MEMORY_MIN_SAMPLES})"
    third = len(samples) // 3
    first, middle, last = (
        statistics.median(samples[:third]),
        statistics.median(samples[third : 2 * third]),
        statistics.median(samples[2 * third :]),
    )
    allowed = max(MEMORY_ALLOWANCE_MIB, MEMORY_ALLOWANCE_SHARE * middle)
    growth = last - middle
    ok = growth <= allowed
    return ok, (
        f"{len(samples)} samples, medians of the thirds {first:.0f} / {middle:.0f} / {last:.0f} MiB, max "
        f"{max(samples):.0f} MiB; last - middle {growth:+.1f} MiB (allowed +{allowed:.0f}): {verdict(ok)}"
    )


# Checks --------------------------------------------------------------------------------------------


def reconcile_events(dsn: str, organization_id: str, run: str, clients: list[LoadClient]) -> tuple[bool, str]:
    """The acknowledged events against the events table: none missing, none extra (anti-joins both ways)."""
    acked = sum(len(client.records.acked) for client in clients)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE acked (transaction_id text PRIMARY KEY)")
        with conn.cursor().copy("COPY acked (transaction_id) FROM STDIN") as copy:
            for client in clients:
                buffer = io.StringIO()
                for sequence in client.records.acked:
                    buffer.write(f"{client.transaction_id(sequence)}\n")
                copy.write(buffer.getvalue())
        pattern = f"ml-{run}-%"
        stored = conn.execute(
            "SELECT count(*) FROM events_event WHERE organization_id = %s AND transaction_id LIKE %s",
            (organization_id, pattern),
        ).fetchone()[0]
        missing = conn.execute(
            "SELECT a.transaction_id FROM acked a WHERE NOT EXISTS (SELECT 1 FROM events_event e "
            "WHERE e.organization_id = %s AND e.transaction_id = a.transaction_id) ORDER BY 1",
            (organization_id,),
        ).fetchall()
        unacked = conn.execute(
            "SELECT count(*) FROM events_event e WHERE e.organization_id = %s AND e.transaction_id LIKE %s "
            "AND NOT EXISTS (SELECT 1 FROM acked a WHERE a.transaction_id = e.transaction_id)",
            (organization_id, pattern),
        ).fetchone()[0]
    ok = not missing and unacked == 0 and stored == acked
    detail = (
        f"{acked:,} acknowledged, {stored:,} stored; acknowledged but missing {len(missing)}, "
        f"stored but not acknowledged {unacked}"
    )
    if missing:
        detail += f" (e.g. {', '.join(row[0] for row in missing[:3])})"
    return ok, detail


ROLLUP_KEY = "subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max"


def reconcile_rollups(dsn: str, organization_id: str, since: datetime) -> tuple[bool, str]:
    """The organization's rollups of the quarter hours the run wrote into against the events they sum
    (the builder's SELECT of common.py), EXCEPT both ways: a lost update under concurrent ingestion
    shows as a row that differs."""
    bucket = since - timedelta(minutes=since.minute % 15, seconds=since.second, microseconds=since.microsecond)
    stored = (
        f"SELECT {', '.join('r.' + column for column in ROLLUP_KEY.split(', '))} FROM events_usagerollup r "
        "JOIN plans_subscription s ON s.id = r.subscription_id WHERE s.organization_id = %(org)s "
        "AND r.bucket_start >= %(bucket)s"
    )
    built = f"SELECT {ROLLUP_KEY} FROM ({rollup_select('e.organization_id = %(org)s AND e.timestamp >= %(bucket)s')}) b"
    params = {"org": organization_id, "bucket": bucket}
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT count(*), coalesce(sum(events_count), 0) FROM ({stored}) s", params).fetchone()
        missing = conn.execute(f"SELECT count(*) FROM ({built} EXCEPT {stored}) d", params).fetchone()[0]
        extra = conn.execute(f"SELECT count(*) FROM ({stored} EXCEPT {built}) d", params).fetchone()[0]
    ok = missing == extra == 0
    return ok, (
        f"{rows[0]:,} rollup rows since {bucket:%H:%M} UTC counting {rows[1]:,} events; rows differing from "
        f"the events: {missing} built-not-stored, {extra} stored-not-built"
    )


def log_problems(text: str) -> list[str]:
    markers = ("ERROR", "CRITICAL", "Traceback", "WORKER TIMEOUT")
    return [line for line in text.splitlines() if any(marker in line for marker in markers)]


# Report --------------------------------------------------------------------------------------------


def percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, ceil(share * len(ordered)) - 1)]


def kind_table(clients: list[LoadClient], seconds: float, anchor_rps: float) -> tuple[list[str], dict[int, int]]:
    """One line per kind, the total; and the count of answers per status over all kinds."""
    latencies: dict[int, list[float]] = {index: [] for index in range(len(KINDS))}
    statuses: dict[int, Counter] = {index: Counter() for index in range(len(KINDS))}
    for client in clients:
        records = client.records
        for kind, status, latency in zip(records.kinds, records.statuses, records.latencies_ms, strict=True):
            latencies[kind].append(latency)
            statuses[kind][status] += 1
    lines = [
        f"  {'kind':<16} {'count':>8} {'req/s':>8} {'/anchor':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  non-2xx"
    ]
    total = Counter()
    for index, kind in enumerate(KINDS):
        values = sorted(latencies[index])
        total.update(statuses[index])
        if not values:
            lines.append(f"  {kind:<16} {0:>8}")
            continue
        rps = len(values) / seconds
        non_2xx = {status: count for status, count in statuses[index].items() if not 200 <= status < 300}
        lines.append(
            f"  {kind:<16} {len(values):>8,} {rps:>8.1f} {rps / anchor_rps:>8.1%} {statistics.median(values):>8.1f} "
            f"{percentile(values, 0.95):>8.1f} {percentile(values, 0.99):>8.1f}  "
            + (", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(non_2xx.items())) or "none")
        )
    everything = sorted(latency for values in latencies.values() for latency in values)
    rps = len(everything) / seconds
    lines.append(
        f"  {'all':<16} {len(everything):>8,} {rps:>8.1f} {rps / anchor_rps:>8.1%} "
        f"{statistics.median(everything):>8.1f} {percentile(everything, 0.95):>8.1f} "
        f"{percentile(everything, 0.99):>8.1f}"
    )
    return lines, dict(total)


def versions(dsn: str, broker: redis.Redis) -> str:
    import celery
    import django

    with psycopg.connect(dsn) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    return (
        f"PostgreSQL {postgres}, Redis {broker.info()['redis_version']}, Python {platform.python_version()}, "
        f"Django {django.get_version()}, Celery {celery.__version__}"
    )


# Main ----------------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    run = uuid.uuid4().hex[:8]
    queue = f"mixed-load-{run}"
    env = run_env(args, queue)
    dsn = database_url(args.db)
    # A request that never ends is a failure to report, not a run that never ends.
    socket.setdefaulttimeout(args.request_timeout)
    ensure_database(args.db)
    setup_django(env)
    from django.core.management import call_command

    from billing.celery import app

    progress(f"run {run}: migrating {args.db}")
    call_command("migrate", verbosity=0)
    fixtures = seed(args.customers)
    analyzer = None if autovacuum_on(dsn) else Analyzer(dsn, args.analyze_seconds)
    if analyzer is not None:
        progress("autovacuum is off on this server: the script runs ANALYZE in its stead")
        analyzer.seconds.append(analyze(dsn))
    broker = redis.Redis.from_url(args.broker)
    progress(f"starting gunicorn -w {args.workers} and a Celery worker on the queue {queue}")
    server = Gunicorn(
        label="mixed_load",
        env={**env, "DJANGO_SETTINGS_MODULE": "benchmarks.anchor_settings"},
        port=free_port(),
        workers=args.workers,
    )
    worker = CeleryWorker(label="mixed_load", env=env, queue=queue, concurrency=args.concurrency)
    clock = Clock(app, queue, args.clock_seconds)
    failures: list[str] = []
    try:
        server.wait_ready()
        worker.wait_ready(app)
        clients = [
            LoadClient(index=index, url=server.url, run=run, fixtures=fixtures, batch_size=args.batch_size)
            for index in range(args.clients)
        ]
        progress("warm-up: one request of each kind per client")
        load_from = datetime.now(UTC)
        warm_up(clients)
        for client in clients:  # the warm-up's events stay in the reconciliation, not in the figures
            acked = client.records.acked
            client.records = Records(acked=acked)
        progress(f"anchor: the minimal single-event view, {args.clients} clients, {args.anchor_seconds:.0f} s")
        anchor_before = measure_anchor(server.url, run, "before", fixtures, args.clients, args.anchor_seconds)
        delete_anchor_events(dsn, fixtures.organization_id, run)

        sampler = MemorySampler(
            {
                f"gunicorn (master + {args.workers} workers)": server.process.pid,
                f"celery worker (-c {args.concurrency})": worker.process.pid,
            },
            args.sample_seconds,
        )
        progress(f"load: {args.clients} clients, {args.duration:.0f} s or {args.max_requests:,} requests")
        sampler.start()
        clock.start()
        if analyzer is not None:
            analyzer.start()
        seconds = drive(clients, args.weights, args.duration, args.max_requests)
        clock.stop()
        sampler.stop()
        if analyzer is not None:
            analyzer.stop()
        for client in clients:
            client.close()

        progress("load done: a last clock tick, then waiting for the billing to finish")
        last_tick = clock.tick()
        billed, drain_seconds, drain_state = wait_for_billing(
            fixtures.organization_id, last_tick, broker, queue, worker, args.drain_timeout
        )
        done = datetime.now(UTC)
        # Measured again once the billing is done: a machine whose other load changed during the run
        # shows as two different anchors.
        progress("anchor, after the load")
        anchor_after = measure_anchor(server.url, run, "after", fixtures, args.clients, args.anchor_seconds)
        delete_anchor_events(dsn, fixtures.organization_id, run)
        progress("reconciling events and rollups")
        events_ok, events_detail = reconcile_events(dsn, fixtures.organization_id, run, clients)
        rollups_ok, rollups_detail = reconcile_rollups(dsn, fixtures.organization_id, load_from)
        once_ok, once_detail = check_invoiced_once(fixtures.organization_id, run, last_tick, done)
    finally:
        clock.stopped.set()
        if analyzer is not None:
            analyzer.stopped.set()
        server.stop()
        worker.stop()
        # The queues and kombu's bindings of this run's queues (their names hold the queue's).
        leftovers = list(broker.scan_iter(match=f"*{queue}*"))
        if leftovers:
            broker.delete(*leftovers)

    anchor_rps = (anchor_before + anchor_after) / 2
    table, statuses = kind_table(clients, seconds, anchor_rps)
    events_acked = sum(len(client.records.acked) for client in clients)
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    other_errors = sum(count for status, count in statuses.items() if status < 200 or 300 <= status < 500)
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib()}; load average {os.getloadavg()[0]:.2f}")
    print(f"Software: {versions(dsn, broker)}")
    print(
        f"Mixed load on {args.db}: {seconds:.0f} s, {args.clients} client threads, gunicorn billing.wsgi "
        f"-w {args.workers}, celery worker -c {args.concurrency}, the clock every {args.clock_seconds:.0f} s "
        f"({len(clock.ticks)} ticks), batches of {args.batch_size}, {len(fixtures.traffic)} customers "
        "receiving events"
    )
    if analyzer is None:
        print("statistics: autovacuum is on")
    else:
        print(
            f"statistics: autovacuum is off on this server; ANALYZE of the {len(WRITTEN_TABLES)} tables the load "
            f"writes after the seeding and every {args.analyze_seconds:.0f} s of load, {len(analyzer.seconds)} times, "
            f"{statistics.median(analyzer.seconds):.2f} s each (median)"
        )
    print(f"mix (weights): {', '.join(f'{kind} {weight:g}' for kind, weight in zip(KINDS, args.weights, strict=True))}")
    print(
        f"anchor: minimal single-event view (one INSERT), the same {args.clients} clients, {args.anchor_seconds:.0f} s "
        f"before and after the load: {anchor_before:,.1f} and {anchor_after:,.1f}, mean {anchor_rps:,.1f} req/s"
    )
    print("per kind (/anchor: the kind's req/s over the anchors' mean; information, no target):")
    for line in table:
        print(line)
    events_rps = events_acked / seconds
    print(f"events acknowledged per second: {events_rps:,.1f} ({events_rps / anchor_rps:.1%} of the anchor's requests)")
    for label, samples in sampler.samples.items():
        ok, detail = memory_verdict(samples)
        print(f"memory, {label}: {detail}")
        print(f"  per process, first -> last sample (MiB): {sampler.per_process(label)}")
        if not ok:
            failures.append(f"memory of {label} kept growing")
    checks = [
        (server_errors == 0, f"5xx answers: {server_errors}"),
        (other_errors == 0, f"other non-2xx answers or broken connections: {other_errors}"),
        (events_ok, f"events reconciled: {events_detail}"),
        (rollups_ok, f"rollups reconciled: {rollups_detail}"),
        (billed, f"billing finished {drain_seconds:.1f} s after the load: {drain_state}"),
        (once_ok, f"every ended period of the run's subscriptions invoiced once: {once_detail}"),
    ]
    problems = log_problems(Path(server.log.name).read_text(errors="replace")) + log_problems(worker.output())
    checks.append((not problems, f"error lines in the server's and worker's logs: {len(problems)}"))
    for ok, text in checks:
        print(f"{verdict(ok)} {text}")
        if not ok:
            failures.append(text)
    for line in problems[:10]:
        print(f"  log: {line}")
    for client in clients:
        for kind, text in client.records.first_errors.items():
            print(f"  first error of {kind} (client {client.index}): {text}")
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"overall: {verdict(not failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
