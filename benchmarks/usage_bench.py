"""Event ingestion and current usage at 5,000,000 events, each figure next to its raw anchor.

Run from the project root: `.venv/bin/python benchmarks/usage_bench.py [--reload] [--explain]`.
See benchmarks/README.md for what is measured and how to read the figures.
"""

from __future__ import annotations

import argparse
import json
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
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from math import ceil
from typing import Any, NamedTuple

import httpx
import psycopg
from common import (
    PROJECT_ROOT,
    PYTHON,
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
    set_webhook_endpoint,
    verdict,
    webhook_message_counts,
)
from psycopg.types.json import Jsonb

ORGANIZATION_NAME = "Usage Bench Org"
# A fixed key, so that reruns reuse it instead of piling up new ones.
API_KEY = "usage-bench-api-key-0123456789abcdef"

# Targets: each a ratio to an anchor of the same run (machines of one kind differ by 2x; the
# reasons for each threshold are in benchmarks/README.md).
BATCH_RATIO_TARGET = 0.50  # HTTP batch ingestion >= 50 % of the raw 100-row INSERT rate
SINGLE_RATIO_TARGET = 0.40  # POST /api/v1/events >= 40 % of the minimal Django view's rate
USAGE_P50_RATIO_TARGET = 3.0  # current usage p50 <= 3x the one raw SQL aggregation
WHALE_P95_RATIO_TARGET = 0.25  # whale current usage p95 <= 25 % of one raw aggregation over its events


REGULAR_SUBSCRIPTIONS = 1_000


@dataclass(frozen=True)
class DataSet:
    """The events loaded: per regular subscription before and in its current period, and the whale's."""

    history_events: int
    current_events: int
    whale_events: int

    @property
    def total(self) -> int:
        return REGULAR_SUBSCRIPTIONS * (self.history_events + self.current_events) + self.whale_events


# 1,000 regular subscriptions with ~1,500 events in their current period and 2,500 in the three
# months before, plus one whale with 1,000,000 events in its current period: 5,000,000 events.
FULL = DataSet(history_events=2_500, current_events=1_500, whale_events=1_000_000)
# --smoke: a fiftieth (100,000 events), to check that every path runs; its verdicts mean nothing.
SMOKE = DataSet(history_events=50, current_events=30, whale_events=20_000)
PERIOD_AGE_DAYS = 20  # the current (anniversary, monthly) period started this many days before the load
HISTORY_MONTHS = 3
INGEST_SUBSCRIPTIONS = 100  # targets of the ingestion runs; their events are deleted afterwards
INGEST_ROUNDS = 2  # each ingestion run in two halves, alternating with the other runs

# Billable metrics: (code, name, aggregation, property, share of a regular subscription's events).
METRICS = (
    ("api_calls", "API calls", "count_agg", None, 0.50),
    ("storage_gb", "Storage", "sum_agg", "gb", 0.20),
    ("seats", "Seats", "max_agg", "seats", 0.10),
    ("plan_level", "Plan level", "latest_agg", "level", 0.10),
    ("active_users", "Active users", "unique_count_agg", "user_id", 0.10),
)
# The whale's plan has no unique count: a distinct count cannot be rolled up, it reads raw events.
WHALE_CODES = ("api_calls", "storage_gb", "seats", "plan_level")
WHALE_WEIGHTS = (0.55, 0.25, 0.10, 0.10)

STANDARD = {"charge_model": "standard", "properties": {"amount": "0.001"}}
GRADUATED = {
    "charge_model": "graduated",
    "properties": {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 1001, "to_value": None, "per_unit_amount": "0.0005", "flat_amount": "1"},
        ]
    },
}
# Plans: code -> charges as (metric code, charge model).
PLANS = {
    # 5 charges on 5 metrics, one of them a unique count: the typical subscription's plan.
    "bench_typical": [
        ("api_calls", GRADUATED),
        ("storage_gb", STANDARD),
        ("seats", STANDARD),
        ("plan_level", STANDARD),
        ("active_users", STANDARD),
    ],
    # 5 charges on 4 metrics (two on api_calls), no unique count: the whale's plan.
    "bench_five": [
        ("api_calls", GRADUATED),
        ("api_calls", STANDARD),
        ("storage_gb", STANDARD),
        ("seats", STANDARD),
        ("plan_level", STANDARD),
    ],
    "bench_one": [("storage_gb", STANDARD)],
}

EVENT_COLUMNS = (
    "organization_id",
    "subscription_id",
    "transaction_id",
    "code",
    "timestamp",
    "properties",
    "created_at",
)
REGIONS = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1")
ENDPOINTS = ("/v1/search", "/v1/items", "/v1/orders", "/v1/users", "/v1/reports")


# Setup -----------------------------------------------------------------------------------------


def drop_database(db_name: str) -> None:
    from django.db import connection

    connection.close()
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    progress(f"dropped database {db_name}")


def manage(db_name: str, *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=server_env(db_name),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_tenant(db_name: str) -> uuid.UUID:
    output = manage(db_name, "create_organization", "--name", ORGANIZATION_NAME, "--api-key", API_KEY)
    match = re.search(r"organization .* \(([0-9a-f-]{36})\)", output)
    if match is None or f"API key: {API_KEY}" not in output.strip().splitlines()[-1]:
        sys.exit(f"unexpected create_organization output:\n{output}")
    return uuid.UUID(match.group(1))


def setup_django(db_name: str) -> None:
    os.environ.update(server_env(db_name))
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)


@dataclass
class Fixtures:
    """What the data set and the measurements need to know about the objects the services created."""

    organization_id: str
    metric_ids: dict[str, str]  # code -> id
    regular: list[tuple[str, str, str, str]]  # (subscription id, external id, customer external id, plan code)
    whale: tuple[str, str, str]  # (subscription id, external id, customer external id)
    ingest: list[tuple[str, str]]  # (subscription id, external id)
    probe: tuple[str, str]  # (subscription id, external id): target of the re-ingestion check
    subscription_at: datetime
    created: bool = False


def regular_plan(index: int) -> str:
    return "bench_one" if index % 20 == 0 else "bench_five" if index % 20 == 1 else "bench_typical"


def subscription_start(today: date) -> datetime:
    """Anniversary start, HISTORY_MONTHS months plus PERIOD_AGE_DAYS days ago, on a day every month has."""
    anchor = today - timedelta(days=PERIOD_AGE_DAYS)
    if anchor.day > 28:
        anchor -= timedelta(days=anchor.day - 28)
    month = anchor.month - HISTORY_MONTHS
    year = anchor.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, anchor.day, tzinfo=UTC)


