"""Lago's own Python client (lago-python-client 1.55.0) against our rate limits, over HTTP: on a 429
it waits `X-RateLimit-Reset` seconds and retries (3 times), then raises `LagoRateLimitError`."""

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoRateLimitError

from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 3, 10, 12, 0, 0, 200_000, tzinfo=UTC)


@pytest.fixture
def limits(settings):
    """One request per second for every endpoint but ingestion and usage, in this test's own keys."""
    url = os.environ.get("REDIS_URL")
    assert url, "these tests count in Redis: set REDIS_URL (scripts/test.sh does)"
    settings.API_RATE_LIMITS_ENABLED = True
    settings.RATE_LIMIT_REDIS_URL = url
    settings.RATE_LIMIT_KEY_PREFIX = f"test:{uuid.uuid4().hex}:"
    settings.API_RATE_LIMIT_OTHER = 1
    server = redis.Redis.from_url(url)
    yield server
    keys = list(server.scan_iter(match=f"{settings.RATE_LIMIT_KEY_PREFIX}*"))
    if keys:
        server.delete(*keys)


@pytest.fixture
def organization():
    return OrganizationFactory(name="Rate Limited Co")


@pytest.fixture
def lago(live_server, organization):
    _, raw_key = create_api_key(organization=organization)
    return Client(api_key=raw_key, api_url=live_server.url)


def requests_counted(server, settings, organization, at: datetime) -> int:
    key = f"{settings.RATE_LIMIT_KEY_PREFIX}api:{organization.pk}:other:{int(at.timestamp())}"
    return int(server.get(key) or 0)


def test_the_client_retries_then_raises_when_the_limit_persists(lago, limits, settings, organization):
    with time_machine.travel(AT, tick=False):  # the same second for as long as the client retries
        assert lago.customers.find_all()["customers"] == []
        started = time.monotonic()
        with pytest.raises(LagoRateLimitError) as refused:
            lago.customers.find_all()
        waited = time.monotonic() - started
    error = refused.value
    assert error.status_code == 429
    assert (error.limit, error.remaining, error.reset) == (1, 0, 1)
    # The first request, then the refused one and its 3 retries, each after waiting X-RateLimit-Reset.
    assert requests_counted(limits, settings, organization, AT) == 5
    assert waited >= 3


def test_the_client_retries_and_succeeds_once_the_window_resets(lago, limits, settings, organization):
    outcome: dict = {}

    def list_customers():
        try:
            outcome["page"] = lago.customers.find_all()
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    with time_machine.travel(AT, tick=False) as clock:
        assert lago.customers.find_all()["customers"] == []
        caller = threading.Thread(target=list_customers)
        caller.start()
        # The client's next request is refused; while it waits to retry, the next second begins.
        deadline = time.monotonic() + 10
        while requests_counted(limits, settings, organization, AT) < 2:
            assert time.monotonic() < deadline and caller.is_alive(), outcome
            time.sleep(0.02)
        clock.shift(1)
        caller.join(timeout=30)
    assert not caller.is_alive()
    assert "error" not in outcome, outcome["error"]
    assert outcome["page"]["customers"] == [] and outcome["page"]["meta"]["total_count"] == 0
    assert requests_counted(limits, settings, organization, AT) >= 2  # refused at least once
    assert requests_counted(limits, settings, organization, AT + timedelta(seconds=1)) == 1
