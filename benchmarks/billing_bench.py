"""The billing run (billing clock → one Celery task per ended period) for 1,000 and 10,000 subscriptions.

Run from the project root: `.venv/bin/python benchmarks/billing_bench.py [--reload]`.
See benchmarks/README.md for what is measured and how to read the figures.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis
from common import (
    PROJECT_ROOT,
    PYTHON,
    CeleryWorker,
    cpu_model,
    database_url,
    ensure_database,
    memory_gib,
    progress,
    rollup_select,
    set_webhook_endpoint,
    verdict,
    webhook_message_counts,
)
from common import server_env as common_server_env
from psycopg.types.json import Jsonb

DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
ORGANIZATION_NAME = "Billing Bench Org"
API_KEY = "billing-bench-api-key-0123456789abcdef"

# Targets, each a ratio to an anchor of the same run (machines of one kind differ by 2x; the
# reasons for each threshold are in benchmarks/README.md).
MINIMAL_RATIO_TARGET = 0.05  # invoices/s >= 5 % of the minimal run's (the same rows, raw INSERTs) at each size
LINEAR_TARGET = 0.80  # invoices/s at the largest size >= 80 % of the rate at the smallest
ENTITLED_TARGET = 0.80  # with a percentage coupon, a once coupon and a wallet each: >= 80 % of the plain run

SIZES = (1_000, 10_000)
WARMUP_SUBSCRIPTIONS = 200
EVENTS_PER_SUBSCRIPTION = 100
QUERY_SAMPLE = 20

# (code, name, aggregation, property, share of the events)
METRICS = (
    ("api_calls", "API calls", "count_agg", None, 0.6),
    ("storage_gb", "Storage", "sum_agg", "gb", 0.4),
)
CHARGES = (
    (
        "api_calls",
        {
            "charge_model": "graduated",
            "properties": {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 50, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 51, "to_value": None, "per_unit_amount": "0.05", "flat_amount": "1"},
                ]
            },
        },
    ),
    ("storage_gb", {"charge_model": "standard", "properties": {"amount": "0.01"}}),
)


# Setup -----------------------------------------------------------------------------------------


def server_env(db_name: str, broker: str) -> dict[str, str]:
    """The app's environment (common.server_env) with a real broker, not eager tasks."""
    env = common_server_env(db_name)
    env.pop("REDIS_URL", None)
    env.update(CELERY_BROKER_URL=broker, CELERY_TASK_ALWAYS_EAGER="false", PYTHONUNBUFFERED="1")
    return env


def manage(db_name: str, broker: str, *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=server_env(db_name, broker),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_tenant(db_name: str, broker: str) -> uuid.UUID:
    output = manage(db_name, broker, "create_organization", "--name", ORGANIZATION_NAME, "--api-key", API_KEY)
    match = re.search(r"organization .* \(([0-9a-f-]{36})\)", output)
    if match is None:
        sys.exit(f"unexpected create_organization output:\n{output}")
    return uuid.UUID(match.group(1))


def setup_django(db_name: str, broker: str) -> None:
    os.environ.update(server_env(db_name, broker))
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)