def ensure_fixtures(organization_id: uuid.UUID) -> Fixtures:
    """Metrics, plans, customers and subscriptions, through the app's services (once per database)."""
    from django.db import transaction

    from invoicing.subscriptions import create_subscription
    from organizations.models import Organization
    from plans.models import BillableMetric, Plan, Subscription
    from plans.services import create_billable_metric, create_plan

    organization = Organization.objects.get(pk=organization_id)
    created = not Plan.objects.filter(organization=organization, code="bench_typical").exists()
    if created:
        progress("creating metrics, plans, 1,102 customers and subscriptions through the services")
        subscription_at = subscription_start(datetime.now(UTC).date())
        with transaction.atomic():
            metrics = {}
            for code, name, aggregation, field_name, _ in METRICS:
                metrics[code] = create_billable_metric(
                    organization=organization,
                    data={"code": code, "name": name, "aggregation_type": aggregation, "field_name": field_name},
                )
            for plan_code, charges in PLANS.items():
                create_plan(
                    organization=organization,
                    data={
                        "code": plan_code,
                        "name": plan_code,
                        "interval": "monthly",
                        "amount_cents": 1000,
                        "amount_currency": "USD",
                        "charges": [
                            {"billable_metric_id": str(metrics[code].pk), **charge} for code, charge in charges
                        ],
                    },
                )
            specs = [(f"reg-{i:04d}", regular_plan(i)) for i in range(REGULAR_SUBSCRIPTIONS)]
            specs += [("whale", "bench_five"), ("probe", "bench_typical")]
            specs += [(f"ingest-{i:03d}", "bench_typical") for i in range(INGEST_SUBSCRIPTIONS)]
            for external_id, plan_code in specs:
                create_subscription(
                    organization=organization,
                    data={
                        "external_customer_id": f"cust-{external_id}",
                        "plan_code": plan_code,
                        "external_id": f"sub-{external_id}",
                        "billing_time": "anniversary",
                        "subscription_at": subscription_at,
                    },
                )
    subscriptions = {
        s.external_id: s
        for s in Subscription.objects.filter(organization=organization).select_related("customer", "plan")
    }

    def row(name: str) -> Subscription:
        return subscriptions[f"sub-{name}"]

    metric_ids = {m.code: str(m.pk) for m in BillableMetric.objects.filter(organization=organization)}
    return Fixtures(
        organization_id=str(organization_id),
        metric_ids=metric_ids,
        regular=[
            (str(s.pk), s.external_id, s.customer.external_id, s.plan.code)
            for s in (row(f"reg-{i:04d}") for i in range(REGULAR_SUBSCRIPTIONS))
        ],
        whale=(str(row("whale").pk), "sub-whale", "cust-whale"),
        ingest=[(str(row(f"ingest-{i:03d}").pk), f"sub-ingest-{i:03d}") for i in range(INGEST_SUBSCRIPTIONS)],
        probe=(str(row("probe").pk), "sub-probe"),
        subscription_at=row("whale").subscription_at,
        created=created,
    )


def current_period(external_id: str) -> tuple[datetime, datetime]:
    from plans import subscription_periods
    from plans.models import Subscription

    subscription = Subscription.objects.select_related("customer__organization", "plan").get(external_id=external_id)
    period = subscription_periods.current_period(subscription, datetime.now(UTC))
    return period.start, period.end


# The data set ----------------------------------------------------------------------------------


def event_properties(rng: random.Random, code: str) -> str:
    """The JSON text of an event's properties, the same shape for the bulk load and the ingestion runs."""
    region = rng.choice(REGIONS)
    if code == "api_calls":
        return f'{{"endpoint": "{rng.choice(ENDPOINTS)}", "region": "{region}"}}'
    if code == "storage_gb":
        return f'{{"gb": {rng.randint(1, 500_000) / 1000}, "region": "{region}"}}'
    if code == "seats":
        return f'{{"seats": {rng.randint(1, 500)}}}'
    if code == "plan_level":
        return f'{{"level": {rng.randint(1, 5)}}}'
    return f'{{"user_id": "u{rng.randint(1, 400)}", "region": "{region}"}}'


def copy_lines(
    fx: Fixtures, data: DataSet, period_start: datetime, load_until: datetime, seed: int = 42
) -> Iterator[str]:
    """Events in timestamp order, one hour at a time, as COPY text: subscriptions interleave like live traffic.

    Exact totals (full data set): 2,500 events per regular subscription on average before the
    period, 1,500 during it (each event picks its subscription at random, so a subscription gets
    ~1,500 ± 40), and 1,000,000 for the whale, all spread uniformly over time.
    """
    rng = random.Random(seed)
    codes = [m[0] for m in METRICS]
    weights = [m[4] for m in METRICS]
    regular_ids = [r[0] for r in fx.regular]
    whale_id = fx.whale[0]
    org = fx.organization_id
    streams = [
        # (from, to, subscription ids or None for the whale, total events)
        (fx.subscription_at, period_start, REGULAR_SUBSCRIPTIONS * data.history_events, False),
        (period_start, load_until, REGULAR_SUBSCRIPTIONS * data.current_events, False),
        (period_start, load_until, data.whale_events, True),
    ]
    hour = 3600
    start = int(fx.subscription_at.timestamp())
    end = int(load_until.timestamp())
    emitted = [0, 0, 0]
    for slice_start in range(start, end, hour):
        slice_end = min(slice_start + hour, end)
        batch: list[tuple[int, str, str]] = []  # (milliseconds, subscription id, code)
        for index, (lo, hi, total, is_whale) in enumerate(streams):
            lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
            a, b = max(lo_s, slice_start), min(hi_s, slice_end)
            if a >= b:
                continue
            target = round(total * (b - lo_s) / (hi_s - lo_s))
            count, emitted[index] = target - emitted[index], target
            span_ms = (b - a) * 1000
            if is_whale:
                picks = rng.choices(WHALE_CODES, WHALE_WEIGHTS, k=count)
                batch += [(a * 1000 + rng.randrange(span_ms), whale_id, code) for code in picks]
            else:
                picks = rng.choices(codes, weights, k=count)
                batch += [(a * 1000 + rng.randrange(span_ms), rng.choice(regular_ids), code) for code in picks]
        batch.sort()
        lines = []
        for ms, subscription_id, code in batch:
            seconds, millis = divmod(ms, 1000)
            ts = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(seconds))}.{millis:03d}+00"
            lines.append(
                f"{org}\t{subscription_id}\tevt_{rng.getrandbits(96):024x}\t{code}\t{ts}\t"
                f"{event_properties(rng, code)}\t{ts}\n"
            )
        yield "".join(lines)
    assert emitted == [s[2] for s in streams], emitted


ROLLUP_COLUMNS = (
    "subscription_id, billable_metric_id, bucket_start, events_count, units_sum, units_max, latest_value, "
    "latest_timestamp"
)


def data_loaded(conn: psycopg.Connection, fx: Fixtures, data: DataSet) -> bool:
    """All the events, rollups summing to them, and the whale's events still in its current period."""
    period_start, period_end = current_period(fx.whale[1])
    events = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]
    rolled = conn.execute("SELECT coalesce(sum(events_count), 0) FROM events_usagerollup").fetchone()[0]
    whale = conn.execute(
        "SELECT coalesce(sum(events_count), 0) FROM events_usagerollup "
        "WHERE subscription_id = %s AND bucket_start >= %s AND bucket_start < %s",
        (fx.whale[0], period_start, period_end),
    ).fetchone()[0]
    conn.rollback()
    return events == rolled == data.total and whale == data.whale_events


