"""Deleting 1,000 customers: the deletions themselves, then their cascades on one Celery worker process.

Run from the project root: `.venv/bin/python benchmarks/deletion_bench.py [--count 1000 | --smoke]`.
See benchmarks/README.md ("deletion_bench.py") for what is measured and how to read the figures.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import redis
from billing_bench import CHARGES, METRICS, ROLLUP_COLUMNS, machine_info, manage, setup_django
from billing_bench import server_env as billing_server_env
from common import PROJECT_ROOT, CeleryWorker, database_url, ensure_database, progress, rollup_select, verdict

CELERY = PROJECT_ROOT / ".venv" / "bin" / "celery"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"  # a Redis database of its own (billing_bench: 13, tests: 11, 14, 15)
ORGANIZATION_NAME = "Deletion Bench Org"
API_KEY = "deletion-bench-api-key-0123456789abcdef"

# The verdict: a ratio to an anchor of the same run (benchmarks/README.md, "deletion_bench.py").
# Anchor: the billing run's invoices per second on the same worker process, for the same subscriptions,
# each invoice taking the same coupon and wallet. A cascade's main work is one such invoice (its
# termination invoice); ending the subscription, the coupon and the wallet and recording the steps
# bring it to 51 statements against the invoice's 22, so about 43 % of the rate is what the
# statements predict, and 41-45 % is what runs measured. 30 % is about three quarters of that: the
# noise of a shared machine cannot fail it, a cascade doing twice the work it does now does.
CASCADE_TARGET = 0.30

DEFAULT_COUNT = 1_000
SMOKE_COUNT = 100
EVENTS_PER_PERIOD = 100  # per subscription, in last month (billed by the anchor) and in this month so far
WALLET_CREDITS = Decimal(1000)  # 1,000.00 USD: both invoices take some, the deletion voids the rest
WARMUP = 20  # customers of an untimed first round, whose statements are counted
ROUNDS = 10


# The data set ------------------------------------------------------------------------------------


def month_start(offset: int) -> datetime:
    """Midnight UTC on the first day of the month `offset` months from this one."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 + offset
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


@dataclass
class Fixtures:
    organization_id: str
    customer_ids: list[str]  # in external id order
    subscription_ids: list[str]  # the same order
    plan_code: str = "bench_deletion"
    profiles: dict[str, str] = field(default_factory=dict)  # label -> customer id


def create_tenant(db_name: str, broker: str) -> uuid.UUID:
    output = manage(db_name, broker, "create_organization", "--name", ORGANIZATION_NAME, "--api-key", API_KEY)
    match = re.search(r"organization .* \(([0-9a-f-]{36})\)", output)
    if match is None:
        sys.exit(f"unexpected create_organization output:\n{output}")
    return uuid.UUID(match.group(1))


def copy_events(db_name: str, organization_id: str, windows: list[tuple[str, datetime, datetime, int]]) -> None:
    """`count` events per (subscription, window start, window end, count), spread at random over the
    window, with one COPY; then their 15-minute rollups with one INSERT ... SELECT (ingestion's rules)."""
    rng = random.Random(windows[0][0])  # reproducible, and transaction ids differ from one call to the next
    codes = [metric[0] for metric in METRICS]
    weights = [metric[4] for metric in METRICS]
    subscription_ids = sorted({window[0] for window in windows})
    with psycopg.connect(database_url(db_name)) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY events_event (organization_id, subscription_id, transaction_id, code, timestamp, properties, "
                "created_at) FROM STDIN"
            ) as copy,
        ):
            for subscription_id, start, end, count in windows:
                span_ms = max(int((end - start).total_seconds() * 1000), 1)
                base_ms = int(start.timestamp() * 1000)
                lines = []
                for code in rng.choices(codes, weights, k=count):
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
            f"INSERT INTO events_usagerollup ({ROLLUP_COLUMNS}) {rollup_select('e.subscription_id = ANY(%s::uuid[])')}",
            (subscription_ids,),
        )
        conn.commit()