def previous_month_start() -> datetime:
    """Midnight UTC on the first day of last month: one calendar period, clearly ended."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 2
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def this_month_start() -> datetime:
    today = datetime.now(UTC)
    return datetime(today.year, today.month, 1, tzinfo=UTC)


# The data set ----------------------------------------------------------------------------------


@dataclass
class Fixtures:
    organization_id: str
    subscription_ids: list[str]  # in external id order: the first N are the cohort of a run of N
    metric_ids: dict[str, str]
    period_start: datetime


ROLLUP_COLUMNS = (
    "subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max, latest_value, "
    "latest_timestamp"
)


def seed(organization_id: uuid.UUID, db_name: str, count: int) -> Fixtures:
    """Metrics and a plan through the services; customers and subscriptions with bulk_create; events
    with COPY and their rollups with one INSERT ... SELECT. Kept while the period is still last month."""
    from django.db import transaction

    from customers.models import Customer
    from organizations.models import Organization
    from plans.models import BillableMetric, Plan, Subscription
    from plans.services import create_billable_metric, create_plan

    organization = Organization.objects.get(pk=organization_id)
    period_start = previous_month_start()
    period_end = this_month_start()
    subscriptions = Subscription.objects.filter(organization=organization)
    with psycopg.connect(database_url(db_name)) as conn:
        events = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]
        rolled = conn.execute("SELECT coalesce(sum(events_count), 0) FROM events_usagerollup").fetchone()[0]
    loaded = (
        subscriptions.count() == count
        and not subscriptions.exclude(subscription_at=period_start).exists()
        and events == rolled == count * EVENTS_PER_SUBSCRIPTION
    )
    if not loaded:
        progress(f"seeding {count:,} subscriptions, {count * EVENTS_PER_SUBSCRIPTION:,} events and their rollups")
        started = time.perf_counter()
        with psycopg.connect(database_url(db_name), autocommit=True) as conn:
            conn.execute(
                "TRUNCATE invoicing_invoice, invoicing_invoicesubscription, invoicing_fee, "
                "invoicing_invoicesequence, events_usagerollup, events_event CASCADE"
            )
        with transaction.atomic():
            Subscription.objects.filter(organization=organization).delete()
            Customer.objects.filter(organization=organization).delete()
            if not Plan.objects.filter(organization=organization, code="bench_billing").exists():
                metrics = {
                    code: create_billable_metric(
                        organization=organization,
                        data={"code": code, "name": name, "aggregation_type": aggregation, "field_name": field},
                    )
                    for code, name, aggregation, field, _ in METRICS
                }
                create_plan(
                    organization=organization,
                    data={
                        "code": "bench_billing",
                        "name": "Bench billing",
                        "interval": "monthly",
                        "amount_cents": 2900,
                        "amount_currency": "USD",
                        "charges": [
                            {"billable_metric_id": str(metrics[code].pk), **charge} for code, charge in CHARGES
                        ],
                    },
                )
            plan = Plan.objects.get(organization=organization, code="bench_billing")
            customers = Customer.objects.bulk_create(
                Customer(
                    organization=organization,
                    external_id=f"cust-{number:05d}",
                    name=f"Bench customer {number}",
                    email=f"billing+{number}@example.test",
                    currency="USD",
                )
                for number in range(count)
            )
            Subscription.objects.bulk_create(
                Subscription(
                    organization=organization,
                    customer=customer,
                    plan=plan,
                    external_id=f"sub-{number:05d}",
                    status="active",
                    billing_time="calendar",
                    subscription_at=period_start,
                    started_at=period_start,
                )
                for number, customer in enumerate(customers)
            )
        ids = [str(pk) for pk in subscriptions.order_by("external_id").values_list("pk", flat=True)]
        rng = random.Random(42)
        codes = [m[0] for m in METRICS]
        weights = [m[4] for m in METRICS]
        span_ms = int((period_end - period_start).total_seconds() * 1000)
        base_ms = int(period_start.timestamp() * 1000)
        with psycopg.connect(database_url(db_name)) as conn:
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY events_event (organization_id, subscription_id, transaction_id, code, timestamp, properties, "
                    "created_at) FROM STDIN"
                ) as copy,
            ):
                for subscription_id in ids:
                    lines = []
                    for code in rng.choices(codes, weights, k=EVENTS_PER_SUBSCRIPTION):
                        seconds, millis = divmod(base_ms + rng.randrange(span_ms), 1000)
                        ts = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(seconds))}.{millis:03d}+00"
                        properties = (
                            f'{{"gb": {rng.randint(1, 100_000) / 1000}}}' if code == "storage_gb" else '{"path": "/v1"}'
                        )
                        lines.append(
                            f"{organization_id}\t{subscription_id}\tevt_{rng.getrandbits(96):024x}\t{code}\t{ts}\t"
                            f"{properties}\t{ts}\n"
                        )
                    copy.write("".join(lines))
            conn.execute(
                f"INSERT INTO events_usagerollup ({ROLLUP_COLUMNS}) {rollup_select('e.organization_id = %s')}",
                (organization_id,),
            )
            conn.commit()
        with psycopg.connect(database_url(db_name), autocommit=True) as conn:
            for table in ("events_event", "events_usagerollup", "plans_subscription", "customers_customer"):
                conn.execute(f"VACUUM ANALYZE {table}")
        progress(f"seeded in {time.perf_counter() - started:.1f} s")
    metric_ids = {m.code: str(m.pk) for m in BillableMetric.objects.filter(organization=organization)}
    ids = [str(pk) for pk in subscriptions.order_by("external_id").values_list("pk", flat=True)]
    return Fixtures(str(organization_id), ids, metric_ids, period_start)


def check_rollups(db_name: str) -> str:
    """The loaded rollups are exactly what the builder's SELECT gives over the events (EXCEPT both ways)."""
    with psycopg.connect(database_url(db_name)) as conn:
        stored = f"SELECT {ROLLUP_COLUMNS} FROM events_usagerollup"
        built = f"SELECT {ROLLUP_COLUMNS} FROM ({rollup_select('true')}) b"
        missing = conn.execute(f"SELECT count(*) FROM ({built} EXCEPT {stored}) x").fetchone()[0]
        extra = conn.execute(f"SELECT count(*) FROM ({stored} EXCEPT {built}) x").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM events_usagerollup").fetchone()[0]
    if missing or extra:
        sys.exit(f"rollups differ from the events: {missing} missing, {extra} extra")
    return f"{rows:,} rollup rows = the builder's SELECT over the events (EXCEPT both ways: 0 and 0)"