def secondary_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """(drop statement, create statement) of each index but the primary key, constraints included."""
    rows = conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
        WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
        ORDER BY i.relname
        """,
        (table,),
    ).fetchall()
    statements = []
    for index_name, index_def, constraint_name, constraint_def in rows:
        if constraint_name:
            statements.append(
                (
                    f'ALTER TABLE {table} DROP CONSTRAINT "{constraint_name}"',
                    f'ALTER TABLE {table} ADD CONSTRAINT "{constraint_name}" {constraint_def}',
                )
            )
        else:
            statements.append((f'DROP INDEX "{index_name}"', index_def))
    return statements


def load_events(conn: psycopg.Connection, fx: Fixtures, data: DataSet) -> dict[str, float]:
    """COPY the events, build their rollups with one INSERT ... SELECT, in one transaction.

    Bulk-load practice: the secondary indexes (the same definitions, read from the catalog) are
    dropped before and rebuilt after, and foreign-key triggers are off for the transaction
    (session_replication_role = replica): every row references the fixtures, checked afterwards.
    """
    period_start, _ = current_period(fx.whale[1])
    load_until = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    timings: dict[str, float] = {}
    progress(f"COPY of {data.total:,} events ({fx.subscription_at:%Y-%m-%d} .. {load_until:%Y-%m-%d %H:%M} UTC)")
    with conn.transaction():
        conn.execute("TRUNCATE events_event, events_usagerollup")
        indexes = secondary_indexes(conn, "events_event") + secondary_indexes(conn, "events_usagerollup")
        for drop, _ in indexes:
            conn.execute(drop)
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("SET LOCAL work_mem = '512MB'")
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        # FREEZE: the rows are written frozen (the table was truncated in this transaction).
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY events_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FREEZE)") as cp,
        ):
            for chunk in copy_lines(fx, data, period_start, load_until):
                cp.write(chunk)
        timings["copy"] = time.perf_counter() - started
        progress(f"COPY done in {timings['copy']:.1f} s; building the rollups with one INSERT ... SELECT")
        started = time.perf_counter()
        conn.execute(
            f"INSERT INTO events_usagerollup ({ROLLUP_COLUMNS}) {rollup_select('e.organization_id = %s')} "
            "ORDER BY 1, 2, 3",
            (fx.organization_id,),
        )
        timings["rollups"] = time.perf_counter() - started
        progress(f"rollups done in {timings['rollups']:.1f} s; rebuilding {len(indexes)} indexes")
        started = time.perf_counter()
        for _, create in indexes:
            conn.execute(create)
        timings["indexes"] = time.perf_counter() - started
        orphans = conn.execute(
            "SELECT count(*) FROM events_event e WHERE NOT EXISTS "
            "(SELECT 1 FROM plans_subscription s"
            " WHERE s.id = e.subscription_id AND s.organization_id = e.organization_id)"
        ).fetchone()[0]
        if orphans:
            raise RuntimeError(f"{orphans} events reference no subscription of the organization")
    progress(f"indexes rebuilt in {timings['indexes']:.1f} s; VACUUM ANALYZE")
    started = time.perf_counter()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE events_event")
    conn.execute("VACUUM ANALYZE events_usagerollup")
    # The fixtures were written through the services moments ago; autovacuum would analyze them
    # later, and until then the ingestion lookup is planned on an empty table's statistics.
    conn.execute("ANALYZE")
    conn.autocommit = False
    timings["vacuum"] = time.perf_counter() - started
    return timings


def delete_ingested(conn: psycopg.Connection, fx: Fixtures, vacuum: bool) -> int:
    """Remove what the ingestion runs wrote (events and rollups of the ingest-* subscriptions)."""
    ids = [sid for sid, _ in fx.ingest]
    deleted = conn.execute("DELETE FROM events_event WHERE subscription_id = ANY(%s::uuid[])", (ids,)).rowcount
    conn.execute("DELETE FROM events_usagerollup WHERE subscription_id = ANY(%s::uuid[])", (ids,))
    conn.commit()
    if vacuum and deleted:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE events_event")
        conn.execute("VACUUM ANALYZE events_usagerollup")
        conn.autocommit = False
    return deleted


# Consistency of the loaded rollups ------------------------------------------------------------------


def check_reingestion(fx: Fixtures, source_index: int) -> list[str]:
    """Re-ingest one subscription's current-period events through ingest_events, then compare rollups.

    The events of a regular subscription are sent again, in id order and in batches of 100, to the
    empty `probe` subscription (new transaction ids), inside a transaction rolled back at the end.
    The rollups ingestion wrote for the probe must equal, row for row (EXCEPT both ways), both
    the bulk builder's SELECT run over the probe's events and the loaded rollups of the source.
    """
    from django.db import connection, transaction

    from events.services import ingest_events
    from organizations.models import Organization

    source_id = fx.regular[source_index][0]
    probe_id = fx.probe[0]
    period_start, period_end = current_period(fx.regular[source_index][1])
    organization = Organization.objects.get(pk=fx.organization_id)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT code, extract(epoch FROM timestamp)::text, properties::text FROM events_event "
            "WHERE subscription_id = %s AND timestamp >= %s AND timestamp < %s ORDER BY id",
            [source_id, period_start, period_end],
        )
        rows = cur.fetchall()
    events = [
        {
            "transaction_id": f"probe-{index}",
            "external_subscription_id": fx.probe[1],
            "code": code,
            "timestamp": epoch,
            "properties": json.loads(properties),
        }
        for index, (code, epoch, properties) in enumerate(rows)
    ]
    columns = "billable_metric_id, bucket_start, events_count, units_sum, units_max, latest_value, latest_timestamp"
    lines = []
    with transaction.atomic():
        for offset in range(0, len(events), 100):
            ingest_events(organization=organization, raw_events=events[offset : offset + 100], batch=True)
        with connection.cursor() as cur:
            ingested = f"SELECT {columns} FROM events_usagerollup WHERE subscription_id = '{probe_id}'"
            probe_where = f"e.subscription_id = '{probe_id}'"
            built = f"SELECT {columns} FROM ({rollup_select(probe_where)}) b"
            loaded = (
                f"SELECT {columns} FROM events_usagerollup WHERE subscription_id = '{source_id}' "
                f"AND bucket_start >= '{period_start.isoformat()}' AND bucket_start < '{period_end.isoformat()}'"
            )
            counts = {}
            for label, (left, right) in {
                "ingestion EXCEPT builder": (ingested, built),
                "builder EXCEPT ingestion": (built, ingested),
                "ingestion EXCEPT loaded": (ingested, loaded),
                "loaded EXCEPT ingestion": (loaded, ingested),
            }.items():
                cur.execute(f"SELECT count(*) FROM (({left}) EXCEPT ({right})) d")
                counts[label] = cur.fetchone()[0]
            cur.execute(f"SELECT count(*) FROM ({ingested}) i")
            rollup_rows = cur.fetchone()[0]
        transaction.set_rollback(True)
    ok = all(count == 0 for count in counts.values())
    lines.append(
        f"re-ingestion of {fx.regular[source_index][1]}'s {len(events):,} current-period events through "
        f"ingest_events ({ceil(len(events) / 100)} batches of <=100, rolled back): {rollup_rows:,} rollup rows; "
        + ", ".join(f"{label}: {count}" for label, count in counts.items())
        + f" -> {verdict(ok)}"
    )
    return lines if ok else [*lines, "FAIL"]


RAW_CHECK_SQL = """
    SELECT code, count(*),
           coalesce(sum((properties ->> %(sum_field)s)::numeric), 0),
           max((properties ->> %(max_field)s)::numeric),
           (array_agg((properties ->> %(latest_field)s)::numeric ORDER BY timestamp DESC, id DESC))[1],
           count(DISTINCT properties ->> %(unique_field)s)
    FROM events_event
    WHERE subscription_id = %(subscription)s AND timestamp >= %(start)s AND timestamp < %(end)s
    GROUP BY code
