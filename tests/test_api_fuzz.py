"""Schemathesis fuzzing of every API endpoint against the OpenAPI schema the server publishes.

The requests go in-process through Django's WSGI application, on pytest-django's test database.
Each generated request runs in a savepoint that is rolled back afterwards, so every example starts
from the same seeded customers: a DELETE cannot starve later GET/PUT examples, and a failure found
by Hypothesis replays and shrinks against the same data.

The schema is loaded at import and used through `schema.parametrize()` (one test per operation):
`schemathesis.pytest.from_fixture` 4.32 does not run under pytest 9 (it sets `Function._nodeid`).
Fetching the schema needs no database, which pytest-django blocks outside tests.
"""

import json

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from customers.services import create_customer

SCHEMA_PATH = "/api/schema?format=json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Customers that exist before every example. Generated external_ids (in the path and in bodies)
# are often replaced by one of them, so that GET/PUT/DELETE find a customer and POST updates one.
# Their odd characters check that a percent-encoded external_id ("/" included) still matches.
EXISTING_EXTERNAL_IDS = ["cust_fuzz_001", "acme/eu 42", "zürich-%41+x"]

# Strings that have broken web apps before, mixed into every generated string now and then.
AWKWARD_STRINGS = [
    "\x00",
    "nul\x00inside",
    "line\nbreak",
    "trailing newline\n",
    " ",
    "%",
    "%00",
    "..%2F..%2F",
    "ü€😀",
    "\u202etxet",
    "' OR '1'='1",
    "x" * 300,
]

# Metadata values reach the database only when the whole body is valid: aim some awkward ones there.
AWKWARD_METADATA_VALUES = ["nul\x00inside", "line\nbreak", "ü€😀", "v" * 100, "v" * 101]

# Values the services accept where the schema only says "string": without them nearly every
# generated body is a 422 and the success responses of PUT and POST would go unchecked.
VALID_VALUES = {
    "currency": ["EUR", "USD", "JPY"],
    "country": ["FR", "us", "DE"],
    "timezone": ["UTC", "Europe/Paris", "America/New_York"],
    "email": ["billing@example.test", "a@example.test, b@example.test"],
    "billing_configuration.payment_provider": ["stripe", "gocardless", "adyen"],
    "billing_configuration.invoice_grace_period": [0, 7, 365],
    "metadata[*].key": ["plan", "region", "vat"],
}


def _dictionary_name(field: str) -> str:
    return "valid-" + field.replace("[*]", "").replace(".", "-").replace("_", "-")


FUZZ_CONFIG = {
    "seed": 20240601,
    "dictionaries": {
        "existing-customers": {"values": EXISTING_EXTERNAL_IDS},
        "awkward-strings": {"values": AWKWARD_STRINGS},
        "awkward-metadata-values": {"values": AWKWARD_METADATA_VALUES},
        **{_dictionary_name(field): {"values": values} for field, values in VALID_VALUES.items()},
    },
    "parameters": {
        "path.external_id": {"dictionary": "existing-customers", "probability": 0.5},
        "body.customer.external_id": {"dictionary": "existing-customers", "probability": 0.5},
        "body.customer.metadata[*].value": {"dictionary": "awkward-metadata-values", "probability": 0.4},
        **{
            f"body.customer.{field}": {"dictionary": _dictionary_name(field), "probability": 0.8}
            for field in VALID_VALUES
        },
    },
    "generation": {
        "max-examples": 50,
        "deterministic": True,
        "database": "none",
        "dictionaries": {"string": {"dictionary": "awkward-strings", "probability": 0.15}},
        # The API key is ours to send (below); generated Authorization headers would only test 401s.
        "with-security-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
}


def _load_schema() -> schemathesis.BaseSchema:
    """The schema as the server publishes it, fetched in-process (the view needs no database)."""
    config = schemathesis.Config.from_dict(FUZZ_CONFIG)
    loaded = schemathesis.openapi.from_wsgi(SCHEMA_PATH, WSGIHandler(), config=config)
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Keep the test's database connection across in-process requests.

    A real server closes stale connections at the start and end of each request; here that would
    close the connection that holds the test's transaction (Django's test client does the same).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def seeded_customers(organization):
    return [
        create_customer(
            organization=organization,
            data={
                "external_id": external_id,
                "name": f"Fuzz {index}",
                "email": f"fuzz{index}@example.test",
                "currency": "EUR",
                "country": "FR",
                "timezone": "Europe/Paris",
                "metadata": [{"key": "segment", "value": "fuzz", "display_in_invoice": True}],
            },
        )
        for index, external_id in enumerate(EXISTING_EXTERNAL_IDS)
    ]


# Each example runs in its own savepoint (below), so the function-scoped fixtures are a fixed
# starting state rather than state leaking between examples.
SUPPRESSED = [hypothesis.HealthCheck.function_scoped_fixture]


def _call_in_savepoint(case, **kwargs):
    with transaction.atomic():
        try:
            return case.call_and_validate(checks=CHECKS, **kwargs)
        finally:
            transaction.set_rollback(True)


@schema.parametrize()
@hypothesis.settings(suppress_health_check=SUPPRESSED)
def test_api_conforms_to_its_schema(case, api_key):
    _call_in_savepoint(case, headers={"Authorization": f"Bearer {api_key}"})


@schema.parametrize()
@hypothesis.settings(max_examples=5, suppress_health_check=SUPPRESSED)
def test_api_without_key_answers_401(case):
    case.headers = {key: value for key, value in (case.headers or {}).items() if key.lower() != "authorization"}
    response = _call_in_savepoint(case)
    assert response.status_code == 401, response.text
    assert json.loads(response.text) == {"status": 401, "error": "Unauthorized"}