def clear_entitlements(db_name: str) -> None:
    """No coupon, applied coupon, wallet or wallet transaction left in the bench database."""
    if WEBHOOKS is not None:
        WEBHOOKS.drain()
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE invoicing_couponcredit, coupons_appliedcoupon, coupons_coupon_plans, "
            "coupons_coupon_billable_metrics, coupons_coupon, wallets_wallettransaction, wallets_wallet CASCADE"
        )


def seed_entitlements(db_name: str, fx: Fixtures, count: int) -> None:
    """Each customer of the first `count` subscriptions gets what issue 11 asks the bench to carry:
    a 10 % forever coupon, a once coupon of 5.00 and a wallet of 10 credits (10.00), granted.
    The two coupons through the service, the rows per customer in bulk, as they would be after
    `apply_coupon` and `create_wallet` (the books balanced: one settled grant per wallet)."""
    from decimal import Decimal

    from coupons.models import AppliedCoupon
    from coupons.services import create_coupon
    from customers.models import Customer
    from organizations.models import Organization
    from wallets.models import Wallet, WalletTransaction

    clear_entitlements(db_name)
    organization = Organization.objects.get(pk=fx.organization_id)
    common = {"frequency": "forever", "expiration": "no_expiration"}
    percent = create_coupon(
        organization=organization,
        data={"name": "Ten percent", "code": "bench_percent", "coupon_type": "percentage", "percentage_rate": 10}
        | common,
    )
    once = common | {"frequency": "once"}
    fixed = create_coupon(
        organization=organization,
        data={"name": "Welcome", "code": "bench_once", "coupon_type": "fixed_amount", "amount_cents": 500}
        | {"amount_currency": "USD"}
        | once,
    )
    customers = list(
        Customer.objects.filter(subscriptions__id__in=fx.subscription_ids[:count]).values_list("pk", flat=True)
    )
    applied = []
    for customer_id in customers:
        applied.append(
            AppliedCoupon(
                organization=organization,
                coupon=percent,
                customer_id=customer_id,
                percentage_rate=Decimal(10),
                frequency="forever",
            )
        )
        applied.append(
            AppliedCoupon(
                organization=organization,
                coupon=fixed,
                customer_id=customer_id,
                amount_cents=500,
                amount_cents_remaining=500,
                amount_currency="USD",
                frequency="once",
            )
        )
    AppliedCoupon.objects.bulk_create(applied, batch_size=2000)
    wallets = Wallet.objects.bulk_create(
        (
            Wallet(
                organization=organization,
                customer_id=customer_id,
                currency="USD",
                rate_amount=Decimal(1),
                credits_balance=Decimal(10),
                balance_cents=1000,
            )
            for customer_id in customers
        ),
        batch_size=2000,
    )
    WalletTransaction.objects.bulk_create(
        (
            WalletTransaction(
                wallet=wallet,
                transaction_type="inbound",
                status="settled",
                transaction_status="granted",
                credit_amount=Decimal(10),
                amount_cents=1000,
                settled_at=wallet.created_at,
            )
            for wallet in wallets
        ),
        batch_size=2000,
    )
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        for table in ("coupons_appliedcoupon", "wallets_wallet", "wallets_wallettransaction"):
            conn.execute(f"VACUUM ANALYZE {table}")


def check_entitlements_used(db_name: str, count: int) -> str:
    """Every invoice of the entitled run took both coupons and credits, and the books balance."""
    with psycopg.connect(database_url(db_name)) as conn:
        took = conn.execute(
            "SELECT count(*) FILTER (WHERE coupons_amount_cents > 0 AND prepaid_credit_amount_cents > 0), "
            "count(*) FROM invoicing_invoice"
        ).fetchone()
        credits = conn.execute("SELECT count(*) FROM invoicing_couponcredit").fetchone()[0]
        unbalanced = conn.execute(
            "SELECT count(*) FROM wallets_wallet w WHERE (SELECT coalesce(sum(CASE WHEN t.transaction_type = "
            "'inbound' THEN t.amount_cents ELSE -t.amount_cents END), 0) FROM wallets_wallettransaction t "
            "WHERE t.wallet_id = w.id AND t.status = 'settled') <> w.balance_cents"
        ).fetchone()[0]
    if took[0] != count or credits != 2 * count or unbalanced:
        sys.exit(f"entitled run: {took[0]}/{count} invoices reduced, {credits} coupon credits, {unbalanced} unbalanced")
    return (
        f"{took[0]:,} invoices each reduced by both coupons and the wallet, {credits:,} coupon credits, books balanced"
    )