def seed(organization_id: uuid.UUID, db_name: str, count: int) -> Fixtures:
    """Metrics, the plan and the coupon through the services; customers, subscriptions, applied
    coupons and wallets in bulk, as the services leave them; events with COPY and their rollups."""
    from django.db import transaction

    from coupons.models import AppliedCoupon
    from coupons.services import create_coupon
    from customers.models import Customer
    from customers.services import recount_live_customers
    from organizations.models import Organization
    from plans.models import Plan, Subscription
    from plans.services import create_billable_metric, create_plan
    from wallets.models import Wallet, WalletTransaction

    organization = Organization.objects.get(pk=organization_id)
    started = time.perf_counter()
    last_month, this_month = month_start(-1), month_start(0)
    with transaction.atomic():
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
                "code": "bench_deletion",
                "name": "Bench deletion",
                "interval": "monthly",
                "amount_cents": 2900,
                "amount_currency": "USD",
                "charges": [{"billable_metric_id": str(metrics[code].pk), **charge} for code, charge in CHARGES],
            },
        )
        plan = Plan.objects.get(organization=organization, code="bench_deletion")
        customers = Customer.objects.bulk_create(
            Customer(
                organization=organization,
                external_id=f"del-{number:05d}",
                name=f"Deletion customer {number}",
                email=f"deletion+{number}@example.test",
                currency="USD",
            )
            for number in range(count)
        )
        subscriptions = Subscription.objects.bulk_create(
            Subscription(
                organization=organization,
                customer=customer,
                plan=plan,
                external_id=f"del-sub-{number:05d}",
                status="active",
                billing_time="calendar",
                subscription_at=last_month,
                started_at=last_month,
            )
            for number, customer in enumerate(customers)
        )
        recount_live_customers(organization=organization)
        percent = create_coupon(
            organization=organization,
            data={
                "name": "Ten percent",
                "code": "bench_percent",
                "coupon_type": "percentage",
                "percentage_rate": 10,
                "frequency": "forever",
                "expiration": "no_expiration",
            },
        )
        AppliedCoupon.objects.bulk_create(
            (
                AppliedCoupon(
                    organization=organization,
                    coupon=percent,
                    customer=customer,
                    percentage_rate=Decimal(10),
                    frequency="forever",
                )
                for customer in customers
            ),
            batch_size=2000,
        )
        wallets = Wallet.objects.bulk_create(
            (
                Wallet(
                    organization=organization,
                    customer=customer,
                    currency="USD",
                    rate_amount=Decimal(1),
                    credits_balance=WALLET_CREDITS,
                    balance_cents=int(WALLET_CREDITS * 100),
                )
                for customer in customers
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
                    credit_amount=WALLET_CREDITS,
                    amount_cents=int(WALLET_CREDITS * 100),
                    settled_at=wallet.created_at,
                )
                for wallet in wallets
            ),
            batch_size=2000,
        )
    now = datetime.now(UTC)
    windows = []
    for subscription in subscriptions:
        windows.append((str(subscription.pk), last_month, this_month, EVENTS_PER_PERIOD))
        windows.append((str(subscription.pk), this_month, now - timedelta(seconds=60), EVENTS_PER_PERIOD))
    copy_events(db_name, str(organization_id), windows)
    vacuum(db_name)
    events = 2 * count * EVENTS_PER_PERIOD
    progress(f"seeded {count:,} customers and {events:,} events in {time.perf_counter() - started:.1f} s")
    return Fixtures(
        organization_id=str(organization_id),
        customer_ids=[str(customer.pk) for customer in customers],
        subscription_ids=[str(subscription.pk) for subscription in subscriptions],
    )


