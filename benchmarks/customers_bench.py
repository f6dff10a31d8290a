"""Customer list, search and upsert performance at 100,000 customers, measured over HTTP.

Run from the project root: `.venv/bin/python benchmarks/customers_bench.py [--reload] [--explain]`.
See benchmarks/README.md for what is measured and how to read the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from math import ceil
from typing import Any

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
    progress,
    server_env,
    verdict,
)

ORGANIZATION_NAME = "Bench Org"
STAFF_EMAIL = "bench-staff@example.com"
STAFF_PASSWORD = "bench-password-not-secret"
# A fixed key, so that reruns reuse it instead of piling up new ones.
API_KEY = "bench-api-key-0123456789abcdef"
UPSERT_PREFIX = "bench-upsert-"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")

# Targets, each a ratio to an anchor of the same run (machines of one kind differ by 2x; the
# reasons for each threshold are in benchmarks/README.md).
LIST_P95_ANCHOR_MULTIPLE = 50.0  # list page and endpoint p95 <= 50x the empty request's p50
UPSERTS_ANCHOR_RATIO_TARGET = 0.30  # sequential upserts/s >= 30 % of the empty request's rate, same client

FIRST_NAMES = (
    "Amelia Olivia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Noah Oliver George Arthur Leo "
    "Muhammad Harry Oscar Archie Henry Theodore Jack Charlie Thomas Lucas Elena Mateo Sofia Liam Emma "
    "Hugo Louise Jules Camille Lukas Anna Jonas Lea Marco Giulia Pablo Lucia Yuki Haruto Aarav Priya "
    "Chen Wei Fatima Omar Amara Kwame Ingrid Sven Maya Diego Nora Felix Zara Ethan"
).split()
LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans Walker "
    "White Roberts Green Hall Wood Jackson Clarke Martin Bernard Dubois Thomas Robert Richard Petit Durand "
    "Leroy Moreau Simon Laurent Lefebvre Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker "
    "Schulz Hoffmann Rossi Russo Ferrari Esposito Bianchi Romano Colombo Garcia Fernandez Gonzalez "
    "Rodriguez Lopez Martinez Sanchez Perez Kowalski Nowak Wisniewski Novak Svoboda Nagy Horvat Jensen "
    "Nielsen Hansen Johansson Andersson Virtanen Tanaka Suzuki Sato Kim Lee Park Nguyen Tran Okafor "
    "Mensah Silva Santos Oliveira Costa"
).split()
COMPANY_WORDS = (
    "Acme Globex Initech Umbrella Stark Wayne Cyberdyne Hooli Vandelay Soylent Tyrell Wonka Aperture "
    "Massive Dynamic Northwind Contoso Fabrikam Litware Proseware Adatum Tailspin Wingtip Blue Yonder "
    "Orbit Summit Harbor Pine Cedar Maple Granite Copper Silver Falcon Beacon Atlas Nimbus Vertex Quantum"
).split()
COMPANY_SUFFIXES = ("Labs", "Systems", "Logistics", "Studio", "Analytics", "Partners", "Cloud", "Foods", "Health")
LEGAL_FORMS = ("Ltd", "SAS", "GmbH", "Inc.", "S.L.", "B.V.", "LLC")
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "gmx.de", "orange.fr")
COUNTRIES = (("US", "USD"), ("GB", "GBP"), ("FR", "EUR"), ("DE", "EUR"), ("ES", "EUR"), ("JP", "JPY"), ("BR", "BRL"))
PROVIDERS = (None, None, "stripe", "stripe", "gocardless", "adyen")

COPY_COLUMNS = (
    "id",
    "organization_id",
    "external_id",
    "name",
    "legal_name",
    "email",
    "phone",
    "city",
    "country",
    "currency",
    "payment_provider",
    "created_at",
    "updated_at",
)


# Setup -----------------------------------------------------------------------------------------


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
    output = manage(
        db_name,
        "create_organization",
        "--name",
        ORGANIZATION_NAME,
        "--api-key",
        API_KEY,
        "--staff-email",
        STAFF_EMAIL,
        "--staff-password",
        STAFF_PASSWORD,
    )
    match = re.search(r"organization .* \(([0-9a-f-]{36})\)", output)
    if match is None or f"API key: {API_KEY}" not in output:
        sys.exit(f"unexpected create_organization output:\n{output}")
    return uuid.UUID(match.group(1))


def fake_customers(organization_id: uuid.UUID, count: int, seed: int = 42) -> Iterator[tuple[Any, ...]]:
    """Deterministic, plausible customers: people and companies, created over three years."""
    rng = random.Random(seed)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    span = timedelta(days=3 * 365).total_seconds()
    for number in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if rng.random() < 0.7:
            name, legal_name = f"{first} {last}", None
            email = f"{first}.{last}{rng.randint(1, 999)}@{rng.choice(MAIL_DOMAINS)}".lower()
        else:
            company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
            name, legal_name = company, f"{company} {rng.choice(LEGAL_FORMS)}"
            email = f"billing@{company.replace(' ', '-').lower()}-{number % 997}.com"
        if rng.random() < 0.6:
            external_id = f"cus_{rng.getrandbits(64):016x}"
        else:
            external_id = f"acct-{number:07d}"
        country, currency = rng.choice(COUNTRIES)
        created_at = end - timedelta(seconds=rng.random() * span)
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            organization_id,
            external_id,
            name,
            legal_name,
            email,
            f"+1 555 {rng.randint(0, 9999999):07d}",
            rng.choice(("Paris", "Berlin", "London", "Austin", "Tokyo", "Madrid", "Lisbon", "Lyon")),
            country,
            currency,
            rng.choice(PROVIDERS),
            created_at,
            created_at,
        )


def delete_upserted(conn: psycopg.Connection, organization_id: uuid.UUID) -> None:
    """Remove the customers that the upsert runs created, so that every run starts from the same data."""
    conn.execute(
        "DELETE FROM customers_customer WHERE organization_id = %s AND external_id LIKE %s",
        (organization_id, UPSERT_PREFIX + "%"),
    )
    sync_live_counter(conn, organization_id)
    conn.commit()
    # The run's dead rows and the trigram indexes' pending entries would slow the next run's
    # searches until autovacuum passed: every run starts from a vacuumed table.
    autocommit = conn.autocommit
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE customers_customer")
    conn.autocommit = autocommit


def live_customer_count(conn: psycopg.Connection, organization_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) FROM customers_customer WHERE organization_id = %s AND deleted_at IS NULL",
        (organization_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def sync_live_counter(conn: psycopg.Connection, organization_id: uuid.UUID) -> None:
    """COPY and the clean-up bypass the services, which keep the live customer counter: set it."""
    conn.execute(
        "INSERT INTO customers_livecustomercount (organization_id, live_count) VALUES (%s, %s) "
        "ON CONFLICT (organization_id) DO UPDATE SET live_count = EXCLUDED.live_count",
        (organization_id, live_customer_count(conn, organization_id)),
    )


def load_customers(db_name: str, organization_id: uuid.UUID, count: int, reload: bool) -> None:
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        delete_upserted(conn, organization_id)
        if not reload and live_customer_count(conn, organization_id) == count:
            print(f"{count:,} customers already loaded (--reload to load them again)")
            return
        started = time.perf_counter()
        with conn.transaction():
            # CASCADE: the bench's own database, where only the customers' dependants could refer to them.
            conn.execute("TRUNCATE customers_customermetadata, customers_customer CASCADE")
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY customers_customer ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in fake_customers(organization_id, count):
                    copy.write_row(row)
        loaded = time.perf_counter() - started
        # VACUUM as well: flushes the GIN pending lists and sets the visibility map for COUNT(*).
        conn.execute("VACUUM ANALYZE customers_customer")
        sync_live_counter(conn, organization_id)
        total = time.perf_counter() - started
        print(f"loaded {count:,} customers in {loaded:.1f} s (COPY), {total:.1f} s with VACUUM ANALYZE")


# In-process inspection (queries per request, their SQL) --------------------------------------------


@dataclass
class Scenario:
    label: str
    kind: str  # "page" (staff list), "api" (GET /api/v1/customers) or "anchor"
    path: str
    queries: list[str] = field(default_factory=list)
    rows: str = ""


def setup_django(db_name: str) -> None:
    os.environ.update(server_env(db_name))
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)  # not the anchor's "Not Found" warning


def capture_queries(scenarios: list[Scenario], upsert_bodies: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Run each request once in-process with the Django test client and keep the SQL it sent."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from organizations.models import User

    staff = Client(SERVER_NAME="127.0.0.1")
    staff.force_login(User.objects.get(email=STAFF_EMAIL))
    api = Client(SERVER_NAME="127.0.0.1", headers={"Authorization": f"Bearer {API_KEY}"})

    for scenario in scenarios:
        client = staff if scenario.kind == "page" else api
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(scenario.path)
        if scenario.kind != "anchor" and response.status_code != 200:
            sys.exit(f"{scenario.path} answered {response.status_code} in-process")
        scenario.queries = [query["sql"] for query in ctx.captured_queries]
        if scenario.kind == "api":
            meta = response.json()["meta"]
            scenario.rows = f"{len(response.json()['customers'])}/{meta['total_count']}"
        elif scenario.kind == "page":
            match = re.search(rb'<span class="count" title="Customers">(\d+)</span>', response.content)
            shown = response.content.count(b'class="row-link"')
            scenario.rows = f"{shown}/{match.group(1).decode() if match else '?'}"

    upsert_queries: dict[str, list[str]] = {}
    for label, body in upsert_bodies.items():
        with CaptureQueriesContext(connection) as ctx:
            response = api.post("/api/v1/customers", data=json.dumps(body), content_type="application/json")
        if response.status_code != 200:
            sys.exit(f"upsert ({label}) answered {response.status_code} in-process: {response.content[:300]!r}")
        upsert_queries[label] = [query["sql"] for query in ctx.captured_queries]
    return upsert_queries


# Measurement ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    p50: float
    p95: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        ordered = sorted(samples_ms)

        def rank(q: float) -> float:
            return ordered[max(0, ceil(q * len(ordered)) - 1)]

        return cls(p50=statistics.median(ordered), p95=rank(0.95))


def time_calls(call: Callable[[], None], warmup: int, samples: int) -> Latency:
    for _ in range(warmup):
        call()
    timings: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return Latency.of(timings)


def http_get(client: httpx.Client, path: str, expected: int) -> Callable[[], None]:
    def call() -> None:
        response = client.get(path)
        if response.status_code != expected:
            raise RuntimeError(f"GET {path} answered {response.status_code}, expected {expected}")

    return call


def replay_sql(conn: psycopg.Connection, statements: list[str]) -> Callable[[], None]:
    """The same statements the request sent, on one connection, in one transaction rolled back.

    Transaction control (BEGIN, COMMIT, savepoints) is left out: the replay must not write anything.
    """
    statements = [sql for sql in statements if not sql.startswith(TRANSACTION_CONTROL)]

    def call() -> None:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql.encode())
                if cur.description is not None:
                    cur.fetchall()
        conn.rollback()

    return call


def explain(conn: psycopg.Connection, sql: str) -> tuple[float, str, str]:
    """Execution time, a one-line plan outline and the full text plan of one SELECT."""
    row = conn.execute(("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql).encode()).fetchone()
    assert row is not None
    plan = row[0][0]
    text_rows = conn.execute(("EXPLAIN (ANALYZE, BUFFERS) " + sql).encode()).fetchall()
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


def staff_login(client: httpx.Client) -> None:
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if token is None:
        sys.exit("no CSRF token in the login form")
    response = client.post(
        "/login/",
        data={"username": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{client.base_url}login/"},
    )
    if response.status_code != 302 or "sessionid" not in client.cookies:
        sys.exit(f"staff login failed: {response.status_code}")


@dataclass
class UpsertResult:
    """The upserts and their anchor, the empty request sent the same way (same raw client, sequential)."""

    count: int
    seconds: float  # the upserts' own time
    new: Latency
    updated: Latency
    anchor_seconds: float  # the empty requests' time
    anchor: Latency

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def anchor_per_second(self) -> float:
        return self.count / self.anchor_seconds


def run_upserts(
    client: RawHttpClient, existing_ids: list[str], count: int, warmup: int, rng: random.Random
) -> UpsertResult:
    """`count` sequential upserts, each after one empty request (GET /api/v1/unknown, Django's JSON 404,
    no database): the ceiling of any request on this client and server. Interleaved, so that what
    else runs on the machine weighs on both alike; each rate is its requests over their own time."""
    run = uuid.uuid4().hex[:8]

    def body(index: int) -> tuple[bool, dict[str, Any]]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customer = {"name": f"{first} {last}", "email": f"{first}.{last}{index}@example.com".lower()}
        if index % 2 == 0:
            return True, {"customer": {"external_id": f"{UPSERT_PREFIX}{run}-{index}", **customer}}
        return False, {"customer": {"external_id": rng.choice(existing_ids), **customer}}

    def send(payload: dict[str, Any]) -> None:
        status, content = client.post("/api/v1/customers", json.dumps(payload).encode())
        if status != 200:
            raise RuntimeError(f"upsert answered {status}: {content[:300].decode(errors='replace')}")

    def send_empty() -> None:
        status, content = client.get("/api/v1/unknown")
        if status != 404:
            raise RuntimeError(f"GET /api/v1/unknown answered {status}: {content[:300].decode(errors='replace')}")

    def timed(call: Callable[..., None], *args: Any) -> float:
        before = time.perf_counter()
        call(*args)
        return (time.perf_counter() - before) * 1000

    for index in range(warmup):
        send_empty()
        send(body(count + index)[1])
    empty_ms: list[float] = []
    new_ms: list[float] = []
    updated_ms: list[float] = []
    for index in range(count):
        empty_ms.append(timed(send_empty))
        is_new, payload = body(index)
        (new_ms if is_new else updated_ms).append(timed(send, payload))
    return UpsertResult(
        count=count,
        seconds=(sum(new_ms) + sum(updated_ms)) / 1000,
        new=Latency.of(new_ms),
        updated=Latency.of(updated_ms),
        anchor_seconds=sum(empty_ms) / 1000,
        anchor=Latency.of(empty_ms),
    )


# Report --------------------------------------------------------------------------------------------


def machine_info(conn: psycopg.Connection) -> list[str]:
    cpu = cpu_model()

    def setting(name: str) -> str:
        row = conn.execute(f"SHOW {name}").fetchone()
        return str(row[0]) if row else "?"

    return [
        f"CPU: {cpu}, {os.cpu_count()} cores (load generator, gunicorn and PostgreSQL share them)",
        f"PostgreSQL {setting('server_version')} (shared_buffers={setting('shared_buffers')}, "
        f"work_mem={setting('work_mem')}, synchronous_commit={setting('synchronous_commit')})",
        f"Python {platform.python_version()}, Django {metadata.version('django')}, "
        f"DRF {metadata.version('djangorestframework')}, gunicorn {metadata.version('gunicorn')}",
        "load average (1, 5, 15 min) at the end: "
        + ", ".join(f"{load:.2f}" for load in os.getloadavg())
        + " (other processes on these cores skew every row; the ratios less so)",
    ]


def print_latency_table(
    scenarios: list[Scenario],
    http: dict[str, Latency],
    raw: dict[str, Latency],
    upsert_rows: list[tuple[str, int, Latency, Latency]],
    raw_anchor: Latency,
) -> bool:
    """One row per request: our p50/p95, its raw SQL, and the p95 as a multiple of the empty request's p50.

    Only the list rows have a target; the upserts' rows are information, their anchor the empty
    request sent with their raw client. Returns whether every target holds.
    """
    header = (
        f"{'request':<44} {'SQL':>3} {'rows':>12} {'p50 ms':>7} {'p95 ms':>7} {'raw SQL p50':>11} {'HTTP/SQL':>8} "
        f"{'anchor p50':>10} {'p95/anchor':>10}  {'target':<14} result"
    )
    print(header)
    print("-" * len(header))
    anchor = http[scenarios[0].label]
    all_ok = True
    for scenario in scenarios:
        latency, sql = http[scenario.label], raw.get(scenario.label)
        multiple = latency.p95 / anchor.p50
        if scenario.kind == "anchor":
            target, result = "(anchor)", ""
        else:
            ok = multiple <= LIST_P95_ANCHOR_MULTIPLE
            all_ok &= ok
            target, result = f"p95<={LIST_P95_ANCHOR_MULTIPLE:.0f}x anchor", verdict(ok)
        print(
            f"{scenario.label:<44} {len(scenario.queries):>3} {scenario.rows:>12} {latency.p50:>7.2f} "
            f"{latency.p95:>7.2f} {f'{sql.p50:.2f}' if sql else '-':>11} "
            f"{f'{latency.p50 / sql.p50:.1f}x' if sql else '-':>8} {anchor.p50:>10.2f} {multiple:>9.1f}x  "
            f"{target:<14} {result}"
        )
    for label, statements, latency, sql in upsert_rows:
        print(
            f"{label:<44} {statements:>3} {'1':>12} {latency.p50:>7.2f} {latency.p95:>7.2f} {sql.p50:>11.2f} "
            f"{latency.p50 / sql.p50:>7.1f}x {raw_anchor.p50:>10.2f} {latency.p95 / raw_anchor.p50:>9.1f}x  (info)"
        )
    return all_ok


def print_upsert_verdict(upserts: UpsertResult) -> bool:
    ratio = upserts.per_second / upserts.anchor_per_second
    ok = ratio >= UPSERTS_ANCHOR_RATIO_TARGET
    header = (
        f"{'throughput, one connection':<44} {'ours':>8} {'anchor (same run, same client)':>32} {'ratio':>6}  "
        f"{'target':<14} result"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{f'upserts: {upserts.count} sequential, half new':<44} {f'{upserts.per_second:,.0f}/s':>8} "
        f"{f'GET /api/v1/unknown {upserts.anchor_per_second:,.0f}/s':>32} {ratio:>6.0%}  "
        f"{f'>= {UPSERTS_ANCHOR_RATIO_TARGET:.0%} anchor':<14} {verdict(ok)}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="billing_bench", help="PostgreSQL database (created if missing)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--reload", action="store_true", help="load the customers even if already there")
    parser.add_argument("--samples", type=int, default=100, help="timed requests per GET row")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before each row")
    parser.add_argument("--upserts", type=int, default=2000)
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (0: a free one)")
    parser.add_argument(
        "--workers", type=int, default=4, help="gunicorn sync workers (the README's production command)"
    )
    parser.add_argument("--explain", action="store_true", help="print the full EXPLAIN ANALYZE plans")
    args = parser.parse_args()

    ensure_database(args.db)
    manage(args.db, "migrate", "--noinput")
    organization_id = create_tenant(args.db)
    load_customers(args.db, organization_id, args.customers, args.reload)

    db = psycopg.connect(database_url(args.db))
    sample = db.execute(
        "SELECT name, external_id FROM customers_customer WHERE organization_id = %s AND deleted_at IS NULL "
        "AND legal_name IS NULL AND external_id NOT LIKE %s ORDER BY external_id OFFSET %s LIMIT 1",
        (organization_id, UPSERT_PREFIX + "%", args.customers // 3),
    ).fetchone()
    assert sample is not None
    full_name, external_id = str(sample[0]), str(sample[1])
    last_name = full_name.split()[-1]
    middle_page = max(1, args.customers // 100 // 2)
    scenarios = [
        Scenario("anchor: GET /api/v1/unknown (Django, no DB)", "anchor", "/api/v1/unknown"),
        Scenario("page /customers/ (no search)", "page", "/customers/"),
        Scenario(f"page q={full_name!r} (name)", "page", f"/customers/?q={full_name.lower()}"),
        Scenario(f"page q={external_id!r} (ext id)", "page", f"/customers/?q={external_id}"),
        Scenario(f"page q={last_name!r} (last name)", "page", f"/customers/?q={last_name.lower()}"),
        Scenario("page q='gmail' (broad)", "page", "/customers/?q=gmail"),
        Scenario("api per_page=100 page=1", "api", "/api/v1/customers?per_page=100"),
        Scenario(f"api per_page=100 page={middle_page}", "api", f"/api/v1/customers?per_page=100&page={middle_page}"),
        Scenario(f"api search_term={full_name!r}", "api", f"/api/v1/customers?per_page=100&search_term={full_name}"),
        Scenario(f"api search_term={last_name!r}", "api", f"/api/v1/customers?per_page=100&search_term={last_name}"),
    ]

    existing_ids = [
        str(row[0])
        for row in db.execute(
            "SELECT external_id FROM customers_customer WHERE organization_id = %s AND deleted_at IS NULL "
            "AND external_id NOT LIKE %s",
            (organization_id, UPSERT_PREFIX + "%"),
        )
    ]
    db.rollback()
    upsert_bodies = {
        "upsert, new": {"customer": {"external_id": f"{UPSERT_PREFIX}probe-{uuid.uuid4().hex[:8]}", "name": "Probe"}},
        "upsert, update": {"customer": {"external_id": existing_ids[0], "name": f"Probe {uuid.uuid4().hex[:6]}"}},
    }
    setup_django(args.db)
    upsert_queries = capture_queries(scenarios, upsert_bodies)
    delete_upserted(db, organization_id)  # the replay below inserts the probe customer again

    # The same statements straight to PostgreSQL: the floor under each HTTP figure.
    raw: dict[str, Latency] = {}
    for scenario in scenarios:
        if scenario.queries:
            progress(f"raw SQL: {scenario.label}")
            raw[scenario.label] = time_calls(replay_sql(db, scenario.queries), args.warmup, args.samples)
    upsert_raw = {
        label: time_calls(replay_sql(db, queries), args.warmup, args.samples)
        for label, queries in upsert_queries.items()
    }

    server = Gunicorn(
        label="customers_bench", env=server_env(args.db), port=args.port or free_port(), workers=args.workers
    )
    http: dict[str, Latency] = {}
    try:
        server.wait_ready()
        with (
            httpx.Client(base_url=server.url, timeout=30.0) as staff,
            httpx.Client(base_url=server.url, timeout=30.0, headers={"Authorization": f"Bearer {API_KEY}"}) as api,
        ):
            staff_login(staff)
            for scenario in scenarios:
                progress(f"HTTP: {scenario.label}")
                client = staff if scenario.kind == "page" else api
                expected = 404 if scenario.kind == "anchor" else 200
                http[scenario.label] = time_calls(http_get(client, scenario.path, expected), args.warmup, args.samples)
            # A raw-socket client: httpx's own CPU per request would be a third of the 2 ms budget.
            upsert_client = RawHttpClient(
                server.url, {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
            )
            progress(f"HTTP: {args.upserts} upserts, each after an empty request (their anchor)")
            upserts = run_upserts(upsert_client, existing_ids, args.upserts, args.warmup, random.Random(7))
            upsert_client.close()
    finally:
        server.stop()
    delete_upserted(db, organization_id)

    # Report.
    print()
    print(f"customers benchmark: {args.customers:,} customers in one organization, one HTTP connection,")
    print(f"{args.samples} timed sequential requests per row after {args.warmup} warm-up, gunicorn -w {args.workers}")
    for line in machine_info(db):
        print("  " + line)
    print()
    upsert_rows = [
        (
            f"POST /api/v1/customers ({label})",
            len(queries),
            upserts.new if label.endswith("new") else upserts.updated,
            upsert_raw[label],
        )
        for label, queries in upsert_queries.items()
    ]
    all_ok = print_latency_table(scenarios, http, raw, upsert_rows, upserts.anchor)
    print()
    all_ok &= print_upsert_verdict(upserts)
    print()
    print("SQL = queries per request (captured in-process); raw SQL = the same statements replayed with psycopg on")
    print("one connection in one transaction, rolled back, without BEGIN/COMMIT/savepoints; HTTP/SQL = p50 ratio.")
    print("anchor p50 = the empty request GET /api/v1/unknown, timed like the row: with httpx for the GETs, with the")
    print("upserts' raw client for the upserts (also their anchor rate: one before each upsert, timed apart).")

    print()
    print("EXPLAIN ANALYZE of the customer queries (ms, plan outline):")
    for scenario in scenarios:
        for sql in scenario.queries:
            if 'FROM "customers_customer"' not in sql or not sql.startswith("SELECT"):
                continue
            took, outline, text = explain(db, sql)
            what = "count" if sql.startswith("SELECT COUNT(*)") else "page "
            print(f"  {scenario.label[:38]:<38} {what} {took:7.2f}  {outline[:150]}")
            if args.explain:
                print("    " + sql)
                print("\n".join("      " + line for line in text.splitlines()))
    db.close()
    print()
    print(f"overall: {verdict(all_ok)}")


if __name__ == "__main__":
    main()