def reset_invoices(db_name: str) -> None:
    if WEBHOOKS is not None:
        WEBHOOKS.drain()  # a message renders its object at its first attempt: delivered before it goes
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE invoicing_invoice, invoicing_invoicesubscription, invoicing_fee, "
            "invoicing_invoicesequence CASCADE"
        )


def activate_cohort(db_name: str, fx: Fixtures, count: int) -> None:
    """The first `count` subscriptions are active (billed by the clock), the others pending."""
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute(
            "UPDATE plans_subscription SET status = CASE WHEN id = ANY(%s::uuid[]) THEN 'active' ELSE 'pending' END "
            "WHERE organization_id = %s",
            (fx.subscription_ids[:count], fx.organization_id),
        )
        conn.execute("VACUUM ANALYZE plans_subscription")


# Webhooks on (issue 13; benchmarks/webhooks_bench.py --others compares runs with and without) --------


class WebhookDelivery:
    """`--webhook-endpoint URL`: the bench organization gets an endpoint listening to every message type
    (its billing sends `invoice.created` per invoice, and `wallet_transaction.created` in the entitled
    run), and one webhooks worker (`-Q <CELERY_WEBHOOKS_QUEUE> -c 1`) delivers them: during the billing
    runs (`--webhook-delivery during`: the cores are shared with it), or only between the runs (`after`:
    what the billing path itself pays for the outbox, its message row and its task sent on commit).
    Invoices and wallets are deleted between runs, and a message renders its object at its first
    attempt, so every message is delivered before (`drain`)."""

    def __init__(self, db_name: str, broker: str, organization_id, url: str, mode: str) -> None:
        from django.conf import settings

        self.db_name, self.broker, self.organization_id, self.mode = db_name, broker, organization_id, mode
        self.queue = settings.CELERY_WEBHOOKS_QUEUE
        self.note = set_webhook_endpoint(organization_id, url)
        redis.Redis.from_url(broker).delete(self.queue)
        self.worker: CeleryWorker | None = None
        self.drain_seconds = 0.0
        self.errors: list[str] = []
        atexit.register(self.stop_worker)  # also when the script exits on an error
        if mode == "during":
            self.start_worker()

    def start_worker(self) -> None:
        from billing.celery import app

        self.worker = CeleryWorker(
            label="billing-bench-webhooks", env=server_env(self.db_name, self.broker), queue=self.queue, concurrency=1
        )
        self.worker.wait_ready(app)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.errors += self.worker.error_lines()
            Path(self.worker.log.name).unlink(missing_ok=True)
            self.worker = None

    def pending(self) -> int:
        return webhook_message_counts(self.db_name, self.organization_id).get("pending", 0)

    def drain(self, timeout: float = 900.0) -> None:
        if not self.pending():
            return
        started = time.perf_counter()
        if self.worker is None:
            self.start_worker()
        assert self.worker is not None
        while self.pending():
            self.worker.check_alive()
            if time.perf_counter() - started > timeout:
                sys.exit(f"webhooks: {self.pending()} messages still pending after {timeout:.0f} s")
            time.sleep(0.1)
        self.drain_seconds += time.perf_counter() - started
        if self.mode == "after":
            self.stop_worker()

    def close(self) -> str:
        """Stop the worker, remove the endpoint and the messages; the report's line."""
        self.drain()
        self.stop_worker()
        counts = webhook_message_counts(self.db_name, self.organization_id)
        set_webhook_endpoint(self.organization_id, None)
        redis.Redis.from_url(self.broker).delete(self.queue)
        when = "during the billing runs" if self.mode == "during" else "only between the billing runs"
        return (
            f"{self.note}; delivered {when} by one worker (-c 1): {sum(counts.values()):,} messages written, "
            f"{counts.get('succeeded', 0):,} delivered, {self.drain_seconds:.1f} s waiting for deliveries between "
            f"runs; webhooks worker: {len(self.errors)} error lines"
        )


WEBHOOKS: WebhookDelivery | None = None


# Queries per invoice (in-process, rolled back) -------------------------------------------------------


@dataclass
class QueryCounts:
    full: list[int]  # bill_due_period with the organization's grace period of 0: billed and finalized
    bill_only: list[int]  # the same with a grace period: the draft only
    finalize_only: list[int]  # finalize_invoice of that draft

    @staticmethod
    def describe(counts: list[int]) -> str:
        return f"{statistics.median(counts):.0f}" + (
            "" if min(counts) == max(counts) else f" ({min(counts)}–{max(counts)})"
        )


