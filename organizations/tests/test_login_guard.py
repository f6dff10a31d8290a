"""The staff login (and the admin's) slows down, then refuses, repeated failures: per account and per
client address, counted in Redis or, without it, in Django's cache."""

import os
import re
import socket
import uuid
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from conftest import STAFF_PASSWORD
from organizations.login_guard import client_address
from organizations.models import User
from organizations.tests.factories import UserFactory

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WRONG = "not-the-password"
WRONG_LOGIN = "Wrong email or password."


@pytest.fixture(autouse=True)
def own_keys(settings):
    """The guard's counts under keys of this test only, removed afterwards."""
    url = os.environ.get("REDIS_URL")
    assert url, "these tests count in Redis: set REDIS_URL (scripts/test.sh does)"
    prefix = f"test:{uuid.uuid4().hex}:"
    settings.RATE_LIMIT_KEY_PREFIX = prefix
    settings.RATE_LIMIT_REDIS_URL = url
    yield
    server = redis.Redis.from_url(url)
    keys = list(server.scan_iter(match=f"{prefix}*"))
    if keys:
        server.delete(*keys)
    cache.clear()


@pytest.fixture(params=["redis", "cache"])
def store(request, settings):
    """Redis, or Django's cache as in the SQLite demo, which has no Redis."""
    if request.param == "cache":
        settings.RATE_LIMIT_REDIS_URL = ""
    return request.param


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def log_in(client: Client, email: str, password: str, address: str = "10.0.0.1", path: str | None = None):
    return client.post(path or reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address)


def form_error(response) -> str:
    assert response.status_code == 200, response.status_code
    match = re.search(r'<div class="form-error" role="alert">(.*?)</div>', response.content.decode(), re.S)
    return match.group(1).strip() if match else ""


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_failures_slow_down_then_block_the_account(client, staff_user, clock, store):
    for _ in range(5):
        assert form_error(log_in(client, staff_user.email, WRONG)) == WRONG_LOGIN
    # Even the right password waits: the delay is refused without checking any password.
    refused = log_in(client, staff_user.email, STAFF_PASSWORD)
    assert form_error(refused) == "Too many failed login attempts. Wait 2 seconds before trying again."
    assert not logged_in(client)
    clock.shift(1)
    assert form_error(log_in(client, staff_user.email, WRONG)).endswith("Wait 1 second before trying again.")
    # The delay doubles with each failure; refused attempts do not count.
    for failures, delay in ((6, 2), (7, 4), (8, 8), (9, 16)):
        clock.shift(delay)
        assert form_error(log_in(client, staff_user.email, WRONG)) == WRONG_LOGIN, failures
        assert f"Wait {delay * 2} seconds" in form_error(log_in(client, staff_user.email, WRONG))
    clock.shift(32)
    assert form_error(log_in(client, staff_user.email, WRONG)) == WRONG_LOGIN  # the 10th
    blocked = form_error(log_in(client, staff_user.email, STAFF_PASSWORD))
    assert blocked == "Too many failed login attempts: logging in is blocked for now. Try again in 15 minutes."
    clock.shift(14 * 60)
    assert form_error(log_in(client, staff_user.email, STAFF_PASSWORD)).endswith("Try again in 1 minute.")
    assert not logged_in(client)
    clock.shift(60)  # 15 minutes after the last failure: forgotten
    assert log_in(client, staff_user.email, STAFF_PASSWORD).status_code == 302
    assert logged_in(client)