"""


def check_aggregates(fx: Fixtures, targets: list[tuple[str, str]]) -> tuple[bool, list[str]]:
    """aggregate_usage (rollups + raw edges + unique counts) against one raw SQL aggregation over events."""
    from events.aggregation import aggregate_usage
    from plans.models import BillableMetric, Subscription

    metrics = list(BillableMetric.objects.filter(organization_id=fx.organization_id))
    by_code = {m.code: m for m in metrics}
    lines = []
    all_ok = True
    conn = psycopg.connect(database_url(os.environ["BENCH_DB"]))
    for subscription_id, label in targets:
        subscription = Subscription.objects.select_related("customer__organization", "plan").get(pk=subscription_id)
        start, end = current_period(subscription.external_id)
        usage = aggregate_usage(subscription=subscription, metrics=metrics, start=start, end=end)
        raw = {
            row[0]: row[1:]
            for row in conn.execute(
                RAW_CHECK_SQL,
                {
                    "sum_field": "gb",
                    "max_field": "seats",
                    "latest_field": "level",
                    "unique_field": "user_id",
                    "subscription": subscription_id,
                    "start": start,
                    "end": end,
                },
            )
        }
        conn.rollback()
        mismatches = []
        for code, metric in by_code.items():
            count, total, maximum, latest, unique = raw.get(code, (0, 0, None, None, 0))
            expected = {
                "count_agg": Decimal(count),
                "sum_agg": Decimal(total),
                "max_agg": Decimal(maximum or 0),
                "latest_agg": Decimal(latest or 0),
                "unique_count_agg": Decimal(unique),
            }[metric.aggregation_type]
            got = usage[metric.pk]
            if got.units != expected or got.events_count != count:
                mismatches.append(f"{code}: {got.units}/{got.events_count} != {expected}/{count}")
        events = sum(row[0] for row in raw.values())
        all_ok &= not mismatches
        detail = "; ".join(mismatches) if mismatches else "all 5 metrics equal (units and events_count)"
        lines.append(f"{label:<28} {events:>9,} events in period: {detail}")
    conn.close()
    return all_ok, lines


# In-process measurement --------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    p50: float
    p95: float
    p99: float
    samples: int = 0

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        ordered = sorted(samples_ms)

        def rank(q: float) -> float:
            return ordered[max(0, ceil(q * len(ordered)) - 1)]

        return cls(p50=statistics.median(ordered), p95=rank(0.95), p99=rank(0.99), samples=len(ordered))


def time_rotating(
    calls: list[Callable[[], None]], warmup_rounds: int, samples: int, budget_seconds: float, min_samples: int = 10
) -> Latency:
    """Time up to `samples` calls cycling through `calls` (several subscriptions), after warm-up rounds.

    Stops early once `budget_seconds` are spent and `min_samples` are taken: a slow path must not
    make the run last an hour. The number of samples actually taken is part of the result.
    """
    for _ in range(warmup_rounds):
        for call in calls:
            call()
    timings: list[float] = []
    deadline = time.perf_counter() + budget_seconds
    for index in range(samples):
        if index >= min_samples and time.perf_counter() > deadline:
            break
        call = calls[index % len(calls)]
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return Latency.of(timings)


def service_call(subscription_id: str) -> Callable[[], None]:
    """What the endpoint does after authentication: fetch the subscription with its relations, compute."""
    from invoicing.usage import current_usage, with_usage_relations
    from plans.models import Subscription

    def call() -> None:
        subscription = with_usage_relations(Subscription.objects.filter(pk=subscription_id)).get()
        current_usage(subscription=subscription)

    return call


@dataclass
class QueryProfile:
    label: str
    plan: str
    charges: int
    metrics: int
    events_in_period: int
    rollup_rows: int
    http_queries: list[str] = field(default_factory=list)
    service_queries: list[str] = field(default_factory=list)


def usage_path(customer_external_id: str, subscription_external_id: str) -> str:
    return f"/api/v1/customers/{customer_external_id}/current_usage?external_subscription_id={subscription_external_id}"


def profile_queries(
    conn: psycopg.Connection, label: str, subscription_id: str, customer_ext: str, subscription_ext: str
) -> QueryProfile:
    """SQL statements of one current-usage call, HTTP request (Django test client) and service call."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from plans.models import Subscription

    subscription = Subscription.objects.select_related("plan").get(pk=subscription_id)
    charges = list(subscription.plan.charges.filter(deleted_at__isnull=True))
    start, end = current_period(subscription_ext)
    events = conn.execute(
        "SELECT count(*) FROM events_event WHERE subscription_id = %s AND timestamp >= %s AND timestamp < %s",
        (subscription_id, start, end),
    ).fetchone()[0]
    rollups = conn.execute(
        "SELECT count(*) FROM events_usagerollup WHERE subscription_id = %s AND billable_metric_id = ANY(%s)"
        " AND bucket_start >= %s AND bucket_start < %s",
        (subscription_id, list({c.billable_metric_id for c in charges}), start, end),
    ).fetchone()[0]
    conn.rollback()
    profile = QueryProfile(
        label=label,
        plan=subscription.plan.code,
        charges=len(charges),
        metrics=len({c.billable_metric_id for c in charges}),
        events_in_period=events,
        rollup_rows=rollups,
    )
    client = Client(headers={"Authorization": f"Bearer {API_KEY}"})
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(usage_path(customer_ext, subscription_ext))
    if response.status_code != 200:
        sys.exit(f"current_usage of {subscription_ext} answered {response.status_code}: {response.content[:300]!r}")
    profile.http_queries = [q["sql"] for q in ctx.captured_queries]
    with CaptureQueriesContext(connection) as ctx:
        service_call(subscription_id)()
    profile.service_queries = [q["sql"] for q in ctx.captured_queries]
    return profile


def raw_usage_sql(unique: bool) -> str:
    """The same aggregation as ONE SQL statement over raw events: GROUP BY code, COUNT/SUM/MAX (+DISTINCT)."""
    distinct = ", count(DISTINCT properties ->> 'user_id')" if unique else ""
    return (
        "SELECT code, count(*), sum((properties ->> 'gb')::numeric), max((properties ->> 'seats')::numeric)"
        f"{distinct} FROM events_event WHERE subscription_id = %s AND timestamp >= %s AND timestamp < %s "
        "GROUP BY code"
    )


def raw_call(conn: psycopg.Connection, sql: str, subscription_id: str, start: datetime, end: datetime, *extra: Any):
    def call() -> None:
        conn.execute(sql, (subscription_id, start, end, *extra)).fetchall()
        conn.rollback()

    return call


# The statement proposed for events/aggregation.py _add_rollups: the latest value as an ordered
# aggregate, instead of a correlated subquery that Django puts in the GROUP BY (so PostgreSQL
# evaluates it once per rollup row: quadratic in the buckets read).
PROPOSED_ROLLUP_SQL = """
    SELECT billable_metric_id, sum(events_count), sum(units_sum), max(units_max), max(latest_timestamp),
           (array_agg(latest_value ORDER BY latest_timestamp DESC) FILTER (WHERE latest_timestamp IS NOT NULL))[1]
    FROM events_usagerollup
    WHERE subscription_id = %s AND bucket_start >= %s AND bucket_start < %s AND billable_metric_id = ANY(%s)
    GROUP BY billable_metric_id
"""


def metric_ids_of(subscription_id: str) -> list[uuid.UUID]:
    from plans.models import Charge, Subscription

    plan_id = Subscription.objects.values_list("plan_id", flat=True).get(pk=subscription_id)
    return list(
        set(
            Charge.objects.filter(plan_id=plan_id, deleted_at__isnull=True).values_list("billable_metric_id", flat=True)
        )
    )