def count_queries(fx: Fixtures, count: int) -> QueryCounts:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer
    from invoicing.services import bill_due_period, finalize_invoice

    full, bill_only, finalize_only = [], [], []
    sample = fx.subscription_ids[: min(count, QUERY_SAMPLE)]
    at = datetime.now(UTC)
    for subscription_id in sample:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as ctx:
                invoice = bill_due_period(subscription_id=subscription_id, period_start=fx.period_start, at=at)
            assert invoice is not None and invoice.status == "finalized", invoice
            full.append(len(ctx))
            transaction.set_rollback(True)
        with transaction.atomic():
            Customer.objects.filter(subscriptions__id=subscription_id).update(invoice_grace_period=3)
            with CaptureQueriesContext(connection) as ctx:
                invoice = bill_due_period(subscription_id=subscription_id, period_start=fx.period_start, at=at)
            assert invoice is not None and invoice.status == "draft", invoice
            bill_only.append(len(ctx))
            with CaptureQueriesContext(connection) as ctx:
                finalize_invoice(invoice=invoice, at=at)
            finalize_only.append(len(ctx))
            transaction.set_rollback(True)
    return QueryCounts(full, bill_only, finalize_only)


# The billing run on a real worker ----------------------------------------------------------------


def billing_worker(db_name: str, broker: str, queue: str, concurrency: int, db_reuse_max: int | None = None):
    """`celery -A billing worker -c 2` (prefork) on the bench database and broker (common.CeleryWorker).
    With `db_reuse_max`, the what-if: the same worker with CELERY_DB_REUSE_MAX set in Django's settings
    before the app reads them (Celery's Django fixup otherwise closes the connection around every task)."""
    command = None
    if db_reuse_max is not None:
        command = [
            str(PYTHON),
            "-c",
            "import sys, django; django.setup(); from django.conf import settings; "
            f"settings.CELERY_DB_REUSE_MAX = {db_reuse_max}; "
            "from billing.celery import app; app.worker_main(sys.argv[1:])",
        ]
    return CeleryWorker(
        label="billing_bench",
        env=server_env(db_name, broker),
        queue=queue,
        concurrency=concurrency,
        command=command,
    )


@dataclass
class RunResult:
    count: int
    seconds: float
    first_invoice_seconds: float
    queries: QueryCounts | None = None
    minimal_seconds: float = 0.0
    duplicates: int = 0
    numbers: str = ""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def minimal_per_second(self) -> float:
        return self.count / self.minimal_seconds


def billing_run(db_name: str, fx: Fixtures, worker: CeleryWorker, count: int, timeout: float) -> RunResult:
    """One clock run on the worker; timed from the enqueue to the last invoice committed, finalized."""
    from invoicing.tasks import run_billing_clock_task

    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        started = time.perf_counter()
        run_billing_clock_task.delay()
        first = 0.0
        deadline = started + timeout
        while True:
            done = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'finalized'), count(*) FROM invoicing_invoice"
            ).fetchone()
            now = time.perf_counter()
            if done[1] and not first:
                first = now - started
            if done[0] >= count:
                break
            if now > deadline:
                sys.exit(f"timed out: {done[0]}/{count} invoices finalized after {timeout:.0f} s\n{worker.output()}")
            worker.check_alive()
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    return RunResult(count=count, seconds=elapsed, first_invoice_seconds=first)


def check_billed_once(db_name: str, fx: Fixtures, count: int) -> tuple[int, str]:
    """No subscription billed twice for a period; one invoice per subscription; numbers 1..N, no gap."""
    from invoicing.tasks import run_billing_clock_task

    with psycopg.connect(database_url(db_name)) as conn:
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT subscription_id, period_start FROM invoicing_invoicesubscription "
            "GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()[0]
        links, subscriptions, periods = conn.execute(
            "SELECT count(*), count(DISTINCT subscription_id), count(DISTINCT period_start) "
            "FROM invoicing_invoicesubscription"
        ).fetchone()
        invoices, numbered, lowest, highest = conn.execute(
            "SELECT count(*), count(DISTINCT sequential_id), min(sequential_id), max(sequential_id) "
            "FROM invoicing_invoice"
        ).fetchone()
    ok = duplicates == 0 and links == subscriptions == invoices == numbered == count and periods == 1
    ok &= lowest == 1 and highest == count
    if not ok:
        sys.exit(
            f"billed twice or missing: {duplicates} duplicated periods, {links} links, {subscriptions} subscriptions, "
            f"{invoices} invoices, numbers {lowest}..{highest} ({numbered} distinct), expected {count}"
        )
    again = run_billing_clock_task.apply().get()  # in-process: enqueues nothing if nothing is due
    if again != {"periods": 0, "drafts": 0}:
        sys.exit(f"a second clock run still found work: {again}")
    return duplicates, f"1..{highest}"


