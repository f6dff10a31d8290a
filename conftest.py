"""Fixtures shared by every app's tests: organizations, API callers and logged-in staff."""

import json
import uuid

import pytest
from django.test import Client

from organizations.services import create_api_key, forget_recent_api_keys
from organizations.tests.factories import OrganizationFactory, UserFactory

STAFF_PASSWORD = "correct-horse-battery"


class ApiCaller:
    """Calls the API as a Lago client does: JSON bodies, Bearer key, no trailing slash."""

    def __init__(self, client: Client, raw_key: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}

    def _call(self, method: str, path: str, body=None, **params):
        kwargs = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path, **params):
        return self._call("get", path, **params)

    def post(self, path, body=None):
        return self._call("post", path, body)

    def put(self, path, body=None):
        return self._call("put", path, body)

    def delete(self, path):
        return self._call("delete", path)


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Acme Billing")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(name="Other Billing")


@pytest.fixture
def api_key(organization) -> str:
    _, raw_key = create_api_key(organization=organization)
    return raw_key


@pytest.fixture
def api(api_key) -> ApiCaller:
    return ApiCaller(Client(), api_key)


@pytest.fixture
def other_api(other_organization) -> ApiCaller:
    _, raw_key = create_api_key(organization=other_organization)
    return ApiCaller(Client(), raw_key)


@pytest.fixture
def staff_user(organization):
    return UserFactory(organization=organization, email="staff@acme.test")


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def abuse_limits_per_test(settings):
    """API rate limits off (the tests about them switch them on): the fuzzer and the contract tests
    call faster than 50 requests a second. The login guard counts under keys of this test's own, so
    that failures never outlive their test."""
    settings.API_RATE_LIMITS_ENABLED = False
    settings.RATE_LIMIT_KEY_PREFIX = f"test:{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def no_api_keys_remembered(settings):
    """Every request checks its key, so that query counts are the worst case and a key remembered
    by an earlier test (whose database is rolled back) cannot outlive it. The tests of the cache
    switch it on."""
    settings.API_KEY_CACHE_SECONDS = 0
    forget_recent_api_keys()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests don't need that.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