@contextmanager
def jit_off() -> Iterator[None]:
    """JIT compilation off for Django's connection (a what-if: the app does not set it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")


def explain(conn: psycopg.Connection, sql: str, params: tuple | None = None) -> tuple[float, str, str]:
    """Execution time, a one-line plan outline and the full text plan of one SELECT."""

    def run(prefix: str) -> list[tuple[Any, ...]]:
        if params is None:  # SQL captured from Django, parameters already inlined
            return conn.execute((prefix + sql).encode()).fetchall()
        return conn.execute(prefix + sql, params).fetchall()

    plan = run("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ")[0][0][0]
    text_rows = run("EXPLAIN (ANALYZE, BUFFERS) ")
    conn.rollback()

    def outline(node: dict[str, Any]) -> str:
        name = node["Node Type"]
        target = node.get("Index Name") or node.get("Relation Name")
        if target:
            name += f"({target})"
        children = node.get("Plans", [])
        if not children:
            return name
        return f"{name}[{', '.join(outline(child) for child in children)}]"

    return plan["Execution Time"], outline(plan["Plan"]), "\n".join(r[0] for r in text_rows)


# HTTP and ingestion ------------------------------------------------------------------------------


def http_get(client: httpx.Client, path: str, expected: int = 200) -> Callable[[], None]:
    def call() -> None:
        response = client.get(path)
        if response.status_code != expected:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")

    return call


@dataclass(frozen=True)
class WorkerSpec:
    kind: str  # "http-batch", "http-single", "sql-batch", "sql-single"
    index: int
    url: str
    path: str  # of the HTTP kinds: the app's endpoint or the minimal view
    dsn: str
    organization_id: str
    subscriptions: list[tuple[str, str]]  # (id, external id)
    duration: float
    warmup: int
    run: str


def _event(rng: random.Random, spec: WorkerSpec, number: int) -> tuple[str, str, str, str, float]:
    subscription_id, external_id = rng.choice(spec.subscriptions)
    code = rng.choices([m[0] for m in METRICS], [m[4] for m in METRICS])[0]
    transaction_id = f"{spec.run}-{spec.index}-{number}-{rng.getrandbits(64):016x}"
    return subscription_id, external_id, transaction_id, code, round(time.time(), 3)


# Requests each client prepares before the timed window, per second of it: more than any run sends.
PREPARED_REQUESTS_PER_SECOND = {1: 1500, 100: 150}


def ingest_worker(spec: WorkerSpec, ready, go, results) -> None:
    """One client connection: send batches (or single events) until the deadline; report the latencies.

    Bodies (or rows) are generated before the timed window, as a load generator such as wrk does:
    the client shares the cores with the server, and generating them cost as much as sending them.
    """
    rng = random.Random(f"{spec.run}-{spec.index}")
    counter = iter(range(10**9))
    size = 100 if spec.kind.endswith("batch") else 1
    if spec.kind.startswith("http"):
        # A raw-socket client: httpx would spend as much CPU per request as the server it measures.
        client = RawHttpClient(spec.url, {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})

        def make() -> Any:
            events = []
            for _ in range(size):
                _, external_id, transaction_id, code, ts = _event(rng, spec, next(counter))
                props = event_properties(rng, code)
                events.append(
                    f'{{"transaction_id": "{transaction_id}", "external_subscription_id": "{external_id}", '
                    f'"code": "{code}", "timestamp": {ts}, "properties": {props}}}'
                )
            body = '{"events": [' + ", ".join(events) + "]}" if size > 1 else '{"event": ' + events[0] + "}"
            return body.encode()

        def send(body: Any) -> str | None:
            status, content = client.post(spec.path, body)
            return None if status == 200 else f"{status} {content[:200].decode(errors='replace')}"

    else:
        # Prepared after 5 runs, as the app's statements are (settings.py): the anchor gets the same help.
        conn = psycopg.connect(spec.dsn, autocommit=True)
        row = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
        sql = (
            f"INSERT INTO events_event ({', '.join(EVENT_COLUMNS)}) VALUES {', '.join([row] * size)} "
            "ON CONFLICT (organization_id, transaction_id) DO NOTHING"
        )

        def make() -> Any:
            params: list[Any] = []
            now = datetime.now(UTC)
            for _ in range(size):
                subscription_id, _, transaction_id, code, ts = _event(rng, spec, next(counter))
                props = json.loads(event_properties(rng, code))
                stamp = datetime.fromtimestamp(ts, UTC)
                params += [spec.organization_id, subscription_id, transaction_id, code, stamp, Jsonb(props), now]
            return params

        def send(params: Any) -> str | None:
            conn.execute(sql, params)
            return None

    for _ in range(spec.warmup):
        send(make())
    prepared = deque(make() for _ in range(int(spec.duration * PREPARED_REQUESTS_PER_SECOND[size])))
    ready.wait()
    go.wait()
    deadline = time.perf_counter() + spec.duration
    latencies: list[float] = []
    errors = 0
    first_error = None
    while time.perf_counter() < deadline:
        payload = prepared.popleft() if prepared else make()
        started = time.perf_counter()
        error = send(payload)
        latencies.append((time.perf_counter() - started) * 1000)
        if error:
            errors += 1
            first_error = first_error or error
    results.put((spec.index, latencies, errors, first_error))


@dataclass
class IngestResult:
    label: str
    rows: int
    seconds: float
    latencies_ms: list[float]  # per request
    errors: int
    first_error: str | None

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def latency(self) -> Latency:
        return Latency.of(self.latencies_ms)

    @classmethod
    def merged(cls, parts: list[IngestResult]) -> IngestResult:
        """The rounds of one run as one: rows over the time of the rounds."""
        return cls(
            parts[0].label,
            sum(part.rows for part in parts),
            sum(part.seconds for part in parts),
            [ms for part in parts for ms in part.latencies_ms],
            sum(part.errors for part in parts),
            next((part.first_error for part in parts if part.first_error), None),
        )


def run_ingestion(
    label: str,
    kind: str,
    path: str,
    fx: Fixtures,
    url: str,
    dsn: str,
    subscriptions: list[tuple[str, str]],
    clients: int,
    seconds: float,
) -> IngestResult:
    """N client processes, started together after a warm-up; rows counted in the table afterwards."""
    progress(f"ingestion: {label}")
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Barrier(clients + 1), ctx.Barrier(clients + 1), ctx.Queue()
    run = uuid.uuid4().hex[:8]
    processes = [
        ctx.Process(
            target=ingest_worker,
            args=(
                WorkerSpec(kind, i, url, path, dsn, fx.organization_id, subscriptions, seconds, 3, run),
                ready,
                go,
                results,
            ),
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM events_event").fetchone()[0]
        go.wait(timeout=30)
        started = time.perf_counter()
        outcomes = [results.get(timeout=seconds + 120) for _ in processes]
        elapsed = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM events_event WHERE id > %s", (before,)).fetchone()[0]
    for process in processes:
        process.join(timeout=30)
    latencies = [ms for _, lat, _, _ in outcomes for ms in lat]
    errors = sum(e for _, _, e, _ in outcomes)
    first_error = next((f for _, _, _, f in outcomes if f), None)
    return IngestResult(label, rows, elapsed, latencies, errors, first_error)


def run_ingestions(fx: Fixtures, url: str, dsn: str, args) -> dict[str, IngestResult]:
    """Every ingestion run, each after its anchor: the raw 100-row INSERT before the batch endpoint; the
    raw single-row INSERT and the minimal Django view (benchmarks/anchor_urls.py) before the event endpoint.

    All the runs are made INGEST_ROUNDS times, a fraction of the time each, and each run's rounds
    merged: a change of load on the shared machine then weighs on a figure and its anchor alike.
    """
    # Imported once Django is set up: the module of the view's route includes the app's URLs.
    from benchmarks.anchor_urls import EVENT_PATH

    batch, hot = "/api/v1/events/batch", fx.ingest[:1]
    runs = (
        # (key, label, kind, path, target subscriptions)
        ("sql-batch", "raw SQL: 100-row INSERT ... ON CONFLICT DO NOTHING", "sql-batch", "", fx.ingest),
        ("http-batch", "POST /api/v1/events/batch (100 events, 100 subscriptions)", "http-batch", batch, fx.ingest),
        ("http-batch-hot", "POST /api/v1/events/batch (100 events, ONE subscription)", "http-batch", batch, hot),
        ("sql-single", "raw SQL: single-row INSERT ... ON CONFLICT DO NOTHING", "sql-single", "", fx.ingest),
        ("http-anchor", f"minimal Django view, POST {EVENT_PATH} (1 event)", "http-single", EVENT_PATH, fx.ingest),
        ("http-single", "POST /api/v1/events (1 event)", "http-single", "/api/v1/events", fx.ingest),
    )
    seconds = args.ingest_seconds / INGEST_ROUNDS
    rounds = [
        {
            key: run_ingestion(label, kind, path, fx, url, dsn, subs, args.clients, seconds)
            for key, label, kind, path, subs in runs
        }
        for _ in range(INGEST_ROUNDS)
    ]
    return {key: IngestResult.merged([results[key] for results in rounds]) for key in rounds[0]}


# Report ------------------------------------------------------------------------------------------


class Row(NamedTuple):
    """A line of the result table: our figure, its anchor measured in the same run, their ratio, the verdict."""

    label: str
    ours: str
    anchor: str
    ratio: str
    target: str = "(info)"
    ok: bool | None = None


def rate_row(ours: IngestResult, anchor: IngestResult, name: str, target: float | None = None, label: str = "") -> Row:
    """Our rate as a share of the anchor's. Rows are counted in the table, so an error on either side
    fails the verdict: a failing anchor would lower the bar."""
    ratio = ours.per_second / anchor.per_second
    return Row(
        label or ours.label,
        f"{ours.per_second:,.0f} ev/s",
        f"{name} {anchor.per_second:,.0f} rows/s",
        f"{ratio:.0%}",
        "(info)" if target is None else f">= {target:.0%} {name}",
        None if target is None else ratio >= target and ours.errors == anchor.errors == 0,
    )


def ingestion_rows(ingestion: dict[str, IngestResult]) -> list[Row]:
    raw_batch, raw_single, view = ingestion["sql-batch"], ingestion["sql-single"], ingestion["http-anchor"]
    single = ingestion["http-single"]
    return [
        rate_row(ingestion["http-batch"], raw_batch, "raw", BATCH_RATIO_TARGET),
        rate_row(ingestion["http-batch-hot"], raw_batch, "raw"),
        rate_row(single, view, "view", SINGLE_RATIO_TARGET),
        rate_row(single, raw_single, "raw", label="  the same against the raw single-row INSERT"),
        rate_row(view, raw_single, "raw", label="  the minimal view against the raw single-row INSERT"),
    ]


def latency_rows(lat: dict[str, Latency], data: DataSet) -> list[Row]:
    """Current usage: a typical subscription's p50 against one raw aggregation over its events; the
    whale's p95 against the same over its events, what current usage would cost without rollups."""
    rows = [
        Row("GET /api/v1/unknown (Django 404, no DB): framework floor", fmt_latency(lat["anchor"]), "", "", "(anchor)")
    ]
    for label, key in (
        ("GET current_usage, typical (HTTP)", "http typical"),
        ("current_usage service, typical (in-process)", "service typical"),
    ):
        ratio, target = lat[key].p50 / lat["raw typical"].p50, USAGE_P50_RATIO_TARGET
        rows.append(
            Row(
                label,
                fmt_latency(lat[key]),
                fmt_latency(lat["raw typical"]),
                f"{ratio:.1f}x",
                f"p50 <= {target:.0f}x raw",
                ratio <= target,
            )
        )
    for label, key in (
        (f"GET current_usage, whale {data.whale_events:,} events (HTTP)", "http whale"),
        ("current_usage service, whale (in-process)", "service whale"),
    ):
        ratio, target = lat[key].p95 / lat["raw whale"].p50, WHALE_P95_RATIO_TARGET
        rows.append(
            Row(
                label,
                fmt_latency(lat[key]),
                f"raw p50 {lat['raw whale'].p50:,.0f} ms",
                f"{ratio:.3f}x",
                f"p95 <= {target:.2f}x raw",
                ratio <= target,
            )
        )
    return rows