def fail(client: Client, email: str, times: int, address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert form_error(log_in(client, email, WRONG, address)) == WRONG_LOGIN


def test_a_blocked_account_is_blocked_from_every_address(client, staff_user, clock, store):
    for step in range(10):
        fail(client, staff_user.email, 1, address=f"10.0.1.{step}")
        clock.shift(60)
    refused = form_error(log_in(client, staff_user.email, STAFF_PASSWORD, address="10.0.2.1"))
    assert refused.startswith("Too many failed login attempts: logging in is blocked")
    # The email is the account, whatever its case.
    upper = form_error(log_in(client, staff_user.email.upper(), STAFF_PASSWORD, address="10.0.2.2"))
    assert upper.startswith("Too many failed login attempts")


def test_another_account_from_another_address_still_logs_in(client, staff_user, organization, clock, store):
    for _ in range(10):
        fail(client, staff_user.email, 1)
        clock.shift(60)
    assert form_error(log_in(client, staff_user.email, STAFF_PASSWORD)).startswith("Too many failed")
    colleague = UserFactory(organization=organization, email="colleague@acme.test")
    other = Client()
    assert log_in(other, colleague.email, STAFF_PASSWORD, address="10.0.0.2").status_code == 302
    assert logged_in(other)


def test_one_address_trying_many_accounts_is_blocked_others_are_not(client, staff_user, clock, store):
    for index in range(10):
        fail(client, f"guess{index}@acme.test", 1, address="10.6.6.6")
        clock.shift(60)
    refused = form_error(log_in(client, staff_user.email, STAFF_PASSWORD, address="10.6.6.6"))
    assert refused.startswith("Too many failed login attempts: logging in is blocked")
    other = Client()
    assert log_in(other, staff_user.email, STAFF_PASSWORD, address="10.0.0.7").status_code == 302


def test_a_successful_login_forgets_the_accounts_failures(staff_user, clock, store):
    fail(Client(), staff_user.email, 4, address="10.0.0.1")
    assert log_in(Client(), staff_user.email, STAFF_PASSWORD, address="10.0.0.2").status_code == 302
    fail(Client(), staff_user.email, 4, address="10.0.0.3")
    # 8 failures had the success not cleared them: the next attempt would be refused.
    assert form_error(log_in(Client(), staff_user.email, WRONG, address="10.0.0.4")) == WRONG_LOGIN
    assert form_error(log_in(Client(), staff_user.email, WRONG, address="10.0.0.5")).startswith("Too many")


def test_the_admin_login_is_guarded_too(db, client, clock, store):
    admin = User.objects.create_superuser("support@acme.test", STAFF_PASSWORD)
    admin_login = reverse("admin:login")
    for _ in range(10):
        clock.shift(60)  # past each delay
        response = log_in(client, admin.email, WRONG, path=admin_login)
        assert response.status_code == 200 and b"Please enter the correct" in response.content
    refused = log_in(client, admin.email, STAFF_PASSWORD, path=admin_login)
    assert refused.status_code == 200
    assert b"Too many failed login attempts: logging in is blocked for now. Try again in 15 minutes." in (
        refused.content
    )
    assert not logged_in(client)
    # One count for both login pages: the staff page refuses the account as well.
    assert form_error(log_in(client, admin.email, STAFF_PASSWORD)).startswith("Too many failed")


def test_a_login_without_failures_writes_nothing(client, staff_user, settings):
    assert log_in(client, staff_user.email, STAFF_PASSWORD).status_code == 302
    server = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL)
    assert list(server.scan_iter(match=f"{settings.RATE_LIMIT_KEY_PREFIX}*")) == []
    fail(Client(), staff_user.email, 1)
    assert len(list(server.scan_iter(match=f"{settings.RATE_LIMIT_KEY_PREFIX}*"))) == 2  # account, address


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_an_answering_redis_the_guard_counts_in_the_cache(client, staff_user, settings, clock):
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.RATE_LIMIT_REDIS_RETRY_SECONDS = 0.1
    for _ in range(10):
        fail(client, staff_user.email, 1)
        clock.shift(60)
    assert form_error(log_in(client, staff_user.email, STAFF_PASSWORD)).startswith("Too many failed")


def test_behind_trusted_proxies_the_address_is_the_one_they_saw(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_address(request) == "10.0.0.254"  # no proxy trusted: X-Forwarded-For proves nothing
    settings.LOGIN_TRUSTED_PROXIES = 1
    assert client_address(request) == "203.0.113.9"  # what our proxy saw; "6.6.6.6" was the client's say
    settings.LOGIN_TRUSTED_PROXIES = 3
    assert client_address(request) == "6.6.6.6"
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="10.0.0.254")) == "10.0.0.254"
    assert client_address(None) is None
