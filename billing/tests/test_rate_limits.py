"""Per-organization API rate limits as Lago Cloud's, counted in Redis and failing open without it."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import time_machine
from django.db import connection
from django.test import Client

from conftest import ApiCaller
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# 200 ms into a second.
AT = datetime(2026, 3, 10, 12, 0, 0, 200_000, tzinfo=UTC)
LAGO_429 = {"status": 429, "error": "Rate limit exceeded", "code": "rate_limit_exceeded"}


def wait_until(condition, timeout: float = 10.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.02)
    return result


@pytest.fixture(autouse=True)
def limits(settings):
    """The limits on, counted in the test run's Redis under keys of this test only."""
    url = os.environ.get("REDIS_URL")
    assert url, "these tests count in Redis: set REDIS_URL (scripts/test.sh does)"
    prefix = f"test:{uuid.uuid4().hex}:"
    settings.API_RATE_LIMITS_ENABLED = True
    settings.RATE_LIMIT_REDIS_URL = url
    settings.RATE_LIMIT_KEY_PREFIX = prefix
    yield settings
    server = redis.Redis.from_url(url)
    keys = list(server.scan_iter(match=f"{prefix}*"))
    if keys:
        server.delete(*keys)


@pytest.fixture
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


def window_count(settings, organization, category: str, at: datetime = AT) -> int:
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    value = server.get(f"{settings.RATE_LIMIT_KEY_PREFIX}api:{organization.pk}:{category}:{int(at.timestamp())}")
    return int(value or 0)


def test_the_51st_request_of_a_second_gets_lagos_429(api, clock):
    for sent in range(1, 51):
        response = api.get("/api/v1/customers")
        assert response.status_code == 200, response.content
        assert response["X-RateLimit-Limit"] == "50"
        assert response["X-RateLimit-Remaining"] == str(50 - sent)
        assert response["X-RateLimit-Reset"] == "1"
    refused = api.get("/api/v1/customers")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert refused.json() == LAGO_429
    assert (refused["X-RateLimit-Limit"], refused["X-RateLimit-Remaining"], refused["X-RateLimit-Reset"]) == (
        "50",
        "0",
        "1",
    )
    assert refused["Retry-After"] == "1"


def test_every_endpoint_other_than_ingestion_and_usage_shares_the_50(api, clock):
    for _ in range(25):
        assert api.get("/api/v1/customers").status_code == 200
        assert api.get("/api/v1/plans").status_code == 200
    for path in ("/api/v1/customers", "/api/v1/plans", "/api/v1/events/tr_1", "/api/v1/webhook_endpoints"):
        assert api.get(path).status_code == 429, path
    assert api.post("/api/v1/customers", {"customer": {"external_id": "c1"}}).status_code == 429


def test_event_ingestion_has_its_own_higher_limit(api, clock, organization, settings):
    for _ in range(50):
        api.get("/api/v1/customers")
    assert api.get("/api/v1/customers").status_code == 429
    # Ingestion still goes through, counted against Lago's 500/s (this event names no subscription).
    event = {"transaction_id": "tr_1", "external_subscription_id": "nope", "code": "calls"}
    response = api.post("/api/v1/events", {"event": event})
    assert response.status_code != 429 and response["X-RateLimit-Limit"] == "500"
    assert response["X-RateLimit-Remaining"] == "499"
    batch = api.post("/api/v1/events/batch", {"events": [event]})
    assert batch.status_code != 429 and batch["X-RateLimit-Remaining"] == "498"
    assert window_count(settings, organization, "events") == 2


def test_event_ingestion_is_refused_past_its_own_limit(api, clock, settings):
    settings.API_RATE_LIMIT_EVENTS = 3
    event = {"event": {"transaction_id": "tr_1", "external_subscription_id": "nope", "code": "calls"}}
    assert [api.post("/api/v1/events", event).status_code != 429 for _ in range(2)] == [True, True]
    assert api.post("/api/v1/events/batch", {"events": [event["event"]]}).status_code != 429
    refused = api.post("/api/v1/events", event)
    assert refused.status_code == 429 and refused.json() == LAGO_429 and refused["X-RateLimit-Limit"] == "3"
    assert api.post("/api/v1/events/batch", {"events": [event["event"]]}).status_code == 429
    # The other endpoints keep their own count.
    other = api.get("/api/v1/customers")
    assert other.status_code == 200 and other["X-RateLimit-Remaining"] == "49"