def machine_info(conn: psycopg.Connection, data: DataSet) -> list[str]:
    cpu, memory = cpu_model(), memory_gib()

    def setting(name: str) -> str:
        row = conn.execute(f"SHOW {name}").fetchone()
        return str(row[0]) if row else "?"

    sizes = conn.execute(
        "SELECT relname, pg_size_pretty(pg_table_size(oid)), pg_size_pretty(pg_indexes_size(oid)) "
        "FROM pg_class WHERE relname IN ('events_event', 'events_usagerollup') ORDER BY relname"
    ).fetchall()
    rollups = conn.execute("SELECT count(*) FROM events_usagerollup").fetchone()[0]
    conn.rollback()
    from django.conf import settings

    return [
        f"CPU: {cpu}, {os.cpu_count()} cores, {memory} RAM (load generator, gunicorn and PostgreSQL share them)",
        f"PostgreSQL {setting('server_version')}: shared_buffers={setting('shared_buffers')}, "
        f"work_mem={setting('work_mem')}, effective_cache_size={setting('effective_cache_size')}, "
        f"synchronous_commit={setting('synchronous_commit')}, max_wal_size={setting('max_wal_size')}, "
        f"max_parallel_workers_per_gather={setting('max_parallel_workers_per_gather')}, "
        f"random_page_cost={setting('random_page_cost')}, jit={setting('jit')}",
        "tables: "
        + "; ".join(f"{name} {table} + indexes {indexes}" for name, table, indexes in sizes)
        + f"; {rollups:,} rollup rows for {data.total:,} events",
        f"Python {platform.python_version()}, Django {metadata.version('django')}, "
        f"DRF {metadata.version('djangorestframework')}, psycopg {metadata.version('psycopg')}, "
        f"gunicorn {metadata.version('gunicorn')}, httpx {metadata.version('httpx')}; "
        f"app CONN_MAX_AGE={settings.DATABASES['default'].get('CONN_MAX_AGE')} (its default)",
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    ]