# The minimal run: the same rows, raw INSERTs ---------------------------------------------------------


def snapshot(db_name: str) -> list[tuple[tuple, tuple, list[tuple]]]:
    """Every invoice with its InvoiceSubscription and its fees, as rows (columns in table order)."""
    with psycopg.connect(database_url(db_name)) as conn:
        invoices = conn.execute("SELECT * FROM invoicing_invoice ORDER BY created_at").fetchall()

        def invoice_column(table: str) -> int:
            return [d.name for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description].index("invoice_id")

        link_column = invoice_column("invoicing_invoicesubscription")
        links = {row[link_column]: row for row in conn.execute("SELECT * FROM invoicing_invoicesubscription")}
        fee_column = invoice_column("invoicing_fee")
        fees: dict[Any, list[tuple]] = defaultdict(list)
        for row in conn.execute("SELECT * FROM invoicing_fee"):
            fees[row[fee_column]].append(row)
    return [(invoice, links[invoice[0]], fees[invoice[0]]) for invoice in invoices]


def insert_sql(conn: psycopg.Connection, table: str, rows: int = 1) -> str:
    columns = [d.name for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows)


def adapt(row: tuple) -> tuple:
    return tuple(Jsonb(value) if isinstance(value, dict | list) else value for value in row)


def minimal_worker(db_name: str, items: list, ready, go, results) -> None:
    """One connection; per invoice one transaction: the invoice, its link, its fees in one INSERT."""
    with psycopg.connect(database_url(db_name)) as conn:
        invoice_sql = insert_sql(conn, "invoicing_invoice")
        link_sql = insert_sql(conn, "invoicing_invoicesubscription")
        fee_sql = {n: insert_sql(conn, "invoicing_fee", n) for n in {len(fees) for _, _, fees in items}}
        conn.rollback()
        ready.release()
        go.wait()
        started = time.perf_counter()
        for invoice, link, fees in items:
            with conn.cursor() as cur:
                cur.execute(invoice_sql, adapt(invoice))
                cur.execute(link_sql, link)
                if fees:
                    cur.execute(fee_sql[len(fees)], [value for fee in fees for value in fee])
            conn.commit()
        results.put(time.perf_counter() - started)