def vacuum(db_name: str) -> None:
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def add_profiles(db_name: str, fx: Fixtures) -> None:
    """Customers with other histories, through the services, for the statement counts only (never
    deleted): 1,000 events in the current period instead of 100; 5 past invoices instead of 1."""
    from coupons.models import Coupon
    from coupons.services import apply_coupon
    from customers.services import create_customer
    from invoicing.prepaid_credits import TopUp, create_wallet
    from invoicing.services import bill_subscription
    from invoicing.subscriptions import create_subscription
    from organizations.models import Organization
    from plans.subscription_periods import period_of

    organization = Organization.objects.get(pk=fx.organization_id)
    coupon = Coupon.objects.get(organization=organization, code="bench_percent")
    now = datetime.now(UTC)
    for label, months, events_now in (
        ("1,000 events, 1 past invoice", 1, 1000),
        ("100 events, 5 past invoices", 5, 100),
    ):
        number = len(fx.profiles)
        customer = create_customer(
            organization=organization, data={"external_id": f"profile-{number}", "currency": "USD"}
        )
        subscription, _ = create_subscription(
            organization=organization,
            data={
                "external_customer_id": customer.external_id,
                "plan_code": fx.plan_code,
                "external_id": f"profile-sub-{number}",
                "subscription_at": month_start(-months),
                "billing_time": "calendar",
            },
        )
        apply_coupon(customer=customer, coupon=coupon)
        create_wallet(customer=customer, rate_amount=Decimal(1), top_up=TopUp(granted_credits=WALLET_CREDITS))
        windows = [
            (str(subscription.pk), month_start(-k), month_start(-k + 1), EVENTS_PER_PERIOD)
            for k in range(months, 0, -1)
        ]
        windows.append((str(subscription.pk), month_start(0), now - timedelta(seconds=60), events_now))
        copy_events(db_name, fx.organization_id, windows)
        for k in range(months, 0, -1):
            period = period_of(subscription, month_start(-k))
            invoice = bill_subscription(
                subscription=subscription, reason="subscription_periodic", period=period, at=period.end
            )
            assert invoice is not None and invoice.status == "finalized", invoice
        fx.profiles[label] = str(customer.pk)


# Statements (in-process, rolled back) -------------------------------------------------------------


@dataclass
class Statements:
    deletion: int  # delete_customer
    cascade: int  # run_customer_deletion, everything it ran
    savepoints: int  # of which SAVEPOINT / RELEASE SAVEPOINT: transactions of their own in the worker


def cascade_statements(customer_id: str) -> Statements:
    """The SQL of deleting one customer and of its whole cascade, captured in-process and rolled
    back (the deletion's task is never sent: its transaction does not commit)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer
    from invoicing.customer_deletion import delete_customer, run_customer_deletion
    from invoicing.models import CustomerDeletion, InvoiceSubscription

    with transaction.atomic():
        customer = Customer.objects.get(pk=customer_id)
        with CaptureQueriesContext(connection) as deletion:
            delete_customer(customer=customer)
        record = CustomerDeletion.objects.get(customer_id=customer_id)
        with CaptureQueriesContext(connection) as cascade:
            done = run_customer_deletion(deletion_id=record.pk)
        assert done.finished_at is not None
        assert InvoiceSubscription.objects.filter(
            subscription__customer_id=customer_id, invoicing_reason="subscription_terminating"
        ).exists()
        transaction.set_rollback(True)
    savepoints = sum(1 for query in cascade.captured_queries if re.match(r"(RELEASE )?SAVEPOINT", query["sql"]))
    return Statements(len(deletion), len(cascade), savepoints)


def invoice_statements(fx: Fixtures, sample: list[str]) -> list[int]:
    """The SQL of one bill_period_task (bill_due_period) for last month, rolled back: the anchor's unit."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from invoicing.services import bill_due_period

    counts = []
    for subscription_id in sample:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as ctx:
                invoice = bill_due_period(subscription_id=subscription_id, period_start=month_start(-1))
            assert invoice is not None and invoice.status == "finalized" and invoice.prepaid_credit_amount_cents > 0
            counts.append(len(ctx))
            transaction.set_rollback(True)
    return counts


def describe(counts: list[int]) -> str:
    return f"{statistics.median(counts):.0f}" + (
        "" if min(counts) == max(counts) else f" ({min(counts)}–{max(counts)})"
    )


