"""The mixed-load run (benchmarks/mixed_load.py) keeps working, and its checks can fail.

The smoke runs the script as the README says, in a subprocess, for 15 seconds with small numbers, on
the test database (`transaction=True`: the script's own connections, its gunicorn and its Celery
worker see what it commits; the tables are emptied afterwards) and the test broker, on a queue of the
run's own. It must exit 0 with every kind of request counted. Its figures mean nothing here.

The other tests call the script's parts in-process. The load's two bounds (requests and seconds) are
driven against a stub server that answers 200 at once. The checks are fed a broken state: an
acknowledged event that is not stored, a rollup that no longer sums its events, memory that climbs.
And the raw HTTP client the load uses (benchmarks/common.py) faces a server that hangs up.
"""

import importlib
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from benchmarks.common import RawHttpClient
from events.models import UsageRollup
from events.services import ingest_events
from plans.tests.factories import ChargeFactory, SubscriptionFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11"
KINDS = ("single_event", "batch_events", "customer_upsert", "current_usage", "invoice_list", "customer_list")


@pytest.fixture
def mixed_load(monkeypatch) -> ModuleType:
    """The script as a module: it imports its neighbour `common` as the benchmarks do when run."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "benchmarks"))
    return importlib.import_module("mixed_load")


@pytest.mark.django_db(transaction=True)
def test_a_short_run_passes_and_measures_every_kind():
    command = [
        sys.executable,
        "benchmarks/mixed_load.py",
        "--db",
        connection.settings_dict["NAME"],
        "--broker",
        BROKER_URL,
        "--duration",
        "15",
        "--clients",
        "4",
        "--customers",
        "20",
        "--workers",
        "2",
        "--anchor-seconds",
        "3",
        "--clock-seconds",
        "5",
        "--sample-seconds",
        "1",
        "--drain-timeout",
        "60",
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for kind in (*KINDS, "subscription"):
        match = re.search(rf"^\s+{kind}\s+([\d,]+)\s", result.stdout, re.MULTILINE)
        assert match is not None and int(match.group(1).replace(",", "")) > 0, (kind, output)
    anchor = r"^anchor: .* after the load: [\d,.]+ and [\d,.]+, mean [\d,.]+ req/s$"
    assert re.search(anchor, result.stdout, re.MULTILINE), output
    assert re.search(r"^PASS events reconciled: ([\d,]+) acknowledged, \1 stored", result.stdout, re.MULTILINE), output
    assert re.search(r"periodic invoices$", result.stdout, re.MULTILINE), output
    assert result.stdout.count("memory, ") == 2, output
    assert result.stdout.rstrip().endswith("overall: PASS"), output
    run = re.search(r"run (\w+): migrating", result.stderr).group(1)
    assert not list(redis.Redis.from_url(BROKER_URL).scan_iter(match=f"*mixed-load-{run}*"))  # queues removed


class AlwaysOk(BaseHTTPRequestHandler):
    """Answers every request with 200 and an empty JSON object, keeping the connection open."""

    protocol_version = "HTTP/1.1"

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def ok_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysOk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def load_clients(mixed_load: ModuleType, url: str, count: int) -> list:
    fixtures = mixed_load.Fixtures(organization_id=str(uuid.uuid4()), traffic=[("cust-1", "sub-1")])
    return [
        mixed_load.LoadClient(index=index, url=url, run="bound", fixtures=fixtures, batch_size=3)
        for index in range(count)
    ]


def test_the_load_stops_at_the_request_bound_with_every_kind_sent(mixed_load, ok_server):
    clients = load_clients(mixed_load, ok_server, 2)
    seconds = mixed_load.drive(clients, [1.0] * len(mixed_load.KINDS), 60.0, 40)
    assert seconds < 30
    kinds = [mixed_load.KINDS[kind] for client in clients for kind in client.records.kinds]
    assert len(kinds) == 40
    assert set(kinds) == {*KINDS, "subscription"}
    assert all(status == 200 for client in clients for status in client.records.statuses)


def test_the_load_stops_at_its_duration(mixed_load, ok_server):
    clients = load_clients(mixed_load, ok_server, 2)
    seconds = mixed_load.drive(clients, [1.0] * len(mixed_load.KINDS), 0.5, 10**9)
    assert 0.5 <= seconds < 5
    assert sum(len(client.records.kinds) for client in clients) > 0


def test_a_client_thread_that_fails_fails_the_run(mixed_load):
    def send(index: int) -> None:
        if index == 2:
            sys.exit("the anchor answered 500")

    with pytest.raises(SystemExit, match="the anchor answered 500"):
        mixed_load.run_threads(send, [0, 1, 2, 3])


@pytest.mark.django_db(transaction=True)
def test_an_acknowledged_event_missing_from_the_table_fails_the_reconciliation(mixed_load):
    charge = ChargeFactory(billable_metric__aggregation_type="count_agg")
    subscription = SubscriptionFactory(plan=charge.plan, customer__organization=charge.plan.organization)
    run = uuid.uuid4().hex[:8]
    client = mixed_load.LoadClient(
        index=0,
        url="http://127.0.0.1:9",  # never called: only its records and transaction ids are read
        run=run,
        fixtures=mixed_load.Fixtures(organization_id=str(subscription.organization_id), traffic=[]),
        batch_size=1,
    )
    raw = [
        {
            "transaction_id": client.transaction_id(number),
            "external_subscription_id": subscription.external_id,
            "code": charge.billable_metric.code,
        }
        for number in range(3)
    ]
    ingest_events(organization=subscription.organization, raw_events=raw, batch=True)
    client.records.acked.extend([0, 1, 2])
    ok, detail = mixed_load.reconcile_events(database_url(), str(subscription.organization_id), run, [client])
    assert ok, detail

    client.records.acked.append(3)  # acknowledged, never stored
    ok, detail = mixed_load.reconcile_events(database_url(), str(subscription.organization_id), run, [client])
    assert not ok
    assert detail == (
        f"4 acknowledged, 3 stored; acknowledged but missing 1, stored but not acknowledged 0 (e.g. ml-{run}-0-3)"
    )


@pytest.mark.django_db(transaction=True)
def test_a_rollup_that_no_longer_sums_its_events_fails_the_reconciliation(mixed_load):
    charge = ChargeFactory(billable_metric__aggregation_type="sum_agg", billable_metric__field_name="gb")
    subscription = SubscriptionFactory(plan=charge.plan, customer__organization=charge.plan.organization)
    since = datetime.now(UTC) - timedelta(minutes=1)
    raw = [
        {
            "transaction_id": f"rollup-{number}",
            "external_subscription_id": subscription.external_id,
            "code": charge.billable_metric.code,
            "properties": {"gb": number + 0.5},
        }
        for number in range(5)
    ]
    ingest_events(organization=subscription.organization, raw_events=raw, batch=True)
    organization_id = str(subscription.organization_id)
    ok, detail = mixed_load.reconcile_rollups(database_url(), organization_id, since)
    assert ok, detail

    rollup = UsageRollup.objects.get(subscription=subscription)
    rollup.events_count -= 1  # one concurrent update lost
    rollup.save(update_fields=["events_count"])
    ok, detail = mixed_load.reconcile_rollups(database_url(), organization_id, since)
    assert not ok
    assert "1 built-not-stored, 1 stored-not-built" in detail


def test_memory_that_keeps_climbing_fails_and_a_plateau_passes(mixed_load):
    warm_then_flat = [300.0 + min(index, 10) * 5 for index in range(30)]  # grows while warming up only
    ok, detail = mixed_load.memory_verdict(warm_then_flat)
    assert ok, detail

    leaking = [400.0 + index * 6 for index in range(30)]  # 60 MiB between the middle and last thirds
    ok, detail = mixed_load.memory_verdict(leaking)
    assert not ok, detail
    assert "last - middle +60.0 MiB (allowed +49)" in detail


def test_the_raw_client_reports_a_server_that_hangs_up_instead_of_waiting_forever():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()  # a worker killed before it answers

    server = threading.Thread(target=hang_up, daemon=True)
    server.start()
    outcome: list[BaseException | tuple] = []

    def call() -> None:
        try:
            outcome.append(RawHttpClient(f"http://127.0.0.1:{port}", {}).get("/"))
        except Exception as exc:
            outcome.append(exc)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    client.join(timeout=10)
    listener.close()
    assert not client.is_alive(), "the client is still reading from a closed connection"
    assert isinstance(outcome[0], ConnectionError), outcome


def database_url() -> str:
    """The test database as a libpq URL, for the script's own connections."""
    settings = connection.settings_dict
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    return (
        f"postgres://{quote(settings['USER'] or 'postgres')}{password}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or '5432'}/{settings['NAME']}"
    )