def minimal_run(db_name: str, rows: list, processes: int) -> float:
    """The same invoices, links and fees inserted with raw SQL by `processes` connections; wall seconds."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    chunks = [rows[index::processes] for index in range(processes)]
    workers = [context.Process(target=minimal_worker, args=(db_name, chunk, ready, go, results)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    for _ in workers:
        results.get()
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    return elapsed


# Report ------------------------------------------------------------------------------------------


def machine_info(db_name: str, broker_url: str) -> list[str]:
    cpu, memory = cpu_model(), memory_gib()
    with psycopg.connect(database_url(db_name)) as conn:

        def setting(name: str) -> str:
            row = conn.execute(f"SHOW {name}").fetchone()
            return str(row[0]) if row else "?"

        pg = (
            f"PostgreSQL {setting('server_version')} (shared_buffers={setting('shared_buffers')}, "
            f"work_mem={setting('work_mem')}, synchronous_commit={setting('synchronous_commit')})"
        )
    redis_version = redis.Redis.from_url(broker_url).info().get("redis_version", "?")
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores, {memory} RAM (worker, PostgreSQL, Redis and this script share them)",
        pg + f", Redis {redis_version}",
        f"Python {platform.python_version()}, Django {metadata.version('django')}, "
        f"Celery {metadata.version('celery')}, psycopg {metadata.version('psycopg')}",
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="billing_billing_bench", help="PostgreSQL database (created if missing)")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Redis URL of the broker (a database of its own)")
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per billing run")
    parser.add_argument("--reload", action="store_true", help="drop the database and seed everything again")
    parser.add_argument("--no-what-if", action="store_true", help="skip the run with CELERY_DB_REUSE_MAX")
    parser.add_argument(
        "--webhook-endpoint", metavar="URL", help="a webhook endpoint (every type) for the bench organization"
    )
    parser.add_argument(
        "--webhook-delivery",
        choices=("during", "after"),
        default="during",
        help="with --webhook-endpoint: its messages delivered during the billing runs, or only between them",
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if args.webhook_endpoint:
        os.environ["WEBHOOKS_ALLOW_PRIVATE_URLS"] = "true"  # the endpoint may be on loopback

    if args.reload:
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    ensure_database(args.db)
    manage(args.db, args.broker, "migrate", "--noinput")
    organization_id = create_tenant(args.db, args.broker)
    setup_django(args.db, args.broker)
    from billing.celery import app

    fx = seed(organization_id, args.db, max(sizes))
    rollups = check_rollups(args.db)
    clear_entitlements(args.db)  # a run stopped half-way may have left some
    global WEBHOOKS
    if args.webhook_endpoint:
        WEBHOOKS = WebhookDelivery(args.db, args.broker, organization_id, args.webhook_endpoint, args.webhook_delivery)
    else:
        set_webhook_endpoint(organization_id, None)  # none left by an interrupted run

    # The clock's task and its fan-out go to the default queue of a broker database of our own.
    queue = app.conf.task_default_queue
    broker = redis.Redis.from_url(args.broker)
    broker.delete(queue)
    worker = billing_worker(args.db, args.broker, queue, args.concurrency)
    results: list[RunResult] = []
    try:
        progress(f"warm-up run: {WARMUP_SUBSCRIPTIONS} subscriptions")
        reset_invoices(args.db)
        activate_cohort(args.db, fx, WARMUP_SUBSCRIPTIONS)
        billing_run(args.db, fx, worker, WARMUP_SUBSCRIPTIONS, args.timeout)
        for count in sizes:
            reset_invoices(args.db)
            activate_cohort(args.db, fx, count)
            queries = count_queries(fx, count)
            progress(f"billing run: {count:,} subscriptions on `celery worker -c {args.concurrency}`")
            result = billing_run(args.db, fx, worker, count, args.timeout)
            result.queries = queries
            result.duplicates, result.numbers = check_billed_once(args.db, fx, count)
            rows = snapshot(args.db)
            reset_invoices(args.db)
            progress(f"minimal run: the same {len(rows):,} invoices and their fees, raw INSERTs")
            result.minimal_seconds = minimal_run(args.db, rows, args.concurrency)
            results.append(result)
            progress(f"{count:,}: {result.per_second:.1f} invoices/s, minimal {result.minimal_per_second:.0f}/s")
        # The same smallest run again, every customer with two coupons and a wallet.
        entitled_count = sizes[0]
        reset_invoices(args.db)
        activate_cohort(args.db, fx, entitled_count)
        seed_entitlements(args.db, fx, entitled_count)
        entitled_queries = count_queries(fx, entitled_count)
        progress(f"billing run with coupons and wallets: {entitled_count:,} subscriptions")
        entitled = billing_run(args.db, fx, worker, entitled_count, args.timeout)
        entitled.queries = entitled_queries
        entitled.duplicates, entitled.numbers = check_billed_once(args.db, fx, entitled_count)
        entitlements = check_entitlements_used(args.db, entitled_count)
        clear_entitlements(args.db)
    finally:
        worker.stop()
        broker.delete(queue)
    worker_output = worker.output()
    Path(worker.log.name).unlink(missing_ok=True)

    # What-if (not in the verdict): the smallest run again, the worker keeping its connections.
    what_if: RunResult | None = None
    if not args.no_what_if:
        broker.delete(queue)
        worker = billing_worker(args.db, args.broker, queue, args.concurrency, db_reuse_max=1_000_000)
        try:
            reset_invoices(args.db)
            activate_cohort(args.db, fx, WARMUP_SUBSCRIPTIONS)
            billing_run(args.db, fx, worker, WARMUP_SUBSCRIPTIONS, args.timeout)
            reset_invoices(args.db)
            activate_cohort(args.db, fx, sizes[0])
            progress(f"what-if: {sizes[0]:,} subscriptions, worker with CELERY_DB_REUSE_MAX")
            what_if = billing_run(args.db, fx, worker, sizes[0], args.timeout)
            check_billed_once(args.db, fx, sizes[0])
        finally:
            worker.stop()
            broker.delete(queue)
        worker_output += worker.output()
        Path(worker.log.name).unlink(missing_ok=True)
    reset_invoices(args.db)
    activate_cohort(args.db, fx, max(sizes))
    webhooks_line = WEBHOOKS.close() if WEBHOOKS is not None else "no webhook endpoint"

    print()
    print(
        f"billing benchmark: one clock run (run_billing_clock_task) → one bill_period_task per subscription,"
        f" on `celery -A billing worker -c {args.concurrency}` (prefork, Redis broker, acks_late, prefetch 1)"
    )
    print(
        f"  each subscription: monthly calendar plan, 2 charges (graduated count, standard sum), "
        f"{EVENTS_PER_SUBSCRIPTION} events in the ended period, rolled up per 15 min; one organization"
    )
    print("  grace period 0 (the default): every invoice is finalized in the same task (numbered, snapshot)")
    for line in machine_info(args.db, args.broker):
        print("  " + line)
    print()
    header = (
        f"{'subscriptions':>13} {'seconds':>8} {'invoices/s':>10} {'first inv s':>11} {'queries/inv':>11} "
        f"{'minimal/s':>9} {'app/min':>7} {'billed twice':>12}  {'target':<16} result"
    )
    print(header)
    print("-" * len(header))
    all_ok = True
    for result in results:
        assert result.queries is not None
        ok = result.per_second / result.minimal_per_second >= MINIMAL_RATIO_TARGET and result.duplicates == 0
        all_ok &= ok
        print(
            f"{result.count:>13,} {result.seconds:>8.2f} {result.per_second:>10.1f} "
            f"{result.first_invoice_seconds:>11.2f} "
            f"{QueryCounts.describe(result.queries.full):>11} {result.minimal_per_second:>9.0f} "
            f"{result.per_second / result.minimal_per_second:>6.1%} {result.duplicates:>12}  "
            f"{f'app/min >= {MINIMAL_RATIO_TARGET:.0%}':<16} {verdict(ok)}"
        )
    smallest, largest = results[0], results[-1]
    linear = largest.per_second / smallest.per_second
    ok = linear >= LINEAR_TARGET
    all_ok &= ok
    print(
        f"{'growth':>13} {largest.count // smallest.count}x the subscriptions took "
        f"{largest.seconds / smallest.seconds:.1f}x the time: rate at {largest.count:,} {largest.per_second:.1f}/s = "
        f"{linear:.0%} of the rate at {smallest.count:,} {smallest.per_second:.1f}/s (anchor)  "
        f"(target >= {LINEAR_TARGET:.0%}) {verdict(ok)}"
    )
    plain = results[0]
    ratio = entitled.per_second / plain.per_second
    fixed = min(entitled.queries.full) == max(entitled.queries.full)
    ok = ratio >= ENTITLED_TARGET and fixed and entitled.duplicates == 0
    all_ok &= ok
    print(
        f"{'entitled':>13} {entitled.count:,} subscriptions, each customer with a 10 % coupon, a once coupon and a "
        f"wallet: {entitled.seconds:.2f} s = {entitled.per_second:.1f} invoices/s = {ratio:.0%} of the plain run "
        f"{plain.per_second:.1f}/s (anchor); {QueryCounts.describe(entitled.queries.full)} statements per invoice"
        f"{' (fixed)' if fixed else ' (NOT fixed)'}; billed twice {entitled.duplicates}  "
        f"(target >= {ENTITLED_TARGET:.0%}, fixed) {verdict(ok)}"
    )
    print(f"{'':>13} {entitlements}")
    print()
    print("seconds = from enqueueing the clock task to the last invoice committed and finalized (polled every 50 ms);")
    print("first inv s = until the first invoice row appeared. queries/inv = SQL statements of one bill_period_task")
    print(f"(bill_due_period), captured in-process on {QUERY_SAMPLE} subscriptions and rolled back; median (min–max).")
    print(f"minimal/s = the same invoice, InvoiceSubscription and fee rows inserted with raw SQL by {args.concurrency}")
    print("connections, one transaction per invoice (3 INSERTs); app/min = invoices/s of the app / minimal/s.")
    print("billed twice = (subscription, period) pairs with more than one InvoiceSubscription; the run also checks")
    print("one invoice per subscription, numbers 1..N without gap, and that a second clock run finds nothing.")
    print()
    for result in results:
        assert result.queries is not None
        q = result.queries
        print(
            f"queries per invoice at {result.count:,}: billed and finalized {QueryCounts.describe(q.full)}; "
            f"with a grace period: draft {QueryCounts.describe(q.bill_only)}, then finalize_invoice_task "
            f"{QueryCounts.describe(q.finalize_only)}; numbers {result.numbers}"
        )
    if what_if is not None:
        smallest = results[0]
        print(
            f"what-if, not in the verdict: {what_if.count:,} subscriptions with the worker keeping its database "
            f"connection (CELERY_DB_REUSE_MAX set): {what_if.seconds:.2f} s = {what_if.per_second:.1f} invoices/s, "
            f"{what_if.per_second / smallest.per_second:.2f}x the run above (Celery's Django fixup otherwise "
            f"closes it before and after every task, whatever CONN_MAX_AGE says)"
        )
    print(f"rollups: {rollups}")
    print(f"webhooks: {webhooks_line}")
    problems = [line for line in worker_output.splitlines() if "ERROR" in line or "Traceback" in line]
    print(f"worker log: {len(problems)} error lines" + ("" if not problems else ":\n" + "\n".join(problems[:20])))
    print()
    print(f"overall: {verdict(all_ok)}")


if __name__ == "__main__":
    main()
