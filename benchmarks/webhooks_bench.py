"""Webhook deliveries: 10,000 messages to a local receiver by one Celery worker, next to the same POSTs
sent by a plain httpx loop; with `--others`, the billing and ingestion benchmarks with and without a
webhook endpoint.

Run from the project root: `.venv/bin/python benchmarks/webhooks_bench.py [--others]`.
See benchmarks/README.md for what is measured and how to read the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata

import httpx
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
    server_env,
    set_webhook_endpoint,
    verdict,
)

DEFAULT_BROKER = "redis://127.0.0.1:6379/9"  # a Redis database of its own (benchmarks: 12, 13; tests: 10, 11, 14, 15)
QUEUE = "webhooks-bench"
ORGANIZATION_NAME = "Webhooks Bench Org"
API_KEY = "webhooks-bench-api-key-0123456789abcdef"

# Delivered messages/s of one worker process >= 2 % of the rate of the same POSTs sent by a plain
# httpx loop (one process too). The reasons are in benchmarks/README.md.
RATIO_TARGET = 0.02
# With a webhook endpoint, the billing run and ingestion keep >= 85 % of their rate without one.
UNCHANGED_TARGET = 0.85

WORKER_PATH, ANCHOR_PATH = "/worker", "/anchor"
# The headers delivery sends (webhooks/delivery.py); httpx adds Host, Content-Length and its own.
SENT_HEADERS = ("Content-Type", "User-Agent", "X-Lago-Signature", "X-Lago-Signature-Algorithm", "X-Lago-Unique-Key")

# What-if: the app's worker with the two changes this benchmark suggests, made in that worker process
# only (the app is not changed): the httpx.Client each attempt makes reuses one SSL context made once
# (httpx otherwise loads the CA bundle for every client), and the organization's RSA private key is
# parsed once (PyJWT otherwise parses the PEM, with cryptography's key checks, for every signature).
FIXED_WORKER = """
import functools
import sys

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

context = httpx.create_ssl_context()


class SharedContextClient(httpx.Client):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("verify", context)
        super().__init__(*args, **kwargs)


httpx.Client = SharedContextClient
private_key = functools.lru_cache(maxsize=256)(lambda pem: serialization.load_pem_private_key(pem.encode(), None))
encode = jwt.encode


def encode_with_parsed_key(payload, key, *args, **kwargs):
    if isinstance(key, str) and key.startswith("-----BEGIN"):
        key = private_key(key)
    return encode(payload, key, *args, **kwargs)


jwt.encode = encode_with_parsed_key
import django

django.setup()
from billing.celery import app

app.worker_main(sys.argv[1:])
"""


def per_attempt_costs(organization_id: str) -> dict[str, float]:
    """Milliseconds of CPU of the parts of an attempt the what-if changes, measured in this process."""
    import httpx
    import jwt
    from cryptography.hazmat.primitives import serialization

    from webhooks.delivery import TIMEOUT
    from webhooks.services import keys_of
    from webhooks.signing import signature

    keys = keys_of(organization_id=organization_id)
    body = "x" * 1000

    def per_call(action, times: int = 20) -> float:
        started = time.process_time()
        for _ in range(times):
            action()
        return (time.process_time() - started) / times * 1000

    key = serialization.load_pem_private_key(keys.private_key_pem.encode(), None)
    context = httpx.create_ssl_context()
    return {
        "httpx.Client() as delivery.py makes it": per_call(
            lambda: httpx.Client(timeout=TIMEOUT, follow_redirects=False).close()
        ),
        "httpx.Client(verify=<one shared SSL context>)": per_call(
            lambda: httpx.Client(timeout=TIMEOUT, follow_redirects=False, verify=context).close()
        ),
        "JWT signature as signing.py makes it (PEM parsed each time)": per_call(
            lambda: signature(body=body, algorithm="jwt", keys=keys)
        ),
        "JWT signature with the key parsed once": per_call(
            lambda: jwt.encode({"data": body, "iss": "bench"}, key, algorithm="RS256")
        ),
        "HMAC signature": per_call(lambda: signature(body=body, algorithm="hmac", keys=keys)),
    }


# The receiver, in a process of its own ----------------------------------------------------------


def receiver_main(connection) -> None:
    """webhooks/tests/receiver.py's Receiver (a ThreadingHTTPServer answering 200 "ok" at once),
    answering this script's questions over a pipe."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from webhooks.tests.receiver import Receiver

    with Receiver() as receiver:
        connection.send(receiver.port)
        while True:
            command, *args = connection.recv()
            if command == "stop":
                return
            requests = receiver.requests_to(args[0])
            if command == "count":
                connection.send(len(requests))
            elif command == "keys":
                connection.send(len({request.headers["X-Lago-Unique-Key"] for request in requests}))
            elif command == "since":  # what the sender sent, for the anchor: headers and body
                connection.send(
                    [
                        ({name: request.headers[name] for name in SENT_HEADERS}, request.body)
                        for request in requests[args[1] :]
                    ]
                )


class ReceiverProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=receiver_main, args=(child,), daemon=True)
        self.process.start()
        self.port = self.connection.recv()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ask(self, *command):
        self.connection.send(command)
        return self.connection.recv()

    def stop(self) -> None:
        self.connection.send(("stop",))
        self.process.join(timeout=10)


# Setup --------------------------------------------------------------------------------------------


def bench_env(db_name: str, broker: str) -> dict[str, str]:
    env = server_env(db_name)
    env.pop("REDIS_URL", None)
    env.update(
        CELERY_BROKER_URL=broker,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_WEBHOOKS_QUEUE=QUEUE,
        WEBHOOKS_ALLOW_PRIVATE_URLS="true",  # the receiver is on loopback
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def setup(db_name: str, broker: str) -> str:
    """The database, migrated, and the organization; Django set up in this process. Returns its id."""
    ensure_database(db_name)
    env = bench_env(db_name, broker)
    manage(env, "migrate", "--noinput")
    output = manage(env, "create_organization", "--name", ORGANIZATION_NAME, "--api-key", API_KEY)
    match = re.search(r"organization .* \(([0-9a-f-]{36})\)", output)
    if match is None:
        sys.exit(f"unexpected create_organization output:\n{output}")
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    return match.group(1)


def ensure_customers(organization_id: str, count: int) -> list[str]:
    """`count` customers (kept across runs), the objects of the `customer.created` messages."""
    from customers.models import Customer

    customers = Customer.objects.filter(organization_id=organization_id)
    if customers.count() != count:
        progress(f"creating {count:,} customers")
        customers.delete()
        Customer.objects.bulk_create(
            (
                Customer(
                    organization_id=organization_id,
                    external_id=f"whb-{number:05d}",
                    name=f"Webhook customer {number}",
                    email=f"webhooks+{number}@example.test",
                    address_line1=f"{number} Bench Street",
                    city="Lyon",
                    country="FR",
                    currency="EUR",
                )
                for number in range(count)
            ),
            batch_size=2000,
        )
    return [str(pk) for pk in customers.order_by("external_id").values_list("pk", flat=True)]


def emit_messages(organization_id: str, customer_ids: list[str]) -> float:
    """One `customer.created` message per customer, each written in a transaction of its own by
    `emit` (the outbox), as each change of a customer is, and its task sent to the broker on commit
    (a transaction's messages to one endpoint share a task). Returns the seconds it took."""
    from django.db import transaction

    from webhooks.services import emit

    started = time.perf_counter()
    for customer_id in customer_ids:
        with transaction.atomic():
            emit(
                organization_id=organization_id,
                webhook_type="customer.created",
                object_type="customer",
                object_id=customer_id,
            )
    return time.perf_counter() - started


def succeeded(db_name: str) -> int:
    with psycopg.connect(database_url(db_name)) as conn:
        return conn.execute("SELECT count(*) FROM webhooks_webhookmessage WHERE status = 'succeeded'").fetchone()[0]


# Rounds -------------------------------------------------------------------------------------------


@dataclass
class Round:
    messages: int
    enqueue_seconds: float = 0.0  # emit + the tasks sent on commit
    worker_seconds: float = 0.0  # from the worker taking its queue to the last message succeeded
    anchor_seconds: float = 0.0  # the same POSTs, a plain httpx loop

    @property
    def worker_rate(self) -> float:
        return self.messages / self.worker_seconds

    @property
    def anchor_rate(self) -> float:
        return self.messages / self.anchor_seconds

    @property
    def ratio(self) -> float:
        return self.worker_rate / self.anchor_rate


def run_round(
    db_name: str,
    organization_id: str,
    worker: CeleryWorker,
    receiver: ReceiverProcess,
    customer_ids: list[str],
    timeout: float,
) -> Round:
    """The worker's phase, then the anchor's, for one slice of the messages."""
    from billing.celery import app
    from webhooks.dispatch import COMMITTED

    result = Round(messages=len(customer_ids))
    broker = redis.Redis.from_url(app.conf.broker_url)
    already = succeeded(db_name)
    received = receiver.ask("count", WORKER_PATH)

    # The messages are written and their tasks queued while the worker does not consume; the time
    # runs from the worker taking its queue again to the last message recorded as delivered.
    worker.control(app, "cancel_consumer", QUEUE)
    result.enqueue_seconds = emit_messages(organization_id, customer_ids)
    # Each commit appended its message to the dispatch's list; the first one also queued the one
    # task that drains it (webhooks/dispatch.py): the worker sends itself the deliveries from there.
    queued, committed = broker.llen(QUEUE), broker.llen(COMMITTED)
    if (queued, committed) != (1, len(customer_ids)):
        sys.exit(f"{queued} tasks queued and {committed} messages listed for {len(customer_ids)} messages")
    started = time.perf_counter()
    worker.control(app, "add_consumer", QUEUE)
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        while True:
            done = conn.execute("SELECT count(*) FROM webhooks_webhookmessage WHERE status = 'succeeded'").fetchone()[0]
            if done - already >= len(customer_ids):
                break
            if time.perf_counter() - started > timeout:
                sys.exit(f"timed out: {done - already}/{len(customer_ids)} delivered\n{worker.output()}")
            worker.check_alive()
            time.sleep(0.02)
    result.worker_seconds = time.perf_counter() - started

    # The anchor: the POSTs the receiver got, the same bodies and headers, sent again by one
    # httpx.Client in a loop (the receiver closes every connection, so each opens one, as the
    # worker's attempts do).
    sent = receiver.ask("since", WORKER_PATH, received)
    if len(sent) != len(customer_ids):
        sys.exit(f"the receiver got {len(sent)} requests for {len(customer_ids)} messages")
    url = receiver.url(ANCHOR_PATH)
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        started = time.perf_counter()
        for headers, body in sent:
            if client.post(url, content=body, headers=headers).status_code != 200:
                sys.exit("the receiver refused an anchor request")
        result.anchor_seconds = time.perf_counter() - started
    broker.close()
    return result


def statements_per_delivery(organization_id: str, customer_ids: list[str], receiver: ReceiverProcess) -> list[int]:
    """SQL statements of one delivery (`webhooks.delivery.deliver`, in-process), its first attempt."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.celery import app
    from webhooks.bodies import render
    from webhooks.delivery import deliver
    from webhooks.models import WebhookMessage

    emit_messages(organization_id, customer_ids)  # their tasks go to the queue, purged below
    redis.Redis.from_url(app.conf.broker_url).delete(QUEUE)
    counts = []
    for message_id in WebhookMessage.objects.filter(status="pending", attempts=0).values_list("pk", flat=True):
        with CaptureQueriesContext(connection) as context:
            message = deliver(message_id=message_id, render=render)
        assert message is not None and message.status == "succeeded", message
        counts.append(len(context))
    return counts


@dataclass
class Measurement:
    label: str
    concurrency: int
    rounds: list[Round] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(one.messages for one in self.rounds)

    @property
    def worker_rate(self) -> float:
        return self.messages / sum(one.worker_seconds for one in self.rounds)

    @property
    def anchor_rate(self) -> float:
        return self.messages / sum(one.anchor_seconds for one in self.rounds)

    @property
    def enqueue_rate(self) -> float:
        return self.messages / sum(one.enqueue_seconds for one in self.rounds)

    @property
    def median_ratio(self) -> float:
        return statistics.median(one.ratio for one in self.rounds)


def measure(
    label: str,
    args,
    organization_id: str,
    receiver: ReceiverProcess,
    customer_ids: list[str],
    rounds: int,
    command: list[str] | None = None,
) -> tuple[Measurement, list[str]]:
    """A warm-up round, then `rounds` rounds over `customer_ids`, on one worker started for them."""
    from billing.celery import app

    redis.Redis.from_url(args.broker).delete(QUEUE)
    worker = CeleryWorker(
        label="webhooks-bench",
        env=bench_env(args.db, args.broker),
        queue=QUEUE,
        concurrency=args.concurrency,
        command=command,
    )
    result = Measurement(label, args.concurrency)
    try:
        worker.wait_ready(app)
        warmup, timed = customer_ids[: args.warmup], customer_ids[args.warmup :]
        progress(f"{label}: warm-up round, {len(warmup)} messages")
        run_round(args.db, organization_id, worker, receiver, warmup, args.timeout)
        size = len(timed) // rounds
        for number in range(rounds):
            chunk = timed[number * size : (number + 1) * size]
            one = run_round(args.db, organization_id, worker, receiver, chunk, args.timeout)
            progress(
                f"{label}: round {number + 1}/{rounds}: worker {one.worker_rate:.1f}/s, "
                f"anchor {one.anchor_rate:.0f}/s, {one.ratio:.1%}"
            )
            result.rounds.append(one)
    finally:
        worker.stop()
        errors = worker.error_lines()
    return result, errors


# The other benchmarks, with and without an endpoint -------------------------------------------------


def run_script(arguments: list[str]) -> str:
    progress("running " + " ".join(arguments))
    result = subprocess.run(
        [str(PYTHON), *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, env=clean_env()
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(arguments)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}")
    return result.stdout


def clean_env() -> dict[str, str]:
    """The other scripts' own environment: nothing of this script's Django set-up."""
    env = dict(os.environ)
    for name in (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "REDIS_URL",
        "CELERY_WEBHOOKS_QUEUE",
        "WEBHOOKS_ALLOW_PRIVATE_URLS",
        "DJANGO_SETTINGS_MODULE",
        "CELERY_TASK_ALWAYS_EAGER",
    ):
        env.pop(name, None)
    return env


def billing_figures(output: str) -> dict[str, float]:
    """invoices/s of each size and of the entitled run, from billing_bench.py's report."""
    figures = {}
    for line in output.splitlines():
        size = re.match(r"^\s*([\d,]+)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s", line)
        if size:
            figures[f"billing run, {size.group(1)} subscriptions (invoices/s)"] = float(size.group(2))
        entitled = re.search(r"^\s*entitled ([\d,]+) subscriptions.* = ([\d.]+) invoices/s", line)
        if entitled:
            figures[f"billing run, {entitled.group(1)} with coupons and a wallet (invoices/s)"] = float(
                entitled.group(2)
            )
    return figures


def usage_figures(output: str) -> dict[str, float]:
    """Ingestion rates (events/s) and current-usage p50s (ms) from usage_bench.py's report."""
    wanted = {
        "POST /api/v1/events/batch (100 events, 100 subscriptions)": "ingestion, batch of 100 (events/s)",
        "POST /api/v1/events (1 event)": "ingestion, single events (events/s)",
    }
    figures = {}
    for line in output.splitlines():
        label = line[:60].strip()
        if label in wanted:
            figures[wanted[label]] = float(line[60:88].strip().split()[0].replace(",", ""))
    return figures


def webhook_line(output: str) -> str:
    return next((line.strip() for line in output.splitlines() if line.startswith("webhooks:")), "")


def others(args, receiver: ReceiverProcess) -> tuple[list[tuple[str, dict[str, list[float]]]], list[str]]:
    """billing_bench.py and usage_bench.py without an endpoint, then with one (every type, at the
    receiver), alternating `--other-rounds` times. Returns, per configuration, each figure's values."""
    endpoint = receiver.url("/others")
    billing = ["benchmarks/billing_bench.py", "--db", args.billing_db, "--sizes", args.billing_sizes, "--no-what-if"]
    usage = ["benchmarks/usage_bench.py", "--smoke", "--ingest-seconds", "6", "--row-seconds", "2", "--samples", "50"]
    configurations = [
        ("no endpoint", billing, []),
        (
            "endpoint, delivered after each run",
            billing,
            ["--webhook-endpoint", endpoint, "--webhook-delivery", "after"],
        ),
        (
            "endpoint, delivered during the runs",
            billing,
            ["--webhook-endpoint", endpoint, "--webhook-delivery", "during"],
        ),
        ("usage: no endpoint", usage, []),
        ("usage: endpoint", usage, ["--webhook-endpoint", endpoint]),
    ]
    results: dict[str, dict[str, list[float]]] = {label: {} for label, *_ in configurations}
    notes: list[str] = []
    for _ in range(args.other_rounds):
        for label, script, extra in configurations:
            output = run_script(script + extra)
            figures = billing_figures(output) if script is billing else usage_figures(output)
            if not figures:
                sys.exit(f"no figures found in the report of {' '.join(script + extra)}:\n{output}")
            for name, value in figures.items():
                results[label].setdefault(name, []).append(value)
            if extra:
                notes.append(f"{label}: {webhook_line(output)}")
    return [(label, results[label]) for label, *_ in configurations], notes


# Report -----------------------------------------------------------------------------------------------


def machine_info(db_name: str, broker: str) -> list[str]:
    with psycopg.connect(database_url(db_name)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    redis_version = redis.Redis.from_url(broker).info().get("redis_version", "?")
    return [
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, {memory_gib()} RAM (worker, receiver, PostgreSQL, Redis and "
        "this script share them)",
        f"PostgreSQL {version}, Redis {redis_version}, Python {platform.python_version()}, Django "
        f"{metadata.version('django')}, Celery {metadata.version('celery')}, httpx {metadata.version('httpx')}",
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    ]


def print_measurement(result: Measurement, target: float | None) -> bool:
    ok = target is None or result.median_ratio >= target
    for number, one in enumerate(result.rounds, start=1):
        print(
            f"  round {number}: {one.messages:,} messages, worker {one.worker_seconds:6.2f} s = "
            f"{one.worker_rate:7.1f}/s, anchor {one.anchor_seconds:5.2f} s = {one.anchor_rate:6.0f}/s, "
            f"{one.ratio:6.1%}; written and queued in {one.enqueue_seconds:.2f} s"
        )
    print(
        f"  total: {result.messages:,} messages delivered at {result.worker_rate:.1f}/s by one worker "
        f"(-c {result.concurrency}); anchor {result.anchor_rate:.0f} POSTs/s; "
        f"{result.worker_rate / result.anchor_rate:.1%} of the anchor; median of the rounds' ratios "
        f"{result.median_ratio:.1%}" + ("" if target is None else f" (target >= {target:.0%}): {verdict(ok)}")
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="billing_webhooks_bench", help="PostgreSQL database (created if missing)")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Redis URL of the broker (a database of its own)")
    parser.add_argument("--messages", type=int, default=10_000, help="timed messages")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the messages are split in")
    parser.add_argument("--warmup", type=int, default=200, help="messages of the warm-up round")
    parser.add_argument("--concurrency", type=int, default=1, help="processes of the worker (prefork)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per round")
    parser.add_argument("--no-what-if", action="store_true", help="skip the worker with the suggested changes")
    parser.add_argument("--others", action="store_true", help="also billing_bench.py and usage_bench.py, ± endpoint")
    parser.add_argument("--other-rounds", type=int, default=2, help="times each of those runs, alternating")
    parser.add_argument("--billing-db", default="billing_webhooks_billing_bench", help="billing_bench.py's --db")
    parser.add_argument("--billing-sizes", default="1000", help="billing_bench.py's --sizes")
    args = parser.parse_args()
    bench_started = time.perf_counter()

    organization_id = setup(args.db, args.broker)
    with psycopg.connect(database_url(args.db), autocommit=True) as conn:
        conn.execute("TRUNCATE webhooks_webhookattempt, webhooks_webhookmessage")
    total = args.warmup + args.messages
    customer_ids = ensure_customers(organization_id, total)
    receiver = ReceiverProcess()
    try:
        set_webhook_endpoint(organization_id, receiver.url(WORKER_PATH))
        main_run, errors = measure("worker", args, organization_id, receiver, customer_ids, args.rounds)
        delivered_keys = receiver.ask("keys", WORKER_PATH)
        delivered_count = receiver.ask("count", WORKER_PATH)
        with psycopg.connect(database_url(args.db)) as conn:
            attempts, statuses = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE status_code = 200) FROM webhooks_webhookattempt"
            ).fetchone()
            once = conn.execute(
                "SELECT count(*) FROM webhooks_webhookmessage WHERE status = 'succeeded' AND attempts = 1"
            ).fetchone()[0]
        what_if = None
        if not args.no_what_if:
            with psycopg.connect(database_url(args.db), autocommit=True) as conn:
                conn.execute("TRUNCATE webhooks_webhookattempt, webhooks_webhookmessage")
            what_if_ids = customer_ids[: args.warmup + args.messages // args.rounds]
            command = [str(PYTHON), "-c", FIXED_WORKER]
            what_if, what_if_errors = measure(
                "what-if", args, organization_id, receiver, what_if_ids, 1, command=command
            )
            errors += what_if_errors
        statements = statements_per_delivery(organization_id, customer_ids[:5], receiver)
        costs = per_attempt_costs(organization_id)
        other_results, other_notes = others(args, receiver) if args.others else ([], [])
    finally:
        receiver.stop()
    with psycopg.connect(database_url(args.db), autocommit=True) as conn:
        conn.execute("TRUNCATE webhooks_webhookattempt, webhooks_webhookmessage")
    set_webhook_endpoint(organization_id, None)
    redis.Redis.from_url(args.broker).delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")

    print()
    print(
        f"webhooks benchmark: {args.messages:,} `customer.created` messages (after a warm-up of {args.warmup}), "
        f"in {args.rounds} rounds, JWT-signed (RS256, Lago's default),"
    )
    print(
        f"  delivered by ONE `celery -A billing worker -Q {QUEUE} --pool=prefork -c {args.concurrency}` to a local "
        "receiver (webhooks/tests/receiver.py in a process of its own, 200 at once)"
    )
    for line in machine_info(args.db, args.broker):
        print("  " + line)
    print()
    all_ok = print_measurement(main_run, RATIO_TARGET)
    checks_ok = delivered_count == delivered_keys == attempts == statuses == once == total
    all_ok &= checks_ok
    print(
        f"  delivered once: {delivered_count:,} requests, {delivered_keys:,} distinct unique keys, {attempts:,} "
        f"attempts logged ({statuses:,} with 200), {once:,} messages succeeded at their first attempt, for "
        f"{total:,} messages: {verdict(checks_ok)}"
    )
    print(
        f"  statements per delivery (in-process, first attempt): {sorted(set(statements))}; "
        f"writing and queueing: {main_run.enqueue_rate:,.0f} messages/s (emit in one transaction, tasks on commit)"
    )
    print()
    print("worker = from the worker taking its queue (Celery's add_consumer, the tasks queued meanwhile) to the last")
    print("message recorded as succeeded, polled every 20 ms: the task from Redis, the claim (a lease), rendering")
    print("the body (the customer's API writer), the JWT signature, the POST, the attempt's row and the message's")
    print("update. anchor = the same POSTs (the bodies and the headers the receiver got) sent again by a plain loop")
    print("of one httpx.Client in this process; each opens a connection, as the receiver closes them all.")
    if what_if is not None:
        print()
        print("what-if, not in the verdict: the same worker, with the two changes suggested below made in its")
        print("process only (one SSL context for every httpx.Client; the RSA private key parsed once):")
        print_measurement(what_if, RATIO_TARGET)
        print(f"  {what_if.worker_rate / main_run.worker_rate:.2f}x the worker's rate above")
    print()
    print("CPU milliseconds per call, in this process (what each attempt of delivery.py pays):")
    for label, milliseconds in costs.items():
        print(f"  {label:<62} {milliseconds:8.2f} ms")
    if other_results:
        print()
        print(
            f"billing_bench.py --sizes {args.billing_sizes} and usage_bench.py --smoke, with and without a webhook "
            f"endpoint (every type), {args.other_rounds} alternating rounds; median of the rounds:"
        )
        all_ok &= print_others(other_results)
        for note in other_notes:
            print("  " + note)
    print()
    print(f"worker log: {len(errors)} error lines" + ("" if not errors else ":\n" + "\n".join(errors[:20])))
    print(f"total runtime {time.perf_counter() - bench_started:.0f} s")
    print(f"overall: {verdict(all_ok)}")


def listed(values: list[float]) -> str:
    return ", ".join(f"{value:,.1f}" for value in values)


def print_others(results: list[tuple[str, dict[str, list[float]]]]) -> bool:
    all_ok = True
    by_label = dict(results)
    pairs = (
        ("no endpoint", "endpoint, delivered after each run", True),
        ("no endpoint", "endpoint, delivered during the runs", False),
        ("usage: no endpoint", "usage: endpoint", True),
    )
    for base_label, with_label, judged in pairs:
        base, with_endpoint = by_label[base_label], by_label[with_label]
        for name, values in base.items():
            if name not in with_endpoint:
                continue
            ours, anchor = statistics.median(with_endpoint[name]), statistics.median(values)
            ratio = ours / anchor
            result = verdict(ratio >= UNCHANGED_TARGET) if judged else "(info: the cores are shared)"
            all_ok &= ratio >= UNCHANGED_TARGET or not judged
            print(
                f"  {name:<58} {with_label:<36} {ours:>11,.1f} vs {anchor:>11,.1f} without: {ratio:6.1%}  "
                f"{f'(target >= {UNCHANGED_TARGET:.0%})' if judged else ''} {result}"
                f"   [{listed(with_endpoint[name])} vs {listed(values)}]"
            )
    return all_ok


if __name__ == "__main__":
    main()