# The worker --------------------------------------------------------------------------------------


def celery_app():
    """This process's Celery app (Django is set up by then), on the bench broker."""
    from billing.celery import app

    return app


def wait_until(
    db_name: str, worker: CeleryWorker, sql: str, params: tuple, count: int, timeout: float, what: str
) -> None:
    """Poll `sql` (a count) every 20 ms until it reaches `count`."""
    started = time.perf_counter()
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        while True:
            done = conn.execute(sql, params).fetchone()[0]
            if done >= count:
                return
            if time.perf_counter() - started > timeout:
                sys.exit(f"timed out: {done}/{count} {what} after {timeout:.0f} s\n{worker.output()}")
            worker.check_alive()
            time.sleep(0.02)


BILLED_SQL = (
    "SELECT count(*) FROM invoicing_invoicesubscription l JOIN invoicing_invoice i ON i.id = l.invoice_id "
    "WHERE l.subscription_id = ANY(%s::uuid[]) AND l.invoicing_reason = 'subscription_periodic' "
    "AND i.status = 'finalized'"
)
FINISHED_SQL = (
    "SELECT count(*) FROM invoicing_customerdeletion WHERE customer_id = ANY(%s::uuid[]) AND finished_at IS NOT NULL"
)


@dataclass
class Round:
    customers: int
    anchor_seconds: float = 0.0  # the billing run of their subscriptions
    deletion_seconds: float = 0.0  # their delete_customer calls
    cascade_seconds: float = 0.0  # their cascades
    latencies: list[float] = field(default_factory=list)  # of each delete_customer
    queued: int = 0  # tasks in the queue after the deletions

    @property
    def ratio(self) -> float:
        return self.anchor_seconds / self.cascade_seconds  # cascades/s over invoices/s, same count


def run_round(
    db_name: str,
    worker: CeleryWorker,
    queue: str,
    customer_ids: list[str],
    subscription_ids: list[str],
    timeout: float,
    before_deletions: Callable[[], None] | None = None,
) -> Round:
    """One round, for a slice of the customers: the anchor (their last month billed), then their
    deletions, then their cascades. Each run is timed the same way: its tasks are queued while the
    worker does not consume, then from the worker taking its queue again to the last row committed."""
    from billing.celery import app
    from customers.models import Customer
    from invoicing.customer_deletion import delete_customer
    from invoicing.tasks import bill_period_task

    result = Round(customers=len(customer_ids))
    period_start = month_start(-1).isoformat()

    worker.control(celery_app(), "cancel_consumer", queue)
    with app.producer_or_acquire() as producer:  # what the billing clock sends: one task per due period
        for subscription_id in subscription_ids:
            bill_period_task.apply_async((subscription_id, period_start), producer=producer)
    started = time.perf_counter()
    worker.control(celery_app(), "add_consumer", queue)
    wait_until(db_name, worker, BILLED_SQL, (subscription_ids,), len(subscription_ids), timeout, "invoices")
    result.anchor_seconds = time.perf_counter() - started

    worker.control(celery_app(), "cancel_consumer", queue)
    if before_deletions is not None:
        before_deletions()
    customers = list(Customer.objects.filter(pk__in=customer_ids))
    started = time.perf_counter()
    for customer in customers:
        before = time.perf_counter()
        delete_customer(customer=customer)  # its transaction, then its task sent on commit
        result.latencies.append(time.perf_counter() - before)
    result.deletion_seconds = time.perf_counter() - started
    result.queued = redis.Redis.from_url(app.conf.broker_url).llen(queue)

    started = time.perf_counter()
    worker.control(celery_app(), "add_consumer", queue)
    wait_until(db_name, worker, FINISHED_SQL, (customer_ids,), len(customer_ids), timeout, "cascades")
    result.cascade_seconds = time.perf_counter() - started
    return result


# Checks ------------------------------------------------------------------------------------------