def fmt_latency(latency: Latency) -> str:
    return f"p50 {latency.p50:,.2f} / p95 {latency.p95:,.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="PostgreSQL database, created if missing (default: billing_usage_bench[_smoke])")
    parser.add_argument("--reload", action="store_true", help="drop the database and load everything again")
    parser.add_argument(
        "--smoke", action="store_true", help="100,000 events, in a database of their own: every path, verdicts moot"
    )
    parser.add_argument("--samples", type=int, default=200, help="timed current-usage calls per row")
    parser.add_argument(
        "--row-seconds", type=float, default=20.0, help="time budget per latency row (at least 10 samples)"
    )
    parser.add_argument("--whale-raw-runs", type=int, default=3, help="runs of the raw SQL over the whale")
    parser.add_argument("--clients", type=int, default=4, help="client processes (connections) for ingestion")
    parser.add_argument("--ingest-seconds", type=float, default=10.0, help="duration of each ingestion run")
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (0: a free one)")
    parser.add_argument(
        "--workers", type=int, default=4, help="gunicorn sync workers (the README's production command)"
    )
    parser.add_argument("--explain", action="store_true", help="print the full EXPLAIN ANALYZE plans")
    parser.add_argument(
        "--webhook-endpoint", metavar="URL", help="a webhook endpoint (every type) for the bench organization"
    )
    args = parser.parse_args()
    if args.webhook_endpoint:
        os.environ["WEBHOOKS_ALLOW_PRIVATE_URLS"] = "true"  # the endpoint may be on loopback
    bench_started = time.perf_counter()
    data = SMOKE if args.smoke else FULL
    # Its own database: a smoke run must not replace the 5,000,000 events of a full one.
    args.db = args.db or ("billing_usage_bench_smoke" if args.smoke else "billing_usage_bench")
    os.environ["BENCH_DB"] = args.db
    dsn = database_url(args.db)

    setup_django(args.db)
    if args.reload:
        drop_database(args.db)
    load_timings: dict[str, float] = {}
    for attempt in range(2):
        fresh = ensure_database(args.db)
        manage(args.db, "migrate", "--noinput")
        organization_id = create_tenant(args.db)
        fx = ensure_fixtures(organization_id)
        db = psycopg.connect(dsn)
        delete_ingested(db, fx, vacuum=True)  # leftovers of an interrupted run
        if data_loaded(db, fx, data):
            progress(f"{data.total:,} events already loaded (--reload to load them again)")
            break
        if fx.created or fresh or attempt == 1:
            load_timings = load_events(db, fx, data)
            break
        progress("data missing or the whale's period has moved on: recreating the database")
        db.close()
        drop_database(args.db)
    # Webhooks on (issue 13; benchmarks/webhooks_bench.py --others): ingestion and current usage write
    # no message, which the report's count shows; without the option, no endpoint is left.
    webhooks_note = set_webhook_endpoint(organization_id, args.webhook_endpoint)

    # Consistency of the bulk-built rollups with what ingestion writes ------------------------------
    typical_indexes = [i for i in range(REGULAR_SUBSCRIPTIONS) if fx.regular[i][3] == "bench_typical"][:20]
    progress("consistency checks")
    reingestion = check_reingestion(fx, typical_indexes[0])
    check_targets = [(fx.regular[i][0], fx.regular[i][1]) for i in typical_indexes[:5]]
    check_targets += [(fx.regular[0][0], fx.regular[0][1]), (fx.regular[1][0], fx.regular[1][1])]
    check_targets.append((fx.whale[0], fx.whale[1]))
    aggregates_ok, aggregate_lines = check_aggregates(fx, check_targets)
    consistency_ok = aggregates_ok and reingestion[-1] != "FAIL"

    # Queries per call -------------------------------------------------------------------------------
    typical = fx.regular[typical_indexes[0]]
    profiles = [
        profile_queries(db, "typical (5 charges, unique)", typical[0], typical[2], typical[1]),
        profile_queries(db, "typical-size, 5 charges", fx.regular[1][0], fx.regular[1][2], fx.regular[1][1]),
        profile_queries(db, "typical-size, 1 charge", fx.regular[0][0], fx.regular[0][2], fx.regular[0][1]),
        profile_queries(db, "whale (5 charges)", fx.whale[0], fx.whale[2], fx.whale[1]),
    ]

    # In-process service and raw SQL ----------------------------------------------------------------
    typical_subs = [fx.regular[i] for i in typical_indexes]
    periods = {sub[0]: current_period(sub[1]) for sub in typical_subs}
    whale_period = current_period(fx.whale[1])
    raw_conn = psycopg.connect(dsn, prepare_threshold=None)
    typical_sql = raw_usage_sql(unique=True)
    whale_sql = raw_usage_sql(unique=False)
    budget = args.row_seconds
    progress("raw SQL, typical subscriptions")
    raw_typical = time_rotating(
        [raw_call(raw_conn, typical_sql, s[0], *periods[s[0]]) for s in typical_subs], 1, args.samples, budget
    )
    progress("service in-process, typical subscriptions")
    service_typical = time_rotating([service_call(s[0]) for s in typical_subs], 1, args.samples, budget)
    progress("service in-process, whale")
    service_whale = time_rotating([service_call(fx.whale[0])], 1, args.samples, budget)
    progress(f"raw SQL over the whale's events, {args.whale_raw_runs} runs")
    whale_raw_runs = []
    for _ in range(args.whale_raw_runs):
        started = time.perf_counter()
        raw_call(raw_conn, whale_sql, fx.whale[0], *whale_period)()
        whale_raw_runs.append((time.perf_counter() - started) * 1000)
    whale_raw = Latency.of(whale_raw_runs)

    # What-ifs, as evidence for the proposed changes (not part of the verdict).
    progress("what-ifs: service with jit=off, proposed rollup statement")
    what_ifs: list[tuple[str, Latency]] = []
    with jit_off():
        what_ifs.append(
            (
                "service, typical, SET jit = off",
                time_rotating([service_call(s[0]) for s in typical_subs], 1, args.samples, budget),
            )
        )
        what_ifs.append(
            ("service, whale, SET jit = off", time_rotating([service_call(fx.whale[0])], 1, args.samples, budget))
        )
    plan_metrics = {sub_id: metric_ids_of(sub_id) for sub_id in [s[0] for s in typical_subs] + [fx.whale[0]]}
    what_ifs.append(
        (
            "proposed rollup statement, typical",
            time_rotating(
                [
                    raw_call(raw_conn, PROPOSED_ROLLUP_SQL, s[0], *periods[s[0]], plan_metrics[s[0]])
                    for s in typical_subs
                ],
                1,
                args.samples,
                budget,
            ),
        )
    )
    what_ifs.append(
        (
            "proposed rollup statement, whale",
            time_rotating(
                [raw_call(raw_conn, PROPOSED_ROLLUP_SQL, fx.whale[0], *whale_period, plan_metrics[fx.whale[0]])],
                1,
                args.samples,
                budget,
            ),
        )
    )

    # HTTP ----------------------------------------------------------------------------------------
    # The app's settings plus the minimal view's route: the anchor is served by the same workers.
    env = {**server_env(args.db), "DJANGO_SETTINGS_MODULE": "benchmarks.anchor_settings"}
    server = Gunicorn(label="usage_bench", env=env, port=args.port or free_port(), workers=args.workers)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=60.0, headers={"Authorization": f"Bearer {API_KEY}"}) as api:
            progress("HTTP current usage")
            anchor_http = time_rotating([http_get(api, "/api/v1/unknown", 404)], 20, args.samples, budget)
            http_typical = time_rotating(
                [http_get(api, usage_path(s[2], s[1])) for s in typical_subs], 1, args.samples, budget
            )
            http_whale = time_rotating([http_get(api, usage_path(fx.whale[2], fx.whale[1]))], 1, args.samples, budget)
        ingestion = run_ingestions(fx, server.url, dsn, args)
    finally:
        server.stop()
    progress("deleting the ingested events, VACUUM ANALYZE")
    ingested_rows = delete_ingested(db, fx, vacuum=True)
    webhook_messages = sum(webhook_message_counts(args.db, organization_id).values())
    set_webhook_endpoint(organization_id, None)

    # EXPLAIN ------------------------------------------------------------------------------------------
    explains = []
    for profile in (profiles[0], profiles[3]):
        for sql in profile.service_queries:
            if sql.startswith("SELECT") and ("events_" in sql):
                explains.append((profile.label, sql, None))
    s0 = typical_subs[0][0]
    explains.append(("raw SQL, typical", typical_sql, (s0, *periods[s0])))
    explains.append(("raw SQL, whale", whale_sql, (fx.whale[0], *whale_period)))
    explains.append(("proposed rollups, typical", PROPOSED_ROLLUP_SQL, (s0, *periods[s0], plan_metrics[s0])))
    explains.append(
        ("proposed rollups, whale", PROPOSED_ROLLUP_SQL, (fx.whale[0], *whale_period, plan_metrics[fx.whale[0]]))
    )
    explained = [(label, sql, *explain(raw_conn, sql, params)) for label, sql, params in explains]

    # Report ------------------------------------------------------------------------------------------
    print()
    print(
        f"usage benchmark: {data.total:,} events in events_event ({REGULAR_SUBSCRIPTIONS:,} regular subscriptions "
        f"with ~{data.current_events:,} events in the current period and {data.history_events:,} before it, "
    )
    print(
        f"one whale with {data.whale_events:,} in its current period {whale_period[0]:%Y-%m-%d} .. "
        f"{whale_period[1]:%Y-%m-%d}), database {args.db}, gunicorn -w {args.workers} (sync)"
    )
    if load_timings:
        print(
            f"  load: COPY {load_timings['copy']:.1f} s ({data.total / load_timings['copy']:,.0f} rows/s), "
            f"rollups INSERT ... SELECT {load_timings['rollups']:.1f} s, VACUUM ANALYZE {load_timings['vacuum']:.1f} s"
        )
    for line in machine_info(db, data):
        print("  " + line)

    print()
    latencies = {
        "anchor": anchor_http,
        "raw typical": raw_typical,
        "http typical": http_typical,
        "service typical": service_typical,
        "raw whale": whale_raw,
        "http whale": http_whale,
        "service whale": service_whale,
    }
    rows = ingestion_rows(ingestion) + latency_rows(latencies, data)
    header = f"{'measurement':<60} {'ours':>26} {'anchor (same run)':>28} {'ratio':>7}  {'target':<17} result"
    print(header)
    print("-" * len(header))
    for row in rows:
        result = "" if row.ok is None else verdict(row.ok)
        print(f"{row.label:<60} {row.ours:>26} {row.anchor:>28} {row.ratio:>7}  {row.target:<17} {result}")
    all_ok = consistency_ok and all(row.ok for row in rows if row.ok is not None)

    print()
    print(
        f"ingestion details ({args.clients} client processes, {args.ingest_seconds:.0f} s per run in "
        f"{INGEST_ROUNDS} alternating rounds, rows counted in the"
    )
    print("table; events/batch go to the 100 ingest-* subscriptions, timestamps = now; deleted afterwards):")
    for res in ingestion.values():
        print(
            f"  {res.label:<60} {res.rows:>8,} rows in {res.seconds:5.1f} s = {res.per_second:>8,.0f}/s, "
            f"{res.requests:>6,} requests, p50 {res.latency.p50:6.1f} ms, p99 {res.latency.p99:6.1f} ms, "
            f"errors {res.errors}" + (f" (first: {res.first_error})" if res.first_error else "")
        )
    print(f"  ({ingested_rows:,} ingested rows deleted after the runs; latencies are per request)")
    print(
        f"  raw SQL over the whale's {data.whale_events:,} events (GROUP BY code, COUNT/SUM/MAX), "
        f"{args.whale_raw_runs} runs: " + ", ".join(f"{ms:,.0f}" for ms in whale_raw_runs) + " ms"
    )

    print()
    print(
        "latency samples per row (time budget per row, at least 10): "
        + ", ".join(
            f"{label} {lat.samples}"
            for label, lat in (
                ("raw typical", raw_typical),
                ("HTTP typical", http_typical),
                ("service typical", service_typical),
                ("HTTP whale", http_whale),
                ("service whale", service_whale),
            )
        )
    )
    print("what-ifs, evidence for the proposed changes (not in the verdict; typical = same 20 subscriptions):")
    for label, lat in what_ifs:
        print(f"  {label:<40} {fmt_latency(lat):>34}  ({lat.samples} samples)")

    print()
    print("SQL statements per current-usage call (captured in-process with CaptureQueriesContext):")
    print(
        f"  {'subscription':<28} {'plan':<14} {'charges':>7} {'metrics':>7} {'events':>9} {'rollup rows':>11} "
        f"{'HTTP':>4} {'service':>7}  service statements"
    )
    for p in profiles:
        kinds = []
        for sql in p.service_queries:
            table = re.search(r'FROM "(\w+)"', sql)
            kinds.append(table.group(1) if table else sql[:20])
        print(
            f"  {p.label:<28} {p.plan:<14} {p.charges:>7} {p.metrics:>7} {p.events_in_period:>9,} "
            f"{p.rollup_rows:>11,} {len(p.http_queries):>4} {len(p.service_queries):>7}  {', '.join(kinds)}"
        )
    # The statements depend on the kinds of charges (a latest or a unique-count charge adds one
    # read each), never on how many events or charges there are: same plan, same count, at 1.5k or
    # 1M events; and never more than subscription + charges + rollups + latest values + unique counts.
    per_plan: dict[str, set[int]] = {}
    for p in profiles:
        per_plan.setdefault(p.plan, set()).add(len(p.service_queries))
    counts = {len(p.service_queries) for p in profiles}
    fixed = all(len(plan_counts) == 1 for plan_counts in per_plan.values()) and max(counts) <= 5
    all_ok &= fixed
    print(
        f"  -> {sorted(counts)} statement(s) for 1 or 5 charges, {data.current_events:,} or {data.whale_events:,} "
        "events; the same for one plan "
        f"whatever its events, at most 5: {verdict(fixed)}"
    )

    print()
    print("consistency of the bulk-built rollups:")
    for line in reingestion[:1]:
        print("  " + line)
    print("  aggregate_usage (rollups) vs one raw SQL aggregation over events, current period:")
    for line in aggregate_lines:
        print("    " + line)
    print(f"  -> {verdict(consistency_ok)}")

    print()
    print("EXPLAIN (ANALYZE, BUFFERS) of the statements that read events or rollups (ms, plan outline):")
    for label, sql, took, outline, text in explained:
        print(f"  {label:<28} {took:9.2f}  {outline[:160]}")
        if args.explain:
            print("    " + sql.replace("\n", " ")[:2000])
            print("\n".join("      " + line for line in text.splitlines()))
    db.close()
    raw_conn.close()
    print()
    print(f"webhooks: {webhooks_note}; {webhook_messages:,} messages written during the run")
    print(f"total runtime {time.perf_counter() - bench_started:.0f} s")
    if args.smoke:
        print("--smoke: a fiftieth of the data set, to check that every path runs; only a full run gives a verdict")
    print(f"overall: {verdict(all_ok)}" + (" (smoke data set)" if args.smoke else ""))


if __name__ == "__main__":
    main()