def test_current_usage_has_its_own_limit(api, clock, settings):
    settings.API_RATE_LIMIT_CURRENT_USAGE = 2
    path = "/api/v1/customers/cust%2F1/current_usage?external_subscription_id=sub_1"
    first = api.get(path)
    assert first.status_code != 429 and first["X-RateLimit-Limit"] == "2"
    assert api.get(path).status_code != 429
    assert api.get(path).status_code == 429
    assert api.get("/api/v1/customers/cust_1").status_code == 404  # the customer itself: another category


def test_another_organization_is_not_affected(api, other_api, clock):
    for _ in range(50):
        api.get("/api/v1/customers")
    assert api.get("/api/v1/customers").status_code == 429
    theirs = other_api.get("/api/v1/customers")
    assert theirs.status_code == 200 and theirs["X-RateLimit-Remaining"] == "49"


def test_all_keys_of_an_organization_share_its_limit(api, organization, clock, settings):
    settings.API_RATE_LIMIT_OTHER = 2
    _, second_key = create_api_key(organization=organization, name="Second")
    second = ApiCaller(Client(), second_key)
    assert api.get("/api/v1/customers").status_code == 200
    assert second.get("/api/v1/customers").status_code == 200
    assert api.get("/api/v1/customers").status_code == 429
    assert second.get("/api/v1/customers").status_code == 429


def test_the_window_resets_with_the_next_second(api, clock, settings):
    settings.API_RATE_LIMIT_OTHER = 2
    assert [api.get("/api/v1/customers").status_code for _ in range(3)] == [200, 200, 429]
    clock.shift(0.5)  # 12:00:00.7, still the same second
    assert api.get("/api/v1/customers").status_code == 429
    clock.shift(0.5)  # 12:00:01.2
    response = api.get("/api/v1/customers")
    assert response.status_code == 200 and response["X-RateLimit-Remaining"] == "1"


def test_unauthenticated_requests_and_the_public_pages_are_not_counted(api, organization, clock, settings, client):
    settings.API_RATE_LIMIT_OTHER = 1
    wrong_key = ApiCaller(Client(), "not-a-key-of-anyone-0123456789")
    for _ in range(3):
        assert wrong_key.get("/api/v1/customers").status_code == 401
    assert client.get("/api/schema").status_code == 200
    response = api.get("/api/v1/customers")
    assert response.status_code == 200 and response["X-RateLimit-Remaining"] == "0"
    assert window_count(settings, organization, "other") == 1