def check_once(db_name: str, fx: Fixtures) -> list[str]:
    """Every cascade finished at its first attempt, and nothing exists twice. Returns the findings."""
    ids = fx.customer_ids
    count = len(ids)
    with psycopg.connect(database_url(db_name)) as conn:

        def one(sql: str, *params):
            return conn.execute(sql, params).fetchone()

        checks = {
            "cascades finished at the first attempt, without error": one(
                "SELECT count(*) FROM invoicing_customerdeletion WHERE customer_id = ANY(%s::uuid[]) "
                "AND finished_at IS NOT NULL AND attempts = 1 AND last_error IS NULL",
                ids,
            )[0]
            == count,
            "customers deleted": one(
                "SELECT count(*) FROM customers_customer WHERE id = ANY(%s::uuid[]) AND deleted_at IS NOT NULL", ids
            )[0]
            == count,
            "subscriptions terminated": one(
                "SELECT count(*) FROM plans_subscription WHERE customer_id = ANY(%s::uuid[]) AND status = 'terminated'",
                ids,
            )[0]
            == count,
            "one termination invoice per subscription": one(
                "SELECT count(*), count(DISTINCT l.subscription_id) FROM invoicing_invoicesubscription l "
                "JOIN plans_subscription s ON s.id = l.subscription_id "
                "WHERE s.customer_id = ANY(%s::uuid[]) AND l.invoicing_reason = 'subscription_terminating'",
                ids,
            )
            == (count, count),
            "every invoice finalized, numbers 1..N without gap or repeat": one(
                "SELECT count(*) = count(DISTINCT sequential_id) AND count(*) = max(sequential_id) "
                "AND bool_and(status = 'finalized') FROM invoicing_invoice WHERE organization_id = %s",
                fx.organization_id,
            )[0],
            "termination invoices took the coupon and the wallet": one(
                "SELECT count(*) FROM invoicing_invoice i JOIN invoicing_invoicesubscription l ON l.invoice_id = i.id "
                "WHERE i.customer_id = ANY(%s::uuid[]) AND l.invoicing_reason = 'subscription_terminating' "
                "AND i.coupons_amount_cents > 0 AND i.prepaid_credit_amount_cents > 0 AND i.total_amount_cents = 0",
                ids,
            )[0]
            == count,
            "applied coupons terminated": one(
                "SELECT count(*) FILTER (WHERE status = 'terminated'), count(*) FROM coupons_appliedcoupon "
                "WHERE customer_id = ANY(%s::uuid[])",
                ids,
            )
            == (count, count),
            "wallets terminated, empty, one voided transaction each, books balanced": one(
                "SELECT count(*) FROM wallets_wallet w WHERE w.customer_id = ANY(%s::uuid[]) "
                "AND w.status = 'terminated' AND w.balance_cents = 0 "
                "AND (SELECT count(*) FROM wallets_wallettransaction t WHERE t.wallet_id = w.id "
                "     AND t.transaction_status = 'voided') = 1 "
                "AND (SELECT sum(CASE WHEN t.transaction_type = 'inbound' THEN t.amount_cents "
                "                     ELSE -t.amount_cents END) "
                "     FROM wallets_wallettransaction t WHERE t.wallet_id = w.id AND t.status = 'settled') = 0",
                ids,
            )[0]
            == count,
        }
    return [f"{'ok ' if ok else 'NOT'} {what}" for what, ok in checks.items()]


# Main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="billing_deletion_bench", help="PostgreSQL database (dropped and made again)")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Redis URL of the broker (a database of its own)")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="customers deleted in the timed rounds")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds, anchor and cascades alternating")
    parser.add_argument("--smoke", action="store_true", help=f"a quick check that every path runs: {SMOKE_COUNT}")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per timed run")
    args = parser.parse_args()
    count = SMOKE_COUNT if args.smoke else args.count

    # Every run starts from a new database: deleting is not undone.
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    ensure_database(args.db)
    manage(args.db, args.broker, "migrate", "--noinput")
    organization_id = create_tenant(args.db, args.broker)
    setup_django(args.db, args.broker)
    from billing.celery import app

    fx = seed(organization_id, args.db, WARMUP + count)
    warmup = slice(0, WARMUP)
    anchor_statements = invoice_statements(fx, fx.subscription_ids[warmup])
    sampled: dict[str, Statements] = {}
    profiled: dict[str, Statements] = {}

    def count_statements() -> None:
        """Between the warm-up's anchor and its deletions: its customers have one past invoice."""
        add_profiles(args.db, fx)
        progress(f"statements: {WARMUP} customers and {len(fx.profiles)} other histories, rolled back")
        sampled.update({customer_id: cascade_statements(customer_id) for customer_id in fx.customer_ids[warmup]})
        profiled.update({label: cascade_statements(customer_id) for label, customer_id in fx.profiles.items()})

    queue = app.conf.task_default_queue
    broker = redis.Redis.from_url(args.broker)
    broker.delete(queue)
    worker = CeleryWorker(
        label="deletion-bench", env=billing_server_env(args.db, args.broker), queue=queue, concurrency=1
    )
    rounds: list[Round] = []
    try:
        worker.wait_ready(celery_app())
        progress(f"warm-up round: {WARMUP} customers")
        warm = run_round(
            args.db, worker, queue, fx.customer_ids[warmup], fx.subscription_ids[warmup], args.timeout, count_statements
        )
        size = -(-count // args.rounds)
        for start in range(WARMUP, WARMUP + count, size):
            part = slice(start, min(start + size, WARMUP + count))
            progress(f"round {len(rounds) + 1}: {part.stop - part.start} customers")
            rounds.append(
                run_round(args.db, worker, queue, fx.customer_ids[part], fx.subscription_ids[part], args.timeout)
            )
    finally:
        worker.stop()
        broker.delete(queue)
    worker_output = worker.output()
    Path(worker.log.name).unlink(missing_ok=True)
    findings = check_once(args.db, fx)

    # Report -------------------------------------------------------------------------------------
    anchor_seconds = sum(r.anchor_seconds for r in rounds)
    deletion_seconds = sum(r.deletion_seconds for r in rounds)
    cascade_seconds = sum(r.cascade_seconds for r in rounds)
    ratio = anchor_seconds / cascade_seconds
    # The verdict takes the median of the rounds' ratios: a burst of load on the shared machine lands
    # on one phase of one round, which the median ignores and the totals do not.
    median_ratio = statistics.median(r.ratio for r in rounds)
    cascades = [s.cascade for s in sampled.values()] + [s.cascade for s in profiled.values()]
    deletions = [s.deletion for s in sampled.values()] + [s.deletion for s in profiled.values()]
    fixed = min(cascades) == max(cascades) and min(deletions) == max(deletions)
    queued_ok = all(r.queued == r.customers for r in [warm, *rounds])
    once = all(line.startswith("ok") for line in findings) and queued_ok
    rate_ok = median_ratio >= CASCADE_TARGET
    latencies_ms = sorted(latency * 1000 for r in rounds for latency in r.latencies)

    print()
    print(
        f"deletion benchmark: {count:,} customers deleted through delete_customer, then their cascades "
        "(run_customer_deletion_task) on `celery -A billing worker -c 1` (prefork, Redis broker, acks_late, "
        "prefetch 1)"
    )
    print(
        "  each customer: a monthly calendar subscription in arrears (29.00 USD, 2 charges: graduated count, "
        f"standard sum) since last month, {EVENTS_PER_PERIOD} events last month and {EVENTS_PER_PERIOD} this month "
        "(rolled up per 15 min), a 10 % forever coupon, a wallet of 1,000 granted credits; grace period 0 (the "
        "default): every invoice is finalized in its task"
    )
    print(
        f"  anchor: the billing run of the same subscriptions (last month: one bill_period_task each, as the clock "
        f"sends them) on the same worker, each invoice taking the same coupon and wallet; {args.rounds} rounds of "
        "anchor, deletions, cascades, so that a change of load weighs on both"
    )
    for line in machine_info(args.db, args.broker):
        print("  " + line)
    print()
    header = (
        f"{'round':>7} {'customers':>9} {'anchor s':>8} {'invoices/s':>10} {'deletions s':>11} {'deletions/s':>11} "
        f"{'cascades s':>10} {'cascades/s':>10} {'cascades/anchor':>15}"
    )
    print(header)
    print("-" * len(header))
    for label, r in [("warm-up", warm), *((str(number), r) for number, r in enumerate(rounds, 1))]:
        print(
            f"{label:>7} {r.customers:>9,} {r.anchor_seconds:>8.2f} {r.customers / r.anchor_seconds:>10.1f} "
            f"{r.deletion_seconds:>11.2f} {r.customers / r.deletion_seconds:>11.1f} {r.cascade_seconds:>10.2f} "
            f"{r.customers / r.cascade_seconds:>10.1f} {r.ratio:>15.0%}"
        )
    print(
        f"{'total':>7} {count:>9,} {anchor_seconds:>8.2f} {count / anchor_seconds:>10.1f} {deletion_seconds:>11.2f} "
        f"{count / deletion_seconds:>11.1f} {cascade_seconds:>10.2f} {count / cascade_seconds:>10.1f} {ratio:>15.0%}"
    )
    print()
    print(
        f"customers fully processed per second (one worker process): {count / cascade_seconds:.1f} = {ratio:.0%} of "
        f"the anchor's {count / anchor_seconds:.1f} invoices/s over the {len(rounds)} rounds; median of the rounds' "
        f"ratios {median_ratio:.0%}  (target: median >= {CASCADE_TARGET:.0%}) {verdict(rate_ok)}"
    )
    print(
        f"statements per customer: cascade {describe(cascades)}, deletion {describe(deletions)}, over "
        f"{len(sampled)} customers and {len(profiled)} other histories; one invoice of the anchor "
        f"{describe(anchor_statements)}  (target: the same for every history) {verdict(fixed)}"
    )
    print(
        f"nothing twice: {len(findings)} checks over the {WARMUP + count:,} deleted customers, one task queued per "
        f"deletion  {verdict(once)}"
    )
    print()
    print(
        f"deletions: sequential, one process, each its own transaction and its task sent on commit: p50 "
        f"{statistics.median(latencies_ms):.1f} ms, p95 {latencies_ms[int(len(latencies_ms) * 0.95) - 1]:.1f} ms."
    )
    print(
        "anchor s, cascades s = from the worker taking its queue again (the tasks queued meanwhile) to the last "
        "invoice / cascade committed, polled every 20 ms; deletions s = the delete_customer calls themselves."
    )
    print(
        "statements = SQL captured in-process with CaptureQueriesContext and rolled back: delete_customer, then "
        "run_customer_deletion (SAVEPOINT/RELEASE included: a transaction of its own in the worker); the anchor's "
        "bill_due_period. By history:"
    )
    print(
        f"  {EVENTS_PER_PERIOD} events, 1 past invoice ({len(sampled)} customers): cascade "
        f"{describe([s.cascade for s in sampled.values()])} (savepoint statements "
        f"{describe([s.savepoints for s in sampled.values()])}), "
        f"deletion {describe([s.deletion for s in sampled.values()])}"
    )
    for label, statements in profiled.items():
        print(
            f"  {label}: cascade {statements.cascade} (savepoint statements {statements.savepoints}), "
            f"deletion {statements.deletion}"
        )
    for line in findings:
        print(f"  {line}")
    problems = [line for line in worker_output.splitlines() if "ERROR" in line or "Traceback" in line]
    print(f"worker log: {len(problems)} error lines" + ("" if not problems else ":\n" + "\n".join(problems[:20])))
    print()
    print(f"overall: {verdict(rate_ok and fixed and once)}")


if __name__ == "__main__":
    main()