def test_limiting_can_be_switched_off_and_is_off_without_redis(api, clock, settings):
    settings.API_RATE_LIMIT_OTHER = 1
    settings.API_RATE_LIMITS_ENABLED = False
    responses = [api.get("/api/v1/customers") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all("X-RateLimit-Limit" not in r for r in responses)

    settings.API_RATE_LIMITS_ENABLED = True
    settings.RATE_LIMIT_REDIS_URL = ""  # the SQLite demo
    assert [api.get("/api/v1/customers").status_code for _ in range(3)] == [200, 200, 200]

    settings.RATE_LIMIT_REDIS_URL = os.environ["REDIS_URL"]
    settings.API_RATE_LIMIT_OTHER = 0  # a category left unlimited
    assert [api.get("/api/v1/customers").status_code for _ in range(3)] == [200, 200, 200]


# Two processes --------------------------------------------------------------------------------

SECOND_PROCESS = """
import json, sys
from datetime import datetime

import django
import time_machine

django.setup()
from django.test import Client

key, at, count = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
client = Client()
print("ready", flush=True)
sys.stdin.readline()
with time_machine.travel(at, tick=False):
    headers = {"Authorization": f"Bearer {key}"}
    print(json.dumps([client.get("/api/v1/customers", headers=headers).status_code for _ in range(count)]), flush=True)
"""


def database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_server_processes_share_one_count(clock, settings):
    assert connection.vendor == "postgresql", "the second process reads the test database over the network"
    settings.API_RATE_LIMIT_OTHER = 5
    organization = OrganizationFactory(name="Shared Count Co")
    _, raw_key = create_api_key(organization=organization)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing.settings",
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "testserver",
        "API_KEY_CACHE_SECONDS": "0",
        "API_RATE_LIMITS": "true",
        "API_RATE_LIMIT_OTHER": "5",
        "RATE_LIMIT_REDIS_URL": settings.RATE_LIMIT_REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": settings.RATE_LIMIT_KEY_PREFIX,
    }
    env.pop("TEST_DATABASE_NAME", None)
    # Started first: a window's key lives two real seconds, longer than the clock here stands still
    # but shorter than Django takes to start.
    other = subprocess.Popen(
        [sys.executable, "-c", SECOND_PROCESS, raw_key, AT.isoformat(), "3"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "ready", other.stderr.read()
        here = ApiCaller(Client(), raw_key)
        assert [here.get("/api/v1/customers").status_code for _ in range(3)] == [200, 200, 200]
        other.stdin.write("go\n")
        other.stdin.flush()
        answered = other.stdout.readline()
        # The other process continued this one's count: 4th and 5th allowed, the 6th refused.
        assert answered and json.loads(answered) == [200, 200, 429], other.stderr.read()
        refused = here.get("/api/v1/customers")
    finally:
        other.kill()
        other.wait()
    assert refused.status_code == 429 and refused["X-RateLimit-Remaining"] == "0"
    assert window_count(settings, organization, "other") == 7


# Redis away -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of this test's own, on a free port, that the test stops and starts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            assert self.process.poll() is None, "redis-server exited"
            try:
                return probe.ping()
            except redis.ConnectionError:
                return False

        wait_until(answers, message="redis-server to answer")
        probe.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis(tmp_path):
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_requests_pass_while_redis_is_down_and_are_limited_again_once_it_is_back(
    api, clock, settings, throwaway_redis, caplog
):
    settings.RATE_LIMIT_REDIS_URL = throwaway_redis.url
    settings.RATE_LIMIT_REDIS_RETRY_SECONDS = 0.5
    settings.API_RATE_LIMIT_OTHER = 2
    assert [api.get("/api/v1/customers").status_code for _ in range(3)] == [200, 200, 429]

    throwaway_redis.stop()
    with caplog.at_level(logging.WARNING, logger="billing.ratelimit"):
        responses = [api.get("/api/v1/customers") for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert all("X-RateLimit-Limit" not in r for r in responses)
    warnings = [r for r in caplog.records if r.name == "billing.ratelimit"]
    assert len(warnings) == 1 and "failed" in warnings[0].getMessage()

    throwaway_redis.start()  # the same port, empty
    # Once the back-off has passed, the next request is counted again.
    counted = wait_until(
        lambda: (response := api.get("/api/v1/customers")).has_header("X-RateLimit-Limit") and response,
        message="the limiter to count again",
    )
    assert counted.status_code == 200 and counted["X-RateLimit-Remaining"] == "1"
    assert [api.get("/api/v1/customers").status_code for _ in range(2)] == [200, 429]


class HungRedis:
    """A server that accepts connections and never answers: Redis stuck, or a network black hole."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def hung_redis():
    server = HungRedis()
    yield server
    server.close()


def test_a_hung_redis_costs_one_timeout_then_is_left_alone_for_a_while(api, clock, settings, hung_redis, caplog):
    settings.RATE_LIMIT_REDIS_URL = hung_redis.url
    settings.RATE_LIMIT_REDIS_TIMEOUT = 0.2
    settings.RATE_LIMIT_REDIS_RETRY_SECONDS = 3
    with caplog.at_level(logging.WARNING, logger="billing.ratelimit"):
        started = time.monotonic()
        first = api.get("/api/v1/customers")
        first_took = time.monotonic() - started
        rest = [api.get("/api/v1/customers").status_code for _ in range(10)]
        # Only the first request tried Redis (and waited for its timeout); the others went through
        # without trying: the server saw one connection.
        assert first.status_code == 200 and rest == [200] * 10
        assert first_took >= 0.2
        assert len(hung_redis.connections) == 1
        # After the back-off, a request tries again.
        wait_until(
            lambda: api.get("/api/v1/customers").status_code == 200 and len(hung_redis.connections) == 2,
            timeout=15,
            message="a second attempt at Redis",
        )
    warnings = [r for r in caplog.records if r.name == "billing.ratelimit"]
    assert len(warnings) == 1  # at most one a minute
